"""The report's "Object or position?" section (issue 29; ``docs/position.md``): the answer's outline
sensitivity (eroded / dilated foregrounds, interior against exterior, a second segmenter's masks), the per-pixel
model with position, the equal-distance table and, given the unshifted store, the translation experiment."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pixelspace.outcomes import VulnerabilityMap
from pixelspace.report import metrics, stats
from pixelspace.report import position as pos
from pixelspace.report import scan_metrics as sm
from pixelspace.report.blocks import Block, Cell, Note, Section, Table, pvalue
from pixelspace.report.scan_section import _foregrounds, _maps, colour_words
from pixelspace.report.stored import StoreSnapshot

OUTLINE_SHIFTS = (-2, -1, 1, 2)


@dataclass(frozen=True)
class PairedRates:
    """Two per-image success rates on the same images: counts, the paired difference (Newcombe, fractions) and
    the exact McNemar p."""

    images: int
    a: int
    b: int
    difference: stats.Interval
    p_value: float | None


def paired_rates(a: Sequence[bool] | np.ndarray, b: Sequence[bool] | np.ndarray) -> PairedRates:
    """:class:`PairedRates` of per-image outcomes ``a`` and ``b`` (equal length)."""
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    n = int(x.size)
    only_a, only_b = stats.discordant_pairs(x, y) if n else (0, 0)
    both = int(np.sum(x & y))
    diff = stats.paired_difference_newcombe(both, only_a, only_b, n - both - only_a - only_b)
    return PairedRates(n, int(x.sum()), int(y.sum()), diff, stats.mcnemar_exact(only_a, only_b) if n else None)


def _pp_cell(iv: stats.Interval, scale: float = 100.0) -> Cell:
    if not math.isfinite(iv.value):
        return "—"
    text = f"{scale * iv.value:+.1f} pp"
    return [text, f"[{scale * iv.low:+.1f}, {scale * iv.high:+.1f}]" if math.isfinite(iv.low) else ""]


def _rate(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}% ({k}/{n})" if n else "—"


def _reading(d: stats.Interval) -> str:
    """'above 0' / 'below 0' / 'not shown', and the bound a narrow interval sets."""
    if not math.isfinite(d.low):
        return "—"
    if d.low > 0:
        return "fg > bg"
    if d.high < 0:
        return "fg < bg"
    return f"not shown (excludes fg − bg > {100 * d.high:+.1f} pp)"


def _model_data(store: StoreSnapshot) -> dict[str, tuple[list[VulnerabilityMap], list[np.ndarray], list[str]]]:
    maps, fgs = _maps(store), _foregrounds(store)
    out = {}
    for model in sorted({m for m, _ in maps}):
        ids = sorted(i for (m, i) in maps if m == model and i in fgs)
        if ids:
            out[model] = ([maps[(model, i)] for i in ids], [fgs[i] for i in ids], ids)
    return out


def outline_table(data: Mapping[str, tuple[list[VulnerabilityMap], list[np.ndarray], list[str]]],
                  second: Mapping[str, np.ndarray] | None, second_name: str) -> tuple[Table, list[str]]:
    """Foreground − background per image under every outline variant, and the networks whose sign flips."""
    rows: list[list[Cell]] = []
    raw: list[float | None] = []  # each row's p, for the Holm column
    fragile = []
    for model, (maps, fgs, ids) in data.items():
        variants: list[tuple[str, sm.BoundaryShift]] = [
            ("as stored" if b.shift == 0 else f"{'dilated' if b.shift > 0 else 'eroded'} {abs(b.shift)} px", b)
            for b in sm.boundary_shift(maps, fgs, (0, *OUTLINE_SHIFTS))]
        if second:
            keep = [k for k, i in enumerate(ids) if i in second]
            if keep:  # the same images with the stored masks, so the masks' effect is told from the subset's
                kept = [maps[k] for k in keep]
                variants.append((f"as stored, on the {len(keep)} images with {second_name} masks",
                                 sm.boundary_shift(kept, [fgs[k] for k in keep], (0,))[0]))
                variants.append((f"{second_name} masks",
                                 sm.boundary_shift(kept, [second[ids[k]] for k in keep], (0,))[0]))
        ie = pos.interior_exterior(maps, fgs, model)
        signs = set()
        for label, r in variants:
            rows.append([model, label, str(r.images), _rate(r.foreground.successes, r.images),
                         _rate(r.background.successes, r.images), _pp_cell(r.difference), pvalue(r.p_value),
                         _reading(r.difference)])
            raw.append(r.p_value)
            if math.isfinite(r.difference.low):
                signs.add("+" if r.difference.low > 0 else "-" if r.difference.high < 0 else "0")
        if ie.images:
            rows.append([model, f"interior vs exterior (±{ie.margin} px band left out)", str(ie.images),
                         _rate(round(ie.interior[0] * ie.images), ie.images),
                         _rate(round(ie.exterior[0] * ie.images), ie.images), _pp_cell(ie.difference),
                         pvalue(ie.p_value), _reading(ie.difference)])
            raw.append(ie.p_value)
        if len(signs) > 1:
            fragile.append(model)
    caption = ("Outline sensitivity of the per-image answer (1 pixel, untargeted, the scan's colour set): the "
               "foreground's success against the background's on the same images, with the stored foreground, the "
               "foreground eroded or dilated by 1 and 2 px (3 × 3 steps; the background is the rest), "
               + (f"the {second_name} masks where they pass the quality guard (beside the stored masks on the same "
                  "images), " if second else "")
               + "and the interior (more than 2 px inside the outline) against the exterior (more than 2 px "
               "outside), which leaves out the band where outlines are uncertain. Newcombe paired 95 % intervals, "
               "exact McNemar p, and Holm's correction of p over every row of the table ('reading' reads the "
               "interval, and says where Holm's p is not below 0.05). A per-image rate grows "
               "with the region's size, so these rows move with the outline by construction; the per-pixel rows "
               "below do not.")
    finite = {k: v for k, v in enumerate(raw) if v is not None and math.isfinite(v)}
    adjusted = dict(zip(finite, stats.holm(list(finite.values())), strict=True))
    for k, row in enumerate(rows):
        row.insert(7, pvalue(adjusted.get(k)))
        if str(row[8]).startswith(("fg >", "fg <")) and adjusted.get(k, 1.0) >= 0.05:
            row[8] = f"{row[8]} (not after Holm)"
    return Table(caption, ["network", "foreground", "images", "fg", "bg", "fg − bg", "p", "Holm p", "reading"],
                 rows), fragile


def model_table(effects: Sequence[pos.ObjectEffect], colour: str = "corner colour") -> Table:
    """The per-pixel model's object effect beside the naive difference, per network."""
    rows: list[list[Cell]] = []
    for e in effects:
        rows.append([f"{e.model} †" if e.separated else e.model, str(e.images), f"{e.pixels:,}",
                     _pp_cell(e.naive, 1.0), _pp_cell(e.marginal, 1.0),
                     [f"{e.odds_ratio.value:.2f}", f"[{e.odds_ratio.low:.2f}, {e.odds_ratio.high:.2f}]"],
                     pvalue(e.p_value), pvalue(e.position_p)])
    return Table(
        f"Per pixel, at equal position: a logistic model of 'this pixel flips with some {colour}' on foreground "
        "membership plus cubic B-splines (4 df each) of the distance to the image centre, the distance to the "
        "nearest edge and the unsigned distance to the outline; every scanned pixel of every image, images as "
        "clusters (cluster-robust covariance, statsmodels GLM). 'object at equal position': the average marginal "
        "effect of membership in pp (delta-method interval); 'naive': the pooled foreground − background flip rate "
        "(bootstrap over images); 'position p': joint Wald test of the position terms. Rows naming a second "
        "segmenter refit the model on the images its masks cover, with its outlines." + (
            " † quasi-separated: some pixels' fitted flip probability is below 1e-10 (a range of the position "
            "covariates without a flipping pixel, whose coefficients run off); the object's estimate is unaffected, "
            "but its interval and p can move in their second digit with the fit's tolerance or the BLAS thread "
            "count: read them to one digit." if any(e.separated for e in effects) else ""),
        ["network", "images", "pixels", "naive fg − bg", "object at equal position", "odds ratio", "p (object)",
         "position p"], rows)


def equal_distance_table(eqs: Sequence[pos.EqualDistance]) -> Table:
    """Foreground − background flip rate per band of distance to the centre, networks side by side."""
    if not eqs:
        return Table("", [], [])
    rows: list[list[Cell]] = []
    for b, first in enumerate(eqs[0].rows):
        hi = "∞" if not math.isfinite(first.high) else f"{first.high:g}"
        row: list[Cell] = [f"{first.low:g}–{hi} px", f"{first.fg_pixels:,} / {first.bg_pixels:,}"]
        for e in eqs:
            r = e.rows[b]
            row.append(_pp_cell(r.difference, 1.0))
        rows.append(row)
    rows.append(["band-standardised", "", *[_pp_cell(e.standardised, 1.0) for e in eqs]])
    rows.append(["bands with fg ahead", "", *[f"{e.fg_ahead} of {e.bands_compared}" for e in eqs]])
    return Table(
        "Foreground against background pixels at the same distance from the image centre: flip rate difference "
        "(fg − bg, pp) per 2-px band, bootstrap over images; 'band-standardised' weights each band by its pixels. "
        "Within a band the foreground still sits slightly nearer the centre, so a steep position gradient leaves "
        "some confounding here that the model above does not have.",
        ["distance to centre", "fg / bg pixels (first network)", *[e.model for e in eqs]], rows)


def position_section(store: StoreSnapshot, *, second_masks: Mapping[str, np.ndarray] | None = None,
                     second_name: str = "second segmenter", baseline: StoreSnapshot | None = None,
                     seed: int = stats.DEFAULT_SEED) -> Section | None:
    """The section, or None when the store has no scan maps with foreground masks."""
    data = _model_data(store)
    if not data:
        return None
    sec = Section("Object or position?")
    sec.blocks.append(
        "Is the foreground more vulnerable because it is the object, or because it sits in the image centre? "
        "A region's per-image rate grows with its size and spread, so this section shows the per-image answer "
        "under other outlines first, then asks per pixel at equal position"
        + (", then moves the object (the translation experiment)." if baseline is not None else "."))
    table, fragile = outline_table(data, second_masks, second_name)
    sec.blocks.append(table)
    if fragile:
        sec.blocks.append(Note("The per-image fg − bg verdict changes sign or significance under these outlines on "
                               + ", ".join(fragile) + ": on those networks it is fragile, and the per-pixel "
                               "analysis below is the one to read."))
    effects, eqs = [], []
    for model, (maps, fgs, ids) in data.items():
        t = pos.pixel_table(maps, fgs, ids)
        if t.foreground.any() and not t.foreground.all():
            if len(ids) >= pos.MIN_MODEL_IMAGES:
                effects.append(pos.object_effect(t, model, seed=seed))
            else:
                sec.blocks.append(Note(f"{model}: {len(ids)} images, fewer than the {pos.MIN_MODEL_IMAGES} the "
                                       "per-pixel model needs (images are its clusters); no model fitted."))
            eqs.append(pos.equal_distance(t, model, seed=seed))
        keep = [k for k, i in enumerate(ids) if second_masks and i in second_masks]
        if second_masks and len(keep) >= pos.MIN_MODEL_IMAGES:  # the same model with the second segmenter's outlines
            t2 = pos.pixel_table([maps[k] for k in keep], [second_masks[ids[k]] for k in keep], [ids[k] for k in keep])
            if t2.foreground.any() and not t2.foreground.all():
                effects.append(pos.object_effect(t2, f"{model}, {second_name} masks", seed=seed))
    if effects:
        sec.blocks.append(model_table(effects, colour_words(store).one))
        sec.blocks.append(_model_sentence(effects))
    if eqs:
        sec.blocks.append(equal_distance_table(eqs))
    if baseline is not None:
        sec.blocks += translation_blocks(store, baseline, seed=seed)
    return sec


def _model_sentence(effects: Sequence[pos.ObjectEffect]) -> str:
    parts = []
    for e in effects:
        m = e.marginal
        verdict = ("object adds" if m.low > 0 else "object subtracts" if m.high < 0
                   else "no object effect shown")
        parts.append(f"{e.model}: {m.value:+.2f} pp [{m.low:+.2f}, {m.high:+.2f}] ({verdict}; naive "
                     f"{e.naive.value:+.2f} pp, n = {e.images} images)")
    return "Object at equal position (average marginal effect, per pixel): " + "; ".join(parts) + "."


def _shift_of(store: StoreSnapshot) -> tuple[tuple[int, int], str]:
    """A store's ``images.shift`` (dy, dx) and ``images.shift_mode`` (``"move"`` where it has none)."""
    images = store.config.get("images", {})
    shift = images.get("shift", [0, 0]) if isinstance(images, dict) else [0, 0]
    mode = images.get("shift_mode", "move") if isinstance(images, dict) else "move"
    return (int(shift[0]), int(shift[1])), str(mode)


def _excluded(store: StoreSnapshot) -> int:
    return sum(1 for im in store.images if im.status == "skipped" and (im.reason or "").startswith("shifted"))


def translation_blocks(shifted: StoreSnapshot, baseline: StoreSnapshot, *, seed: int = stats.DEFAULT_SEED) -> list[Block]:
    """The translation experiment: ``shifted`` (a campaign with ``images.shift``, moved) against ``baseline`` (the
    unshifted store, or the in-place control of the same shift); any other pair gets a note saying why not."""
    shift, mode = _shift_of(shifted)
    base_shift, base_mode = _shift_of(baseline)
    if mode == "in-place" and shift != (0, 0) and base_shift == (0, 0):
        return strip_blocks(shifted, baseline, shift, seed=seed)
    if mode != "move" or shift == (0, 0):
        return [Note("A baseline store was given, but this store's images are not moved (compare a campaign with "
                     "images.shift with the unshifted store or with its in-place control): no translation "
                     "experiment to show.")]
    if base_mode == "move" and base_shift != (0, 0):
        return [Note(f"The baseline store's images are themselves moved by {list(base_shift)}: compare this store "
                     "with the unshifted store or with the in-place control of its own shift.")]
    if base_mode == "in-place" and base_shift != shift:
        return [Note(f"The baseline is the in-place control of shift {list(base_shift)}, this store is shifted by "
                     f"{list(shift)}: its images are the control's images moved only when the two shifts agree.")]
    blocks: list[Block] = [
        f"**The translation experiment** (shift {list(shift)} px, reflect-padded, inside the networks' training "
        f"augmentation): the same images as the baseline store, moved; {_excluded(shifted)} chosen image(s) that some "
        "network misclassifies once shifted are excluded (not replaced). If a pixel's vulnerability follows the "
        "content, the shifted map at p + s matches the original at p; if it follows the position, the shifted map "
        "at p does."]
    if base_mode == "in-place":
        blocks.append(
            f"The baseline here is the in-place control of shift {list(base_shift)} (images.shift_mode = "
            "'in-place'): the content that shift keeps, at its original position, the strip it pushes out replaced "
            "by its mirror. Each shifted image is that image moved pixel for pixel (for shifts under half the image; "
            "only the mirror strips differ: the control's on the side the content moves towards, the shifted "
            "image's on the side it moves away from), so 'unshifted' below reads 'in place' and every difference is "
            f"the move with the content held fixed. The control's own exclusions ({_excluded(baseline)}) are left "
            "out too: only images in both stores enter.")
    base_maps, moved_maps = _maps(baseline), _maps(shifted)
    rows: list[list[Cell]] = []
    rises: list[pos.ShiftRise] = []
    for model in sorted({m for m, _ in moved_maps}):
        a = {i: v for (m, i), v in base_maps.items() if m == model}
        b = {i: v for (m, i), v in moved_maps.items() if m == model}
        t = pos.translation(a, b, shift, model, seed=seed)
        if t.images == 0:
            continue
        rises.append(pos.shift_rise(a, b, shift, model, seed=seed))
        rows.append([model, str(t.images), _r_cell(t.content_r), _r_cell(t.position_r),
                     [f"{t.content_minus_position.value:+.3f}",
                      f"[{t.content_minus_position.low:+.3f}, {t.content_minus_position.high:+.3f}]"],
                     f"{t.flips:,}", _pct_iv(t.content_kept), _pct_iv(t.position_kept)])
    blocks.append(Table(
        "Does vulnerability follow the content or the position? Per image, the Pearson correlation between the "
        "unshifted map's largest probability drop at p and the shifted map's at p + s (content) or at p "
        "(position), over the pixels where both exist; mean over images and the paired difference (bootstrap over "
        "images). 'kept': of the pixels that flip unshifted, the share whose content-matched (p + s) or "
        "position-matched (p) pixel flips once shifted (pooled, bootstrap over images).",
        ["network", "images", "r content", "r position", "content − position", "flipping pixels",
         "kept at p + s", "kept at p"], rows))
    blocks.append(_region_moves(shifted, baseline, seed=seed))
    if rises:
        blocks.append(_rise_table(rises))

    moves = contrast_moves(_outcomes(baseline), _outcomes(shifted), seed=seed)
    if moves:
        blocks.append(_contrast_table(moves))
    pooled = _pooled_effects(shifted, baseline, seed=seed)
    if pooled:
        blocks.append(model_table(pooled, colour_words(shifted).one))
        blocks.append("The rows above fit the per-pixel model to each image twice, unshifted and shifted (the same "
                      "image is one cluster), so the object sits at two positions and its effect is separated from "
                      "position by moving it, not only by adjusting for it. " + _model_sentence(pooled))
    return blocks


def _outcomes(store: StoreSnapshot) -> dict[tuple[str, str, str], tuple[bool, float]]:
    """(model, region, image) -> (the scan row's success, its flip share)."""
    return {(r.model, r.region, r.image_id): (bool(r.success), _flip_share(r)) for r in store.scan_rows}


def strip_blocks(control: StoreSnapshot, baseline: StoreSnapshot, shift: tuple[int, int], *,
                 seed: int = stats.DEFAULT_SEED) -> list[Block]:
    """The strip's half of a shift: the in-place control of ``shift`` against the unshifted ``baseline``, the same
    content at the same position but for the far strip, mirrored in the control."""
    blocks: list[Block] = [
        f"**The strip control** (the in-place control of shift {list(shift)}, images.shift_mode = 'in-place'): the "
        "same images with the strip that shift pushes out (its far side) replaced by the mirror of the content next "
        "to it, the object where it was; "
        f"{_excluded(control)} chosen image(s) that some network misclassifies so are excluded (not replaced). "
        "'Shifted' below reads 'strip replaced': every difference is what the strip does with the position held "
        "fixed. The rest of the shift, the move with the content held fixed, is the moved store of the same shift "
        "against this one (`pixelspace report MOVED --baseline CONTROL`); together the two split the shift's "
        "effect."]
    base_maps, control_maps = _maps(baseline), _maps(control)
    rises = []
    for model in sorted({m for m, _ in control_maps}):
        a = {i: v for (m, i), v in base_maps.items() if m == model}
        b = {i: v for (m, i), v in control_maps.items() if m == model}
        if set(a) & set(b):
            rises.append(pos.shift_rise(a, b, shift, model, seed=seed, in_place=True))
    blocks.append(_region_moves(control, baseline, seed=seed, caption=STRIP_REGION_CAPTION))
    if rises:
        blocks.append(_rise_table(rises, shared="the pixels p the shift keeps, at p in both",
                                  strip="the mirror strip that replaced the content the shift pushes out"))

    moves = contrast_moves(_outcomes(baseline), _outcomes(control), seed=seed)
    if moves:
        blocks.append(_contrast_table(moves, STRIP_CONTRAST_CAPTION))
    return blocks


def _pooled_effects(shifted: StoreSnapshot, baseline: StoreSnapshot, *, seed: int) -> list[pos.ObjectEffect]:
    """The per-pixel model on the images scanned both unshifted and shifted, both placements together."""
    moved, base = _model_data(shifted), _model_data(baseline)
    out = []
    for model, (maps, fgs, ids) in moved.items():
        if model not in base:
            continue
        bmaps, bfgs, bids = base[model]
        index = {i: k for k, i in enumerate(bids)}
        both = [i for i in ids if i in index]
        if len(both) < pos.MIN_MODEL_IMAGES:
            continue
        k_moved = [ids.index(i) for i in both]
        t = pos.concat_tables([
            pos.pixel_table([bmaps[index[i]] for i in both], [bfgs[index[i]] for i in both], both),
            pos.pixel_table([maps[k] for k in k_moved], [fgs[k] for k in k_moved], both)])
        out.append(pos.object_effect(t, f"{model}, unshifted + shifted", seed=seed))
    return out


def _r_cell(iv: stats.Interval) -> Cell:
    if not math.isfinite(iv.value):
        return "—"
    return [f"{iv.value:.3f}", f"[{iv.low:.3f}, {iv.high:.3f}]" if math.isfinite(iv.low) else ""]


def _pct_iv(iv: stats.Interval) -> Cell:
    if not math.isfinite(iv.value):
        return "—"
    return [f"{iv.value:.1f}%", f"[{iv.low:.1f}, {iv.high:.1f}]" if math.isfinite(iv.low) else ""]


def _flip_share(row: metrics.AttackRow) -> float:
    """The share of a scan row's region that flips with some colour, in %, or NaN for an empty region."""
    size = float(row.record.get("region_size", 0))
    return 100 * float(row.record.get("flipping_pixels", 0)) / size if size else math.nan


#: The paired contrasts (A, B) whose change under the shift the translation experiment shows.
SHIFT_CONTRASTS = (("foreground", "background"), ("foreground", "centre"), ("background", "border"))


@dataclass(frozen=True)
class ContrastMove:
    """A paired contrast A − B on the same images before and after the shift.

    Attributes:
        unshifted, shifted: mean per-image success difference A − B (fractions).
        change: shifted − unshifted of the per-image difference (fractions; paired bootstrap over images).
        pixel_unshifted, pixel_shifted, pixel_change: the same for the per-pixel flip share (pp).
    """

    model: str
    a: str
    b: str
    images: int
    unshifted: float
    shifted: float
    change: stats.Interval
    pixel_unshifted: float
    pixel_shifted: float
    pixel_change: stats.Interval


def contrast_moves(unshifted: Mapping[tuple[str, str, str], tuple[bool, float]],
                   shifted: Mapping[tuple[str, str, str], tuple[bool, float]], *,
                   contrasts: Sequence[tuple[str, str]] = SHIFT_CONTRASTS,
                   seed: int = stats.DEFAULT_SEED) -> list[ContrastMove]:
    """Each contrast A − B per network, unshifted and shifted, on the images that have both regions in both.

    Args:
        unshifted, shifted: (network, region, image) -> (success, flip share in %) of each scan row.
        contrasts: the (A, B) region pairs.
    """
    out = []
    for model in sorted({k[0] for k in shifted}):
        for ra, rb in contrasts:
            images = sorted(i for m, r, i in shifted if m == model and r == ra and all(
                (model, x, i) in d for x in (ra, rb) for d in (unshifted, shifted)))
            if not images:
                continue

            su, ss, pu, ps = (_contrast(d, model, ra, rb, images, part)
                              for d, part in ((unshifted, 0), (shifted, 0), (unshifted, 1), (shifted, 1)))
            keep = np.isfinite(pu) & np.isfinite(ps)
            out.append(ContrastMove(
                model, ra, rb, len(images), float(su.mean()), float(ss.mean()),
                stats.bootstrap_paired_difference(ss, su, seed=seed),
                float(pu[keep].mean()) if keep.any() else math.nan, float(ps[keep].mean()) if keep.any() else math.nan,
                stats.bootstrap_paired_difference(ps[keep], pu[keep], seed=seed)))
    return out


def _contrast(outcomes: Mapping[tuple[str, str, str], tuple[bool, float]], model: str, a: str, b: str,
              images: Sequence[str], part: int) -> np.ndarray:
    """Per image, A − B of one outcome (``part`` 0: success, 1: flip share)."""
    return np.array([float(outcomes[(model, a, i)][part]) - float(outcomes[(model, b, i)][part]) for i in images])


#: The strip control's captions of the region and contrast tables (nothing moves there; 'shifted' is the control).
STRIP_REGION_CAPTION = (
    "Each region with and without the strip, on the same images: per-image success unshifted and in the control "
    "('shifted': the far strip replaced by its mirror, nothing moved), shifted − unshifted (Newcombe, exact "
    "McNemar), and the per-pixel flip share shifted − unshifted (pp, paired bootstrap). A change is what the strip "
    "(lost content and mirror content together) does to the region at its own position.")
STRIP_CONTRAST_CAPTION = (
    "Does each contrast survive the strip? Per network, the paired contrast A − B on the same images unshifted and "
    "in the control ('shifted': the far strip mirrored, nothing moved), and its change with a 95 % paired bootstrap "
    "interval over images: per image (success in A minus success in B) and per pixel (flip share in A minus in B). "
    "A change is what the strip does to the contrast with every region where it was.")


def _contrast_table(moves: Sequence[ContrastMove], caption: str | None = None) -> Table:
    rows: list[list[Cell]] = [
        [m.model, f"{m.a} − {m.b}", str(m.images), f"{100 * m.unshifted:+.1f} pp", f"{100 * m.shifted:+.1f} pp",
         _pp_cell(m.change), f"{m.pixel_unshifted:+.2f} pp", f"{m.pixel_shifted:+.2f} pp", _pp_cell(m.pixel_change, 1.0)]
        for m in moves]
    return Table(
        caption or "Does each contrast survive the move? Per network, the paired contrast A − B on the same images unshifted "
        "and shifted, and its change shifted − unshifted with a 95 % paired bootstrap interval over images: per "
        "image (success in A minus success in B) and per pixel (flip share in A minus in B). The foreground moves "
        "with the object, centre and border stay; a foreground advantage that the object carries keeps its value "
        "when the object moves, one that the position carries shrinks against the fixed centre. A shift of a few "
        "pixels moves the object only partly off the centre, so a change near 0 is weak evidence either way.",
        ["network", "A − B", "images", "unshifted", "shifted", "change", "per pixel unshifted", "per pixel shifted",
         "per pixel change"], rows)


def _odds_cell(iv: stats.Interval) -> Cell:
    if not math.isfinite(iv.value):
        return "—"
    return [f"{iv.value:.2f}", f"[{iv.low:.2f}, {iv.high:.2f}]" if math.isfinite(iv.low) else ""]


def _rise_table(rises: Sequence[pos.ShiftRise], *, shared: str = "pixels p unshifted, p + s shifted",
                strip: str = "the strip of reflected pixels the shift brings in") -> Table:
    """Where the shift's rise comes from: the shared content, the reflected strip, the clean confidence
    (``shared`` and ``strip`` say where those are, in the caption)."""
    rows: list[list[Cell]] = []
    for r in rises:
        pr = paired_rates(r.content_unshifted, r.content_shifted)
        rows.append([r.model, str(r.images), _rate(pr.a, pr.images), _rate(pr.b, pr.images),
                     _pp_cell(stats.Interval(-pr.difference.value, -pr.difference.high, -pr.difference.low,
                                             pr.difference.method)), pvalue(pr.p_value), str(r.strip_only),
                     [f"{r.share_content_unshifted.value:.2f} → {r.share_content_shifted.value:.2f}%",
                      f"strip {r.share_strip.value:.2f}%" if math.isfinite(r.share_strip.value) else ""],
                     _pp_cell(r.clean_change, 1.0), _odds_cell(r.odds_ratio), _odds_cell(r.adjusted_odds_ratio)])
    return Table(
        "Where does the rise come from? The whole image's per-image success restricted to the content both "
        f"placements share ({shared}): unshifted, shifted, shifted − unshifted (Newcombe, "
        f"exact McNemar); the images the shifted scan fools only through {strip}; per-pixel flip share of the shared content unshifted → shifted and of the strip; the class's "
        "clean probability shifted − unshifted (pp, paired bootstrap); and the odds of being fooled through the "
        "shared content, shifted against unshifted, from a logistic model of both placements (images as clusters, "
        "cluster-robust), without and with the clean probability's log-odds as a covariate. The adjusted odds "
        "ratio is an association: it says whether the rise is still there among placements of equal confidence, "
        "not that the confidence causes it.",
        ["network", "images", "content unshifted", "content shifted", "shifted − unshifted", "p",
         "strip only", "per pixel", "clean p change", "odds ratio", "adjusted for clean p"], rows)


def _region_moves(shifted: StoreSnapshot, baseline: StoreSnapshot, *, seed: int, caption: str | None = None) -> Table:
    """Each region's per-image success and per-pixel flip share, unshifted against shifted, same images."""
    def index(rows: Sequence[metrics.AttackRow]) -> dict[tuple[str, str, str], metrics.AttackRow]:
        return {(r.model, r.region, r.image_id): r for r in rows}

    a, b = index(baseline.scan_rows), index(shifted.scan_rows)
    rows: list[list[Cell]] = []
    for model in sorted({k[0] for k in b}):
        for region in metrics.region_order({k[1] for k in b if k[0] == model}):
            keys = sorted(k for k in b if k[0] == model and k[1] == region and k in a)
            if not keys:
                continue
            r = paired_rates([a[k].success for k in keys], [b[k].success for k in keys])
            dens = stats.bootstrap_paired_difference([_flip_share(b[k]) for k in keys],
                                                     [_flip_share(a[k]) for k in keys], seed=seed)
            rows.append([model, region, str(r.images), _rate(r.a, r.images), _rate(r.b, r.images),
                         _pp_cell(stats.Interval(-r.difference.value, -r.difference.high, -r.difference.low,
                                                 r.difference.method)), pvalue(r.p_value), _pp_cell(dens, 1.0)])
    return Table(
        caption or "Each region before and after the shift, on the same images: per-image success unshifted and shifted, "
        "shifted − unshifted (Newcombe, exact McNemar), and the per-pixel flip share shifted − unshifted (pp, "
        "paired bootstrap). The foreground moves with the object; centre and border stay where they are. If "
        "position drives vulnerability, the centre keeps its rate and a foreground moved off centre loses; if the "
        "object does, the foreground keeps its rate.",
        ["network", "region", "images", "unshifted", "shifted", "shifted − unshifted", "p", "per pixel"], rows)
