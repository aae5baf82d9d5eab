"""Pair the pixel scan of one store with the 1-pixel untargeted DE attacks of another store on the same images.

Usage:
    python benchmarks/scan_vs_de_stores.py SCAN_STORE DE_STORE

For example the 8-colour scan of `results/cifar10-cpu-scan/` against the paper-budget DE (100 generations) of
`results/cifar10-gpu-100gen/`, which attacked the same 20 images. Prints per network × region the paired
success counts, the discordant images (only the scan / only DE) with the exact McNemar p-value, and the mean
queries per image of each. Images are matched by their dataset id; rows of images in only one store are left out.
"""

from __future__ import annotations

import argparse

from pixelspace.report.scan_metrics import scan_vs_de
from pixelspace.report.stored import load_store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scan_store")
    ap.add_argument("de_store")
    args = ap.parse_args()
    scans, de = load_store(args.scan_store).scan_rows, load_store(args.de_store).results
    if not scans:
        raise SystemExit(f"{args.scan_store} holds no scan rows (search = \"scan\")")
    print(f"{'network':<18} {'region':<11} {'images':>6} {'scan':>5} {'DE':>5} {'scan-only':>9} {'DE-only':>7} "
          f"{'p':>6} {'scan q':>7} {'DE q':>7}")
    totals = [0, 0, 0]
    for c in scan_vs_de(scans, de):
        if not c.images:
            continue
        totals = [totals[0] + c.images, totals[1] + c.scan_only, totals[2] + c.de_only]
        p = "" if c.p_value is None else f"{c.p_value:.3g}"
        print(f"{c.model:<18} {c.region:<11} {c.images:>6} {c.scan.successes:>5} {c.de.successes:>5} "
              f"{c.scan_only:>9} {c.de_only:>7} {p:>6} {c.scan_queries:>7,.0f} {c.de_queries:>7,.0f}")
    print(f"paired cells: {totals[0]}; only the scan succeeded: {totals[1]}; only DE succeeded: {totals[2]}")


if __name__ == "__main__":
    main()
