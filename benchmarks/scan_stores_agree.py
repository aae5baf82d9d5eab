"""Do two stores' vulnerability maps of the same (network, image) agree? For example a scan made with full
forward passes against one made with the incremental forward pass.

Usage:
    python benchmarks/scan_stores_agree.py STORE_A STORE_B

Per network: the images scanned in both stores, the (pixel, colour) candidates compared, how many predicted
classes differ, how many pixels' flip verdicts differ, and the largest difference of the stored clean-class
probability (stored as float16, so differences below about 5e-4 are rounding of the storage).
"""

from __future__ import annotations

import argparse
import io
from collections import defaultdict

import numpy as np

from pixelspace.outcomes import VulnerabilityMap
from pixelspace.report.stored import load_store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store_a")
    ap.add_argument("store_b")
    args = ap.parse_args()
    a, b = load_store(args.store_a).scans, load_store(args.store_b).scans
    common = sorted(set(a) & set(b))
    if not common:
        raise SystemExit("the two stores share no (network, image) scan")
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for key in common:
        ma = VulnerabilityMap.from_npz(io.BytesIO(a[key]))
        mb = VulnerabilityMap.from_npz(io.BytesIO(b[key]))
        both = ma.scanned & mb.scanned
        t = totals[key[0]]
        t[0] += 1
        t[1] += int(both.sum()) * ma.colors.shape[0]
        t[2] += int((ma.predicted[both] != mb.predicted[both]).sum())
        t[3] += int((ma.flips[both] != mb.flips[both]).sum())
        t[4] = max(t[4], float(np.nanmax(np.abs(ma.probability[both] - mb.probability[both]))))
    print(f"{'network':<18} {'images':>6} {'candidates':>11} {'classes differ':>15} {'flips differ':>13} "
          f"{'max |dp|':>9}")
    for model, (n, cands, cls, flips, dp) in sorted(totals.items()):
        print(f"{model:<18} {n:>6} {cands:>11,} {cls:>15} {flips:>13} {dp:>9.2e}")


if __name__ == "__main__":
    main()
