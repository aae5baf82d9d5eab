"""Replay committed stores batch by batch and say how many of their rows the current code reproduces.

Usage:
    python benchmarks/replay_sweep.py [STORE ...] [--per-cell N] [--seed S] [--all] [--max-seconds T]
                                      [--cpu-capability store|native|avx2|avx512] [--threads store|native|N]
                                      [--device DEV] [--search NAME] [--ledger FILE] [--jobs N] [--per-process N]

For each store (default: every ``results/*/store.sqlite``) this rebuilds the campaign's plan of batches as the
runner makes it (``make_batches`` on the stored config, inputs and ``attacks_per_batch``), keeps the batches
with at least one stored row, and replays a sample of them: ``--per-cell N`` batches (default 1), drawn with
``--seed``, from each cell (search, model, pixels, mode), or every batch with ``--all``. Each replay is one
``pixelspace replay STORE KEY`` in its own process (so the level of PyTorch's CPU kernels the store records, or
``--cpu-capability``, is set before torch computes anything; PyTorch's thread count likewise, ``--threads``), which re-runs the key's whole batch and reports how many of the batch's
stored rows came out exactly, and how many with every discrete field equal. A store made on another device
than this one (``meta.device`` cuda) is listed and skipped: its rows replay only there; with ``--device cpu``
it is replayed here all the same (``pixelspace replay --device cpu``), where its floats are expected to differ
and the same search path is what can be checked. ``--search`` keeps only the cells of one search (e.g. scan).
A batch whose rows were made with PyTorch CPU kernels this CPU lacks (AVX-512 on an AVX2 machine, another
architecture's) cannot replay bit for bit here: it is counted and skipped, as is a whole store when
``--cpu-capability`` names a level this CPU lacks; ``--other-level`` replays such batches at this CPU's own level
instead (a check of their search path; their floats are expected to differ).

``--ledger FILE`` makes a long sweep resumable: each replayed batch is appended to FILE as one JSON line (store,
its first key, the stored rows it held, rows exact, rows on the same path, largest float difference, CPU seconds,
exit status, the options it was given, the kernel level and thread count it ran with, the commit and the time), a
batch already in FILE with the same options and the same number of stored rows is not replayed again, and each
store's table counts every ledger line of it (this run's and earlier runs'). ``--jobs N`` runs N replays at once
(each takes the thread count the store records, so N times that should fit the cores). ``--per-process N``
replays up to N batches in one process (grouped by the kernel level and thread count their rows were made with;
the level is set once, before torch computes anything), saving each replay's start-up.

Prints one line per replayed batch and a table per store: batches replayed of those stored, rows in them,
rows reproduced exactly, rows with the same search path (every discrete field equal), the largest float
difference, and the CPU seconds spent. Exit status 1 when a replayed row took another search path.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np

LINE = re.compile(r"its batch: (\d+) of its (\d+) stored rows reproduced exactly, (\d+) with every discrete field "
                  r"equal \(largest float difference ([0-9.e+-]+)\)")
ONE = re.compile(r"reproduces the stored row|the search is reproduced")
KERNELS = re.compile(r"CPU kernels (\w+), (\d+) thread")


def plan_batches(path: Path) -> list[tuple[tuple[str, str, int, str], list[str]]]:
    """The store's batches that hold a stored row: (cell, stored keys), in plan order."""
    from pixelspace.campaign.config import CampaignConfig
    from pixelspace.campaign.runner import expand_attacks, make_batches, read_inputs
    from pixelspace.campaign.store import Store

    with Store.open_readonly(path) as store:
        meta = store.meta()
        inputs = read_inputs(store)
    config = CampaignConfig.from_stored(json.loads(meta["config_json"]), f"{path} config_json")
    specs = expand_attacks(config, inputs, len(json.loads(meta["class_names_json"])))
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    stored = {k for (k,) in con.execute("SELECT key FROM attacks")}
    con.close()
    out = []
    for b in make_batches(specs, max(inputs.attacks_per_batch, 1)):
        keys = [s.key for s in b.attacks if s.key in stored]
        if keys:
            out.append(((b.search, b.model, b.pixels, b.mode), keys))
    return out


Cell = tuple[str, str, int, str]


def replay_batch(path: Path, cell: Cell, keys: list[str], options: dict[str, str | bool | None]) -> dict[str, Any]:
    """Replay one batch (``pixelspace replay`` of its first stored key) in its own process; its ledger line."""
    command = [str(Path(sys.executable).parent / "pixelspace"), "replay", str(path), keys[0],
               "--cpu-capability", str(options["cpu_capability"]), "--threads", str(options["threads"]),
               *(["--device", str(options["device"])] if options["device"] else [])]
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own CPU time, also when several run at once
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    m = LINE.search(text)
    if m:
        e, n, s, g = int(m[1]), int(m[2]), int(m[3]), float(m[4])
    else:  # a batch of one stored row: the verdict line alone
        n = 1
        e = int("exactly" in text and proc.returncode == 0)
        s = int(bool(ONE.search(text)) and proc.returncode == 0)
        g = 0.0
    k = KERNELS.search(text)
    return ledger_line(path, cell, keys, options, "own", {
        "rows": n, "exact": e, "same_path": s, "float_gap": g, "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "exit": proc.returncode, "ran_with": {"cpu_capability": k[1], "threads": int(k[2])} if k else None,
        "message": "" if proc.returncode == 0 else text.strip()[-300:]})


def ledger_line(path: Path, cell: Cell, keys: list[str], options: dict[str, str | bool | None], process: str,
                outcome: dict[str, Any]) -> dict[str, Any]:
    """One batch's ledger line: where it is, how it was replayed (``process``: ``own`` or ``shared``) and its
    ``outcome`` (rows, exact, same_path, float_gap, cpu_s, exit, ran_with, message)."""
    return {"store": str(path), "key": keys[0], "cell": "/".join(map(str, cell)), "stored": len(keys), **outcome,
            "options": options, "commit": _commit(), "process": process,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def replay_chunk(path: Path, items: list[tuple[Cell, list[str]]], options: dict[str, str | bool | None],
                 deadline: float | None) -> Iterator[dict[str, Any]]:
    """Replay several batches of one store in one process (``--per-process``): their ledger lines, each as its
    replay ends; none is started after ``deadline`` (``time.time()``). The batches must share the kernel level
    and thread count they were made with."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(path), str(options["cpu_capability"]),
               str(options["threads"]), str(options["device"] or ""), str(deadline or 0),
               *(keys[0] for _, keys in items)]
    by_key = {keys[0]: (cell, keys) for cell, keys in items}
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        seen = set()
        for raw in proc.stdout:
            got = json.loads(raw)
            cell, keys = by_key[got["key"]]
            seen.add(got["key"])
            yield ledger_line(path, cell, keys, options, "shared", {k: v for k, v in got.items() if k != "key"})
        if proc.wait() != 0 or (len(seen) < len(items) and (deadline is None or time.time() < deadline)):
            err.seek(0)
            print(f"{path}: a replay process stopped (exit {proc.returncode}) with {len(items) - len(seen)} of its "
                  f"{len(items)} batches not replayed: {err.read().strip()[-300:]}", flush=True)


def worker(argv: list[str]) -> int:
    """``--worker STORE LEVEL THREADS DEVICE DEADLINE KEY...``: replay each key's batch in this process, one JSON
    line each (sets the kernel level once, for the first key, before torch computes anything); no replay starts
    after DEADLINE (``time.time()``; 0: none)."""
    from pixelspace.campaign.status import replay_attack, set_replay_cpu_capability

    store, level, threads, device, deadline, *keys = argv
    set_replay_cpu_capability(store, level, keys[0])
    count: int | Literal["store"] | None = "store" if threads == "store" else None if threads == "native" else int(threads)
    for key in keys:
        if float(deadline) and time.time() > float(deadline):
            break
        t0 = time.process_time()
        line: dict[str, Any] = {"key": key, "ran_with": None, "message": ""}
        try:
            r = replay_attack(store, key, device=device or None, threads=count)
        except Exception as exc:  # recorded in the ledger like a failing ``pixelspace replay``
            line.update(rows=1, exact=0, same_path=0, float_gap=0.0, exit=1, message=f"{type(exc).__name__}: {exc}")
        else:
            several = r.batch_stored > 1
            line.update(rows=r.batch_stored if several else 1,
                        exact=r.batch_identical if several else int(r.identical),
                        same_path=r.batch_same_path if several else int(r.search_reproduced),
                        float_gap=r.batch_float_gap if several else max(r.float_differences.values(), default=0.0),
                        exit=0 if r.search_reproduced else 1,
                        ran_with={"cpu_capability": r.cpu_capability, "threads": r.threads} if r.cpu_capability
                        else None,
                        message="" if r.search_reproduced else f"differing fields: {', '.join(r.differences)}")
        line["cpu_s"] = round(time.process_time() - t0, 1)
        print(json.dumps(line), flush=True)
    return 0


def made_alike(path: Path, keys: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """Per key, the kernel level and thread count its row was made with, as the store says (``made_with``)."""
    from pixelspace.campaign.status import made_with
    from pixelspace.campaign.store import Store

    with Store.open_readonly(path) as store:
        return {k: (made.get("cpu_capability"), made.get("torch_threads"))
                for k in keys for made in [made_with(store, k)]}


def runnable(level: str) -> bool:
    """Whether this CPU can run PyTorch's kernels at ``level`` (an unknown name, e.g. another architecture's, is
    not)."""
    from pixelspace.runtime import CPU_CAPABILITIES, cpu_supports

    return level.lower() in CPU_CAPABILITIES and cpu_supports(level)


def split_by_level(items: list[tuple[Cell, list[str]]], made: dict[str, tuple[str | None, str | None]],
                   can_run: Callable[[str], bool] = runnable) -> tuple[list[tuple[Cell, list[str]]], dict[str, int]]:
    """The batches this CPU can replay at the kernel level their rows were made with (or that record none), and
    per level it lacks, how many batches were made with it (``made``: per first key, level and thread count)."""
    keep: list[tuple[Cell, list[str]]] = []
    lacking: dict[str, int] = defaultdict(int)
    for item in items:
        level = made[item[1][0]][0]
        if level and not can_run(level):
            lacking[level] += 1
        else:
            keep.append(item)
    return keep, dict(lacking)


def by_level(lines: list[dict[str, Any]]) -> str:
    """Rows exact and on the stored path per kernel level the replays ran with, when they ran with several."""
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in lines:
        g = groups[(line.get("ran_with") or {}).get("cpu_capability") or "unknown"]
        g[0] += line["rows"]
        g[1] += line["exact"]
        g[2] += line["same_path"]
    if len(groups) < 2:
        return ""
    return " (by the level they ran with: " + "; ".join(
        f"{level} {e} of {n} exact, {s} same path" for level, (n, e, s) in sorted(groups.items())) + ")"


def read_ledger(path: Path | None) -> list[dict[str, Any]]:
    """The ledger's lines (none when there is no ledger yet)."""
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stores", nargs="*", type=Path)
    ap.add_argument("--per-cell", type=int, default=1, help="batches replayed per (search, model, pixels, mode)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--all", action="store_true", help="replay every batch with a stored row")
    ap.add_argument("--max-seconds", type=float, default=None, help="stop starting replays after this long")
    ap.add_argument("--cpu-capability", default="store", help="passed to `pixelspace replay` (default: the level "
                    "the store records; a store made before levels were recorded may need avx2, docs/campaigns.md)")
    ap.add_argument("--threads", default="store", help="passed to `pixelspace replay` (default: the thread count "
                    "the store records; else this process's own)")
    ap.add_argument("--device", default=None, help="replay stores made on another device on this one instead of "
                    "skipping them (passed to `pixelspace replay --device`)")
    ap.add_argument("--search", default=None, help="only the cells of this search (de, scan, scan-first, sparse-rs)")
    ap.add_argument("--ledger", type=Path, default=None, help="JSON-lines file of replayed batches: appended to, "
                    "and batches already in it are not replayed again (resume a long sweep)")
    ap.add_argument("--jobs", type=int, default=1, help="replays run at once (default 1)")
    ap.add_argument("--per-process", type=int, default=1, help="batches replayed in one process (default 1: each "
                    "in its own; more saves the start-up, about 3.6 of a 17 CPU-s scan batch; batches are grouped "
                    "by the kernel level and thread count their rows were made with)")
    ap.add_argument("--other-level", action="store_true", help="replay batches made with CPU kernels this CPU "
                    "lacks at this CPU's own level instead of skipping them (checks their search path only)")
    args = ap.parse_args()
    from pixelspace.runtime import CPU_CAPABILITIES

    if args.jobs < 1 or args.per_process < 1:
        ap.error("--jobs and --per-process must be at least 1")
    options: dict[str, str | bool | None] = {"cpu_capability": args.cpu_capability, "threads": args.threads,
                                      "device": args.device, **({"other_level": True} if args.other_level else {})}
    explicit = args.cpu_capability.lower() not in ("store", "native")
    if explicit and args.cpu_capability.lower() not in CPU_CAPABILITIES:
        print(f"unknown CPU capability {args.cpu_capability!r}; one of store, native, "
              f"{', '.join(CPU_CAPABILITIES)}", flush=True)
        return 1
    if explicit and not args.other_level and not runnable(args.cpu_capability):
        print(f"--cpu-capability {args.cpu_capability}: this CPU cannot run PyTorch's kernels at that level; nothing "
              "replayed (--other-level replays at this CPU's own)", flush=True)
        return 0
    if explicit and args.other_level and not runnable(args.cpu_capability):
        options["cpu_capability"] = "native"
    stores = args.stores or sorted(Path("results").glob("*/store.sqlite"))
    start = time.monotonic()
    failed = False
    summary = []
    ledger = read_ledger(args.ledger)
    lock = threading.Lock()
    for path in stores:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        device = dict(con.execute("SELECT key, value FROM meta")).get("device", "?")
        con.close()
        if device != "cpu" and args.device is None:
            print(f"{path}: made on {device}; skipped (its rows replay there)", flush=True)
            summary.append((str(path), f"skipped: made on {device}"))
            continue
        batches = [b for b in plan_batches(path) if args.search is None or b[0][0] == args.search]
        cells: dict[Cell, list[list[str]]] = defaultdict(list)
        for cell, keys in batches:
            cells[cell].append(keys)
        rng = np.random.default_rng(args.seed)
        chosen: list[tuple[Cell, list[str]]] = []
        for cell, group in cells.items():
            pick = range(len(group)) if args.all else rng.choice(len(group), min(args.per_cell, len(group)),
                                                                replace=False)
            chosen.extend((cell, group[int(i)]) for i in sorted(pick))
        earlier = {(line["key"], line["stored"]): line for line in ledger
                   if line["store"] == str(path) and line["options"] == options}
        results = [earlier[(keys[0], len(keys))] for _, keys in chosen if (keys[0], len(keys)) in earlier]
        todo = [(cell, keys) for cell, keys in chosen if (keys[0], len(keys)) not in earlier]
        if results:
            print(f"{path}: {len(results)} of {len(chosen)} batches already in {args.ledger}", flush=True)
        alike = made_alike(path, [keys[0] for _, keys in todo]) if todo else {}
        if options["cpu_capability"] == "store" and not args.other_level:
            todo, lacking = split_by_level(todo, alike)
            for level, n in lacking.items():
                print(f"{path}: {n} batches made with PyTorch's {level} CPU kernels, which this CPU cannot run: "
                      "skipped (--other-level replays them at this CPU's level)", flush=True)
                summary.append((str(path), f"{n} batches skipped: made with {level} kernels, which this CPU lacks"))
        stopped = False

        def one(chunk: list[tuple[Cell, list[str]]], path: Path = path) -> list[dict[str, Any]]:
            nonlocal stopped, failed
            if args.max_seconds is not None and time.monotonic() - start > args.max_seconds:
                stopped = True
                return []
            deadline = None if args.max_seconds is None else time.time() + args.max_seconds - (time.monotonic() - start)
            lines = (replay_chunk(path, chunk, options, deadline) if args.per_process > 1
                     else iter([replay_batch(path, chunk[0][0], chunk[0][1], options)]))
            out = []
            for line in lines:
                with lock:
                    if args.ledger is not None:
                        with args.ledger.open("a") as f:
                            f.write(json.dumps(line) + "\n")
                    print(f"{path} {line['cell']} batch of {line['key'][:8]}: {line['exact']} of {line['rows']} "
                          f"stored rows exact, {line['same_path']} same search path, largest float difference "
                          f"{line['float_gap']:.2g}, {line['cpu_s']:.0f} CPU-s"
                          + ("" if line["exit"] == 0 else f"; exit {line['exit']}: {line['message']}"), flush=True)
                out.append(line)
            if len(out) < len(chunk):  # the time is up, or the replay process stopped (a failure)
                if deadline is not None and time.time() >= deadline:
                    stopped = True
                else:
                    failed = True
            return out

        chunks: list[list[tuple[Cell, list[str]]]] = []
        if args.per_process > 1:
            groups: dict[tuple[str | None, str | None], list[tuple[Cell, list[str]]]] = defaultdict(list)
            for item in todo:
                groups[alike[item[1][0]]].append(item)
            for group_items in groups.values():
                chunks.extend(group_items[i : i + args.per_process]
                              for i in range(0, len(group_items), args.per_process))
        else:
            chunks = [[item] for item in todo]
        with ThreadPoolExecutor(args.jobs) as pool:
            for lines in pool.map(one, chunks):
                results.extend(lines)
        if stopped:
            print(f"{path}: time is up after {len(results)} of {len(chosen)} batches", flush=True)
        rows = sum(line["rows"] for line in results)
        exact = sum(line["exact"] for line in results)
        same = sum(line["same_path"] for line in results)
        gap = max((line["float_gap"] for line in results), default=0.0)
        cpu = sum(line["cpu_s"] for line in results)
        failed |= any(line["same_path"] < line["rows"] or line["exit"] != 0 for line in results)
        summary.append((str(path), f"{len(results)} of {len(batches)} batches with stored rows replayed "
                                   f"({len(cells)} cells): {exact} of {rows} rows exact, {same} same search path, "
                                   f"largest float difference {gap:.2g}, {cpu:.0f} CPU-s{by_level(results)}"))
    print()
    for path_s, line_s in summary:
        print(f"{path_s}: {line_s}")
    return 1 if failed else 0


@functools.cache
def _commit() -> str:
    """The checkout's commit (with ``+dirty`` when its tracked files differ), or ``unknown``."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src"], cwd=root).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


if __name__ == "__main__":
    sys.exit(worker(sys.argv[2:]) if sys.argv[1:2] == ["--worker"] else main())
