"""Does a denser colour set fool images that the 8 RGB-cube corners miss? (issue 29, item 5)

Usage: python benchmarks/colour_set.py STORE [--out FILE]

STORE holds scans with a colour set that contains the 8 corners (``campaigns/cifar10-scan-27-100.toml``: the
27 colours with each channel in {0, 128, 255}). The corners are a subset of that set, so one map answers the
question with no second scan. Per network and region (whole / foreground / background, from the stored masks)
it prints: images scanned, images fooled by some colour of the set, by some corner, and by a non-corner colour
only (no corner flips any pixel of the region), with Wilson 95 % intervals; and, per pixel, the share of
flipping pixels that only non-corner colours flip.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from pixelspace.outcomes import VulnerabilityMap
from pixelspace.report.stats import wilson_interval
from pixelspace.report.stored import load_store


def _corner_columns(colors: np.ndarray) -> np.ndarray:
    """bool (C,): which colours of the set are RGB-cube corners."""
    return np.all((colors == 0) | (colors == 255), axis=1)


def _masks(store_path: str) -> dict[tuple[str, str], np.ndarray]:
    from pixelspace.report import figures as figs

    store = load_store(store_path)
    return {(i, r): figs.decode_png(png)[:, :, 0] > 127 for (i, r), png in store.masks.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store")
    ap.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    store = load_store(args.store)
    masks = _masks(args.store)
    lines = [f"store {args.store}: {len(store.scans)} maps"]
    header = (f"{'network':<18}{'region':<12}{'images':>7}  {'any colour':>22}  {'corners':>22}  "
              f"{'non-corner only':>22}  {'flipping px non-corner only':>28}")
    lines.append(header)
    for model in sorted({m for m, _ in store.scans}):
        maps = {i: VulnerabilityMap.from_npz(io.BytesIO(v)) for (m, i), v in store.scans.items() if m == model}
        first = next(iter(maps.values()))
        corner = _corner_columns(first.colors)
        if corner.sum() != 8 or corner.all():
            lines.append(f"{model}: the colour set has {int(corner.sum())} corners of {len(corner)} colours; "
                         "this needs all 8 corners and at least one other colour")
            continue
        for region in ("whole", "foreground", "background"):
            n = any_c = corners = only = px_all = px_only = 0
            for image_id, vmap in sorted(maps.items()):
                region_mask = (np.ones_like(vmap.scanned) if region == "whole"
                               else masks.get((image_id, region)))
                if region_mask is None:
                    continue
                sel = region_mask & vmap.scanned
                flips = (vmap.predicted != vmap.label) & (vmap.predicted >= 0)  # (H, W, C)
                by_corner = flips[..., corner].any(axis=2) & sel
                by_any = flips.any(axis=2) & sel
                n += 1
                any_c += bool(by_any.any())
                corners += bool(by_corner.any())
                only += bool(by_any.any() and not by_corner.any())
                px_all += int(by_any.sum())
                px_only += int((by_any & ~by_corner).sum())

            def cell(k: int, total: int) -> str:
                lo, hi = wilson_interval(k, total)
                return f"{k:>4} ({100 * k / total:4.1f}% [{100 * lo:4.1f}, {100 * hi:4.1f}])" if total else "—"

            share = f"{px_only}/{px_all} ({100 * px_only / px_all:.1f}%)" if px_all else "—"
            lines.append(f"{model:<18}{region:<12}{n:>7}  {cell(any_c, n):>22}  {cell(corners, n):>22}  "
                         f"{cell(only, n):>22}  {share:>28}")
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
