"""The paper's metrics as pure functions of stored rows (DESIGN.md §3); nothing here touches a model.

:func:`pixelspace.report.stored.load_store` reads a results store (schema: docs/store-schema.md) into plain
dataclasses. Every metric takes a sequence of :class:`AttackRow` (select the cell you want first with
:func:`select`) and returns numbers with their counts and 95 % intervals. Rates are fractions in [0, 1].
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pixelspace.outcomes import AttackRow
from pixelspace.report import stats
from pixelspace.report.stored import ImageRow, StoreSnapshot

CORE_REGIONS = ("whole", "foreground", "background")


# -------------------------------------------------------------- selection and data-quality checks


def select(
    rows: Iterable[AttackRow],
    *,
    model: str | None = None,
    region: str | None = None,
    pixels: int | None = None,
    mode: str | None = None,
) -> list[AttackRow]:
    """The rows matching every given field (None matches anything)."""
    return [
        r for r in rows
        if (model is None or r.model == model) and (region is None or r.region == region)
        and (pixels is None or r.pixels == pixels) and (mode is None or r.mode == mode)
    ]


def attack_succeeded(row: AttackRow) -> bool:
    """The paper's success rule: untargeted, a class other than the clean one; targeted, exactly the target.

    The stored ``success`` flag must be set *and* agree with the recorded prediction, so a targeted attack
    whose image ends in a third class (neither clean class nor target) is a failure.
    """
    if not row.success:
        return False
    pred = row.predicted
    if pred is None:
        return True
    if row.mode == "targeted":
        return pred == row.target
    clean = row.clean_class
    return clean is None or pred != clean


def inconsistent_successes(rows: Iterable[AttackRow]) -> int:
    """Rows whose stored ``success`` flag disagrees with :func:`attack_succeeded` (a data-quality check)."""
    return sum(1 for r in rows if r.success != attack_succeeded(r))


def pixels_outside_region(rows: Iterable[AttackRow], masks: Mapping[tuple[str, str], np.ndarray]) -> tuple[int, int]:
    """(perturbed pixels outside their attack's region mask, pixels checked): a data-quality check.

    ``masks`` maps (image_id, region) to a bool (H, W) mask; rows without a mask, and restored (-1) slots,
    are not checked.
    """
    bad = total = 0
    for r in rows:
        mask = masks.get((r.image_id, r.region))
        if mask is None:
            continue
        for rc in r.record.get("pixels") or []:
            y, x = int(rc[0]), int(rc[1])
            if y < 0 or x < 0:
                continue
            total += 1
            bad += int(not (y < mask.shape[0] and x < mask.shape[1] and mask[y, x]))
    return bad, total


# --------------------------------------------------------------------------------------- Table II


@dataclass(frozen=True)
class Rate:
    """A success rate: ``successes`` of ``total`` with a 95 % interval (fractions; NaN when total is 0)."""

    successes: int
    total: int
    value: float
    low: float
    high: float
    method: str
    images: int


@dataclass(frozen=True)
class MeanValue:
    """A mean over ``count`` attacks (on ``images`` images) with a 95 % bootstrap-over-images interval."""

    value: float
    count: int
    low: float
    high: float
    images: int


def _wilson_rate(successes: int, total: int) -> Rate:
    """``successes`` of ``total`` as a :class:`Rate` with its Wilson interval."""
    lo, hi = stats.wilson_interval(successes, total)
    value = successes / total if total else math.nan
    return Rate(successes, total, value, lo, hi, "Wilson", total)


wilson_rate = _wilson_rate


def _by_image(rows: Iterable[AttackRow]) -> dict[str, list[AttackRow]]:
    out: dict[str, list[AttackRow]] = defaultdict(list)
    for r in rows:
        out[r.image_id].append(r)
    return dict(out)


def _image_mean(values_by_image: Mapping[str, list[float]], seed: int) -> MeanValue:
    """Mean over all values, bootstrapping images (ratio of per-image sums to per-image counts)."""
    ids = [k for k, v in values_by_image.items() if v]
    sums = [float(np.sum(values_by_image[k])) for k in ids]
    counts = [float(len(values_by_image[k])) for k in ids]
    iv = stats.bootstrap_ratio(sums, counts, seed=seed)
    return MeanValue(iv.value, int(sum(counts)), iv.low, iv.high, len(ids))


def untargeted1(rows: Sequence[AttackRow]) -> Rate:
    """Untargeted1: successful untargeted attacks / attacked images (one untargeted attack per image), Wilson."""
    outcomes = untargeted1_by_image(rows)
    return _wilson_rate(sum(outcomes.values()), len(outcomes))


def untargeted1_by_image(rows: Sequence[AttackRow]) -> dict[str, bool]:
    """Image id -> whether its untargeted attack succeeded (any of them, should a cell hold several)."""
    out: dict[str, bool] = {}
    for r in rows:
        if r.mode == "untargeted":
            out[r.image_id] = out.get(r.image_id, False) or attack_succeeded(r)
    return out


def confidence_u(rows: Sequence[AttackRow], *, seed: int = stats.DEFAULT_SEED) -> MeanValue:
    """Confidence_u: mean probability of the adversarial predicted class over successful untargeted attacks."""
    vals: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r.mode == "untargeted" and attack_succeeded(r):
            vals[r.image_id].append(float(r.record["confidence"]))
    return _image_mean(vals, seed)


def untargeted2_by_image(rows: Sequence[AttackRow]) -> dict[str, bool]:
    """Image id -> whether at least one of its targeted attacks succeeded."""
    out: dict[str, bool] = {}
    for r in rows:
        if r.mode == "targeted":
            out[r.image_id] = out.get(r.image_id, False) or attack_succeeded(r)
    return out


def untargeted2(rows: Sequence[AttackRow]) -> Rate:
    """Untargeted2: images with at least one successful targeted attack / images attacked with targets, Wilson."""
    outcomes = untargeted2_by_image(rows)
    return _wilson_rate(sum(outcomes.values()), len(outcomes))


def targeted_by_image(rows: Sequence[AttackRow]) -> dict[str, tuple[int, int]]:
    """Image id -> (successful targeted attacks, targeted attacks) of that image."""
    out: dict[str, tuple[int, int]] = {}
    for r in rows:
        if r.mode == "targeted":
            s, n = out.get(r.image_id, (0, 0))
            out[r.image_id] = (s + int(attack_succeeded(r)), n + 1)
    return out


def targeted(rows: Sequence[AttackRow], *, seed: int = stats.DEFAULT_SEED) -> Rate:
    """Targeted: successful targeted attacks / targeted attacks (images × 9), bootstrap over images.

    A targeted attack whose image ends in a class other than its target is a failure.
    """
    per = targeted_by_image(rows)
    succ = [s for s, _ in per.values()]
    tot = [n for _, n in per.values()]
    iv = stats.bootstrap_ratio(succ, tot, seed=seed)
    return Rate(sum(succ), sum(tot), iv.value, iv.low, iv.high, "bootstrap over images", len(per))


def confidence_t(rows: Sequence[AttackRow], *, seed: int = stats.DEFAULT_SEED) -> MeanValue:
    """Confidence_t: mean probability of the target class over successful targeted attacks."""
    vals: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r.mode == "targeted" and attack_succeeded(r):
            vals[r.image_id].append(float(r.record["target_probability"]))
    return _image_mean(vals, seed)


@dataclass(frozen=True)
class Table2Cell:
    """Table II for one network × region × pixels."""

    model: str
    region: str
    pixels: int
    untargeted1: Rate
    confidence_u: MeanValue
    untargeted2: Rate
    targeted: Rate
    confidence_t: MeanValue


TABLE2_METRICS = ("untargeted1", "confidence_u", "untargeted2", "targeted", "confidence_t")


def table2(rows: Sequence[AttackRow], *, seed: int = stats.DEFAULT_SEED) -> list[Table2Cell]:
    """Table II: one cell per network × region × pixels present in ``rows``."""
    cells = []
    for model, region, pixels in _cell_keys(rows):
        cell = select(rows, model=model, region=region, pixels=pixels)
        cells.append(Table2Cell(model, region, pixels, untargeted1(cell), confidence_u(cell, seed=seed),
                                untargeted2(cell), targeted(cell, seed=seed), confidence_t(cell, seed=seed)))
    return cells


def region_order(regions: Iterable[str]) -> list[str]:
    """Regions in the paper's order (whole, foreground, background), then controls alphabetically."""
    rs = set(regions)
    return [r for r in CORE_REGIONS if r in rs] + sorted(rs - set(CORE_REGIONS))


def _cell_keys(rows: Sequence[AttackRow]) -> list[tuple[str, str, int]]:
    models = sorted({r.model for r in rows})
    regions = region_order(r.region for r in rows)
    pixels = sorted({r.pixels for r in rows})
    present = {(r.model, r.region, r.pixels) for r in rows}
    return [(m, g, k) for m in models for g in regions for k in pixels if (m, g, k) in present]


# ---------------------------------------------------------------------------------- Table IV


#: Table IV's histogram bins of the success generation (inclusive ranges).
GENERATION_BINS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (2, 2), (3, 5), (6, 10), (11, 20), (21, 50),
                                                (51, 10**9))


@dataclass(frozen=True)
class GenerationsStat:
    """Generations of successful attacks under two counts: raw (0 = success in the initial population) and
    ``max(generations, 1)`` (a solver that tests success only after each evolved generation, numbered from 1,
    as the public one-pixel code's SciPy-derived solver does).

    ``raw_median``/``reference_median``: medians of the two counts; ``histogram``: successes per
    :data:`GENERATION_BINS` bin of the raw count (bin 0 is the initial population).
    """

    count: int
    raw_mean: float
    reference_mean: float
    raw_median: float = math.nan
    reference_median: float = math.nan
    histogram: tuple[int, ...] = ()


def mean_generations(rows: Sequence[AttackRow]) -> GenerationsStat:
    """Table IV: generations over successful 1-pixel untargeted attacks in ``rows`` (means, medians, histogram)."""
    gens = [r.generations for r in rows if r.mode == "untargeted" and r.pixels == 1 and attack_succeeded(r)]
    if not gens:
        return GenerationsStat(0, math.nan, math.nan, histogram=(0,) * len(GENERATION_BINS))
    ref = [max(g, 1) for g in gens]
    hist = tuple(sum(lo <= g <= hi for g in gens) for lo, hi in GENERATION_BINS)
    return GenerationsStat(len(gens), float(np.mean(gens)), float(np.mean(ref)), float(np.median(gens)),
                           float(np.median(ref)), hist)


# ---------------------------------------------------------------------------------- Table III


def _untargeted(rows: Sequence[AttackRow], successful: bool) -> list[AttackRow]:
    return [r for r in rows if r.mode == "untargeted" and attack_succeeded(r) == successful]


def conf_decrease_topk(rows: Sequence[AttackRow], k: int, *, successful: bool | None = None) -> MeanValue:
    """Conf.-Decrease-topK: mean over attacks of the mean over the clean top-K classes of (p_clean − p_adv).

    By default (DESIGN §3) K = 1 is taken over successful untargeted attacks and K = 3, 5 over unsuccessful
    ones; ``successful`` overrides that. Uses ``clean_top5_probs`` and ``adv_probs_of_clean_top5``.
    """
    if not 1 <= k <= 5:
        raise ValueError(f"k must be in 1..5, got {k}")
    succ = (k == 1) if successful is None else successful
    vals: dict[str, list[float]] = defaultdict(list)
    for r in _untargeted(rows, succ):
        clean = np.asarray(r.record["clean_top5_probs"][:k], dtype=np.float64)
        adv = np.asarray(r.record["adv_probs_of_clean_top5"][:k], dtype=np.float64)
        vals[r.image_id].append(float(np.mean(clean - adv)))
    return _image_mean(vals, stats.DEFAULT_SEED)


def ori_top1_in_topk(rows: Sequence[AttackRow], k: int) -> Rate:
    """Ori-top1-in-topK (successful untargeted attacks): share whose clean top-1 class is in the adversarial
    top-K (Wilson)."""
    succ = _untargeted(rows, True)
    hits = sum(1 for r in succ if int(r.record["clean_top5_classes"][0]) in
               [int(c) for c in r.record["adv_top5_classes"][:k]])
    return _wilson_rate(hits, len(succ))


def ori_topk_in_topk(rows: Sequence[AttackRow], k: int) -> MeanValue:
    """Ori-topK-in-topK (unsuccessful untargeted attacks): mean of |clean top-K ∩ adversarial top-K| / K."""
    vals: dict[str, list[float]] = defaultdict(list)
    for r in _untargeted(rows, False):
        clean = {int(c) for c in r.record["clean_top5_classes"][:k]}
        adv = {int(c) for c in r.record["adv_top5_classes"][:k]}
        vals[r.image_id].append(len(clean & adv) / k)
    return _image_mean(vals, stats.DEFAULT_SEED)


TABLE3_METRICS: tuple[tuple[str, str], ...] = (
    ("untargeted", "Untargeted"),
    ("confidence_u", "Confidence_u"),
    ("conf_decrease_top1", "Conf.-Decrease-top1 (succ)"),
    ("conf_decrease_top3", "Conf.-Decrease-top3 (unsucc)"),
    ("conf_decrease_top5", "Conf.-Decrease-top5 (unsucc)"),
    ("ori_top1_in_top3", "Ori-top1-in-top3 (succ)"),
    ("ori_top1_in_top5", "Ori-top1-in-top5 (succ)"),
    ("ori_top3_in_top3", "Ori-top3-in-top3 (unsucc)"),
    ("ori_top5_in_top5", "Ori-top5-in-top5 (unsucc)"),
)


def table3(rows: Sequence[AttackRow]) -> dict[str, Rate | MeanValue]:
    """Table III for one network × region (pass its 1-pixel untargeted rows)."""
    return {
        "untargeted": untargeted1(rows),
        "confidence_u": confidence_u(rows),
        "conf_decrease_top1": conf_decrease_topk(rows, 1),
        "conf_decrease_top3": conf_decrease_topk(rows, 3),
        "conf_decrease_top5": conf_decrease_topk(rows, 5),
        "ori_top1_in_top3": ori_top1_in_topk(rows, 3),
        "ori_top1_in_top5": ori_top1_in_topk(rows, 5),
        "ori_top3_in_top3": ori_topk_in_topk(rows, 3),
        "ori_top5_in_top5": ori_topk_in_topk(rows, 5),
    }


# ------------------------------------------------------------------------------------ Table I


@dataclass(frozen=True)
class CleanAccuracy:
    """Table I row: full test split (when recorded) and the pool (``predictions`` vs ``images.label``)."""

    model: str
    test_accuracy: float | None
    test_count: int | None
    pool_correct: int
    pool_count: int
    pool_accuracy: Rate


def clean_accuracy(store: StoreSnapshot) -> list[CleanAccuracy]:
    """Table I: per network, the recorded test accuracy and the accuracy on the drawn pool (Wilson)."""
    labels = {im.image_id: im.label for im in store.images}
    out = []
    names = [m.model for m in store.models] or sorted({m for _, m in store.predictions})
    by_name = {m.model: m for m in store.models}
    for name in names:
        preds = [(iid, p) for (iid, m), (p, _) in store.predictions.items() if m == name and iid in labels]
        correct = sum(1 for iid, p in preds if p == labels[iid])
        row = by_name.get(name)
        out.append(CleanAccuracy(name, row.test_accuracy if row else None, row.test_count if row else None,
                                 correct, len(preds), _wilson_rate(correct, len(preds))))
    return out


def passed_over(images: Sequence[ImageRow]) -> tuple[int, list[tuple[str, int]]]:
    """(attacked images, [(reason, count)] of skipped pool images, most frequent first)."""
    attacked = sum(1 for im in images if im.status == "attacked")
    reasons = Counter((im.reason or "no reason recorded") for im in images if im.status != "attacked")
    return attacked, sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))


# ------------------------------------------------------------------------ region differences


@dataclass(frozen=True)
class RegionDifference:
    """``region_a − region_b`` for one network × pixels × metric, paired on the images both regions saw.

    ``b``/``c``: images where only A / only B succeeded (None for Targeted, which is not binary per image);
    ``p_value``: exact two-sided McNemar (None for Targeted). ``difference``: Newcombe's paired score interval
    for the per-image success metrics (valid with no discordant pairs), a paired bootstrap over images for
    Targeted (a per-image fraction of nine attacks).
    """

    model: str
    pixels: int
    metric: str
    region_a: str
    region_b: str
    images: int
    rate_a: float
    rate_b: float
    difference: stats.Interval
    b: int | None
    c: int | None
    p_value: float | None


def _paired_outcomes(rows: Sequence[AttackRow], metric: str) -> dict[str, float]:
    if metric == "untargeted1":
        return {k: float(v) for k, v in untargeted1_by_image(rows).items()}
    if metric == "untargeted2":
        return {k: float(v) for k, v in untargeted2_by_image(rows).items()}
    if metric == "targeted":
        return {k: s / n for k, (s, n) in targeted_by_image(rows).items()}
    raise ValueError(f"metric must be untargeted1, untargeted2 or targeted, got {metric!r}")


def region_difference(
    rows: Sequence[AttackRow],
    *,
    model: str,
    pixels: int,
    region_a: str,
    region_b: str,
    metric: str = "untargeted1",
    seed: int = stats.DEFAULT_SEED,
) -> RegionDifference | None:
    """The paired difference ``region_a − region_b`` (None when no image was attacked in both)."""
    a = _paired_outcomes(select(rows, model=model, pixels=pixels, region=region_a), metric)
    b = _paired_outcomes(select(rows, model=model, pixels=pixels, region=region_b), metric)
    ids = sorted(set(a) & set(b))
    if not ids:
        return None
    xa = np.array([a[i] for i in ids])
    xb = np.array([b[i] for i in ids])
    if metric == "targeted":
        diff = stats.bootstrap_paired_difference(xa, xb, seed=seed)
        nb = nc = None
        p = None
    else:
        nb, nc = stats.discordant_pairs(xa > 0.5, xb > 0.5)
        both = int(np.sum((xa > 0.5) & (xb > 0.5)))
        diff = stats.paired_difference_newcombe(both, nb, nc, len(ids) - both - nb - nc)
        p = stats.mcnemar_exact(nb, nc)
    return RegionDifference(model, pixels, metric, region_a, region_b, len(ids), float(xa.mean()),
                            float(xb.mean()), diff, nb, nc, p)


def region_pairs(regions: Iterable[str]) -> list[tuple[str, str]]:
    """The comparisons to make: whole−fg, whole−bg, fg−bg, then whole/fg/bg − each control region present."""
    rs = region_order(regions)
    core = [g for g in CORE_REGIONS if g in rs]
    pairs = [(a, b) for a, b in (("whole", "foreground"), ("whole", "background"), ("foreground", "background"))
             if a in rs and b in rs]
    for ctrl in (g for g in rs if g not in CORE_REGIONS):
        pairs += [(g, ctrl) for g in core]
    return pairs


def region_differences(
    rows: Sequence[AttackRow], *, metric: str = "untargeted1", seed: int = stats.DEFAULT_SEED
) -> list[RegionDifference]:
    """All :func:`region_pairs` for every network × pixels that has ``metric``'s attacks."""
    mode = "untargeted" if metric == "untargeted1" else "targeted"
    rel = [r for r in rows if r.mode == mode]
    out = []
    for model in sorted({r.model for r in rel}):
        for pixels in sorted({r.pixels for r in rel if r.model == model}):
            regions = {r.region for r in rel if r.model == model and r.pixels == pixels}
            for a, b in region_pairs(regions):
                d = region_difference(rel, model=model, pixels=pixels, region_a=a, region_b=b, metric=metric,
                                      seed=seed)
                if d is not None:
                    out.append(d)
    return out


# ------------------------------------------------------------------------------- figure data


def targets_reached_distribution(rows: Sequence[AttackRow], n_classes: int) -> np.ndarray:
    """Fig. 3: (n_classes,) int, images whose successful targeted attacks reach 0 … n_classes−1 targets."""
    counts = np.zeros(n_classes, dtype=np.int64)
    for s, _ in targeted_by_image(rows).values():
        counts[min(s, n_classes - 1)] += 1
    return counts


def class_pair_counts(rows: Sequence[AttackRow], n_classes: int, mode: str) -> np.ndarray:
    """Fig. 4 (untargeted: clean → adversarial class) / Fig. 5 (targeted: clean → target) counts of successful
    attacks, (n_classes, n_classes) int, rows = clean class."""
    if mode not in ("untargeted", "targeted"):
        raise ValueError(f"mode must be untargeted or targeted, got {mode!r}")
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    for r in rows:
        if r.mode != mode or not attack_succeeded(r) or r.clean_class is None:
            continue
        dest = r.target if mode == "targeted" else r.predicted
        if dest is not None and 0 <= r.clean_class < n_classes and 0 <= dest < n_classes:
            m[r.clean_class, dest] += 1
    return m


def images_successful_everywhere(rows: Sequence[AttackRow], regions: Sequence[str] = CORE_REGIONS) -> list[str]:
    """Fig. 6 selection: images whose 1-pixel untargeted attack succeeded in every region on every network."""
    rel = [r for r in rows if r.mode == "untargeted" and r.pixels == 1]
    models = sorted({r.model for r in rel})
    present = [g for g in regions if any(r.region == g for r in rel)]
    ok: set[str] | None = None
    for m in models:
        for g in present:
            s = {k for k, v in untargeted1_by_image(select(rel, model=m, region=g)).items() if v}
            ok = s if ok is None else ok & s
    return sorted(ok or set())


def fitness_curves(rows: Sequence[AttackRow]) -> list[np.ndarray]:
    """Fig. 6: the best-fitness history (float64 (G_i,)) of each row that recorded one."""
    return [np.asarray(r.record["fitness_history"], dtype=np.float64) for r in rows
            if r.record.get("fitness_history")]


def mean_curve(curves: Sequence[np.ndarray]) -> np.ndarray:
    """Mean of curves of unequal length, each carried forward at its last value (early stop), (max G,)."""
    if not curves:
        return np.zeros(0)
    n = max(len(c) for c in curves)
    padded = np.stack([np.concatenate([c, np.full(n - len(c), c[-1])]) for c in curves if len(c)])
    return np.asarray(padded.mean(axis=0))


# ----------------------------------------------------------------------------- paper values


def _parse_paper(block: str, columns: Sequence[tuple[str, int]]) -> dict[tuple[str, str, int, str], float]:
    out = {}
    for line in block.strip().splitlines():
        net, metric, *vals = line.split()
        for (region, pixels), v in zip(columns, vals, strict=True):
            out[(net, region, pixels, metric)] = float(v) / 100
    return out


_T2_COLUMNS = [(g, k) for g in CORE_REGIONS for k in (1, 3, 5)]
PAPER_TABLE_II: dict[tuple[str, str, int, str], float] = _parse_paper("""
AllConv untargeted1   12.80 47.00 51.20 11.80 40.20 41.20  6.20 19.40 20.60
AllConv confidence_u  74.01 70.12 75.35 71.38 72.75 77.13 74.71 72.32 80.09
AllConv untargeted2   12.60 48.20 55.00 11.80 43.60 45.80  6.60 22.20 24.00
AllConv targeted       2.93 13.11 16.84  2.91 11.42 13.27  1.78  5.51  6.84
AllConv confidence_t  67.51 61.75 65.99 66.72 64.05 68.58 68.09 66.51 72.07
NiN     untargeted1   21.00 67.80 75.40 19.20 59.80 60.00  9.80 35.60 35.20
NiN     confidence_u  66.40 63.77 66.23 63.67 64.25 69.29 64.14 64.65 70.14
NiN     untargeted2   21.00 69.60 76.80 19.40 64.00 69.20 11.40 40.80 45.00
NiN     targeted       5.91 30.62 38.56  5.56 25.07 28.49  2.71 13.84 16.07
NiN     confidence_t  59.50 53.41 54.40 59.57 54.71 57.72 59.79 56.41 60.70
VGG-16(C) untargeted1  43.40 88.40 92.00 41.60 79.60 79.00 18.20 51.40 48.20
VGG-16(C) confidence_u 70.06 69.98 73.80 70.00 71.62 74.82 67.52 68.36 72.40
VGG-16(C) untargeted2  44.60 90.80 93.20 42.80 87.00 90.60 20.20 61.60 66.80
VGG-16(C) targeted     22.78 68.13 70.80 22.33 61.24 60.64  8.82 35.04 36.80
VGG-16(C) confidence_t 59.38 51.55 53.66 59.94 53.39 57.85 58.40 54.54 59.26
""", _T2_COLUMNS)
"""The paper's Table II (CIFAR-10, 500 images): (network, region, pixels, metric) -> fraction."""

PAPER_TABLE_IV: dict[tuple[str, str], float] = {
    (net, region): float(v)
    for net, *vals in (line.split() for line in """
AllConv   1.63 1.77 3.03
NiN       1.36 1.48 2.45
VGG-16(C) 1.45 1.69 4.70
AlexNet   3.12 4.68 7.52
ResNet-50 1.00 1.00 1.20
VGG-16(I) 3.00 3.50 9.50
""".strip().splitlines())
    for region, v in zip(CORE_REGIONS, vals, strict=True)
}
"""The paper's Table IV: (network, region) -> mean generations of successful 1-pixel untargeted attacks."""

PAPER_TABLE_I: dict[str, float] = {"AllConv": 0.8571, "NiN": 0.8655, "VGG-16(C)": 0.8565}
"""The paper's Table I, CIFAR-10 clean test accuracy (fraction)."""


_T3_ORDER = [key for key, _ in TABLE3_METRICS]
PAPER_TABLE_III: dict[tuple[str, str, str], float] = {
    (net, region, metric): float(v) / 100
    for net, region, vals in (
        (line.split()[0], line.split()[1], line.split()[2:]) for line in """
AlexNet   whole      11.19 30.68 11.41 0.76 0.32 100.00 100.00 92.58 92.60
AlexNet   foreground 10.71 31.14 11.94 0.71 0.29  97.78 100.00 92.53 92.85
AlexNet   background  6.90 29.06  7.09 0.52 0.21 100.00 100.00 95.74 95.19
VGG-16(I) whole       3.81 38.12 13.83 0.39 0.16 100.00 100.00 95.06 95.51
VGG-16(I) foreground  3.81 38.40 14.45 0.37 0.15 100.00 100.00 95.09 95.48
VGG-16(I) background  1.43 42.32  8.65 0.23 0.10 100.00 100.00 96.96 96.92
ResNet-50 whole       3.57 44.92 21.29 0.38 0.13 100.00 100.00 93.40 93.81
ResNet-50 foreground  3.10 43.78 19.23 0.37 0.13 100.00 100.00 93.32 94.01
ResNet-50 background  0.95 45.44 11.02 0.21 0.08 100.00 100.00 95.17 96.71
""".strip().splitlines())
    for metric, v in zip(_T3_ORDER, vals, strict=True)
}
"""The paper's Table III (ImageNet, 420 images): (network, region, metric) -> fraction."""


def paper_imagenet_network(model: str) -> str | None:
    """The paper's ImageNet network matching one of our model names (None when none does)."""
    name = model.lower()
    if "imagenet" not in name:
        return None
    for prefix, net in (("alexnet", "AlexNet"), ("resnet50", "ResNet-50"), ("vgg16", "VGG-16(I)")):
        if name.startswith(prefix):
            return net
    return None


def paper_network(model: str, dataset: str) -> str | None:
    """The paper's network matching one of our model names on a CIFAR-10 store (None when none does)."""
    if "cifar" not in dataset.lower() and "cifar" not in model.lower():
        return None
    name = model.lower()
    for prefix, net in (("allconv", "AllConv"), ("nin", "NiN"), ("vgg16", "VGG-16(C)"), ("vgg-16", "VGG-16(C)")):
        if name.startswith(prefix):
            return net
    return None
