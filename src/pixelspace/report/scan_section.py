"""The report's section on vulnerability maps: the scan beside DE, distance to the outline,
the scan-first search, the maps figure and Fig. 3 from the maps (``docs/scan.md``)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from pixelspace.outcomes import VulnerabilityMap
from pixelspace.report import figures as figs
from pixelspace.report import metrics, stats
from pixelspace.report import scan_metrics as sm
from pixelspace.report.blocks import (
    Block,
    Cell,
    FigureBlock,
    Note,
    Section,
    Table,
    pct,
    pvalue,
    rate_cell,
)
from pixelspace.report.stored import StoreSnapshot
from pixelspace.report.verdict_section import verdict_blocks

MAP_IMAGES = 4  # images per network in the maps figure


def _maps(store: StoreSnapshot) -> dict[tuple[str, str], VulnerabilityMap]:
    """The store's maps (the map type is the store's, read with NumPy: the report imports no model code)."""
    return {k: VulnerabilityMap.from_npz(io.BytesIO(v)) for k, v in store.scans.items()}


def _foregrounds(store: StoreSnapshot) -> dict[str, np.ndarray]:
    out = {}
    for (image_id, region), png in store.masks.items():
        if region == "foreground":
            try:
                out[image_id] = figs.decode_png(png)[:, :, 0] > 127
            except ValueError:
                continue
    return out


def _num(x: float, digits: int = 1) -> str:
    return "—" if not math.isfinite(x) else f"{x:,.{digits}f}"


def scan_coverage(store: StoreSnapshot) -> str:
    """'Images scanned, per network: allconv-cifar10 120 of 500, …' (what an unfinished scan covers)."""
    rows = store.scan_rows
    hashes = {r.search_hash for r in rows}
    counts = []
    for model in sorted({r.model for r in rows}):
        done = len({r.image_id for r in rows if r.model == model})
        planned = max((g[6] for g in store.planned if g[0] == model and g[5] in hashes), default=0)
        counts.append((model, done, planned))
    if not counts:
        return ""
    text = "Images scanned, per network: " + ", ".join(
        f"{m} {d} of {p}" if p else f"{m} {d}" for m, d, p in counts) + "."
    if any(d < p for _, d, p in counts):
        text += (" The scan is unfinished: every number below covers only the images scanned so far, and a paired "
                 "test only the images scanned in both regions.")
    return text


@dataclass(frozen=True)
class ColourWords:
    """How captions name a store's scan colour set: ``set`` ("the 8 corners of the RGB cube"), ``few`` ("the 8
    corner colours", after "1 pixel, ") and ``one`` ("corner colour", after "with some ")."""

    set: str
    few: str
    one: str


def colour_words(store: StoreSnapshot) -> ColourWords:
    """:class:`ColourWords` of the store's ``scan.colors`` (the corners unless its config says a grid)."""
    cfg = store.config.get("scan", {}) if isinstance(store.config.get("scan"), dict) else {}
    if cfg.get("colors", "corners") == "corners":
        return ColourWords("the 8 corners of the RGB cube", "the 8 corner colours", "corner colour")
    levels = cfg.get("levels", "?")
    count = f"{int(levels) ** 3} " if isinstance(levels, int) else ""
    return ColourWords(f"a {levels}³ colour grid", f"the {count}colours of a {levels}³ grid",
                       f"colour of the {levels}³ grid")


def scan_section(store: StoreSnapshot) -> tuple[Section | None, list[FigureBlock]]:
    """The section, or None when the store has no scan rows; and its figures."""
    rows, first = store.scan_rows, store.scan_first_rows
    if not rows and not first:
        return None, []
    sec = Section("Pixel vulnerability maps (scan)")
    cfg = store.config.get("scan", {}) if isinstance(store.config.get("scan"), dict) else {}
    words = colour_words(store)
    colours = words.set
    stride = int(cfg.get("stride", 1))
    sec.blocks.append(
        f"The scan sets every pixel{'' if stride == 1 else f' of every {stride}th row and column'} of the "
        f"attacked regions, one at a time, to each of {colours} and records whether the prediction changes. "
        "Success is exact for that colour set (not a sample), but the set is not every colour: the scan neither "
        "bounds DE from above nor from below. A region's queries are what a scan of that region alone costs."
    )
    figures: list[FigureBlock] = []
    if rows:
        coverage = scan_coverage(store)
        if coverage:
            sec.blocks.append(coverage)
        sec.blocks.append(_scan_table2(rows, store.class_names, words))
        if store.results:
            sec.blocks += verdict_blocks(rows, "the scan")
        else:
            sec.blocks.append("The paired tests of the scan's regions (foreground − background, foreground − "
                              "centre, background − border, with the power line) are in 'What this run shows'.")
        sec.blocks += _density_tables(rows, words)
        sec.blocks.append(_versus_de(rows, store.results))
        maps, fgs = _maps(store), _foregrounds(store)
        models = sorted({m for m, _ in maps})
        if maps and fgs:
            for model in models:
                mm, ff = sm.maps_with_foregrounds(maps, fgs, model)
                if mm:
                    sec.blocks.append(_distance_table(model, mm, ff))
            sec.blocks.append("The same answer with the outline eroded or dilated by 1 and 2 px is in 'Object or "
                              "position?', beside the interior/exterior and second-segmenter rows.")
        elif maps:
            sec.blocks.append(Note("No foreground masks in this store: the distance-to-outline and shifted-outline "
                                   "analyses need a campaign with a foreground region."))
        fig = _maps_figure(store, maps, fgs, models)
        if fig is not None:
            figures.append(fig)
        dist = {m: {g: sm.reachable_distribution(metrics.select(rows, model=m, region=g), len(store.class_names))
                    for g in metrics.region_order(r.region for r in rows if r.model == m)}
                for m in sorted({r.model for r in rows})}
        f3 = figs.figure_reachable_classes(dist)
        if f3 is not None:
            figures.append(FigureBlock("fig3_scan_reachable_classes", figs.figure_png(f3),
                                       "Fig. 3 from the maps: share of images whose scan reaches 0 … 9 other "
                                       "classes with one pixel (exact for the colour set), per network, by region."))
    if first:
        sec.blocks.append(_scan_first_table(first, rows, store.results))
    sec.blocks = [*sec.blocks, *figures]
    return sec, figures


def _scan_table2(rows: list[metrics.AttackRow], names: list[str], words: ColourWords) -> Table:
    body: list[list[Cell]] = []
    for c in sm.scan_table2(rows, len(names)):
        body.append([c.model, c.region, rate_cell(c.untargeted1),
                     *(f"{k}/{n}" for k, n in zip(c.per_target.tolist(), c.eligible.tolist(), strict=True))])
    return Table(
        f"Table II from the scan (1 pixel, {words.few}; exact for that colour set): Untargeted1 = images "
        "with a flipping pixel in the region / images scanned (Wilson 95 %), and per target class the images whose "
        "region holds a pixel that sends the image to that class / the images of another clean class (the scan "
        "answers all nine targets at once).",
        ["network", "region", "Untargeted1", *names], body)


def _density_tables(rows: list[metrics.AttackRow], words: ColourWords) -> list[Block]:
    dens = sm.flip_density(rows)
    if not dens:
        return []
    regions = metrics.region_order(g for d in dens for g in d.by_region)
    pairs = [p for p in sm.DENSITY_PAIRS if any(p in d.paired for d in dens)]
    body: list[list[Cell]] = []
    for d in dens:
        line: list[Cell] = [d.model, str(d.images)]
        for g in regions:
            iv = d.by_region.get(g)
            line.append("—" if iv is None else [pct(iv.value, 2), f"[{100 * iv.low:.2f}, {100 * iv.high:.2f}]"])
        for p in pairs:
            iv = d.paired.get(p)
            line.append("—" if iv is None else
                        [f"{100 * iv.value:+.2f} pp", f"[{100 * iv.low:+.2f}, {100 * iv.high:+.2f}]"])
        body.append(line)
    return [Table(
        f"Per-pixel flip density: the share of a region's pixels that flip the class with some {words.one}, "
        "averaged over images (each image weighs the same), with 95 % bootstrap-over-images intervals; the paired "
        "differences resample the same images for both regions. Images scanned in every region only.",
        ["network", "images", *regions, *(f"{a} − {b}" for a, b in pairs)], body)]


def _versus_de(rows: list[metrics.AttackRow], de_rows: list[metrics.AttackRow]) -> Table:
    if not de_rows:  # nothing to set beside: the scan's own per-image numbers, folded away
        return Table(
            "The scan per region (1 pixel, untargeted; the store holds no DE attacks to set beside it): images "
            "scanned, flipping pixels and reachable classes per image, and the mean queries a scan of the region "
            "alone costs.",
            ["network", "region", "images", "flipping px / image", "reachable classes / image", "queries: scan"],
            [[c.model, c.region, str(c.scan_images), _num(c.flipping_pixels), _num(c.reachable_classes, 2),
              _num(c.scan_queries, 0)] for c in sm.scan_vs_de(rows, de_rows)], folded=True)
    body: list[list[Cell]] = []
    for c in sm.scan_vs_de(rows, de_rows):
        paired = c.images > 0
        body.append([
            c.model, c.region,
            str(c.images) if paired else f"0 ({c.scan_images} scanned)",
            rate_cell(c.scan if paired else c.scan_all), rate_cell(c.de) if paired else "—",
            f"{c.scan_only} / {c.de_only}" if paired else "—",
            pvalue(c.p_value) if paired else "—",
            _num(c.flipping_pixels), _num(c.reachable_classes, 2),
            f"{_num(c.scan_queries, 0)} / {_num(c.de_queries, 0)}",
        ])
    return Table(
        "The scan beside Table II (1 pixel, untargeted), paired on the images both ran on: success with counts "
        "and Wilson 95 % intervals, the discordant images (only the scan / only DE fooled the network) with the "
        "exact McNemar p-value, flipping pixels and reachable classes per image (scan), and mean queries per "
        "image (scan of the region alone / DE).",
        ["network", "region", "images", "scan success", "DE success", "scan-only / DE-only", "McNemar p",
         "flipping px / image", "reachable classes / image", "queries: scan / DE"], body)


def _distance_table(model: str, maps: list[VulnerabilityMap], fgs: list[np.ndarray]) -> Table:
    bands = sm.distance_profile(maps, fgs)
    total_px = sum(b.pixels for b in bands)
    total_flip = sum(b.flipping for b in bands)
    body: list[list[Cell]] = [
        [b.label, f"{b.pixels:,}", pct(b.pixels / total_px if total_px else float("nan")), f"{b.flipping:,}",
         pct(b.flipping / total_flip if total_flip else float("nan")), pct(b.flip_rate, 2)]
        for b in bands
    ]
    return Table(
        f"{model}: scanned pixels by signed distance to the foreground outline ({len(maps)} images; chessboard "
        "pixels, inside 1 = the foreground's outer ring, outside 1 = the background ring touching it). A band "
        "whose share of flipping pixels exceeds its share of pixels is more vulnerable than average.",
        ["band", "pixels", "share of pixels", "flipping", "share of flipping", "flipping rate"], body)


def _scan_first_table(first: list[metrics.AttackRow], scans: list[metrics.AttackRow],
                      de_rows: list[metrics.AttackRow]) -> Table:
    full = {(r.model, r.region, r.image_id): r.success for r in scans}
    de = {(r.model, r.region, r.image_id, r.mode, r.target): r for r in de_rows if r.pixels == 1}
    body: list[list[Cell]] = []
    groups: dict[tuple[str, str, str], list[metrics.AttackRow]] = {}
    for r in first:
        groups.setdefault((r.model, r.region, r.mode), []).append(r)
    order = {g: i for i, g in enumerate(metrics.region_order(r.region for r in first))}
    for (model, region, mode), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], order[kv[0][1]], kv[0][2])):
        ok = [r for r in rs if metrics.attack_succeeded(r)]
        q = np.array([r.queries for r in rs], dtype=float)
        qs = float(q.sum() / len(ok)) if ok else float("nan")
        twin = [de[k] for r in rs if (k := (r.model, r.region, r.image_id, r.mode, r.target)) in de]
        de_ok = [t for t in twin if metrics.attack_succeeded(t)]
        de_qs = float(sum(t.queries for t in twin) / len(de_ok)) if de_ok else float("nan")
        agree = (f"{sum(full.get((model, region, r.image_id)) == r.success for r in rs)}/{len(rs)}"
                 if mode == "untargeted" and full else "—")
        body.append([model, region, mode, rate_cell(metrics.wilson_rate(len(ok), len(rs))), _num(float(q.mean()), 0),
                     _num(qs, 0), rate_cell(metrics.wilson_rate(len(de_ok), len(twin))) if twin else "—",
                     _num(de_qs, 0), agree])
    return Table(
        "The scan as an attack (scan-first: seeded random order, stop at the first flip or target hit) beside "
        "DE's 1-pixel attacks on the same images and targets. Queries per success = all queries spent over the "
        "successes; 'agrees with full scan' counts untargeted attacks whose outcome equals the full scan's "
        "(they must all agree: both are exhaustive over the same pairs).",
        ["network", "region", "mode", "success", "queries / attack", "queries / success", "DE success",
         "DE queries / success", "agrees with full scan"], body)


def _maps_figure(store: StoreSnapshot, maps: dict[tuple[str, str], VulnerabilityMap], fgs: dict[str, np.ndarray],
                 models: list[str]) -> FigureBlock | None:
    entries = []
    rng = np.random.default_rng(stats.DEFAULT_SEED)
    names = store.class_names
    for model in models:
        ids = sorted(i for m, i in maps if m == model)
        vulnerable = [i for i in ids if maps[(model, i)].flips.any()]
        pool = vulnerable if len(vulnerable) >= MAP_IMAGES else ids
        chosen = sorted(rng.choice(pool, size=min(MAP_IMAGES, len(pool)), replace=False).tolist())
        for image_id in chosen:
            im = store.image(image_id)
            if im is None or not im.png:
                continue
            vmap = maps[(model, image_id)]
            label = names[vmap.label] if vmap.label < len(names) else str(vmap.label)
            entries.append((f"{model}: {label} ({pct(vmap.clean_probability, 0)})", figs.decode_png(im.png),
                            vmap.min_probability, vmap.flips, fgs.get(image_id)))
    fig = figs.vulnerability_grid(entries)
    if fig is None:
        return None
    return FigureBlock("scan_maps", figs.figure_png(fig),
                       f"Vulnerability maps of up to {MAP_IMAGES} images per network (randomly chosen among those "
                       f"with a flipping pixel, seed {stats.DEFAULT_SEED}): each image beside the lowest clean-class "
                       "probability reachable at each pixel (dark = vulnerable; unscanned pixels blank), flipping "
                       "pixels in cyan, the foreground outline in yellow.")



