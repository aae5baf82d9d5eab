"""The report's sections across pixel counts (issue 30): Table II at k = 1, 3, 5 from whichever search made each
row, the paired tests per k, "does the pattern grow or vanish with k?" and Figs 3 and 5 at every k.

They are written for a store joined with other stores of the same images (``pixelspace report STORE --with
OTHER``, :mod:`pixelspace.report.joined`), e.g. a sparse search at 3 and 5 pixels beside the corner-colour scan
at 1 pixel, and read the rows of all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from pixelspace.report import figures as figs
from pixelspace.report import metrics
from pixelspace.report import pixel_counts as pc
from pixelspace.report import verdict as vd
from pixelspace.report.blocks import Block, Cell, FigureBlock, Note, Section, Table, pct, pvalue, rate_cell
from pixelspace.report.blocks import mean_cell as _mean
from pixelspace.report.metrics import AttackRow, Rate
from pixelspace.report.pixel_counts import SearchRows
from pixelspace.report.verdict import Comparison
from pixelspace.report.verdict_section import (
    GlanceDiffs,
    GlanceRates,
    glance_series,
    interval_pp,
    verdict_blocks,
)

#: The comparisons of "does the pattern grow or vanish with k?".
PATTERN_PAIRS = (("foreground", "background"), ("foreground", "centre"))

#: Where the searches are measured against each other and against DE (cited in every caption).
MEASURED = ("how the searches compare with DE and the authors' Sparse-RS is measured in docs/sparse-rs.md "
            "('Measured against the authors' code', 'Inside a region, against DE') and, for the scan, docs/scan.md "
            "('In the report': the scan beside DE at the paper's budget on the same images)")


def _ks(ks: Sequence[int]) -> str:
    ks = sorted(ks)
    return ", ".join(map(str, ks[:-1])) + f" and {ks[-1]}" if len(ks) > 1 else "".join(map(str, ks))


def chosen_description(chosen: Mapping[int, SearchRows]) -> str:
    """'the scan at 1 px; sparse random search at 3 and 5 px' (which search each pixel count's tests read)."""
    by_search: dict[str, list[int]] = {}
    for k, g in chosen.items():
        by_search.setdefault(g.label, []).append(k)
    return "; ".join(f"{label} at {_ks(ks)} px" for label, ks in by_search.items())


def search_description(search: str, config: Mapping[str, object]) -> str:
    """How a search made its rows, from its store's campaign config (``meta.config_json``)."""
    if search == "scan":
        scan = config.get("scan") if isinstance(config.get("scan"), dict) else {}
        colors = scan.get("colors", "corners") if isinstance(scan, dict) else "corners"
        what = "the 8 corners of the RGB cube" if colors == "corners" else f"the colour set {colors!r}"
        return (f"every pixel of the image × {what}, read out per region; exact for that colour set (one scan "
                "answers untargeted success and every target)")
    if search == "sparse-rs":
        cfg = config.get("sparse_rs") if isinstance(config.get("sparse_rs"), dict) else {}
        assert isinstance(cfg, dict)
        return (f"pixelspace.SparseRandomSearch, a Sparse-RS-style random search over pixels of the region set to "
                f"RGB-cube corners, at most {cfg.get('max_queries', '?')} queries per attack")
    return "pixelspace.PixelAttack"


# ------------------------------------------------------------------------------------------- Table II


def _paper_cell(cell: Cell, net: str | None, region: str, k: int, col: str) -> tuple[Cell, bool]:
    paper = metrics.PAPER_TABLE_II.get((net or "", region, k, col))
    if paper is None:
        return cell, False
    return [*([cell] if isinstance(cell, str) else cell), f"paper {pct(paper, 2)}"], True


def table2_section(groups: Sequence[SearchRows], class_names: Sequence[str], dataset: str,
                   descriptions: Mapping[str, str]) -> Section:
    """Table II at every pixel count of ``groups``, the search (and store) of each row named."""
    sec = Section(f"Table II at k = {_ks(sorted({g.pixels for g in groups}))}: every pixel count, every search")
    cells = pc.table2_by_search(groups, len(class_names))
    if not cells:
        sec.blocks.append(Note("No attacks in these stores: Table II omitted."))
        return sec
    body: list[list[Cell]] = []
    any_paper = False
    for c in cells:
        net = metrics.paper_network(c.model, dataset)
        line: list[Cell] = [c.model, c.region, str(c.pixels), [pc.SEARCH_NAMES.get(c.search, c.search), c.store]]
        for col in metrics.TABLE2_METRICS:
            v = getattr(c, col)
            unit = (" pairs" if c.search == "scan" else " attacks") if col == "targeted" else ""
            cell = rate_cell(v, unit) if isinstance(v, Rate) else _mean(v)
            if c.search == "scan" and col.startswith("confidence"):
                cell = "— (the scan records none)"
            cell, found = _paper_cell(cell, net, c.region, c.pixels, col)
            any_paper |= found
            line.append(cell)
        body.append(line)
    searches = list(dict.fromkeys(c.search for c in cells))
    made = "; ".join(f"{pc.SEARCH_NAMES.get(s, s)}: {descriptions.get(s, s)}" for s in searches)
    sec.blocks.append(Table(
        "Per network × region × pixels × search, the search that made the row named under it with its store "
        f"({made}). Rates with counts and 95 % intervals in brackets: Wilson for per-image rates, a bootstrap over "
        "images for Targeted (successful targeted attacks over attacks; for the scan, reachable (image, target) "
        "pairs over images × the other classes) and for the confidences. Each cell has its own n: a search's targeted rows may cover "
        "fewer images than its untargeted ones."
        + (" The paper's value (DE, population 400 × 100 generations, 500 images) stands below ours where the "
           "paper has that row; ours are not DE, so they are not the paper's measurement repeated: "
           f"{MEASURED}." if any_paper else f" Our rows are not DE: {MEASURED}."),
        ["network", "region", "pixels", "search (store)", "Untargeted1", "Confidence_u", "Untargeted2", "Targeted",
         "Confidence_t"], body))
    if "scan" in searches:
        sec.blocks.append(Note(
            "The scan's Untargeted2 equals its Untargeted1 (a flipping pixel always reaches some class), and its "
            "Targeted counts a target as reached when some pixel of the region with some corner colour sends the "
            "image there: an exhaustive search over that colour set, not a per-target attack."))
    return sec


# ---------------------------------------------------------------------------------- the pattern with k


def _comparisons(rows: Sequence[AttackRow]) -> dict[tuple[str, int, str, str], Comparison]:
    """Foreground − background (the verdict's Holm family) and the controls (theirs), by (network, k, A, B)."""
    out = {(c.diff.model, c.diff.pixels, c.diff.region_a, c.diff.region_b): c for c in vd.controls(rows)}
    for v in vd.verdicts(rows):
        out[(v.model, v.pixels, "foreground", "background")] = v.fg_bg
    return out


def _trend(cs: Sequence[tuple[int, Comparison]]) -> str:
    """How one difference moves from the smallest to the largest k: descriptive, from the intervals."""
    if len(cs) < 2:
        return "one pixel count only"
    (k0, c0), (k1, c1) = cs[0], cs[-1]
    a, b = c0.diff.difference, c1.diff.difference
    if not all(math.isfinite(x) for x in (a.low, a.high, b.low, b.high)):
        return "no intervals to compare"
    if b.low > a.high:
        return f"grows: the {k1}-pixel interval lies wholly above the {k0}-pixel one"
    if b.high < a.low:
        return f"shrinks: the {k1}-pixel interval lies wholly below the {k0}-pixel one"
    return f"the {k0}- and {k1}-pixel intervals overlap: these images do not separate them"


def pattern_section(chosen: Mapping[int, SearchRows]) -> Section | None:
    """'Does the pattern grow or vanish with k?': per network, foreground − background and foreground − centre
    at every pixel count side by side (None when no pixel count has those pairs)."""
    rows = [r for g in chosen.values() for r in g.untargeted]
    comps = _comparisons(rows)
    models = sorted({m for m, *_ in comps})
    ks = sorted(chosen)
    if not any((m, k, a, b) in comps for m in models for k in ks for a, b in PATTERN_PAIRS):
        return None
    sec = Section("Does the pattern grow or vanish with k?")
    shared = len({frozenset(r.image_id for r in g.untargeted) for g in chosen.values()}) == 1
    sample = ("the pixel counts share images and differ in search" if shared else
              "the pixel counts differ in search and share their images only in part (each cell gives its n)")
    sec.blocks.append(
        f"Per network, the paired differences of Untargeted1 at each pixel count ({chosen_description(chosen)}), "
        "each on the images attacked in both regions at that k: Newcombe 95 % intervals, the exact McNemar p "
        "Holm-corrected in the same families as the tests in 'What this run shows' (foreground − background; the "
        f"controls), and n. Set side by side the intervals are descriptive: {sample}, so two intervals that do "
        "not overlap show a change, and two that overlap do not rule one out.")
    for model in models:
        body: list[list[Cell]] = []
        sentences = []
        for a, b in PATTERN_PAIRS:
            line: list[Cell] = [f"{a} − {b}"]
            seen: list[tuple[int, Comparison]] = []
            for k in ks:
                c = comps.get((model, k, a, b))
                if c is None:
                    line.append("—")
                    continue
                seen.append((k, c))
                d = c.diff
                line.append([interval_pp(c), f"n = {d.images}: {pct(d.rate_a)} vs {pct(d.rate_b)}",
                             f"p = {pvalue(d.p_value)}, Holm {pvalue(c.p_holm)}"])
            if seen:
                body.append(line)
                values = ", ".join(f"{100 * c.diff.difference.value:+.1f} pp at {k} px" for k, c in seen)
                sentences.append(f"{a} − {b} {values}: {_trend(seen)}")
        if not body:
            continue
        sec.blocks.append(f"**{model}**: " + "; ".join(sentences) + ".")
        sec.blocks.append(Table(
            f"{model}: paired differences of Untargeted1 by pixel count (difference [95 %], n and the two rates, "
            "raw and Holm p).",
            ["difference", *(f"{k} px ({chosen[k].label})" for k in ks)], body))
    return sec


def glance_by_k(chosen: Mapping[int, SearchRows]) -> FigureBlock | None:
    """The opening figure across pixel counts: per network the success of every region at each k (one marker
    per k) and the paired differences of :data:`GLANCE_DIFFERENCES`."""
    rates: dict[str, GlanceRates] = {}
    diffs: dict[str, GlanceDiffs] = {}
    for k, g in chosen.items():
        what = f"{k} px ({g.label})"
        rates[what], diffs[what] = glance_series(g.untargeted, k)
    fig = figs.figure_at_a_glance(rates, diffs, f"Untargeted success by pixel count ({chosen_description(chosen)})")
    if fig is None:
        return None
    return FigureBlock(
        "fig0_at_a_glance_by_k", figs.figure_png(fig),
        f"The answer at a glance at every pixel count ({chosen_description(chosen)}; untargeted): per network, "
        "the success rate of every region and control with its Wilson 95 % interval (top; the axis spans the "
        "data) and the paired differences foreground − background, foreground − centre and background − border "
        "with Newcombe 95 % intervals (bottom), one marker per pixel count (legend; n per row, in the order of "
        "the legend).")


# -------------------------------------------------------------------------------------------- figures


def _n_text(ns: Sequence[int]) -> str:
    lo, hi = min(ns), max(ns)
    return f"n = {lo}" if lo == hi else f"n = {lo}–{hi}"


def figures_section(groups: Sequence[SearchRows], class_names: Sequence[str]) -> tuple[Section, list[FigureBlock]]:
    """Fig. 3 (images per number of target classes reached) and Fig. 5 (clean × target class heat maps) for every
    pixel count and search with targets: the scan's reachable classes, a search's targeted attacks."""
    sec = Section("Figs 3 and 5 at every pixel count")
    n = len(class_names)
    with_targets = [g for g in groups if g.search == "scan" or any(r.mode == "targeted" for r in g.rows)]
    out: list[FigureBlock] = []
    panels: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    legend = ", ".join(f"{i} {c}" for i, c in enumerate(class_names))
    for g in sorted(with_targets, key=lambda x: x.pixels):
        models = sorted({r.model for r in g.rows})
        pairs: dict[str, dict[str, np.ndarray]] = {}
        ns: list[int] = []
        for model in models:
            for region in metrics.region_order(r.region for r in g.rows if r.model == model):
                dist = pc.targets_reached(g, n, region, model)
                m = pc.class_pairs(g, n, region, model)
                if dist is None or m is None:
                    continue
                ns.append(pc.targeted_images(g, model, region))
                pairs.setdefault(model, {})[region] = m
        if not ns:
            continue
        column = f"{g.pixels} px, {g.label}, {_n_text(ns)}"
        for model in models:
            for region in pairs.get(model, {}):
                dist = pc.targets_reached(g, n, region, model)
                if dist is not None:
                    panels.setdefault(model, {}).setdefault(column, {})[region] = dist
        how = ("the images whose region holds a pixel and corner colour that sends them to that class" if
               g.search == "scan" else "successful targeted attacks")
        fig = figs.figure_pair_heatmaps(pairs, "target class", unit="images" if g.search == "scan" else
                                        "successful attacks", title=f"{g.pixels} px, {g.label} ({g.store}), "
                                                                   f"{_n_text(ns)} images")
        if fig is not None:
            suffix = "" if len([x for x in with_targets if x.pixels == g.pixels]) == 1 else f"_{g.search}"
            out.append(FigureBlock(
                f"fig5_targeted_pairs_k{g.pixels}{suffix}", figs.figure_png(fig),
                f"Fig. 5 at {g.pixels} pixel{'s' if g.pixels > 1 else ''} from {g.label} ({g.store}; "
                f"{_n_text(ns)} images per panel): {how}, by clean class (rows) and target class (columns); "
                f"panel titles give the total, the colour scale is shared within a network, the diagonal is grey. "
                f"Classes: {legend}."))
    fig3 = figs.figure_targets_reached_panels(panels)
    if fig3 is not None:
        out.insert(0, FigureBlock(
            "fig3_targets_reached_by_k", figs.figure_png(fig3),
            "Fig. 3 at every pixel count: share of images that reach 0 … 9 target classes, per network (rows) × "
            "pixel count and search (columns, with the images per panel), by region. The scan's count is its "
            "reachable classes (exact for the corner colours); a search's is its successful targeted attacks."))
    sec.blocks = list(out)
    missing = sorted({g.pixels for g in groups} - {g.pixels for g in with_targets})
    if missing:
        sec.blocks.append(Note(f"No targets at {_ks(missing)} pixel{'s' if missing != [1] else ''}: no targeted "
                               "attacks (and no scan) in these stores at that pixel count."))
    return sec, out


def verdict_by_k(chosen: Mapping[int, SearchRows]) -> list[Block]:
    """The verdict's paired tests and the position controls over every pixel count (one Holm family each)."""
    rows = [r for g in chosen.values() for r in g.untargeted]
    return verdict_blocks(rows, chosen_description(chosen), what_by_pixels={k: g.label for k, g in chosen.items()})
