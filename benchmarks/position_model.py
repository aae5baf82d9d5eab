"""How much does the per-pixel object effect depend on the model's position terms? (issue 29, item 2)

Usage: python benchmarks/position_model.py STORE [--df 4 6 8] [--out FILE]

For every network of STORE (scan maps with a foreground region), fits ``report.position.object_effect`` with
``df`` spline degrees of freedom per distance (centre, border, outline) and prints the object's average marginal
effect (pp, delta-method 95 % interval, images as clusters), the odds ratio, and, as a floor, a fit with no
position term at all (the naive model). The report uses df = 4.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pixelspace.report import position as pos
from pixelspace.report.scan_section import _foregrounds, _maps
from pixelspace.report.stored import load_store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store")
    ap.add_argument("--df", type=int, nargs="+", default=[4, 6, 8])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    store = load_store(args.store)
    maps, fgs = _maps(store), _foregrounds(store)
    lines = [f"store {args.store}", f"{'network':<18}{'position terms':<22}{'images':>7}  {'object (pp) [95 %]':<26}"
             f"{'odds ratio [95 %]':<22}"]
    for model in sorted({m for m, _ in maps}):
        ids = sorted(i for (m, i) in maps if m == model and i in fgs)
        t = pos.pixel_table([maps[(model, i)] for i in ids], [fgs[i] for i in ids], ids)
        none = pos.PixelTable(t.image, t.flip, t.foreground, np.zeros_like(t.centre), np.zeros_like(t.border),
                              np.zeros_like(t.outline), t.image_ids)
        for label, table, df in [("none", none, 4), *[(f"splines, df = {d}", t, d) for d in args.df]]:
            e = pos.object_effect(table, model, df=df)
            m, o = e.marginal, e.odds_ratio
            lines.append(f"{model:<18}{label:<22}{e.images:>7}  {m.value:+.2f} [{m.low:+.2f}, {m.high:+.2f}]"
                         f"{'':<6}{o.value:.2f} [{o.low:.2f}, {o.high:.2f}]")
            print(lines[-1], flush=True)
    text = "\n".join(lines)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
