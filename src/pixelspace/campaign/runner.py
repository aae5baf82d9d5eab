"""The campaign runner: config -> store. Selects images, expands attack keys, runs what is pending, commits.

``run_campaign(config)`` is kill-safe: the per-campaign data (images, masks, predictions, the plan and the
batch size) is written in one transaction at the first start and read back from the store on every later
start; each finished batch of attacks is committed in one transaction; keys already in the store are
skipped. Each attack's seed derives from the campaign seed and its key, so a rerun after any interruption
ends with exactly the rows of an uninterrupted run.
"""

from __future__ import annotations

import datetime
import itertools
import json
import logging
import math
import subprocess
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pixelspace.campaign.backends import AttackSpec, Backend, Batch, BatchResult, Job, get_backend
from pixelspace.campaign.config import CampaignConfig, canonical_json
from pixelspace.campaign.keys import KeyFields, attack_seed, config_search_hash, mask_hash
from pixelspace.campaign.legacy import OLD_DEFAULTS
from pixelspace.campaign.prepare import (
    ForegroundSource,
    LoadedModel,
    check_sources,
    load_dataset,
    load_models,
    resolve_device,
    select_images,
    shifted_dataset,
    shifted_foreground,
)
from pixelspace.campaign.records import COMPACT, compact_record
from pixelspace.campaign.store import AttackRow, ScanRow, Store, decode_mask_png, encode_mask_png
from pixelspace.campaign.time_limit import TimedFeed, earlier_rates
from pixelspace.errors import ConfigError, PixelspaceError, ShapeError, StoreError
from pixelspace.models.registry import check_registered_size

log = logging.getLogger(__name__)


# -- the plan as stored --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredInputs:
    """The per-campaign data read back from a store.

    Attributes:
        images: image id -> uint8 (H, W, 3) of every attacked image.
        regions: (image id, region) -> bool (H, W); mask_hashes: (image id, region) -> hash.
        predictions: (image id, model) -> clean predicted class.
        selection: model -> attacked image ids (pool order).
        weights: model -> weights hash.
        batch_size: the campaign's fixed batch size; attacks_per_batch: its fixed attacks per batch.
    """

    images: dict[str, np.ndarray]
    regions: dict[tuple[str, str], np.ndarray]
    mask_hashes: dict[tuple[str, str], str]
    predictions: dict[tuple[str, str], int]
    selection: dict[str, list[str]]
    weights: dict[str, str]
    batch_size: int
    attacks_per_batch: int


def read_inputs(store: Store) -> StoredInputs:
    """Read the per-campaign data of a store whose setup is done."""
    from pixelspace.data.cifar10 import decode_png

    meta = store.meta()
    selection = json.loads(meta["selection_json"])
    attacked = {i for ids in selection.values() for i in ids}
    images = {
        image_id: decode_png(png)
        for image_id, png in store.query("SELECT image_id, png FROM images WHERE status = 'attacked'")
        if image_id in attacked
    }
    regions, hashes = {}, {}
    for image_id, region, mhash, png in store.query("SELECT image_id, region, mask_hash, png FROM masks"):
        regions[(image_id, region)] = decode_mask_png(png)
        hashes[(image_id, region)] = mhash
    predictions = {(i, m): int(p) for i, m, p in store.query("SELECT image_id, model, predicted FROM predictions")}
    weights = dict(store.query("SELECT model, weights_hash FROM models"))
    return StoredInputs(images, regions, hashes, predictions, selection, weights, int(meta["batch_size"]),
                        int(meta.get("attacks_per_batch", 0)))


def expand_attacks(config: CampaignConfig, inputs: StoredInputs, num_classes: int) -> list[AttackSpec]:
    """Every attack of the campaign, in a fixed order (search, model, pixels, mode, early stop, image, region,
    target).

    Untargeted attacks aim at the model's clean prediction; ``targeted`` expands into one attack per other
    class. With ``fitness_curves.images > 0`` the first images also get DE attacks without early stop. A
    ``"scan"`` search adds one row per model, image and region (1 pixel, untargeted: the map answers the
    targets too); ``"scan-first"`` one per 1-pixel attack of the grid; ``"sparse-rs"`` one per attack of the
    grid (early stop).
    """
    specs: list[AttackSpec] = []
    fc = config.fitness_curves
    searches = config.attack.searches
    groups: list[tuple[str, tuple[int, ...], tuple[str, ...], bool, tuple[str, ...], int | None]] = []
    if "de" in searches:
        groups.append(("de", config.attack.pixels, config.attack.modes, config.de.early_stop, config.regions.all,
                       None))
        if fc.images > 0 and config.de.early_stop:
            groups.append(("de", fc.pixels, fc.modes, False, fc.regions or config.regions.all, fc.images))
    if "scan" in searches:
        groups.append(("scan", (1,), ("untargeted",), False, config.regions.all, None))
    if "scan-first" in searches:
        groups.append(("scan-first", (1,), config.attack.modes, True, config.regions.all, None))
    if "sparse-rs" in searches:
        groups.append(("sparse-rs", config.attack.pixels, config.attack.modes, True, config.regions.all, None))
    for m in config.models:
        images = inputs.selection.get(m.name, [])
        for search, pixels_list, modes, early_stop, regions, limit in groups:
            for pixels in pixels_list:
                s_hash = config_search_hash(config, search, pixels, early_stop)
                for mode in modes:
                    for image_id in images[:limit]:
                        label = inputs.predictions[(image_id, m.name)]
                        targets = [-1] if mode == "untargeted" else [t for t in range(num_classes) if t != label]
                        for region in regions:
                            for target in targets:
                                fields = KeyFields(
                                    model=m.name, weights_hash=inputs.weights[m.name], image_id=image_id,
                                    region=region, mask_hash=inputs.mask_hashes[(image_id, region)],
                                    pixels=pixels, mode=mode, target=target, search_hash=s_hash,
                                )
                                key = fields.key()
                                specs.append(AttackSpec(
                                    key=key, model=m.name, image_id=image_id, region=region, pixels=pixels,
                                    mode=mode, target=target, label=label, early_stop=early_stop,
                                    seed=attack_seed(config.campaign.seed, key), search_hash=s_hash,
                                    search=search,
                                ))
    seen: set[str] = set()
    unique = [s for s in specs if not (s.key in seen or seen.add(s.key))]  # type: ignore[func-returns-value]
    return unique


def plan_counts(specs: Sequence[AttackSpec]) -> list[list[Any]]:
    """[model, region, pixels, mode, early_stop, attacks, search, search_hash] per group, for ``pixelspace
    status``."""
    counts: dict[tuple[str, str, int, str, bool, str, str], int] = defaultdict(int)
    for s in specs:
        counts[(s.model, s.region, s.pixels, s.mode, s.early_stop, s.search, s.search_hash)] += 1
    return [[*k[:5], v, *k[5:]] for k, v in counts.items()]


def make_batches(specs: Sequence[AttackSpec], per_batch: int) -> list[Batch]:
    """Group attacks by (search, model, pixels, mode, early stop), in plan order, ``per_batch`` per batch; a
    ``"scan"`` batch holds the rows of one image (one scan answers all its regions).

    Called on the whole plan (not on what is pending), so a batch always holds the same attacks: the model
    then sees the same inputs together, which keeps results bit-identical across interruptions and replays
    (float32 model outputs can differ in their last bits with the batch's composition).
    """
    groups: dict[tuple[str, str, int, str, bool, str], list[AttackSpec]] = {}
    for s in specs:
        image = s.image_id if s.search == "scan" else ""
        groups.setdefault((s.search, s.model, s.pixels, s.mode, s.early_stop, image), []).append(s)
    batches: list[Batch] = []
    for (search, model, pixels, mode, early_stop, image), members in groups.items():
        step = len(members) if image else per_batch
        for i in range(0, len(members), step):
            batches.append(Batch(len(batches), model, pixels, mode, early_stop, tuple(members[i : i + step]), search))
    return batches


_MODE_RANK = {"untargeted": 0, "targeted": 1}


def execution_order(batches: Sequence[Batch]) -> list[Batch]:
    """The batches in the order they run: every finished prefix is a usable table.

    1-pixel untargeted first, then 1-pixel targeted, then 3 and 5 pixels (each mode in turn); inside one such
    cell the early-stopped grid before its fitness-curve attacks, DE before the scans, and the networks
    interleaved batch by batch (scans: image by image), so a cell fills on every network at once. Only the
    order changes, never a batch's attacks, so results are the same in any order (``make_batches``).
    """
    position: dict[tuple[str, str, int, str, bool], int] = defaultdict(int)
    model_rank: dict[str, int] = {}
    search_rank = {"de": 0, "scan": 1, "scan-first": 2}
    keyed = []
    for b in batches:
        group = (b.search, b.model, b.pixels, b.mode, b.early_stop)
        model_rank.setdefault(b.model, len(model_rank))
        keyed.append(((b.pixels, _MODE_RANK.get(b.mode, 2), not b.early_stop, search_rank.get(b.search, 3),
                       position[group], model_rank[b.model]), b))
        position[group] += 1
    return [b for _, b in sorted(keyed, key=lambda kb: kb[0])]


def pending_batches(specs: Sequence[AttackSpec], per_batch: int, done: set[str]) -> list[Batch]:
    """The batches of the plan that hold at least one attack not in ``done`` (whole batches are rerun), in
    :func:`execution_order`."""
    return execution_order([b for b in make_batches(specs, per_batch) if any(s.key not in done for s in b.attacks)])


def attacks_per_batch(config: CampaignConfig, batch_size: int) -> int:
    """The configured attacks per batch, or ``"auto"``: about eight model batches per generation (4 … 64)."""
    n = config.execution.attacks_per_batch
    if isinstance(n, int):
        return n
    return int(min(64, max(4, math.ceil(8 * batch_size / config.de.population_size))))


# -- first start -------------------------------------------------------------------------------------------
def _git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def _environment(device: str, local: bool) -> dict[str, str]:
    """How rows are computed here: package and torch versions, git commit, device; and, when this process runs the
    attacks on the CPU (``local``), the level of PyTorch's CPU kernels and its intra-op thread count, which CPU
    float32 results both depend on."""
    import torch

    from pixelspace import __version__
    from pixelspace.runtime import cpu_capability

    env = {"package_version": __version__, "git_sha": _git_sha(), "torch_version": torch.__version__, "device": device}
    if local and device == "cpu":
        env["cpu_capability"] = cpu_capability()
        env["torch_threads"] = str(torch.get_num_threads())
    return env


def _creation_meta(config: CampaignConfig, environment: Mapping[str, str]) -> dict[str, str]:
    """The meta rows a new store starts with: the record format, the campaign seed, the :func:`_environment` of
    this run and the creation time."""
    return {
        "record_format": COMPACT,
        "campaign_seed": str(config.campaign.seed),
        **environment,
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _latest_cpu_environment(store: Store, meta: Mapping[str, str]) -> tuple[Mapping[str, Any], str]:
    """What the store's latest rows were computed with, and where that is said: the details of its last recorded
    run that wrote rows (``"its last run"``), else its creation meta (``"made"``, a store from before runs were
    recorded, or one no run has added to)."""
    wrote = [r for r in store.runs() if r["rows"]]
    if wrote:
        return wrote[-1]["details"], "its last run"
    return meta, "made"


def _check_cpu_kernels(store: Store, meta: Mapping[str, str], device: str, local: bool) -> None:
    """Warn when a store whose latest rows were made on the CPU (:func:`_latest_cpu_environment`) resumes here on
    the CPU with PyTorch's kernels at another level, or with another intra-op thread count: the rows added now are
    not what that run would have computed, bit for bit (docs/campaigns.md). Replay is unaffected: it re-runs each
    row as the run that made it did."""
    import torch

    from pixelspace.runtime import CAPABILITY_ENV, cpu_capability

    made, where = _latest_cpu_environment(store, meta)
    if not (local and device == "cpu" and made.get("device") == "cpu"):
        return
    said = "store made with" if where == "made" else "store's last run used"
    stored = made.get("cpu_capability")
    now = cpu_capability()
    if stored and now != stored:
        log.warning("%s PyTorch's %s CPU kernels, resumed with %s: its new rows will not be bit-identical to what "
                    "that run would have made (set %s=%s before starting to match, where this CPU has them; "
                    "docs/campaigns.md)", said, stored, now, CAPABILITY_ENV, str(stored).lower())
    threads = made.get("torch_threads")
    if threads and int(threads) != torch.get_num_threads():
        log.warning("%s %s PyTorch threads, resumed with %d: its new rows may not be bit-identical to what that "
                    "run would have made (some networks' CPU float32 results depend on the thread count; set "
                    "OMP_NUM_THREADS=%s before starting to match; docs/campaigns.md)", said, threads,
                    torch.get_num_threads(), threads)


def tune_batch_size(config: CampaignConfig, module: Any, device: str, shape: tuple[int, int]) -> int:
    """The configured batch size, or the fastest measured on the first network (``"auto"``)."""
    from pixelspace.models.classifier import Classifier

    if isinstance(config.execution.batch_size, int):
        return config.execution.batch_size
    from pixelspace.models.autobatch import CAMPAIGN_BUDGET

    # fixed for the whole campaign, so measured with a larger time budget than an interactive call's
    bs = Classifier(module.to(device), batch_size="auto").resolve_batch_size(*shape, budget=CAMPAIGN_BUDGET)
    log.info("batch size: %d (measured on %s, %s)", bs, config.models[0].name, device)
    return bs


def setup_campaign(
    store: Store,
    config: CampaignConfig,
    models: Mapping[str, LoadedModel],
    device: str,
    foreground: Mapping[str, np.ndarray] | None = None,
) -> None:
    """First start: select images, build masks, tune the batch size, and write all of it in one transaction."""
    from pixelspace.data.cifar10 import encode_png
    from pixelspace.models import read_accuracy_records

    dataset = load_dataset(config)
    for name, lm in models.items():  # before anything is written: a registered model at another size fails here
        try:
            check_registered_size(lm.module, int(dataset.images.shape[1]), int(dataset.images.shape[2]))
        except ShapeError as exc:
            raise ConfigError(f"[[models]] {name}: {exc}; the campaign's images are "
                              f"{dataset.images.shape[1]}x{dataset.images.shape[2]}") from None
    fg = ForegroundSource(config, dataset, foreground)
    attacked = shifted_dataset(config, dataset)  # images.shift: chosen unshifted, attacked (and stored) shifted
    sel = select_images(config, dataset, models, device, fg, attacked=attacked if attacked is not dataset else None,
                        attacked_foreground=shifted_foreground(config, fg))
    index = {image_id: i for i, image_id in enumerate(dataset.ids)}
    shape = (int(dataset.images.shape[1]), int(dataset.images.shape[2]))

    records = read_accuracy_records()
    model_rows = []
    considered_ids = [dataset.ids[i] for i in sel.considered]
    for name, lm in models.items():
        rec = records.get(name)
        matched = rec is not None and rec.weights_sha256 == lm.weights_hash and rec.test_accuracy is not None
        correct = sum(sel.predictions[(i, name)][0] == int(dataset.labels[index[i]]) for i in considered_ids)
        model_rows.append((
            name, lm.weights_hash, rec.test_accuracy if matched and rec else None,
            rec.test_size if matched and rec else None,
            correct / len(considered_ids), len(considered_ids),
        ))
    image_rows = []
    for pool_index, i in enumerate(sel.considered):
        image_id = dataset.ids[i]
        image_rows.append((
            image_id, image_id, int(dataset.labels[i]), encode_png(attacked.images[i]), pool_index,
            sel.status[image_id], sel.reasons.get(image_id),
        ))
    mask_rows = [
        (image_id, region, mask_hash(m), encode_mask_png(m))
        for image_id, regions in sel.regions.items() for region, m in regions.items()
    ]
    prediction_rows = [(i, m, p, c) for (i, m), (p, c) in sel.predictions.items()]
    batch_size = tune_batch_size(config, next(iter(models.values())).module, device, shape)

    # the plan, from exactly what is stored (so a resume expands the same keys)
    hashes = {(i, r): mask_hash(m) for i, regions in sel.regions.items() for r, m in regions.items()}
    inputs = StoredInputs(
        images={}, regions={}, mask_hashes=hashes,
        predictions={k: p for k, (p, _) in sel.predictions.items()},
        selection=sel.per_model, weights={n: lm.weights_hash for n, lm in models.items()}, batch_size=batch_size,
        attacks_per_batch=attacks_per_batch(config, batch_size),
    )
    specs = expand_attacks(config, inputs, len(dataset.classes))
    meta = {
        "dataset": dataset.name,
        "segmenter": fg.description if config.needs_foreground else "none",
        "class_names_json": json.dumps(list(dataset.classes)),
        "batch_size": str(batch_size),
        "attacks_per_batch": str(inputs.attacks_per_batch),
        "selection_json": json.dumps(sel.per_model),
        "plan_json": json.dumps(plan_counts(specs)),
        "attacks_planned": str(len(specs)),
        "setup_done": "1",
    }
    store.write_setup(model_rows, image_rows, mask_rows, prediction_rows, meta)
    n_att = sum(1 for s in sel.status.values() if s == "attacked")
    log.info("selected %d images (%d pool images looked at); %d attacks planned", n_att, len(sel.considered), len(specs))


# -- running -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CampaignSummary:
    """What a call of :func:`run_campaign` did.

    Attributes:
        store: the store path; attacks_total: attacks of the campaign; attacks_before: already stored at
        the start; attacks_run: committed by this call; successes: successful attacks in the store;
        queries_run: model queries of this call's attacks; seconds: wall time of the attack phase;
        images_attacked / images_skipped: pool images; batch_size, device: what was used;
        stopped_by_time_limit: the call stopped before the next batch because of ``time_limit``.
    """

    store: Path
    attacks_total: int
    attacks_before: int
    attacks_run: int
    successes: int
    queries_run: int
    seconds: float
    images_attacked: int
    images_skipped: int
    batch_size: int
    device: str
    stopped_by_time_limit: bool = False

    @property
    def complete(self) -> bool:
        """Whether every attack of the campaign is in the store."""
        return self.attacks_before + self.attacks_run >= self.attacks_total


def _differences_from_store(config: CampaignConfig, most: int = 6) -> list[str]:
    """'key: store X, this file Y' for the result-deciding settings where ``config`` and the config its store
    recorded differ (at most ``most``); [] when the stored config cannot be read."""
    try:
        with Store.open_readonly(config.campaign.store) as store:
            stored = CampaignConfig.from_stored(json.loads(store.meta()["config_json"])).result_dict()
    except (PixelspaceError, KeyError, ValueError):
        return []

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    a, b = flat(stored), flat(config.result_dict())
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k, "(unset)") != b.get(k, "(unset)"))
    shown = [f"{k}: store {a.get(k, '(unset)')!r}, this file {b.get(k, '(unset)')!r}" for k in keys[:most]]
    return shown + ([f"and {len(keys) - most} more"] if len(keys) > most else [])


def _setup_done(path: str | Path) -> bool:
    """Whether ``path`` is a store whose setup is written (False when it is absent, unreadable or unfinished)."""
    if not Path(path).is_file():
        return False
    try:
        with Store.open_readonly(path, check=False) as store:  # Store.open_for_campaign checks it
            return store.meta().get("setup_done") == "1"
    except StoreError:
        return False


def run_campaign(
    config: CampaignConfig,
    progress: bool = True,
    *,
    backend: Backend | None = None,
    foreground: Mapping[str, np.ndarray] | None = None,
    time_limit: float | None = None,
) -> CampaignSummary:
    """Run a campaign into its store, resuming where the store stands.

    Args:
        config: the campaign.
        progress: show a tqdm bar (attacks done, successes, queries/s, ETA).
        backend: an execution backend; default the one ``config.execution.backend`` names.
        foreground: precomputed foreground masks, image id -> bool (H, W), used instead of the segmenter.
        time_limit: seconds from this call's start; the call stops at a batch boundary, leaving the store
            consistent (``summary.stopped_by_time_limit``): no batch starts once the limit has passed (so when
            loading and a first start's setup use it up, no attack runs), and a batch starts only when it would
            likely end before the limit (estimated from its group's batches: :mod:`pixelspace.campaign.time_limit`),
            a shorter one further on taking the place of one that would not. A batch that has started always
            finishes (also those queued on Ray workers), so the call ends about at the limit, later by what the
            estimates fell short (plus the setup, which is never cut). None: no limit.

    Returns:
        A :class:`CampaignSummary`.

    Raises:
        ConfigError, WeightsError, DataError: bad config, model or data. A missing dataset or mask folder and
            a model that does not load are found before the store is touched; a problem found while the setup
            reads the data (an unreadable dataset, a missing mask file, no image that qualifies) deletes the
            store again when this call made it.
        StoreError: a store of another config or a newer schema, or an unwritable/full disk.
    """
    if time_limit is not None and time_limit <= 0:
        raise ConfigError(f"time_limit must be a positive number of seconds, got {time_limit}")
    deadline = None if time_limit is None else time.monotonic() + time_limit
    config.check_precision_applies()
    if config.attack.precision != "fp32" and "scan-first" in config.attack.searches:
        log.warning("attack.precision = %r applies to the other searches; scan-first runs at fp32 "
                    "(docs/engine.md#precision)", config.attack.precision)
    if not _setup_done(config.campaign.store):
        check_sources(config)  # a resumed store holds its images and masks
    models = load_models(config)
    device = resolve_device(config.execution.device)
    if backend is None:  # before the store is touched, so a missing optional backend fails cleanly
        backend = (get_backend("local", modules={n: lm.module for n, lm in models.items()})
                   if config.execution.backend == "local" else get_backend(config.execution.backend))
    store_path = Path(config.campaign.store)
    new_store = not store_path.exists()
    environment = _environment(device, local=backend.name == "local")  # the store's creation meta and this run
    try:
        store = Store.open_for_campaign(
            config.campaign.store, canonical_json(config.to_dict()), config.config_hash(),
            _creation_meta(config, environment),
        )
    except StoreError as exc:
        hint = _older_engine_hint(config, str(exc))
        if hint:
            raise StoreError(f"{exc}. {hint}") from None
        if "another campaign config" in str(exc):
            differences = _differences_from_store(config)
            if differences:
                raise StoreError(f"{exc}. It differs in: {'; '.join(differences)}") from None
        raise
    with store:
        if store.meta().get("setup_done") != "1":
            try:
                setup_campaign(store, config, models, device, foreground)
            except BaseException:
                if new_store:  # made by this call and holding no setup: leave no half-made store behind
                    store.discard()
                raise
        meta = store.meta()
        inputs = read_inputs(store)
        if inputs.attacks_per_batch < 1:  # a store set up before attacks_per_batch was recorded
            inputs = replace(inputs, attacks_per_batch=attacks_per_batch(config, inputs.batch_size))
            store.set_meta({"attacks_per_batch": str(inputs.attacks_per_batch)})
        for name, lm in models.items():
            if inputs.weights.get(name) != lm.weights_hash:
                raise StoreError(
                    f"store {store.path}: the weights of {name!r} changed since the campaign started "
                    f"(sha256 {inputs.weights.get(name, '?')[:12]}… stored, {lm.weights_hash[:12]}… now)"
                )
        ex = config.execution
        if isinstance(ex.batch_size, int) and ex.batch_size != inputs.batch_size:
            log.warning("batch size %d is fixed by the store; ignoring %d", inputs.batch_size, ex.batch_size)
        if isinstance(ex.attacks_per_batch, int) and ex.attacks_per_batch != inputs.attacks_per_batch:
            log.warning("attacks per batch %d is fixed by the store; ignoring %d", inputs.attacks_per_batch,
                        ex.attacks_per_batch)
        if meta.get("device") != device:
            log.info("resuming on %s (the campaign started on %s)", device, meta.get("device"))
        _check_cpu_kernels(store, meta, device, local=backend.name == "local")
        specs = expand_attacks(config, inputs, len(json.loads(meta["class_names_json"])))
        done_keys = store.attack_keys() & {s.key for s in specs}
        batches = pending_batches(specs, inputs.attacks_per_batch, done_keys)
        successes = int(store.query("SELECT COALESCE(SUM(success), 0) FROM attacks")[0][0])
        before = len(done_keys)
        counts = dict(store.query("SELECT status, COUNT(*) FROM images GROUP BY status"))
        job = Job(config, inputs.images, inputs.regions, inputs.batch_size, device, dict(inputs.weights))
        run_id = store.begin_run({**environment, "backend": backend.name}) if batches else None
        feed = TimedFeed(batches, deadline, earlier_rates(store.runs(), device, backend.name,
                                                          environment.get("torch_threads")), time.monotonic)
        run, queries, seconds, stopped = _execute(store, backend, job, feed, len(specs), set(done_keys), successes,
                                                  progress, deadline, meta.get("record_format") == COMPACT, run_id)
        successes = int(store.query("SELECT COALESCE(SUM(success), 0) FROM attacks")[0][0])
    return CampaignSummary(
        store=Path(config.campaign.store), attacks_total=len(specs), attacks_before=before, attacks_run=run,
        successes=successes, queries_run=queries, seconds=seconds, images_attacked=int(counts.get("attacked", 0)),
        images_skipped=int(counts.get("skipped", 0)), batch_size=inputs.batch_size, device=device,
        stopped_by_time_limit=stopped,
    )


def _rows(result_batch: Batch, records: Sequence[dict[str, Any]],
          compact: bool = False) -> tuple[list[AttackRow], list[ScanRow]]:
    """The store rows of a finished batch: its attacks (records compacted when ``compact``:
    :mod:`pixelspace.campaign.records`), and the maps its ``"_map"`` entries carry."""
    if len(records) != len(result_batch.attacks):
        raise StoreError(f"backend returned {len(records)} records for a batch of {len(result_batch.attacks)} attacks")
    rows, maps = [], []
    for s, rec in zip(result_batch.attacks, records, strict=True):
        if int(rec["seed"]) != s.seed:
            raise StoreError(f"backend returned the record of seed {rec['seed']} for attack {s.key} (seed {s.seed})")
        if "_map" in rec:
            maps.append(ScanRow(s.model, s.image_id, s.search_hash, int(rec["_map"]["queries"]), rec["_map"]["npz"]))
        clean = (compact_record(rec, early_stop=s.early_stop, pixels=s.pixels, mode=s.mode) if compact
                 else {k: v for k, v in rec.items() if not k.startswith("_")})
        rows.append(AttackRow.of(s, clean))
    return rows, maps


def _execute(
    store: Store, backend: Backend, job: Job, feed: TimedFeed, total: int, done: set[str], successes: int,
    progress: bool, deadline: float | None = None, compact: bool = False, run_id: int | None = None,
) -> tuple[int, int, float, bool]:
    """Run the feed's batches through the backend and commit each result (records in compact form when
    ``compact``; counted to the store's run ``run_id``); returns (attacks, queries, seconds, whether batches were
    left for ``deadline``, the feed's ``time.monotonic()`` limit)."""
    from tqdm import tqdm

    if not feed.left:
        return 0, 0, 0.0, False
    if deadline is not None and time.monotonic() >= deadline:  # the start and the setup used up the limit
        log.info("time limit: reached before the first batch; the setup is stored")
        return 0, 0, 0.0, True
    reported: dict[int, int] = defaultdict(int)
    bar = tqdm(total=total, initial=len(done), unit="attack", desc="attacks", disable=not progress, dynamic_ncols=True)
    committed = queries = 0
    t0 = time.perf_counter()

    def on_progress(batch_index: int, n: int) -> None:
        reported[batch_index] += n
        bar.update(n)

    recorded: dict[str, Any] = {}  # the backend's environment as last merged into the run's record
    timing: dict[tuple[str, int, str, str, bool], list[float]] = {}  # group -> [batches, attacks, queries, seconds]
    try:
        backend.start(job)
        last = time.monotonic()
        for result in backend.run(feed, on_progress):
            rows, maps = _rows(result.batch, result.records, compact)
            environment = backend.environment()
            if run_id is not None and environment and environment != recorded:  # e.g. Ray workers' kernel level
                store.add_run_details(run_id, environment)  # before the rows it describes
                recorded = environment
            added = store.write_batch(rows, maps, run=run_id)
            committed += added
            batch_queries = sum(int(r.record["queries"]) for r in rows)
            queries += batch_queries
            if run_id is not None and added and result.seconds is not None:
                store.add_run_details(run_id, {"timing": _add_timing(timing, result, batch_queries)})
            now = time.monotonic()
            feed.observe(result.batch, result.seconds if result.seconds is not None else now - last)
            last = now
            successes += sum(bool(r.record["success"]) for r in rows if r.key not in done)
            done.update(r.key for r in rows)
            bar.update(added - min(reported.pop(result.batch.index, 0), added))
            rate = queries / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix(successes=successes, queries_per_s=f"{rate:,.0f}", **backend.postfix(), refresh=False)
    finally:
        backend.close()
        bar.close()
    stopped = deadline is not None and feed.left > 0
    if stopped:
        log.info("time limit: %d batch(es) left for the next run", feed.left)
    return committed, queries, time.perf_counter() - t0, stopped


def _add_timing(timing: dict[tuple[str, int, str, str, bool], list[float]], result: BatchResult,
                queries: int) -> list[dict[str, Any]]:
    """Add a finished batch's worker seconds to ``timing`` (per network × pixels × mode × search × early stop) and
    return it as the run's ``timing`` record: one entry per group with its batches, attacks, queries and seconds."""
    b = result.batch
    entry = timing.setdefault((b.model, b.pixels, b.mode, b.search, b.early_stop), [0, 0, 0, 0.0])
    for i, v in enumerate((1, len(b.attacks), queries, float(result.seconds or 0.0))):
        entry[i] += v
    return [{"model": m, "pixels": p, "mode": mo, "search": se, "early_stop": es, "batches": int(n),
             "attacks": int(a), "queries": int(q), "seconds": round(sec, 3)}
            for (m, p, mo, se, es), (n, a, q, sec) in sorted(timing.items())]


def _older_engine_hint(config: CampaignConfig, message: str) -> str:
    """What to add to the config when a store refused ``config`` because it was made before engine features
    that ``config`` turns on existed (the rows of :data:`pixelspace.campaign.legacy.OLD_DEFAULTS` that name a
    ``feature``: its stored hash is that of the config with them at their old values); else ''."""
    rows = [r for r in OLD_DEFAULTS if r.feature and getattr(getattr(config, r.section), r.name) != r.old]
    for n in range(1, len(rows) + 1):
        for off in itertools.combinations(rows, n):
            older = config.replace(**{f"{r.section}.{r.name}": r.old for r in off})
            if older.config_hash()[:12] in message:
                what = " and ".join(r.feature for r in off)
                sections = list(dict.fromkeys(r.section for r in off))
                keys = "; ".join(" and ".join(f"`{r.name} = {_toml(r.old)}`" for r in off if r.section == s)
                                 + f" to [{s}]" for s in sections)
                return f"This store was made without {what}: add {keys} to resume it (docs/engine.md)"
    return ""


def _toml(value: Any) -> str:
    """``value`` as TOML (the old values of :data:`OLD_DEFAULTS`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return f"[{', '.join(_toml(v) for v in value)}]"
    return json.dumps(value)
