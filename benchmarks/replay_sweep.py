"""Replay committed stores batch by batch and say how many of their rows the current code reproduces.

Usage:
    python benchmarks/replay_sweep.py [STORE ...] [--per-cell N] [--seed S] [--all] [--max-seconds T]
                                      [--cpu-capability store|native|avx2|avx512] [--threads store|native|N]
                                      [--device DEV] [--search NAME]

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

Prints one line per replayed batch and a table per store: batches replayed of those stored, rows in them,
rows reproduced exactly, rows with the same search path (every discrete field equal), the largest float
difference, and the CPU seconds spent. Exit status 1 when a replayed row took another search path.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

LINE = re.compile(r"its batch: (\d+) of its (\d+) stored rows reproduced exactly, (\d+) with every discrete field "
                  r"equal \(largest float difference ([0-9.e+-]+)\)")
ONE = re.compile(r"reproduces the stored row|the search is reproduced")


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
    args = ap.parse_args()
    stores = args.stores or sorted(Path("results").glob("*/store.sqlite"))
    start = time.monotonic()
    failed = False
    summary = []
    for path in stores:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        device = dict(con.execute("SELECT key, value FROM meta")).get("device", "?")
        con.close()
        if device != "cpu" and args.device is None:
            print(f"{path}: made on {device}; skipped (its rows replay there)", flush=True)
            summary.append((str(path), f"skipped: made on {device}"))
            continue
        batches = [b for b in plan_batches(path) if args.search is None or b[0][0] == args.search]
        cells: dict[tuple[str, str, int, str], list[list[str]]] = defaultdict(list)
        for cell, keys in batches:
            cells[cell].append(keys)
        rng = np.random.default_rng(args.seed)
        chosen: list[tuple[tuple[str, str, int, str], list[str]]] = []
        for cell, group in cells.items():
            pick = range(len(group)) if args.all else rng.choice(len(group), min(args.per_cell, len(group)),
                                                                replace=False)
            chosen.extend((cell, group[int(i)]) for i in sorted(pick))
        rows = exact = same = 0
        gap = 0.0
        cpu = 0.0
        done = 0
        for cell, keys in chosen:
            if args.max_seconds is not None and time.monotonic() - start > args.max_seconds:
                print(f"{path}: time is up after {done} of {len(chosen)} batches", flush=True)
                break
            t0 = time.process_time()
            before = _children_cpu()
            proc = subprocess.run([str(Path(sys.executable).parent / "pixelspace"), "replay", str(path), keys[0],
                                   "--cpu-capability", args.cpu_capability, "--threads", args.threads,
                                   *(["--device", args.device] if args.device else [])],
                                  capture_output=True, text=True)
            spent = _children_cpu() - before + time.process_time() - t0
            cpu += spent
            text = proc.stdout + proc.stderr
            m = LINE.search(text)
            if m:
                e, n, s, g = int(m[1]), int(m[2]), int(m[3]), float(m[4])
            else:  # a batch of one stored row: the verdict line alone
                n = 1
                e = int("exactly" in text and proc.returncode == 0)
                s = int(bool(ONE.search(text)) and proc.returncode == 0)
                g = 0.0
            rows, exact, same, gap = rows + n, exact + e, same + s, max(gap, g)
            done += 1
            failed |= s < n or proc.returncode != 0
            print(f"{path} {'/'.join(map(str, cell))} batch of {keys[0][:8]}: {e} of {n} stored rows exact, "
                  f"{s} same search path, largest float difference {g:.2g}, {spent:.0f} CPU-s"
                  + ("" if proc.returncode == 0 else f"; exit {proc.returncode}: {text.strip()[-300:]}"),
                  flush=True)
        summary.append((str(path), f"{done} of {len(batches)} batches with stored rows replayed ({len(cells)} cells): "
                                   f"{exact} of {rows} rows exact, {same} same search path, largest float "
                                   f"difference {gap:.2g}, {cpu:.0f} CPU-s"))
    print()
    for path_s, line in summary:
        print(f"{path_s}: {line}")
    return 1 if failed else 0


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


if __name__ == "__main__":
    sys.exit(main())
