"""Reading a store back: progress per model x region x pixels x mode, and replaying one stored attack."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pixelspace.campaign.config import CampaignConfig
from pixelspace.campaign.store import Store
from pixelspace.campaign.time_left import estimate_time_left, format_time_left
from pixelspace.errors import ConfigError, StoreError


@dataclass(frozen=True)
class StatusRow:
    """Progress of one group: attacks stored / planned, successes and mean queries of the stored ones; its search
    and the hash of the search's settings ("" in a plan made before the plan recorded it)."""

    model: str
    region: str
    pixels: int
    mode: str
    early_stop: bool
    done: int
    total: int
    successes: int
    mean_queries: float
    search: str = "de"
    search_hash: str = ""


@dataclass(frozen=True)
class CampaignStatus:
    """A store's progress: its meta, per-group rows, image counts and the runs that wrote it
    (:meth:`Store.runs`; empty for a store made before runs were recorded)."""

    path: Path
    meta: dict[str, str]
    rows: list[StatusRow]
    images_attacked: int
    images_skipped: int
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(r.done for r in self.rows)

    @property
    def total(self) -> int:
        return sum(r.total for r in self.rows)


def campaign_status(path: str | Path) -> CampaignStatus:
    """Progress of the campaign in a store (read-only; safe while a campaign writes it).

    Raises:
        StoreError: no store there, or a newer schema.
    """
    with Store.open_readonly(path) as store:
        meta = store.meta()
        plan = json.loads(meta.get("plan_json", "[]"))
        done = {
            (m, r, int(p), mo, bool(es), h): (int(n), int(s or 0), float(q or 0.0))
            for m, r, p, mo, es, h, n, s, q in store.query(
                "SELECT model, region, pixels, mode, early_stop, search_hash, COUNT(*), SUM(success), AVG(queries) "
                "FROM attacks GROUP BY model, region, pixels, mode, early_stop, search_hash"
            )
        } if "attacks" in {t[0] for t in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")} else {}
        counts = dict(store.query("SELECT status, COUNT(*) FROM images GROUP BY status")) if plan else {}
        runs = store.runs()
    rows = []
    for m, r, p, mo, es, total, *rest in plan:
        if rest:  # [search, search_hash] since scans exist
            n, s, q = done.get((m, r, int(p), mo, bool(es), rest[1]), (0, 0, 0.0))
        else:  # an older plan: one search hash per group
            hits = [v for k, v in done.items() if k[:5] == (m, r, int(p), mo, bool(es))]
            n, s, q = hits[0] if hits else (0, 0, 0.0)
        rows.append(StatusRow(m, r, int(p), mo, bool(es), n, int(total), s, q, rest[0] if rest else "de",
                              rest[1] if rest else ""))
    return CampaignStatus(Path(path), meta, rows, int(counts.get("attacked", 0)), int(counts.get("skipped", 0)),
                          runs)


def format_status(status: CampaignStatus, reference: CampaignStatus | None = None) -> str:
    """A plain-text table of :func:`campaign_status`; ``reference``: another store's status whose mean queries price
    the groups with no row yet in the time-left estimate (:func:`~pixelspace.campaign.time_left.estimate_time_left`)."""
    meta = status.meta
    name = json.loads(meta["config_json"])["campaign"]["name"] if "config_json" in meta else "?"
    lines = [
        f"store {status.path}: campaign {name!r}, config {meta.get('config_hash', '?')[:12]}, "
        f"batch size {meta.get('batch_size', '?')}, device {meta.get('device', '?')}",
    ]
    if not status.rows:
        lines.append("setup not finished yet: no attacks planned")
        return "\n".join(lines)
    total = status.total
    lines.append(
        f"images: {status.images_attacked} attacked, {status.images_skipped} passed over; attacks "
        f"{status.done}/{total} ({100 * status.done / max(total, 1):.1f} %)"
    )
    header = (f"{'model':<18} {'search':<10} {'region':<11} {'px':>3} {'mode':<12} {'stop':<5} {'done':>13} "
              f"{'success':>14} {'mean queries':>13}")
    lines += [header, "-" * len(header)]
    for r in status.rows:
        rate = f"{r.successes} ({100 * r.successes / r.done:.0f} %)" if r.done else "-"
        lines.append(
            f"{r.model:<18} {r.search:<10} {r.region:<11} {r.pixels:>3} {r.mode:<12} {'yes' if r.early_stop else 'no':<5} "
            f"{f'{r.done}/{r.total}':>13} {rate:>14} {r.mean_queries:>13.0f}"
        )
    left = format_time_left(estimate_time_left(
        status.rows, status.runs, reference=None if reference is None else reference.rows,
        reference_name=None if reference is None else str(reference.path)))
    if left:
        lines.append(left)
    if status.runs:
        lines.append(f"runs ({len(status.runs)}; the last {min(len(status.runs), 5)} shown):")
        for run in status.runs[-5:]:
            d = run["details"]
            cpu = (f", {d['cpu_capability']} kernels, {d['torch_threads']} thread(s)"
                   if d.get("cpu_capability") and d.get("torch_threads") else "")
            end = run["ended_utc"] or "(no rows: still running, or stopped before its first batch was stored)"
            lines.append(f"  run {run['run']}: {run['started_utc']} to {end}, "
                         f"{run['rows']} rows, {d.get('device', '?')}{cpu}, {d.get('backend', '?')} backend, "
                         f"commit {str(d.get('git_sha', '?'))[:10]}")
    return "\n".join(lines)


# -- replay --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplayResult:
    """Outcome of :func:`replay_attack`.

    Attributes:
        key: the attack; stored / replayed: the two records; batch_attacks: attacks re-run together.
        identical: every field equal; matches: every discrete field equal and floats equal to rel. 1e-5;
        differences: the fields that do not match.
        search_reproduced: every discrete field (success, pixels, colours, classes, generations, queries, …)
            equal, whatever the floats do: the search took the same path. On another device or kernel
            (CUDA's TF32 convolutions vs CPU float32) this is what to expect.
        float_differences: the largest absolute difference of each float field that differs beyond rel. 1e-5.
        device: the device the replay ran on; stored_device: the one the row was made on (its run's, else the
            store's).
        batch_stored, batch_identical: the batch's attacks (this one included) with a stored row, and how many of
            those rows the re-run gave exactly. batch_same_path: how many it gave with every discrete field
            equal (the floats may differ); batch_float_gap: the largest float difference among those.
        cpu_capability: the level of PyTorch's CPU kernels during the replay (``"AVX512"``, …); empty when it
            ran on another device. stored_cpu_capability: the level the row was made with (its run's where the
            store records runs, else the store's creation level), else None.
        threads: PyTorch's intra-op thread count during the replay (0 when it ran on another device);
            stored_threads: the count the row was made with (likewise), else None.
    """

    key: str
    stored: dict[str, Any]
    replayed: dict[str, Any]
    identical: bool
    matches: bool
    differences: list[str]
    batch_attacks: int
    float_differences: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    stored_device: str | None = None
    cpu_capability: str = ""
    stored_cpu_capability: str | None = None
    threads: int = 0
    stored_threads: int | None = None
    batch_stored: int = 0
    batch_identical: int = 0
    batch_same_path: int = 0
    batch_float_gap: float = 0.0

    @property
    def search_reproduced(self) -> bool:
        """Every differing field is a float field: the search took the same path."""
        return set(self.float_differences) == set(self.differences)

    def kernel_note(self) -> str:
        """Why a CPU replay of a CPU-made row can differ without any change in the code, or '' when it
        cannot (another device, or the kernels the row was made with): float32 results on the CPU depend on
        the level of PyTorch's CPU kernels (:func:`pixelspace.runtime.cpu_capability`)."""
        if not self.cpu_capability or self.stored_device != "cpu":
            return ""
        notes = []
        if self.stored_cpu_capability is None:
            other = next(c for c in ("avx2", "avx512", "default") if c != self.cpu_capability.lower())
            notes.append(f"The store does not record the level of PyTorch's CPU kernels it was made with, and CPU "
                         f"float32 results depend on it (AVX2 and AVX-512 softmax round differently); this replay "
                         f"ran with {self.cpu_capability}: try another level, e.g. `--cpu-capability {other}`")
        elif self.stored_cpu_capability != self.cpu_capability:
            notes.append(f"The row was made with PyTorch's {self.stored_cpu_capability} CPU kernels and this "
                         f"replay ran with {self.cpu_capability}, which round CPU float32 results differently")
        if self.stored_threads is None:
            other_threads = 1 if self.threads != 1 else 2
            notes.append(f"The store does not record PyTorch's thread count it was made with, and some networks' "
                         f"CPU float32 results depend on it; this replay ran with {self.threads}: try another, "
                         f"e.g. `--threads {other_threads}`")
        elif self.stored_threads != self.threads:
            notes.append(f"The row was made with {self.stored_threads} PyTorch threads and this replay ran with "
                         f"{self.threads}; some networks' CPU float32 results depend on the thread count")
        if not notes:
            return ""
        return ". ".join(notes) + " (docs/campaigns.md, \"Replay on another machine\")"


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _max_float_diff(a: Any, b: Any) -> float | None:
    """Largest absolute difference between two equally shaped float values (nested lists), else None."""
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return None
        parts = [_max_float_diff(x, y) for x, y in zip(a, b, strict=True)]
        return None if any(d is None for d in parts) else max((d for d in parts if d is not None), default=0.0)
    if isinstance(a, bool) or isinstance(b, bool):
        return None if a != b else 0.0
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) if isinstance(a, int | float) and isinstance(b, int | float) else None
    return 0.0 if a == b else None


def made_with(store: Store, key: str | None = None) -> dict[str, str]:
    """How the row ``key`` was computed, as far as the store says: ``device``, ``cpu_capability`` and
    ``torch_threads`` from the run that wrote it (stores that record runs), else from the store's creation
    (``meta``; absent keys were not recorded). Without ``key``: the creation's."""
    meta = store.meta()
    out = {k: meta[k] for k in ("device", "cpu_capability", "torch_threads") if meta.get(k)}
    if key is not None:
        run = store.run_of(store.attack(key)["key"])
        if run is not None:
            details = run["details"]
            out = {k: str(details[k]) for k in ("device", "cpu_capability", "torch_threads") if details.get(k)}
    return out


#: ``pixelspace replay --cpu-capability`` choices besides the levels: the store's level, or the process's own.
REPLAY_CAPABILITY_CHOICES = ("store", "native")


def set_replay_cpu_capability(path: str | Path, requested: str = "store", key: str | None = None) -> str:
    """Set the level of PyTorch's CPU kernels for replaying the store at ``path``; call it before torch computes
    anything in this process (``pixelspace replay`` does).

    Args:
        path: the store.
        key: the attack to be replayed: its run's level where the store records runs (else the store's).
        requested: ``"store"``: the level the store records, where it was made on the CPU and records one,
            unless ``ATEN_CPU_CAPABILITY`` is set (then that one) or this CPU lacks that level (then its own);
            ``"native"``: leave the process's own level; or a level (:data:`pixelspace.runtime.CPU_CAPABILITIES`).

    Returns:
        The reason when ``"store"`` could not use the store's level, else ''.

    Raises:
        ConfigError: an unknown choice; a level this CPU lacks, or that the process can no longer take.
        StoreError: no store at ``path``.
    """
    import os

    from pixelspace.runtime import CAPABILITY_ENV, CPU_CAPABILITIES, cpu_supports, use_cpu_capability

    choice = requested.lower()
    if choice not in REPLAY_CAPABILITY_CHOICES + CPU_CAPABILITIES:
        raise ConfigError(f"unknown CPU capability {requested!r}; one of "
                          f"{', '.join(REPLAY_CAPABILITY_CHOICES + CPU_CAPABILITIES)}")
    if choice == "native":
        return ""
    if choice != "store":
        use_cpu_capability(choice)
        return ""
    with Store.open_readonly(path) as store:
        made = made_with(store, key)
    stored = made.get("cpu_capability")
    if made.get("device") != "cpu" or not stored or os.environ.get(CAPABILITY_ENV):
        return ""
    if stored.lower() not in CPU_CAPABILITIES or not cpu_supports(stored):
        return f"the store was made with PyTorch's {stored} CPU kernels, which this CPU cannot run"
    try:
        use_cpu_capability(stored)
    except ConfigError as exc:
        return f"the store was made with PyTorch's {stored} CPU kernels, but {exc}"
    return ""


def replay_attack(path: str | Path, key: str, device: str | None = None, alone: bool = False,
                 threads: int | Literal["store"] | None = "store") -> ReplayResult:
    """Re-run one stored attack from its seed and compare with the stored record.

    By default the attack's whole batch is re-run (the batches are fixed by the plan and the stored
    ``attacks_per_batch``), so the model sees exactly the inputs it saw and the row is reproduced bit for bit
    on the same device. ``alone=True`` runs the attack by itself: discrete fields normally still match, but
    float32 outputs can differ in their last bits, which can occasionally steer the search elsewhere.

    On the CPU, "the same device" includes the level of PyTorch's CPU kernels (AVX2, AVX-512: their softmax
    rounds differently) and PyTorch's intra-op thread count (AllConv's and NiN's float32 outputs depend on it);
    the result says which level and thread count the replay ran with and which the store records. This
    function sets the thread count for the re-run (``threads``) but not the level (a process fixes it at its
    first CPU kernel call): ``pixelspace replay`` sets it before torch computes anything
    (``--cpu-capability``), or set ``ATEN_CPU_CAPABILITY`` before starting Python.

    Args:
        path: the store.
        key: the attack key, or any prefix of it that no other stored key shares.
        device: torch device; default the campaign's ``execution.device``.
        alone: run only this attack instead of its batch.
        threads: PyTorch's thread count for the re-run on the CPU (restored afterwards): ``"store"`` the count
            the row was made with, as the store records it (:func:`made_with`; else the process's own), a
            number, or None for the process's own.

    Raises:
        StoreError: no such store or key, or the model's weights differ from those the row was made with.
        ConfigError: ``threads`` below 1.
    """
    import torch

    from pixelspace.campaign.backends import Batch, Job
    from pixelspace.campaign.backends.local import run_batch
    from pixelspace.campaign.prepare import load_model, resolve_device
    from pixelspace.campaign.records import COMPACT, compact_record
    from pixelspace.campaign.runner import expand_attacks, make_batches, read_inputs
    from pixelspace.models.classifier import Classifier

    with Store.open_readonly(path) as store:
        row = store.attack(key)
        meta = store.meta()
        origin = made_with(store, row["key"])
        inputs = read_inputs(store)
    config = CampaignConfig.from_stored(json.loads(meta["config_json"]), f"{path} config_json")
    entry = next((m for m in config.models if m.name == row["model"]), None)
    if entry is None:
        raise StoreError(f"store {path}: model {row['model']!r} of attack {row['key']} is not in the stored config")
    lm = load_model(entry)
    if lm.weights_hash != inputs.weights.get(row["model"]):
        raise StoreError(f"the weights of {row['model']!r} differ from those attack {row['key']} was run with")
    specs = expand_attacks(config, inputs, len(json.loads(meta["class_names_json"])))
    batch = next((b for b in make_batches(specs, max(inputs.attacks_per_batch, 1))
                  if any(s.key == row["key"] for s in b.attacks)), None)
    if batch is None:
        raise StoreError(f"attack {row['key']} is stored but not in the plan of the stored config")
    if alone or inputs.attacks_per_batch < 1:
        batch = Batch(0, batch.model, batch.pixels, batch.mode, batch.early_stop,
                      tuple(s for s in batch.attacks if s.key == row["key"]), batch.search)
    dev = resolve_device(device or config.execution.device)
    job = Job(config, inputs.images, inputs.regions, inputs.batch_size, dev)
    clf = Classifier(lm.module.to(dev), batch_size=inputs.batch_size,
                     incremental="auto" if config.attack.incremental else False)
    stored_threads = int(origin["torch_threads"]) if origin.get("torch_threads") else None
    if threads == "store":
        threads = stored_threads if origin.get("device") == "cpu" else None
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be a positive number, got {threads}")
    saved_threads = torch.get_num_threads()
    try:
        if dev == "cpu" and threads is not None:
            torch.set_num_threads(threads)
        used_threads = torch.get_num_threads()
        records = run_batch(job, clf, batch)
    finally:
        torch.set_num_threads(saved_threads)

    def like_stored(stored: dict[str, Any], made: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The stored and the new record of one attack, in the same format (compact stores: the seed in its
        column)."""
        new = {k: v for k, v in made.items() if not k.startswith("_")}
        rec = stored["record"]
        if meta.get("record_format") == COMPACT:
            new = {**compact_record(new, early_stop=batch.early_stop, pixels=batch.pixels, mode=batch.mode),
                   "seed": new["seed"]}
            rec = {**rec, "seed": int(stored["seed"])}
        return rec, new

    keys = [s.key for s in batch.attacks]
    rec, new = like_stored(row, records[keys.index(row["key"])])
    diffs = sorted(k for k in set(rec) | set(new) if not _close(rec.get(k), new.get(k)))
    float_diffs = {k: d for k in diffs if (d := _max_float_diff(rec.get(k), new.get(k))) is not None}
    # the other rows of the batch came out of the same run: say how many of the stored ones it gives exactly
    stored_rows = identical_rows = same_path = 0
    largest = 0.0
    with Store.open_readonly(path) as store:
        for k, made in zip(keys, records, strict=True):
            try:
                other = store.attack(k)
            except StoreError:
                continue  # not stored (yet)
            stored_rows += 1
            a, b = like_stored(other, made)
            identical_rows += a == b
            gaps = [_max_float_diff(a.get(f), b.get(f)) for f in set(a) | set(b) if a.get(f) != b.get(f)]
            if all(g is not None for g in gaps):
                same_path += 1
                largest = max([largest, *(g for g in gaps if g is not None)])
    from pixelspace.runtime import cpu_capability

    return ReplayResult(row["key"], rec, new, rec == new, not diffs, diffs, len(batch), float_diffs,
                        device=dev, stored_device=origin.get("device"),
                        cpu_capability=cpu_capability() if dev == "cpu" else "",
                        stored_cpu_capability=origin.get("cpu_capability"),
                        threads=used_threads if dev == "cpu" else 0, stored_threads=stored_threads,
                        batch_stored=stored_rows, batch_identical=identical_rows, batch_same_path=same_path,
                        batch_float_gap=largest)
