"""Replay committed stores batch by batch and say how many of their rows the current code reproduces.

Usage:
    python benchmarks/replay_sweep.py [STORE ...] [--per-cell N] [--seed S] [--all] [--max-seconds T]
                                      [--cpu-capability store|native|avx2|avx512] [--threads store|native|N]
                                      [--device DEV] [--search NAME] [--ledger FILE] [--jobs N]

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

``--ledger FILE`` makes a long sweep resumable: each replayed batch is appended to FILE as one JSON line (store,
its first key, the stored rows it held, rows exact, rows on the same path, largest float difference, CPU seconds,
exit status, the options it was given, the kernel level and thread count it ran with, the commit and the time), a
batch already in FILE with the same options and the same number of stored rows is not replayed again, and each
store's table counts every ledger line of it (this run's and earlier runs'). ``--jobs N`` runs N replays at once
(each takes the thread count the store records, so N times that should fit the cores).

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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


def replay_batch(path: Path, cell: Cell, keys: list[str], options: dict[str, str | None]) -> dict[str, Any]:
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
    return {"store": str(path), "key": keys[0], "cell": "/".join(map(str, cell)), "stored": len(keys), "rows": n,
            "exact": e, "same_path": s, "float_gap": g, "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "exit": proc.returncode, "options": options, "commit": _commit(),
            "ran_with": {"cpu_capability": k[1], "threads": int(k[2])} if k else None,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "message": "" if proc.returncode == 0 else text.strip()[-300:]}


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
    args = ap.parse_args()
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    options: dict[str, str | None] = {"cpu_capability": args.cpu_capability, "threads": args.threads,
                                      "device": args.device}
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
        stopped = False

        def one(item: tuple[Cell, list[str]], path: Path = path) -> dict[str, Any] | None:
            nonlocal stopped
            if args.max_seconds is not None and time.monotonic() - start > args.max_seconds:
                stopped = True
                return None
            line = replay_batch(path, item[0], item[1], options)
            with lock:
                if args.ledger is not None:
                    with args.ledger.open("a") as f:
                        f.write(json.dumps(line) + "\n")
                print(f"{path} {line['cell']} batch of {line['key'][:8]}: {line['exact']} of {line['rows']} stored "
                      f"rows exact, {line['same_path']} same search path, largest float difference "
                      f"{line['float_gap']:.2g}, {line['cpu_s']:.0f} CPU-s"
                      + ("" if line["exit"] == 0 else f"; exit {line['exit']}: {line['message']}"), flush=True)
            return line

        with ThreadPoolExecutor(args.jobs) as pool:
            results.extend(line for line in pool.map(one, todo) if line is not None)
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
                                   f"largest float difference {gap:.2g}, {cpu:.0f} CPU-s"))
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
    sys.exit(main())
