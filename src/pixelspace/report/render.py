"""The report: ``write_report(store, out_dir)`` writes ``report.md`` (+ ``figures/*.png``) and a self-contained
``report.html`` (figures embedded as base64 PNG) from one results store, reading nothing else.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pixelspace.report import figures as figs
from pixelspace.report import metrics, stats
from pixelspace.report import pixel_counts as pc
from pixelspace.report import pixel_counts_section as pcs
from pixelspace.report.blocks import (
    Block,
    Cell,
    Code,
    FigureBlock,
    Note,
    Section,
    Table,
)
from pixelspace.report.blocks import diff_cell as _diff
from pixelspace.report.blocks import mean_cell as _mean
from pixelspace.report.blocks import pct as _pct
from pixelspace.report.blocks import pvalue as _pvalue
from pixelspace.report.blocks import rate_cell as _rate
from pixelspace.report.joined import JoinedStore, join_all, store_name
from pixelspace.report.metrics import Rate, RegionDifference
from pixelspace.report.position_section import position_section
from pixelspace.report.scan_section import scan_coverage, scan_section
from pixelspace.report.search_section import search_section
from pixelspace.report.stored import StoreSnapshot, load_store
from pixelspace.report.verdict_section import at_a_glance, verdict_blocks

FIG6_IMAGES = 15
FIG1_PER_MODEL = 2
PAPER_BUDGET = (400, 100)
FOLD_ROWS = 8  # a table of detail longer than this is folded away (HTML <details>)

@dataclass(frozen=True)
class ReportPaths:
    """Where :func:`write_report` wrote: the Markdown, the HTML and the figure PNGs."""

    markdown: Path
    html: Path
    figures: tuple[Path, ...]


# ----------------------------------------------------------------------------------- formatting


def _find(obj: Any, key: str) -> Any:
    """The first value stored under ``key`` anywhere in a nested dict/list (None if absent)."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        children: Sequence[Any] = list(obj.values())
    elif isinstance(obj, list):
        children = obj
    else:
        return None
    for v in children:
        found = _find(v, key)
        if found is not None:
            return found
    return None


# ------------------------------------------------------------------------------------ sections


@dataclass(frozen=True)
class _Setup:
    dataset: str
    segmenter: str
    population: int | None
    generations: int | None
    max_queries: int | None
    strategy: str | None
    success_check: str | None
    early_stop: bool | None
    region_mode: str | None


def _setup(store: StoreSnapshot) -> _Setup:
    cfg = store.config
    de = cfg.get("de") if isinstance(cfg.get("de"), dict) else cfg
    seg = cfg.get("segmenter")
    seg_name = seg.get("method") if isinstance(seg, dict) else seg
    region_modes = sorted({str(r.record.get("region_mode")) for r in store.results if r.record.get("region_mode")})
    rm = _find(cfg, "region_mode") or (", ".join(region_modes) if region_modes else None)
    es = _find(de, "early_stop")

    def as_int(v: Any) -> int | None:
        return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    return _Setup(
        dataset=store.meta.get("dataset") or str(_find(cfg, "dataset") or "an unnamed dataset"),
        segmenter=store.meta.get("segmenter") or str(seg_name or "an unrecorded segmenter"),
        population=as_int(_find(de, "population_size")),
        generations=as_int(_find(de, "max_generations")),
        max_queries=as_int(_find(de, "max_queries")),
        strategy=_find(de, "strategy"),
        success_check=_find(de, "success_check"),
        early_stop=None if es is None else bool(es),
        region_mode=rm,
    )


def _budget_text(s: _Setup) -> str:
    if s.population is None and s.generations is None:
        return "a DE budget the store does not record"
    parts = [f"population {s.population if s.population is not None else '?'}",
             f"at most {s.generations if s.generations is not None else '?'} generations"]
    if s.max_queries:
        parts.append(f"at most {s.max_queries:,} queries per attack")
    text = "DE with " + ", ".join(parts)
    if s.strategy:
        text += f" ({s.strategy})"
    if (s.population or 0) < PAPER_BUDGET[0] or (s.generations or 0) < PAPER_BUDGET[1] or s.max_queries:
        text += f"; a reduced budget (the paper: population {PAPER_BUDGET[0]}, {PAPER_BUDGET[1]} generations)"
    return text


def _success_text(s: _Setup) -> str:
    check = {"best": "only the population's best member is tested for success, as the reference code does",
             "any": "every evaluated candidate is tested for success"}.get(str(s.success_check),
                                                                          "the success check is not recorded")
    stop = {True: "early stop on", False: "early stop off (every attack runs all generations)",
            None: "early stop not recorded"}[s.early_stop]
    mode = f"region mode {s.region_mode}" if s.region_mode else "region mode not recorded"
    return f"{check}; {stop}; {mode}"


def _unfinished(store: StoreSnapshot) -> list[Block]:
    """A warning when the store holds fewer attacks than its campaign planned (empty when complete)."""
    plan = store.planned
    total, done = sum(g[6] for g in plan), len(store.attacks)
    if not plan or done >= total:
        return []
    # groups as `pixelspace status` counts them: early stop and search (hash) apart
    stored = {(a.model, a.region, a.pixels, a.mode, a.early_stop, a.search_hash) for a in store.attacks}
    stored |= {(*g[:5], "") for g in stored}  # plans older than scans carry no search hash
    missing = [g for g in plan if g[:6] not in stored]
    text = (f"**UNFINISHED CAMPAIGN:** {done} of the {total} planned attacks are stored ({100 * done / total:.1f} %). "
            "Everything below covers only those")
    if missing:
        text += (f"; {len(missing)} of {len(plan)} planned groups have no attack yet (e.g. "
                 f"{missing[0][0]}, {missing[0][1]}, {missing[0][2]} pixel(s), {missing[0][3]})")
    return [text + ". Run `pixelspace run` on the campaign file again to finish it, then rewrite this report "
                   "(`pixelspace status` on the store estimates the time left from its runs' timed batches)."]


def _findings(store: StoreSnapshot) -> list[Block]:
    """The generated 'what this run shows' text and the table of paired tests it rests on."""
    s = _setup(store)
    rows = store.results
    scan_only = not rows and bool(store.scan_rows)
    described = store.scan_rows if scan_only else rows
    attacked, _ = metrics.passed_over(store.images)
    models = sorted({r.model for r in described})
    regions = metrics.region_order(r.region for r in described)
    pixels = sorted({r.pixels for r in described})
    modes = sorted({r.mode for r in described})
    search = ("the pixel scan only (every pixel of the image × a fixed colour set, read out per region; no DE)"
              if scan_only else f"{_budget_text(s)}; {_success_text(s)}")
    setup = (
        f"This run attacked {attacked} images of {s.dataset} (regions from {s.segmenter}) on "
        f"{len(models)} network{'s' if len(models) != 1 else ''} ({', '.join(models) or 'none'}); "
        f"regions {', '.join(regions) or 'none'}; {', '.join(map(str, pixels)) or 'no'} pixel(s); "
        f"{' and '.join(modes) or 'no'} attacks. Search: {search}."
    )
    extra = len(store.de_attacks) - len(rows)
    if extra:
        setup += (f" A further {extra} attacks ran {'without' if store.early_stop else 'with'} early stop for the "
                   "fitness curves (Fig. 6 only; the tables leave them out).")
    de_rows = [r for r in rows if r.mode == "untargeted"]
    if de_rows or not store.scan_rows:
        verdict = verdict_blocks(de_rows, "DE")
        searches = {"DE": de_rows} if de_rows else {}
    else:
        verdict = verdict_blocks(store.scan_rows, "the scan")
        searches = {"the scan": store.scan_rows}
    sparse = [r for r in store.attacks if r.search == "sparse-rs" and r.mode == "untargeted"]
    if sparse:
        searches["sparse random search"] = sparse
    glance = at_a_glance(searches)
    # the first screen: the unfinished-campaign banner, the verdict sentence, the figure, then the setup
    out: list[Block] = [*_unfinished(store), verdict[0], *([glance] if glance is not None else []), setup]
    if not (de_rows or not store.scan_rows):
        out.append("This store holds no DE attacks: the verdict reads the pixel scan's rows (one scan per "
                   "network × image, read out per region; section 'Pixel vulnerability maps'). "
                   + scan_coverage(store))
    return out + verdict[1:]


def _table1(store: StoreSnapshot) -> Section:
    sec = Section("Table I: clean accuracy and the image pool")
    acc = metrics.clean_accuracy(store)
    dataset = store.meta.get("dataset", "")
    rows: list[list[Cell]] = []
    for a in acc:
        net = metrics.paper_network(a.model, dataset)
        paper = _pct(metrics.PAPER_TABLE_I.get(net or ""), 2) if net in metrics.PAPER_TABLE_I else "—"
        test = f"{_pct(a.test_accuracy, 2)} (n={a.test_count})" if a.test_accuracy is not None else "not recorded"
        pool = _rate(a.pool_accuracy)
        recorded = next((m for m in store.models if m.model == a.model and m.pool_accuracy is not None), None)
        if a.pool_count == 0 and recorded is not None:
            pool = f"{_pct(recorded.pool_accuracy)} (n={recorded.pool_count}, as recorded)"
        rows.append([a.model, test, paper, pool])
    if rows:
        sec.blocks.append(Table("Clean top-1 accuracy: the full test split (when the campaign recorded it) and the "
                                "drawn pool (stored predictions against the stored labels, Wilson 95 % interval).",
                                ["network", "test split", "paper (Table I)", "pool"], rows))
    else:
        sec.blocks.append(Note("No networks recorded in this store."))
    attacked, reasons = metrics.passed_over(store.images)
    sec.blocks.append(f"{len(store.images)} pool images considered; {attacked} attacked; "
                      f"{len(store.images) - attacked} passed over.")
    if reasons:
        sec.blocks.append(Table("Pool images passed over, by reason.", ["reason", "images"],
                                [[r, str(n)] for r, n in reasons], folded=len(reasons) > FOLD_ROWS))
    return sec


def _cell_progress(store: StoreSnapshot) -> dict[tuple[str, str, int], tuple[int, int]]:
    """(done, planned) attacks per Table II cell (network, region, pixels) that the campaign has not finished;
    {} when every cell is complete or the store records no plan."""
    hashes = {r.search_hash for r in store.results}
    planned: dict[tuple[str, str, int], int] = defaultdict(int)
    for model, region, pixels, _mode, early_stop, s_hash, count in store.planned:
        if early_stop == store.early_stop and (s_hash in hashes or (not s_hash and hashes)):
            planned[(model, region, pixels)] += count
    done = Counter((r.model, r.region, r.pixels) for r in store.results)
    return {cell: (done.get(cell, 0), n) for cell, n in planned.items() if done.get(cell, 0) < n}


def _table2(store: StoreSnapshot) -> tuple[Section, list[RegionDifference]]:
    sec = Section("Table II: success rates and confidences")
    rows = store.results
    has_targeted = any(r.mode == "targeted" for r in rows)
    has_untargeted = any(r.mode == "untargeted" for r in rows)
    dataset = store.meta.get("dataset", "")
    cells = metrics.table2(rows)
    if not cells:
        sec.blocks.append(Note("No attacks in this store: Table II omitted."))
        return sec, []
    cols = [c for c, ok in (("untargeted1", has_untargeted), ("confidence_u", has_untargeted),
                            ("untargeted2", has_targeted), ("targeted", has_targeted),
                            ("confidence_t", has_targeted)) if ok]
    names = {"untargeted1": "Untargeted1", "confidence_u": "Confidence_u", "untargeted2": "Untargeted2",
             "targeted": "Targeted", "confidence_t": "Confidence_t"}
    body: list[list[Cell]] = []
    any_paper = False
    progress = _cell_progress(store)
    for c in cells:
        net = metrics.paper_network(c.model, dataset)
        line: list[Cell] = [c.model, c.region, str(c.pixels)]
        if progress:
            done, planned = progress.get((c.model, c.region, c.pixels), (0, 0))
            line.append([f"{done:,}/{planned:,}", "in progress"] if planned else "complete")
        for col in cols:
            v = getattr(c, col)
            cell = _rate(v, " attacks" if col == "targeted" else "") if isinstance(v, Rate) else _mean(v)
            cell = [cell] if isinstance(cell, str) else list(cell)
            paper = metrics.PAPER_TABLE_II.get((net or "", c.region, c.pixels, col))
            if paper is not None:
                any_paper = True
                cell.append(f"paper {_pct(paper, 2)}")
            line.append(cell)
        body.append(line)
    sec.blocks.append(Table(
        "Per network × region × pixels. Rates with counts and 95 % intervals in brackets (Wilson for per-image "
        "rates; a bootstrap over images for Targeted and for the confidences)"
        + ("; the paper's value (500 images, full budget) below ours where the paper has that row." if any_paper
           else ".")
        + (" The campaign is unfinished: 'attacks' gives each cell's stored / planned attacks, and a cell in "
           "progress covers only the images and targets stored so far (not yet the campaign's sample)."
           if progress else ""),
        ["network", "region", "pixels", *(["attacks"] if progress else []), *(names[c] for c in cols)], body))
    unstarted = sorted(set(progress) - {(c.model, c.region, c.pixels) for c in cells})
    if unstarted:
        sec.blocks.append(Note(f"{len(unstarted)} planned network × region × pixels cells have no attack yet (e.g. "
                               f"{unstarted[0][0]}, {unstarted[0][1]}, {unstarted[0][2]} pixel(s)); they are not in "
                               "the table."))
    if not has_targeted:
        sec.blocks.append(Note("No targeted attacks in this store: Untargeted2, Targeted and Confidence_t omitted."))
    if not has_untargeted:
        sec.blocks.append(Note("No untargeted attacks in this store: Untargeted1 and Confidence_u omitted."))
    n_targets = len(store.class_names) - 1
    short = sorted({(r.model, r.region, r.pixels, r.image_id) for r in rows if r.mode == "targeted"}
                   - {(m, g, k, i) for (m, g, k, i), n in Counter(
                       (r.model, r.region, r.pixels, r.image_id) for r in rows if r.mode == "targeted").items()
                      if n >= n_targets})
    if short:
        sec.blocks.append(Note(f"{len(short)} network × region × pixels × image groups have fewer than {n_targets} "
                               "targeted attacks (an unfinished campaign?); Targeted divides by the attacks stored."))
    masks = {}
    for key, png in store.masks.items():
        try:
            masks[key] = figs.decode_png(png)[:, :, 0] > 127
        except ValueError:
            continue
    outside, checked = metrics.pixels_outside_region(rows, masks)
    if outside:
        sec.blocks.append(Note(f"{outside} of {checked} perturbed pixels lie outside their attack's stored region "
                               "mask: the store is inconsistent."))
    elif checked:
        sec.blocks.append(f"Check: all {checked} perturbed pixels lie inside their attack's stored region mask.")
    bad = metrics.inconsistent_successes(rows)
    if bad:
        sec.blocks.append(Note(f"{bad} stored attacks have a success flag that disagrees with their recorded "
                               "prediction (e.g. a targeted attack ending in a third class); they count as failures."))

    diffs: list[RegionDifference] = []
    for metric, present in (("untargeted1", has_untargeted), ("untargeted2", has_targeted),
                            ("targeted", has_targeted)):
        if present:
            diffs += metrics.region_differences(rows, metric=metric)
    if diffs:
        pairs = list(dict.fromkeys((d.region_a, d.region_b) for d in diffs))
        groups: dict[tuple[str, int, str], dict[tuple[str, str], RegionDifference]] = {}
        for d in diffs:
            groups.setdefault((d.model, d.pixels, d.metric), {})[(d.region_a, d.region_b)] = d
        drows: list[list[Cell]] = []
        for (model, k, metric), ds in groups.items():
            drow: list[Cell] = [model, str(k), names[metric], str(max(x.images for x in ds.values()))]
            for pair in pairs:
                found = ds.get(pair)
                if found is None:
                    drow.append("—")
                    continue
                dcell = _diff(found)
                dcell = [dcell] if isinstance(dcell, str) else list(dcell)
                if found.p_value is not None:
                    dcell.append(f"p = {_pvalue(found.p_value)} ({found.b}/{found.c})")
                drow.append(dcell)
            drows.append(drow)
        sec.blocks.append(Table(
            "Region differences A − B, paired on the images attacked in both regions: the difference in percentage "
            "points, its 95 % interval (Newcombe's paired score interval; a paired bootstrap over images for "
            "Targeted), the exact two-sided McNemar p-value (uncorrected; the verdict's tests are Holm-corrected "
            "in 'What this run shows') and the discordant images (only A succeeded / only B succeeded). McNemar is "
            "not defined for Targeted (a per-image fraction of nine attacks).",
            ["network", "pixels", "metric", "images", *(f"{a} − {b}" for a, b in pairs)], drows))
    else:
        sec.blocks.append(Note("No two regions share attacked images: no region differences."))
    return sec, diffs


def _table3(store: StoreSnapshot) -> Section | None:
    rows = [r for r in store.results if r.mode == "untargeted" and r.pixels == 1
            and "adv_probs_of_clean_top5" in r.record]
    if not rows:
        return None
    sec = Section("Table III: top-k effects of 1-pixel untargeted attacks")
    pairs = [(m, g) for m in sorted({r.model for r in rows})
             for g in metrics.region_order(r.region for r in rows if r.model == m)]
    body: list[list[Cell]] = []
    for m, g in pairs:
        t3 = metrics.table3(metrics.select(rows, model=m, region=g))
        line: list[Cell] = [m, g]
        for key, _ in metrics.TABLE3_METRICS:
            v = t3[key]
            line.append(_rate(v) if isinstance(v, Rate) else _mean(v))
        body.append(line)
        net = metrics.paper_imagenet_network(m)
        if net is not None and (net, g, "untargeted") in metrics.PAPER_TABLE_III:
            body.append([f"paper: {net}", g, *(_pct(metrics.PAPER_TABLE_III[(net, g, key)], 2)
                                                for key, _ in metrics.TABLE3_METRICS)])
    sec.blocks.append(Table(
        "Per network × region (DESIGN §3): Conf.-Decrease-top1 over successful attacks, top3/top5 over "
        "unsuccessful ones (mean over the clean top-K classes of p_clean − p_adv); Ori-top1-in-topK over "
        "successful attacks; Ori-topK-in-topK = mean |clean top-K ∩ adversarial top-K| / K over unsuccessful ones.",
        ["network", "region", *(label for _, label in metrics.TABLE3_METRICS)], body))
    if "imagenet" not in store.meta.get("dataset", "").lower():
        sec.blocks.append(Note("The paper reports these metrics for ImageNet only; shown here for "
                               f"{store.meta.get('dataset') or 'this dataset'} for completeness."))
    return sec


def _histogram_text(hist: tuple[int, ...]) -> str:
    """'0: 5 · 1: 1 · 3–5: 2 …' over the non-empty bins of metrics.GENERATION_BINS."""
    labels = [str(lo) if lo == hi else f"{lo}–{hi}" if hi < 10**9 else f"≥{lo}" for lo, hi in metrics.GENERATION_BINS]
    return " · ".join(f"{label}: {n}" for label, n in zip(labels, hist, strict=True) if n) or "—"


def _table4(store: StoreSnapshot) -> Section:
    sec = Section("Table IV: generations of successful 1-pixel untargeted attacks")
    rows = [r for r in store.results if r.mode == "untargeted" and r.pixels == 1]
    if not rows:
        sec.blocks.append(Note("No 1-pixel untargeted attacks in this store: Table IV omitted."))
        return sec
    dataset = store.meta.get("dataset", "")
    body: list[list[Cell]] = []
    for m in sorted({r.model for r in rows}):
        net = metrics.paper_network(m, dataset)
        for g in metrics.region_order(r.region for r in rows if r.model == m):
            st = metrics.mean_generations(metrics.select(rows, model=m, region=g))
            paper = metrics.PAPER_TABLE_IV.get((net or "", g))
            fmt = (lambda x: "—" if not math.isfinite(x) else f"{x:.2f}")  # noqa: E731
            body.append([m, g, str(st.count), f"{fmt(st.raw_mean)} / {fmt(st.raw_median)}",
                         f"{fmt(st.reference_mean)} / {fmt(st.reference_median)}", _histogram_text(st.histogram),
                         "—" if paper is None else f"{paper:.2f}"])
    if not store.early_stop:
        sec.blocks.append(Note("This campaign ran without early stop, so every attack reports the full number of "
                               "generations and Table IV cannot show when success came."))
    sec.blocks.append(Table(
        "Generations over successful attacks, mean / median, under two counts: raw (0 = fooled by the initial "
        "population) and max(generations, 1), which is how a solver counts that tests success only after each "
        "evolved generation, numbered from 1 (the public one-pixel code's SciPy-derived solver does; that code "
        "does not return the count, so that the paper's values use it is an inference, not a fact). Histogram: "
        "successes per range of raw generations.",
        ["network", "region", "successful", "raw: mean / median", "max(g, 1): mean / median",
         "histogram (raw generation: successes)", "paper (mean)"], body))
    allst = metrics.mean_generations(rows)
    if allst.count:
        early = sum(allst.histogram[:3])
        sec.blocks.append(
            f"Over all {allst.count} successful attacks of this table, {early} ({100 * early / allst.count:.0f} %) "
            f"came by generation 2 and {allst.histogram[-1] + allst.histogram[-2]} after generation 20 "
            f"(raw count; mean {allst.raw_mean:.2f}, median {allst.raw_median:.1f}). A mean over successes "
            "counts a late success only when the budget reaches it, so it grows with the generation budget; DE's "
            "strategy moves it too (docs/report.md, 'Table IV', measures both on the same images: 20 against 100 "
            "generations, and rand1bin against best1bin, the public one-pixel code's strategy, which brought "
            "successes earlier but not to the paper's values).")
    return sec


def _figures(store: StoreSnapshot) -> tuple[Section, list[FigureBlock]]:
    sec = Section("Figures")
    rows = store.results
    names = store.class_names
    out: list[FigureBlock] = []

    # Fig. 1
    examples = []
    for m in sorted({r.model for r in rows}):
        for fg, bg in figs.pick_examples(rows, m, FIG1_PER_MODEL):
            im = store.image(fg.image_id)
            if im is None or not im.png:
                continue
            pred = store.predictions.get((fg.image_id, m))
            examples.append((m, figs.decode_png(im.png), fg, bg, None if pred is None else pred[1], im.label))
    fig = figs.figure1_examples(examples, names)
    # the paper's Fig. 2 is the same figure for ImageNet
    fig_no = "Fig. 2" if "imagenet" in store.meta.get("dataset", "").lower() else "Fig. 1"
    if fig is not None:
        out.append(FigureBlock("fig1_examples", figs.figure_png(fig),
                               f"{fig_no}: clean images (left, clean class and confidence) and 1-pixel untargeted "
                               "attacks on the foreground (middle) and background (right). Blue: both attacks reach "
                               "the same class; red: different classes; black: the attack failed. The modified "
                               "pixel is circled."))
    else:
        sec.blocks.append(Note(f"{fig_no} omitted: no image has 1-pixel untargeted attacks on both foreground and "
                               "background with at least one success."))

    # Fig. 3
    fig = figs.figure3_targets_reached(rows, len(names))
    if fig is not None:
        out.append(FigureBlock("fig3_targets_reached", figs.figure_png(fig),
                               "Fig. 3: share of images whose targeted attacks reached 0 … 9 target classes, per "
                               "network × pixels, by region."))
    else:
        sec.blocks.append(Note("Fig. 3 and Fig. 5 omitted: no targeted attacks in this store."))

    # Fig. 4 / 5
    legend = ", ".join(f"{i} {n}" for i, n in enumerate(names))
    for mode, name, caption in (
        ("untargeted", "fig4_untargeted_pairs", "Fig. 4: successful 1-pixel untargeted attacks by clean class "
                                                "(rows) and adversarial class (columns)"),
        ("targeted", "fig5_targeted_pairs", "Fig. 5: successful 1-pixel targeted attacks by clean class (rows) "
                                            "and target class (columns)"),
    ):
        fig = figs.figure_class_pairs(rows, names, mode)
        if fig is not None:
            out.append(FigureBlock(name, figs.figure_png(fig), f"{caption}; panel titles give the total, the "
                                   f"colour scale is shared within a network, the diagonal is grey. Classes: {legend}."))
        elif mode == "untargeted":
            sec.blocks.append(Note("Fig. 4 omitted: no 1-pixel untargeted attacks (or more than 20 classes)."))

    # Fig. 6
    curves = store.curve_attacks
    everywhere = metrics.images_successful_everywhere(curves)
    with_history = sorted({r.image_id for r in curves if r.mode == "untargeted" and r.pixels == 1
                           and r.record.get("fitness_history")})
    chosen = [i for i in everywhere if i in set(with_history)]
    sel_note = "whose 1-pixel untargeted attack succeeded in every region on every network"
    if not chosen:
        chosen = with_history
        sel_note = "with 1-pixel untargeted attacks (no image was fooled in every region on every network)"

    def images(n: int) -> str:
        return f"{n} image{'' if n == 1 else 's'}"

    if len(chosen) > FIG6_IMAGES:
        rng = np.random.default_rng(stats.DEFAULT_SEED)
        sel_note = (f"{FIG6_IMAGES} of the {images(len(chosen))} {sel_note}, chosen at random "
                    f"(seed {stats.DEFAULT_SEED})")
        chosen = sorted(rng.choice(chosen, size=FIG6_IMAGES, replace=False).tolist())
    else:
        sel_note = f"{'the ' if len(chosen) == 1 else 'all '}{images(len(chosen))} {sel_note}"
    fig = figs.figure6_fitness(curves, chosen)
    if fig is not None:
        stopped = any(r.early_stop for r in curves)
        stop_note = (" Curves end at the early stop; the mean carries each curve's last value forward (the paper ran "
                     "100 generations without early stop; a campaign's [fitness_curves] section adds such attacks)."
                     if stopped else " Attacks run without early stop (the campaign's fitness-curve attacks)." if
                     curves is not store.results else "")
        out.append(FigureBlock("fig6_fitness", figs.figure_png(fig),
                               f"Fig. 6: best fitness (probability of the clean class) per generation for {sel_note}; "
                               f"grey: each image, red dotted: the mean; last column: the regions' means.{stop_note}"))
    else:
        sec.blocks.append(Note("Fig. 6 omitted: no 1-pixel untargeted attack recorded a fitness history."))
    sec.blocks = [*out, *sec.blocks]
    return sec, out


def build_sections(store: StoreSnapshot, *, second_masks: Mapping[str, np.ndarray] | None = None,
                   second_name: str = "second segmenter", baseline: StoreSnapshot | None = None,
                   joined: Sequence[JoinedStore] = ()) -> list[Section]:
    """The report's sections, in order, computed from ``store`` (and, for the object-or-position section, a
    second segmenter's foreground masks by image id and the unshifted store of a translation campaign).

    With ``joined`` (other stores of the same images, :func:`pixelspace.report.joined.join_all`) the report
    opens with the verdict at every pixel count of the stores, then Table II at every pixel count, "does the
    pattern grow or vanish with k?" and Figs 3 and 5 at every pixel count; the store's own sections follow, less
    those with no DE rows to show."""
    if joined:
        return _joined_sections(store, joined, second_masks=second_masks, second_name=second_name,
                                baseline=baseline)
    t2, diffs = _table2(store)
    findings = Section("What this run shows", _findings(store))
    position = position_section(store, second_masks=second_masks, second_name=second_name, baseline=baseline)
    figures, _ = _figures(store)
    t3 = _table3(store)
    scan, _ = scan_section(store)
    sparse = search_section(store)
    return [findings, *([position] if position else []), _table1(store), t2, *([t3] if t3 else []),
            _table4(store), figures, *([scan] if scan else []), *([sparse] if sparse else []), _provenance(store)]


def _joined_groups(store: StoreSnapshot, joined: Sequence[JoinedStore]) -> list[pc.SearchRows]:
    """The rows of the stores per search × pixel count: the report store's on every image it selected, each
    joined store's on the images it shares with it; one search's rows at one pixel count from several stores
    (their modes differ: :func:`~pixelspace.report.joined.join_all`) are one group, named after them all."""
    parts = [*pc.search_rows(store, joined[0].here),
             *(g for j in joined for g in pc.search_rows(j.store, j.name, j.images))]
    merged: dict[tuple[str, int], pc.SearchRows] = {}
    for g in parts:
        had = merged.get((g.search, g.pixels))
        merged[(g.search, g.pixels)] = g if had is None else pc.SearchRows(
            g.search, g.pixels, f"{had.store} + {g.store}", had.rows + g.rows)
    return sorted(merged.values(), key=lambda g: g.pixels)


def _search_descriptions(store: StoreSnapshot, joined: Sequence[JoinedStore]) -> dict[str, str]:
    """search -> how it made its rows, from the config of the (first) store that holds them."""
    out: dict[str, str] = {}
    for snap in (store, *(j.store for j in joined)):
        for search in {r.search for r in snap.attacks} & {"scan", "sparse-rs", "de"}:
            out.setdefault(search, _budget_text(_setup(snap)) if search == "de" else
                           pcs.search_description(search, snap.config))
    return out


def _joined_findings(store: StoreSnapshot, joined: Sequence[JoinedStore], groups: Sequence[pc.SearchRows],
                     chosen: Mapping[int, pc.SearchRows], descriptions: Mapping[str, str]) -> list[Block]:
    """'What this run shows' for a joined report: the verdict at every pixel count, its figure, the joins, the
    rows."""
    here = joined[0].here
    banners = [b.replace("**UNFINISHED CAMPAIGN:**", f"**UNFINISHED CAMPAIGN ({name}):**") if isinstance(b, str)
               else b for snap, name in ((store, here), *((j.store, j.name) for j in joined))
               for b in _unfinished(snap)]
    verdict = pcs.verdict_by_k(chosen) if chosen else verdict_blocks([], "no search")
    glance = pcs.glance_by_k(chosen) if chosen else None
    s = _setup(store)
    joins = [_join_text(j, s.dataset, s.segmenter, store, alone=len(joined) == 1) for j in joined]
    used = []
    for g in groups:
        targets = len({r.image_id for r in g.rows if r.mode == "targeted"})
        extra = (", every target from the same scan" if g.search == "scan" else
                 f", targeted on {targets}" if targets else ", no targeted attacks")
        used.append(f"{g.pixels} px: {g.label} from {g.store} ({g.images} images untargeted{extra})")
    rows_text = ("Rows: " + "; ".join(used) + ". The paired tests below read "
                 + (pcs.chosen_description(chosen) if chosen else "no untargeted rows")
                 + " (at each pixel count the search with the most images). How each search made its rows: "
                 + "; ".join(f"{pc.SEARCH_NAMES.get(k, k)}: {v}" for k, v in descriptions.items())
                 + f". The paper's rows are DE: {pcs.MEASURED}.")
    return [*banners, verdict[0], *([glance] if glance is not None else []), *joins, rows_text, *verdict[1:]]


def _join_text(joined: JoinedStore, dataset: str, segmenter: str, store: StoreSnapshot, *, alone: bool) -> str:
    """The paragraph saying what one join read and checked (``alone``: the report's only join)."""
    selected = sum(1 for im in store.images if im.status == "attacked")
    join = (f"Joined with the store of campaign `{joined.name}` ({joined.path.name}): {len(joined.images)} images "
            f"of {dataset} selected by both stores (regions from {segmenter})")
    if joined.only_here:
        join += f"; {joined.only_here} selected only by {joined.here}"
    if joined.only_there:
        join += f"; {joined.only_there} selected only by {joined.name}"
    reads = ("Every number below reads these images only" if alone and not joined.only_here else
             f"{joined.name}'s rows are read on these {len(joined.images)} images only" + (
                 f", {joined.here}'s on all {selected} it selected (each cell gives its n)" if joined.only_here else ""))
    return (join + f". {reads}. Checked equal in both stores: the dataset, the class names, the labels and pixels "
            "of these images, the masks of the regions both attacked ("
            f"{', '.join(joined.regions) or 'none'}) and the weights of the networks in both "
            f"({', '.join(joined.models) or 'none'}).")


def _joined_sections(store: StoreSnapshot, joined: Sequence[JoinedStore], *,
                     second_masks: Mapping[str, np.ndarray] | None,
                     second_name: str, baseline: StoreSnapshot | None) -> list[Section]:
    groups = _joined_groups(store, joined)
    chosen = pc.by_pixel_count(groups)
    descriptions = _search_descriptions(store, joined)
    findings = Section("What this run shows", _joined_findings(store, joined, groups, chosen, descriptions))
    t2k = pcs.table2_section(groups, store.class_names, store.meta.get("dataset", ""), descriptions)
    pattern = pcs.pattern_section(chosen)
    targets, _ = pcs.figures_section(groups, store.class_names)
    position = position_section(store, second_masks=second_masks, second_name=second_name, baseline=baseline)
    own: list[Section] = [_table1(store)]
    if store.results:  # the store's DE tables (the joined store's are in its own report)
        t3 = _table3(store)
        own += [_table2(store)[0], *([t3] if t3 else []), _table4(store)]
    figures, drawn = _figures(store)
    if drawn:
        own.append(figures)
    scan, _ = scan_section(store)
    sparse = search_section(store)
    return [findings, t2k, *([pattern] if pattern else []), targets, *([position] if position else []), *own,
            *([scan] if scan else []), *([sparse] if sparse else []), _provenance(store),
            *(_provenance(j.store, f"Provenance of the joined store ({j.name})") for j in joined)]


def _provenance(store: StoreSnapshot, title: str = "Provenance") -> Section:
    keys = ("dataset", "segmenter", "campaign_seed", "config_hash", "batch_size", "package_version", "git_sha",
            "torch_version", "device", "created_utc", "schema_version")
    rows: list[list[Cell]] = [[k, store.meta[k]] for k in keys if k in store.meta]
    sec = Section(title)
    sec.blocks.append(Table("Recorded in the store's meta table.", ["key", "value"], rows))
    weights: list[list[Cell]] = [[m.model, m.weights_hash or "—"] for m in store.models]
    if weights:
        sec.blocks.append(Table("Model weights.", ["network", "weights hash"], weights))
    if store.config:
        sec.blocks.append(Code("The campaign config (meta config_json)", json.dumps(store.config, indent=2)))
    return sec


# -------------------------------------------------------------------------------------- writers


def _folded_summary(t: Table) -> str:
    """A folded table's one visible line: its caption and its size."""
    return f"{t.caption.rstrip('. ')} ({len(t.rows)} rows)."


def _md_cell(c: Cell) -> str:
    lines = [c] if isinstance(c, str) else [x for x in c if x]
    return "<br>".join(x.replace("|", "\\|") for x in lines) or " "


def _md(title: str, sections: Sequence[Section], figure_dir: str) -> str:
    out = [f"# {title}", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, str):
                out += [b, ""]
            elif isinstance(b, Note):
                out += [f"> *{b.text}*", ""]
            elif isinstance(b, Code):
                out += [f"{b.summary}:", "", "```json", b.text, "```", ""]
            elif isinstance(b, Table):
                if b.folded:  # GitHub and most Markdown viewers render <details> too
                    out += ["<details>", f"<summary>{html.escape(_folded_summary(b))}</summary>", ""]
                out += [*([] if b.folded else [f"*{b.caption}*", ""]), "| " + " | ".join(b.header) + " |",
                        "|" + "---|" * len(b.header)]
                out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows]
                out += ["", "</details>", ""] if b.folded else [""]
            else:
                out += [f"![{b.name}]({figure_dir}/{b.name}.png)", "", f"*{b.caption}*", ""]
    return "\n".join(out)


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1180px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #333; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; padding-bottom: .15em; }
table { border-collapse: collapse; margin: .6em 0 1.4em; font-size: 13px; }
caption { caption-side: top; text-align: left; font-style: italic; color: #555; padding-bottom: .4em; }
th, td { border: 1px solid #d0d0d0; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f0f2f5; }
td:first-child { white-space: nowrap; }
tr:nth-child(even) td { background: #fafafa; }
td .sub { color: #777; font-size: 11px; display: block; }
td .paper { color: #8a5a00; font-size: 11px; display: block; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .5em .8em; color: #444; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #e3e3e3; }
figcaption { color: #555; font-size: 14px; margin-top: .3em; }
code { background: #f3f3f3; padding: 0 .25em; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: 12px; }
summary { cursor: pointer; color: #444; }
details { margin: .6em 0 1.4em; }
details > summary { font-style: italic; color: #555; font-size: 14px; }
"""


def _inline(text: str) -> str:
    t = html.escape(text)
    t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", t)


def _html_cell(c: Cell, tag: str) -> str:
    if isinstance(c, str):
        return f"<{tag}>{html.escape(c)}</{tag}>"
    parts = []
    for i, x in enumerate(y for y in c if y):
        cls = "paper" if x.startswith("paper ") else ("sub" if i else "")
        parts.append(f'<span class="{cls}">{html.escape(x)}</span>' if cls else html.escape(x))
    return f"<{tag}>{''.join(parts)}</{tag}>"


def _html(title: str, sections: Sequence[Section]) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>"]
    for s in sections:
        out.append(f"<h2>{html.escape(s.title)}</h2>")
        for b in s.blocks:
            if isinstance(b, str):
                out.append(f"<p>{_inline(b)}</p>")
            elif isinstance(b, Note):
                out.append(f'<p class="note">{_inline(b.text)}</p>')
            elif isinstance(b, Code):
                out.append(f"<details><summary>{html.escape(b.summary)}</summary><pre>{html.escape(b.text)}</pre>"
                           "</details>")
            elif isinstance(b, Table):
                if b.folded:
                    out.append(f"<details><summary>{html.escape(_folded_summary(b))}</summary>")
                caption = "" if b.folded else f"<caption>{html.escape(b.caption)}</caption>"
                out.append(f"<table>{caption}<thead><tr>"
                           + "".join(_html_cell(h, "th") for h in b.header) + "</tr></thead><tbody>")
                out += ["<tr>" + "".join(_html_cell(c, "td") for c in r) + "</tr>" for r in b.rows]
                out.append("</tbody></table>" + ("</details>" if b.folded else ""))
            else:
                data = base64.b64encode(b.png).decode("ascii")
                out.append(f'<figure id="{b.name}"><img alt="{html.escape(b.name)}" '
                           f'src="data:image/png;base64,{data}"><figcaption>{html.escape(b.caption)}'
                           "</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def _figure_blocks(sections: Sequence[Section]) -> Iterator[FigureBlock]:
    for s in sections:
        yield from (b for b in s.blocks if isinstance(b, FigureBlock))


def report_title(store: StoreSnapshot, store_path: Path, joined: Sequence[JoinedStore] = ()) -> str:
    """'pixelspace report: <campaign name> (<dataset>)': the name from the stored config's ``campaign.name``
    (the store's file name when the config records none); 'pixelspace report: <name> with <joined name> [and
    <another>] (…)' for a joined report."""
    dataset = store.meta.get("dataset")
    name = store_name(store, store_path) + (f" with {' and '.join(j.name for j in joined)}" if joined else "")
    return f"pixelspace report: {name}" + (f" ({dataset})" if dataset else "")


def write_report(store_path: str | Path, out_dir: str | Path, *,
                 second_masks: Mapping[str, np.ndarray] | None = None, second_name: str = "second segmenter",
                 baseline: str | Path | None = None,
                 with_store: str | Path | Sequence[str | Path] | None = None) -> ReportPaths:
    """Read the store at ``store_path`` and write ``report.md``, ``figures/*.png`` and ``report.html``
    (self-contained) under ``out_dir``.

    Args:
        second_masks: image id -> bool (H, W) foreground masks of a second segmenter: the per-image answer is
            recomputed with them (no new queries) in the object-or-position section.
        baseline: the unshifted store of a translation campaign (``images.shift``), or its in-place control
            (``images.shift_mode = "in-place"``): the section compares the maps.
        with_store: another store of the same images (e.g. the 1-pixel scan beside a 3/5-pixel sparse search),
            or several: their rows join this store's in Table II at every pixel count, the paired tests per pixel
            count, "does the pattern grow or vanish with k?" and Figs 3 and 5 at every pixel count.

    Raises:
        pixelspace.errors.StoreError: a store is missing, not a store, or of an unsupported schema; or
            a ``with_store`` is not a store of the same images (:func:`pixelspace.report.joined.join_all`).
    """
    store = load_store(store_path)
    base = load_store(baseline) if baseline is not None else None
    others = ([] if with_store is None else [with_store] if isinstance(with_store, str | Path) else list(with_store))
    joined = join_all(store, Path(store_path), [(load_store(p), Path(p)) for p in others])
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    sections = build_sections(store, second_masks=second_masks, second_name=second_name, baseline=base,
                              joined=joined)
    title = report_title(store, Path(store_path), joined)
    fig_paths = []
    for b in _figure_blocks(sections):
        p = out / "figures" / f"{b.name}.png"
        p.write_bytes(b.png)
        fig_paths.append(p)
    md_path = out / "report.md"
    md_path.write_text(_md(title, sections, "figures"), encoding="utf-8")
    html_path = out / "report.html"
    html_path.write_text(_html(title, sections), encoding="utf-8")
    return ReportPaths(md_path, html_path, tuple(fig_paths))
