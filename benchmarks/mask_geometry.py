"""Geometry of a store's foreground masks, behind the outline-sensitivity reading (issue 29).

Usage: python benchmarks/mask_geometry.py STORE [--out FILE]

Prints, over the attacked images with a foreground and a centre mask: the foreground's pixel count, the share of
the foreground that its size-matched ``centre`` control also covers, and the share of the foreground's pixels
that eroding it by 1 and 2 px (3 x 3 steps, as the report's outline rows do) removes; mean and median.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pixelspace.report import figures as figs
from pixelspace.report.scan_metrics import shift_foreground
from pixelspace.report.stored import load_store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    store = load_store(args.store)
    masks = {(i, r): figs.decode_png(png)[:, :, 0] > 127 for (i, r), png in store.masks.items()
             if r in ("foreground", "centre")}
    ids = sorted(i for i, r in masks if r == "foreground" and (i, "centre") in masks)
    fg = np.array([masks[(i, "foreground")].sum() for i in ids], dtype=float)
    rows = {
        "foreground pixels": fg,
        "share of the foreground inside its centre control": np.array(
            [(masks[(i, "foreground")] & masks[(i, "centre")]).sum() for i in ids]) / fg,
        **{f"share of the foreground removed by eroding {k} px": 1 - np.array(
            [shift_foreground(masks[(i, "foreground")], -k).sum() for i in ids]) / fg for k in (1, 2)},
    }
    lines = [f"store {args.store}: {len(ids)} images with foreground and centre masks"]
    lines += [f"{name:<52} mean {v.mean():8.3f}   median {np.median(v):8.3f}" for name, v in rows.items()]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
