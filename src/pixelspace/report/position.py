"""Object or position: the scan's maps read at equal position (issue 29; ``docs/position.md``).

A region's per-image rate grows with its size and spread, and the CIFAR-10 foreground sits in the image centre,
so "the foreground flips more" can be the object or its place. Every function here is a pure function of stored
maps and masks (no model):

* :func:`pixel_table`: one row per (image, scanned pixel): flip, foreground membership, Euclidean distance to the
  image centre, distance to the nearest image edge and unsigned distance to the outline.
* :func:`object_effect`: a logistic model of flip on foreground membership with splines of the three position
  covariates, images as clusters (cluster-robust covariance, ``statsmodels``): the object's effect at equal
  position, as an odds ratio and as an average marginal effect in percentage points.
* :func:`equal_distance`: foreground against background pixels in bands of equal distance to the centre, each band
  and a band-standardised difference with a bootstrap over images.
* :func:`interior_exterior`: the foreground's interior (more than ``margin`` px inside the outline) against the
  background's exterior (more than ``margin`` px outside), which ignores the band where segmenters disagree.
* :func:`translation`: the maps of shifted images against the unshifted ones: does a pixel's vulnerability follow
  the content (``p + s``) or the position (``p``)?
* :func:`shift_rise`: where a shifted image's rise in vulnerability comes from: the content both placements share,
  the reflected strip the shift brings in, or (through a model adjusted for it) the clean confidence.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pixelspace.outcomes import VulnerabilityMap
from pixelspace.report import stats
from pixelspace.report.scan_metrics import signed_distance

#: Bands of Euclidean distance to the image centre (pixels) for :func:`equal_distance`: [low, high).
CENTRE_BANDS: tuple[tuple[float, float], ...] = (
    (0, 2), (2, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14), (14, 16), (16, 18), (18, math.inf),
)
SPLINE_DF = 4
#: a fitted flip probability below this marks an :class:`ObjectEffect` as quasi-separated
SEPARATED = 1e-10
MIN_MODEL_IMAGES = 30  # fewer clusters than this give no usable cluster-robust covariance for ~14 parameters


@dataclass(frozen=True)
class PixelTable:
    """The scanned pixels of one network's maps, one entry per (image, pixel).

    Attributes:
        image: int (N,) the image's index into ``image_ids`` (the cluster).
        flip: bool (N,) some colour of the scan's set changes the class at this pixel.
        foreground: bool (N,) the pixel is in the image's foreground mask.
        centre: float (N,) Euclidean distance to the image centre, px (the centre of a 32 × 32 image is 15.5, 15.5).
        border: float (N,) pixels to the nearest image edge (0 on the edge).
        outline: float (N,) unsigned chessboard distance to the other side of the outline (1 next to it).
        image_ids: the images, in cluster order.
    """

    image: np.ndarray
    flip: np.ndarray
    foreground: np.ndarray
    centre: np.ndarray
    border: np.ndarray
    outline: np.ndarray
    image_ids: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.flip.size)


def position_grids(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """float (H, W) Euclidean distance to the image centre and (H, W) distance to the nearest edge, in px."""
    h, w = shape
    r, c = np.mgrid[0:h, 0:w].astype(np.float64)
    centre = np.hypot(r - (h - 1) / 2, c - (w - 1) / 2)
    border = np.minimum(np.minimum(r, c), np.minimum(h - 1 - r, w - 1 - c))
    return centre, border


def pixel_table(maps: Sequence[VulnerabilityMap], foregrounds: Sequence[np.ndarray],
                image_ids: Sequence[str]) -> PixelTable:
    """:class:`PixelTable` of the scanned pixels of ``maps`` with their foreground masks (bool (H, W) each)."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("image", "flip", "fg", "centre", "border", "outline")}
    grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for k, (vmap, fg) in enumerate(zip(maps, foregrounds, strict=True)):
        fg = np.asarray(fg, dtype=bool)
        shape = (int(fg.shape[0]), int(fg.shape[1]))
        if shape not in grids:
            grids[shape] = position_grids(shape)
        centre, border = grids[shape]
        sel = vmap.scanned
        parts["image"].append(np.full(int(sel.sum()), k, dtype=np.int64))
        parts["flip"].append(vmap.flips[sel])
        parts["fg"].append(fg[sel])
        parts["centre"].append(centre[sel])
        parts["border"].append(border[sel])
        parts["outline"].append(np.abs(signed_distance(fg)[sel]).astype(np.float64))
    cat = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in parts.items()}
    return PixelTable(cat["image"].astype(np.int64), cat["flip"].astype(bool), cat["fg"].astype(bool),
                      cat["centre"].astype(np.float64), cat["border"].astype(np.float64),
                      cat["outline"].astype(np.float64), tuple(image_ids))


def concat_tables(tables: Sequence[PixelTable]) -> PixelTable:
    """One table from several (e.g. the same images unshifted and shifted); an image id that appears in more
    than one table stays one cluster."""
    ids: dict[str, int] = {}
    for t in tables:
        for i in t.image_ids:
            ids.setdefault(i, len(ids))
    image = np.concatenate([np.array([ids[i] for i in t.image_ids], dtype=np.int64)[t.image] if len(t) else
                            np.zeros(0, dtype=np.int64) for t in tables])
    def cat(field: str) -> np.ndarray:
        return np.concatenate([getattr(t, field) for t in tables])

    return PixelTable(image, cat("flip"), cat("foreground"), cat("centre"), cat("border"), cat("outline"),
                      tuple(ids))


# -- the per-pixel model ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectEffect:
    """The foreground's effect on flipping at equal position, for one network.

    Attributes:
        images, pixels: clusters and rows of the fit.
        odds_ratio: exp(coefficient of foreground membership) with its cluster-robust 95 % interval.
        marginal: the average marginal effect in percentage points (each pixel's predicted flip probability as
            foreground minus as background, averaged over the pixels), delta-method interval from the
            cluster-robust covariance.
        p_value: Wald test of the foreground coefficient (cluster-robust).
        naive: the unadjusted pixel flip rate of foreground minus background, pp, bootstrap over images.
        position_p: joint Wald test of all position terms (are they needed at all?).
        converged: whether the fit converged.
        separated: quasi-separation: some pixels' fitted flip probability is below :data:`SEPARATED` (a region of
            the position covariates without a flipping pixel, whose coefficients run off). The object's estimate is
            unaffected, but its cluster-robust interval then moves in its second digit with the convergence
            tolerance or the BLAS thread count.
    """

    model: str
    images: int
    pixels: int
    odds_ratio: stats.Interval
    marginal: stats.Interval
    p_value: float
    naive: stats.Interval
    position_p: float
    converged: bool
    separated: bool = False


def _design(t: PixelTable, df: int = SPLINE_DF,
            linear: Mapping[str, np.ndarray] | None = None) -> tuple[np.ndarray, list[str]]:
    """Design matrix: intercept, foreground, then B-spline bases of centre, border and outline distance, then
    each ``linear`` covariate (float (N,) per name) as it is."""
    from patsy import dmatrix

    cols = {"centre": t.centre, "border": t.border, "outline": t.outline}
    terms = [f"bs({name}, df={df}, degree=3)" for name in cols if np.unique(cols[name]).size > df]
    if terms:
        base = np.asarray(dmatrix(" + ".join(terms), cols, return_type="matrix"), dtype=np.float64)  # intercept 1st
    else:
        base = np.ones((len(t), 1))
    more = [np.asarray(v, dtype=np.float64) for v in (linear or {}).values()]
    x = np.column_stack([base[:, :1], t.foreground.astype(np.float64), base[:, 1:], *more])
    names = ["intercept", "foreground", *[f"position{i}" for i in range(x.shape[1] - 2)]]
    return x, names


def object_effect(t: PixelTable, model: str = "", *, df: int = SPLINE_DF, seed: int = stats.DEFAULT_SEED,
                  linear: Mapping[str, np.ndarray] | None = None) -> ObjectEffect:
    """Fit flip ~ foreground + splines(centre, border, outline) by logistic regression, images as clusters.

    The outline enters as an unsigned distance, so pixels next to the outline on either side are compared; a
    signed distance would absorb the foreground's own effect (its sign is membership). ``df``: spline degrees of
    freedom per distance (4 in the report; ``benchmarks/position_model.py`` varies it). ``linear``: more position
    covariates, float (N,) per name, entered linearly and counted among the position terms (e.g. the pixel's
    offset from the centre in rows and in columns: a gradient by direction, which distances cannot express; the
    report uses none).

    Raises:
        ValueError: no rows, or the foreground or the background has no pixel.
    """
    import statsmodels.api as sm

    if len(t) == 0 or t.foreground.all() or not t.foreground.any():
        raise ValueError("object_effect needs foreground and background pixels")
    images = int(np.unique(t.image).size)
    if images < MIN_MODEL_IMAGES:
        raise ValueError(f"object_effect needs at least {MIN_MODEL_IMAGES} images (clusters), got {images}")
    x, names = _design(t, df, linear)
    glm = sm.GLM(t.flip.astype(np.float64), x, family=sm.families.Binomial())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' overflow notes on near-separated pixels; checked below
        res = glm.fit(cov_type="cluster", cov_kwds={"groups": t.image})
    beta, cov = np.asarray(res.params), np.asarray(res.cov_params())
    se = math.sqrt(cov[1, 1])
    z = 1.959963984540054
    odds = stats.Interval(math.exp(beta[1]), math.exp(beta[1] - z * se), math.exp(beta[1] + z * se),
                          "logistic model, cluster-robust (images)")

    x1, x0 = x.copy(), x.copy()
    x1[:, 1], x0[:, 1] = 1.0, 0.0

    def ame(b: np.ndarray) -> float:
        return float(np.mean(_expit(x1 @ b) - _expit(x0 @ b)))

    p1, p0 = _expit(x1 @ beta), _expit(x0 @ beta)
    grad = (x1 * (p1 * (1 - p1))[:, None] - x0 * (p0 * (1 - p0))[:, None]).mean(axis=0)
    var = float(grad @ cov @ grad)
    ame_se = math.sqrt(var) if var > 0 else math.nan  # a singular covariance (collinear splines): no interval
    value = ame(beta)
    marginal = stats.Interval(100 * value, 100 * (value - z * ame_se), 100 * (value + z * ame_se),
                              "average marginal effect, delta method, cluster-robust")
    p_value = float(np.asarray(res.pvalues)[1])
    pos = [i for i, n in enumerate(names) if n.startswith("position")]
    if pos:
        r = np.zeros((len(pos), len(beta)))
        r[np.arange(len(pos)), pos] = 1.0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                position_p = float(np.asarray(res.wald_test(r, scalar=True).pvalue))
        except ValueError:  # a rank-deficient cluster covariance (few images): no joint test
            position_p = math.nan
    else:
        position_p = math.nan
    naive = _naive_difference(t, seed=seed)
    separated = bool(np.min(np.asarray(res.fittedvalues)) < SEPARATED)
    return ObjectEffect(model, int(np.unique(t.image).size), len(t), odds, marginal, p_value, naive,
                        position_p, bool(getattr(res, "converged", True)), separated)


def _expit(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def _cluster_draws(n: int, resamples: int, seed: int) -> np.ndarray:
    """float (resamples, n): how often each image is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    weights = np.zeros((resamples, n), dtype=np.float64)
    np.add.at(weights, (np.repeat(np.arange(resamples), n), idx.ravel()), 1.0)
    return weights


def _naive_difference(t: PixelTable, *, seed: int, resamples: int = stats.DEFAULT_RESAMPLES) -> stats.Interval:
    """Pooled pixel flip rate, foreground − background, pp; percentile bootstrap over images."""
    n = int(t.image.max()) + 1 if len(t) else 0
    counts = np.zeros((n, 4))
    for j, (mask, flip) in enumerate(((t.foreground, True), (t.foreground, False), (~t.foreground, True),
                                      (~t.foreground, False))):
        sel = mask & (t.flip == flip)
        counts[:, j] = np.bincount(t.image[sel], minlength=n)
    w = _cluster_draws(n, resamples, seed)
    boot = w @ counts

    def diff(c: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return 100 * (c[..., 0] / (c[..., 0] + c[..., 1]) - c[..., 2] / (c[..., 2] + c[..., 3]))

    est = float(diff(counts.sum(axis=0)))
    lo, hi = np.nanpercentile(diff(boot), [2.5, 97.5])
    return stats.Interval(est, float(lo), float(hi), "pooled pixels, bootstrap over images")


# -- equal distance to the centre ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DistanceRow:
    """Foreground and background pixels in one band of distance to the image centre.

    Attributes:
        low, high: the band, px from the centre ([low, high)); fg_pixels, fg_flips, bg_pixels, bg_flips: counts
        over the images; difference: fg − bg flip rate in pp with a bootstrap-over-images interval (NaN when a
        side is empty).
    """

    low: float
    high: float
    fg_pixels: int
    fg_flips: int
    bg_pixels: int
    bg_flips: int
    difference: stats.Interval


@dataclass(frozen=True)
class EqualDistance:
    """:class:`DistanceRow` per band, and the bands' fg − bg differences averaged with weights proportional to
    each band's pixels (bands with both sides only), bootstrap over images; ``fg_ahead``: bands where the
    foreground's rate is higher, of ``bands_compared``."""

    model: str
    images: int
    rows: tuple[DistanceRow, ...]
    standardised: stats.Interval
    fg_ahead: int
    bands_compared: int


def equal_distance(t: PixelTable, model: str = "", bands: Sequence[tuple[float, float]] = CENTRE_BANDS, *,
                   seed: int = stats.DEFAULT_SEED, resamples: int = stats.DEFAULT_RESAMPLES) -> EqualDistance:
    """Foreground vs background flip rates at equal distance from the image centre (see :class:`EqualDistance`)."""
    n = int(t.image.max()) + 1 if len(t) else 0
    counts = np.zeros((n, len(bands), 4))
    for b, (lo, hi) in enumerate(bands):
        inside = (t.centre >= lo) & (t.centre < hi)
        for j, sel in enumerate((inside & t.foreground, inside & t.foreground & t.flip, inside & ~t.foreground,
                                 inside & ~t.foreground & t.flip)):
            counts[:, b, j] = np.bincount(t.image[sel], minlength=n)
    boot = np.einsum("rn,nbj->rbj", _cluster_draws(n, resamples, seed), counts)
    total = counts.sum(axis=0)

    def rates(c: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return 100 * (c[..., 1] / c[..., 0] - c[..., 3] / c[..., 2])

    est, draws = rates(total), rates(boot)
    both = (total[:, 0] > 0) & (total[:, 2] > 0)
    weight = np.where(both, total[:, 0] + total[:, 2], 0.0)
    rows = []
    for b, (lo, hi) in enumerate(bands):
        if both[b]:
            d_lo, d_hi = np.nanpercentile(draws[:, b], [2.5, 97.5])
            diff = stats.Interval(float(est[b]), float(d_lo), float(d_hi), "bootstrap over images")
        else:
            diff = stats.Interval(math.nan, math.nan, math.nan, "one side empty")
        rows.append(DistanceRow(float(lo), float(hi), int(total[b, 0]), int(total[b, 1]), int(total[b, 2]),
                                int(total[b, 3]), diff))
    if weight.sum() > 0:
        w = weight / weight.sum()
        std_est = float(np.nansum(est * w))
        std_draws = np.nansum(np.where(both, draws, 0.0) * w, axis=1)
        s_lo, s_hi = np.percentile(std_draws, [2.5, 97.5])
        standardised = stats.Interval(std_est, float(s_lo), float(s_hi), "band-standardised, bootstrap over images")
    else:
        standardised = stats.Interval(math.nan, math.nan, math.nan, "no band with both sides")
    ahead = int(np.sum(est[both] > 0))
    return EqualDistance(model, n, tuple(rows), standardised, ahead, int(both.sum()))


# -- interior against exterior ------------------------------------------------------------------------------
@dataclass(frozen=True)
class InteriorExterior:
    """The foreground's interior against the background's exterior, the outline band of ``margin`` px on each
    side left out.

    Attributes:
        images: images with both an interior and an exterior pixel.
        interior, exterior: per-image success rates (some pixel of the part flips), Wilson intervals as
            (value, low, high) fractions.
        difference: interior − exterior per image, Newcombe's paired interval (fractions); p_value: exact McNemar.
        density: mean per-image flip share, interior − exterior, pp, paired bootstrap over images.
    """

    model: str
    margin: int
    images: int
    interior: tuple[float, float, float]
    exterior: tuple[float, float, float]
    difference: stats.Interval
    p_value: float | None
    density: stats.Interval


def interior_exterior(maps: Sequence[VulnerabilityMap], foregrounds: Sequence[np.ndarray], model: str = "",
                      margin: int = 2, *, seed: int = stats.DEFAULT_SEED) -> InteriorExterior:
    """Interior (signed distance < −margin) against exterior (> margin) per image and per pixel."""
    ins, outs, d_in, d_out = [], [], [], []
    for vmap, fg in zip(maps, foregrounds, strict=True):
        d = signed_distance(np.asarray(fg, dtype=bool))
        interior, exterior = (d < -margin) & vmap.scanned, (d > margin) & vmap.scanned
        if not interior.any() or not exterior.any():
            continue
        flips = vmap.flips
        ins.append(bool((flips & interior).any()))
        outs.append(bool((flips & exterior).any()))
        d_in.append(float((flips & interior).sum() / interior.sum()))
        d_out.append(float((flips & exterior).sum() / exterior.sum()))
    a, b = np.array(ins, dtype=bool), np.array(outs, dtype=bool)
    n = int(a.size)
    only_a, only_b = stats.discordant_pairs(a, b) if n else (0, 0)
    both = int(np.sum(a & b))
    diff = stats.paired_difference_newcombe(both, only_a, only_b, n - both - only_a - only_b)

    def rate(x: np.ndarray) -> tuple[float, float, float]:
        lo, hi = stats.wilson_interval(int(x.sum()), int(x.size))
        return (float(x.mean()) if x.size else math.nan, lo, hi)

    dens = stats.bootstrap_paired_difference(100 * np.array(d_in), 100 * np.array(d_out), seed=seed)
    return InteriorExterior(model, margin, n, rate(a), rate(b), diff,
                            stats.mcnemar_exact(only_a, only_b) if n else None, dens)


# -- the translation experiment -----------------------------------------------------------------------------
def _overlap(shape: tuple[int, int], shift: tuple[int, int]) -> tuple[slice, slice, slice, slice]:
    """Slices (rows, cols) of p and of p + s over the pixels p with both p and p + s inside the image."""
    (h, w), (dy, dx) = shape, shift
    r0, r1 = max(0, -dy), min(h, h - dy)
    c0, c1 = max(0, -dx), min(w, w - dx)
    return slice(r0, r1), slice(c0, c1), slice(r0 + dy, r1 + dy), slice(c0 + dx, c1 + dx)


def vulnerability(vmap: VulnerabilityMap) -> np.ndarray:
    """float (H, W): the largest drop of the class-of-interest probability over the colour set (NaN unscanned)."""
    return (vmap.clean_probability - vmap.min_probability).astype(np.float64)


@dataclass(frozen=True)
class Translation:
    """Shifted maps against unshifted ones for one network (same images, pixels p with p and p + s inside).

    Attributes:
        images: images compared (scanned in both stores; the shifted image still correctly classified).
        content_r, position_r: mean over images of the Pearson correlation between the unshifted map's
            vulnerability at p and the shifted map's at p + s (content) or at p (position), bootstrap intervals.
        content_minus_position: the paired difference of the two correlations (bootstrap over images).
        flips: pixels p flipping unshifted, pooled; content_kept / position_kept: of those, the share whose
            p + s (content) / p (position) flips in the shifted map (pp, bootstrap over images).
    """

    model: str
    shift: tuple[int, int]
    images: int
    content_r: stats.Interval
    position_r: stats.Interval
    content_minus_position: stats.Interval
    flips: int
    content_kept: stats.Interval
    position_kept: stats.Interval


def translation(original: Mapping[str, VulnerabilityMap], shifted: Mapping[str, VulnerabilityMap],
                shift: tuple[int, int], model: str = "", *, seed: int = stats.DEFAULT_SEED,
                resamples: int = stats.DEFAULT_RESAMPLES) -> Translation:
    """:class:`Translation` over the images (ids) in both ``original`` and ``shifted`` whole-image maps."""
    ids = sorted(set(original) & set(shifted))
    r_content, r_position, kept = [], [], []
    for i in ids:
        a, b = original[i], shifted[i]
        shape = (int(a.scanned.shape[0]), int(a.scanned.shape[1]))
        pr, pc, qr, qc = _overlap(shape, shift)
        va, vb = vulnerability(a), vulnerability(b)
        base, content, position = va[pr, pc].ravel(), vb[qr, qc].ravel(), vb[pr, pc].ravel()
        ok = np.isfinite(base) & np.isfinite(content) & np.isfinite(position)
        r_content.append(_pearson(base[ok], content[ok]))
        r_position.append(_pearson(base[ok], position[ok]))
        fa, fb = a.flips, b.flips
        src = fa[pr, pc]
        kept.append((int(src.sum()), int((src & fb[qr, qc]).sum()), int((src & fb[pr, pc]).sum())))
    rc, rp = np.array(r_content), np.array(r_position)
    good = np.isfinite(rc) & np.isfinite(rp)
    rc, rp = rc[good], rp[good]
    counts = np.array(kept, dtype=np.float64).reshape(-1, 3)
    w = _cluster_draws(len(counts), resamples, seed)
    boot = w @ counts

    def share(c: np.ndarray, j: int) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return 100 * c[..., j] / c[..., 0]

    def interval(est: float, draws: np.ndarray, method: str) -> stats.Interval:
        lo, hi = np.nanpercentile(draws, [2.5, 97.5]) if draws.size else (math.nan, math.nan)
        return stats.Interval(est, float(lo), float(hi), method)

    total = counts.sum(axis=0)
    return Translation(
        model, (int(shift[0]), int(shift[1])), len(ids),
        stats.bootstrap_mean(rc, seed=seed), stats.bootstrap_mean(rp, seed=seed),
        stats.bootstrap_paired_difference(rc, rp, seed=seed), int(total[0]),
        interval(float(share(total, 1)), share(boot, 1), "pooled, bootstrap over images"),
        interval(float(share(total, 2)), share(boot, 2), "pooled, bootstrap over images"),
    )


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


#: clean probabilities are clipped to [CLIP, 1 - CLIP] before their log-odds enter :func:`shift_rise`'s model
#: (a float32 softmax can round to exactly 1)
CLIP = 1e-6


@dataclass(frozen=True)
class ShiftRise:
    """Where a shift's rise in vulnerability comes from, for one network (the images scanned in both stores).

    Attributes:
        images: images compared.
        content_unshifted, content_shifted: bool (images,), fooled through the pixels whose content both placements
            share (p unshifted, p + s shifted; per-image success restricted to that content).
        strip_only: images the shifted scan fools only through the strip of reflected pixels the shift brings in
            (no content pixel flips).
        share_content_unshifted, share_content_shifted, share_strip: per-pixel flip share (pp, mean over images,
            bootstrap) of the shared content unshifted and shifted, and of the strip shifted.
        clean_change: the clean probability of the class, shifted − unshifted (pp, paired bootstrap over images).
        odds_ratio, adjusted_odds_ratio: the odds of being fooled through the shared content, shifted against
            unshifted, from a logistic model of the 2 × images outcomes without and with the clean probability's
            log-odds as a covariate (cluster-robust over images); an association, not a causal decomposition.
    """

    model: str
    images: int
    content_unshifted: np.ndarray
    content_shifted: np.ndarray
    strip_only: int
    share_content_unshifted: stats.Interval
    share_content_shifted: stats.Interval
    share_strip: stats.Interval
    clean_change: stats.Interval
    odds_ratio: stats.Interval
    adjusted_odds_ratio: stats.Interval


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, CLIP, 1 - CLIP)
    return np.log(q / (1 - q))


def _shift_odds(fooled: np.ndarray, shifted: np.ndarray, groups: np.ndarray,
                covariate: np.ndarray | None) -> stats.Interval:
    """exp(coefficient of ``shifted``) with its cluster-robust 95 % interval; NaN where it cannot be fitted."""
    import statsmodels.api as sm

    cols = [np.ones_like(shifted), shifted] + ([covariate] if covariate is not None else [])
    x = np.column_stack(cols).astype(np.float64)
    nan = stats.Interval(math.nan, math.nan, math.nan, "logistic model, cluster-robust (images)")
    if fooled.all() or not fooled.any() or np.unique(groups).size < MIN_MODEL_IMAGES:
        return nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = sm.GLM(fooled.astype(np.float64), x, family=sm.families.Binomial()).fit(
                cov_type="cluster", cov_kwds={"groups": groups})
        except (ValueError, np.linalg.LinAlgError):
            return nan
    b, se = float(np.asarray(res.params)[1]), float(np.asarray(res.bse)[1])
    z = 1.959963984540054
    return stats.Interval(math.exp(b), math.exp(b - z * se), math.exp(b + z * se), nan.method)


def shift_rise(original: Mapping[str, VulnerabilityMap], shifted: Mapping[str, VulnerabilityMap],
               shift: tuple[int, int], model: str = "", *, seed: int = stats.DEFAULT_SEED,
               in_place: bool = False) -> ShiftRise:
    """:class:`ShiftRise` over the images (ids) in both ``original`` and ``shifted`` whole-image maps.

    The shared content is the pixels p with p and p + s inside the image (:func:`translation`'s overlap); the strip
    is the rest of the shifted image, whose pixels the padding made. With ``in_place`` the shifted maps are of the
    in-place control (``pixelspace.data.shift.place_images(x, s, "in-place")``): the shared content is at p in
    both, and the strip is the control's far side, where its mirror replaced the content the shift pushes out.
    """
    ids = sorted(set(original) & set(shifted))
    a_any, b_any, strip_only = [], [], 0
    shares: list[tuple[float, float, float]] = []
    clean: list[tuple[float, float]] = []
    for i in ids:
        a, b = original[i], shifted[i]
        pr, pc, qr, qc = _overlap((int(a.scanned.shape[0]), int(a.scanned.shape[1])), shift)
        if in_place:
            qr, qc = pr, pc
        fa, fb = a.flips, b.flips
        strip = np.ones_like(fb, dtype=bool)
        strip[qr, qc] = False
        content_a, content_b = fa[pr, pc], fb[qr, qc]
        a_any.append(bool(content_a.any()))
        b_any.append(bool(content_b.any()))
        strip_only += int(bool(fb[strip].any()) and not content_b.any())
        shares.append((100 * float(content_a.mean()), 100 * float(content_b.mean()),
                       100 * float(fb[strip].mean()) if strip.any() else math.nan))
        clean.append((a.clean_probability, b.clean_probability))
    sh = np.array(shares, dtype=np.float64).reshape(-1, 3)
    cp = np.array(clean, dtype=np.float64).reshape(-1, 2)
    ua, ub = np.array(a_any, dtype=bool), np.array(b_any, dtype=bool)
    fooled = np.concatenate([ua, ub])
    placed = np.concatenate([np.zeros(len(ids)), np.ones(len(ids))])
    groups = np.tile(np.arange(len(ids)), 2)
    logits = _logit(np.concatenate([cp[:, 0], cp[:, 1]]))
    return ShiftRise(
        model, len(ids), ua, ub, strip_only,
        stats.bootstrap_mean(sh[:, 0], seed=seed), stats.bootstrap_mean(sh[:, 1], seed=seed),
        stats.bootstrap_mean(sh[:, 2][np.isfinite(sh[:, 2])], seed=seed),
        stats.bootstrap_paired_difference(100 * cp[:, 1], 100 * cp[:, 0], seed=seed),
        _shift_odds(fooled, placed, groups, None), _shift_odds(fooled, placed, groups, logits))

