"""The object's per-pixel effect at equal position on every placement of each image at once (issue 29, item 1).

Usage: python benchmarks/shift_pooled.py BASELINE SHIFTED [SHIFTED ...] [--grid] [--out FILE]

BASELINE is the unshifted scan store, each SHIFTED a store of the same images moved (e.g. the (+4, +4) and
(−4, −4) translation scans). ``pixelspace report SHIFTED --baseline BASELINE`` fits the per-pixel model on one
shift and the unshifted images together; this script fits it on all of them: per network, the images every store
scanned (with a foreground), each image one cluster holding all its placements. Moving the object decouples
foreground membership from the distance to the centre, so more placements give the object's effect at equal
position more leverage. Prints, per network, the model on each placement alone (the same images), each shift
with the unshifted images, and every placement pooled (each placement its own intercept): images, pixel rows, the average marginal effect of
foreground membership (pp, delta-method 95 % interval, images as clusters), odds ratio and p; then, per network,
the p of a test that the object's effect is the same at every placement. ``--grid`` fits every row again with
the pixel's row and column offset from the centre added as linear terms, so a gradient by direction (up/down,
left/right: distances alone cannot express it, and the shifts move the object along it) is not read as the
object's. Three placements of 424 images: about a minute per network
(``--grid`` twice that) and several GB of memory; ``--models`` fits one network per run to keep it lower.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from pixelspace.outcomes import VulnerabilityMap
from pixelspace.report import position as pos
from pixelspace.report.position_section import _model_data
from pixelspace.report.stored import load_store

Data = Mapping[str, tuple[list[VulnerabilityMap], list[np.ndarray], list[str]]]


def common_images(placements: Sequence[Data], model: str) -> list[str]:
    """The image ids that every placement holds for ``model`` (sorted), or [] if one lacks the network."""
    if any(model not in d for d in placements):
        return []
    ids = set(placements[0][model][2])
    for d in placements[1:]:
        ids &= set(d[model][2])
    return sorted(ids)


def placement_table(data: Data, model: str, ids: Sequence[str]) -> tuple[pos.PixelTable, dict[str, np.ndarray]]:
    """The per-pixel table of one placement, restricted to ``ids`` (in that order), and each row's offset from the
    image centre in rows (down) and columns (right) (float (N,), px), in the table's order."""
    maps, fgs, have = data[model]
    index = {i: k for k, i in enumerate(have)}
    chosen = [maps[index[i]] for i in ids]
    table = pos.pixel_table(chosen, [fgs[index[i]] for i in ids], list(ids))
    where = [np.nonzero(m.scanned) for m in chosen]  # pixel_table walks each map's scanned pixels row-major
    h, w = chosen[0].scanned.shape if chosen else (0, 0)
    grid = {"row": np.concatenate([p[0] for p in where]).astype(np.float64) - (h - 1) / 2,
            "column": np.concatenate([p[1] for p in where]).astype(np.float64) - (w - 1) / 2}
    return table, grid


def _concat_grids(grids: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([g[k] for g in grids]) for k in grids[0]}


def same_effect_p(tables: Sequence[pos.PixelTable], extra: dict[str, np.ndarray] | None = None) -> float:
    """Cluster-robust Wald p that the object's coefficient is the same at every placement: the pooled model plus
    a main effect of each placement after the first and its interaction with foreground membership, all
    interactions tested together (images as clusters)."""
    import statsmodels.api as sm

    t = pos.concat_tables(tables)
    x, _ = pos._design(t, pos.SPLINE_DF, extra)
    which = np.concatenate([np.full(len(u), k) for k, u in enumerate(tables)])
    dummies = np.column_stack([(which == k).astype(np.float64) for k in range(1, len(tables))])
    x = np.column_stack([x, dummies, dummies * t.foreground[:, None]])
    res = sm.GLM(t.flip.astype(np.float64), x, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": t.image})
    r = np.zeros((len(tables) - 1, x.shape[1]))
    r[np.arange(len(tables) - 1), np.arange(x.shape[1] - len(tables) + 1, x.shape[1])] = 1.0
    return float(np.asarray(res.wald_test(r, scalar=True).pvalue))


Row = tuple[str, str, str, pos.ObjectEffect]


def pooled_rows(placements: Sequence[Data], names: Sequence[str], *, grid: bool = False,
                models: Sequence[str] | None = None) -> tuple[list[Row], dict[str, float]]:
    """Rows (network, position terms, which placements, effect) for each placement alone, each shift with the
    first, and all pooled, and per network the p that the object's effect is the same at every placement.

    ``placements[0]`` is the unshifted store's data; every fit uses the images that all placements hold. A fit
    of several placements gives each its own intercept (a shift raises or lowers every pixel's rate; the
    report's "unshifted + shifted" rows have none).
    ``grid``: each fit again with the pixel's row and column offset from the centre added as linear terms (a
    gradient by direction, which the report's distances cannot express). ``models``: only these networks.
    """
    rows: list[Row] = []
    same: dict[str, float] = {}
    for model in sorted(set().union(*(set(d) for d in placements))):
        if models is not None and model not in models:
            continue
        ids = common_images(placements, model)
        if len(ids) < pos.MIN_MODEL_IMAGES:
            continue
        made = [placement_table(d, model, ids) for d in placements]
        tables, grids = [m[0] for m in made], [m[1] for m in made]
        fits: list[tuple[str, list[int]]] = [(n, [k]) for k, n in enumerate(names)]
        if len(tables) > 2:
            fits += [(f"{names[0]} + {names[k]}", [0, k]) for k in range(1, len(tables))]
        if len(tables) > 1:
            fits.append(("all placements", list(range(len(tables)))))
        for terms in ["distances", "distances + row, column gradient"] if grid else ["distances"]:
            for label, ks in fits:
                t = pos.concat_tables([tables[k] for k in ks])
                extra = _concat_grids([grids[k] for k in ks]) if terms != "distances" else {}
                which = np.concatenate([np.full(len(tables[k]), j) for j, k in enumerate(ks)])
                for j in range(1, len(ks)):  # each placement its own intercept: a shift moves every rate
                    extra[f"placement{j}"] = (which == j).astype(np.float64)
                rows.append((model, terms, label, pos.object_effect(t, model, linear=extra or None)))
                del t, extra
                gc.collect()  # with it, 4.2 GB peak per network (--grid); without, all three in one run reached 24 GB
        if len(tables) > 1:
            same[model] = same_effect_p(tables)
    return rows, same


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("baseline", help="the unshifted scan store")
    ap.add_argument("shifted", nargs="+", help="stores of the same images shifted")
    ap.add_argument("--grid", action="store_true",
                    help="also fit each model with the pixel's row and column offset from the centre (linear)")
    ap.add_argument("--models", nargs="+", default=None, help="only these networks (default: all)")
    ap.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = ap.parse_args(argv)
    stores = [args.baseline, *args.shifted]
    snapshots = [load_store(s) for s in stores]
    names = ["unshifted"]
    for path, snap in zip(args.shifted, snapshots[1:], strict=True):
        shift = snap.config.get("images", {}).get("shift")
        mode = snap.config.get("images", {}).get("shift_mode", "move")
        names.append(f"shift ({shift[0]:+d}, {shift[1]:+d}){' in place' if mode == 'in-place' else ''}"
                     if shift else str(path))
    data = [_model_data(s) for s in snapshots]
    lines = ["# python benchmarks/shift_pooled.py " + " ".join(sys.argv[1:] if argv is None else argv),
             "# object = average marginal effect of foreground membership at equal position (pp), logistic "
             "model with splines (4 df) of the distances to the centre, the border and the outline (and, in the "
             "'+ row, column gradient' rows, the pixel's row and column offset from the centre, linear); images as clusters",
             f"{'network':<18}{'position terms':<34}{'placements':<40}{'images':>7}{'pixels':>10}  "
             f"{'object (pp) [95 %]':<24}{'odds ratio [95 %]':<22}{'p':>8}"]
    print("\n".join(lines), flush=True)
    rows, same = pooled_rows(data, names, grid=args.grid, models=args.models)
    for model, terms, label, e in rows:
        m, o = e.marginal, e.odds_ratio
        lines.append(f"{model:<18}{terms:<34}{label:<40}{e.images:>7}{e.pixels:>10}  "
                     f"{m.value:+.2f} [{m.low:+.2f}, {m.high:+.2f}]{'':<4}"
                     f"{o.value:.2f} [{o.low:.2f}, {o.high:.2f}]{'':<4}{e.p_value:>8.3g}")
        print(lines[-1], flush=True)
    for model, p in same.items():
        lines.append(f"{model}: the object's effect is the same at every placement (distances model plus a "
                     f"placement term and its interaction with membership; cluster-robust Wald): p = {p:.3g}")
        print(lines[-1], flush=True)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
