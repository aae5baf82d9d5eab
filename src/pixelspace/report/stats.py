"""The report's statistics: Wilson intervals, bootstraps over images, the exact McNemar test.

Everything is deterministic: bootstraps draw from ``np.random.default_rng(seed)``, never from a global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054
"""The two-sided 95 % standard normal quantile."""

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Interval:
    """A point estimate with a 95 % interval; ``low``/``high`` are NaN when undefined (no data)."""

    value: float
    low: float
    high: float
    method: str


def wilson_interval(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``successes`` out of ``total`` (a fraction in [0, 1]; NaNs when total is 0)."""
    if total < 0 or not 0 <= successes <= total:
        raise ValueError(f"need 0 <= successes <= total, got {successes} of {total}")
    if total == 0:
        return math.nan, math.nan
    p = successes / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z / (1 + z2 / total) * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return max(0.0, centre - half), min(1.0, centre + half)


def _percentile_interval(draws: np.ndarray) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return math.nan, math.nan
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


def _resample_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) int64 indices drawn with replacement from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(resamples, n))


def bootstrap_ratio(
    numerators: Sequence[float] | np.ndarray,
    denominators: Sequence[float] | np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Interval:
    """Ratio of sums over clusters (images) with a percentile bootstrap that resamples the clusters.

    Args:
        numerators: (n,) per-image numerators, e.g. successful targeted attacks of that image.
        denominators: (n,) per-image denominators, e.g. targeted attacks of that image (9 when complete).
    Returns the ratio ``sum(num) / sum(den)`` and its 95 % percentile interval (NaN with no data).
    """
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    if num.shape != den.shape or num.ndim != 1:
        raise ValueError(f"numerators and denominators must be equal-length 1-D, got {num.shape} and {den.shape}")
    if num.size == 0 or den.sum() == 0:
        return Interval(math.nan, math.nan, math.nan, "bootstrap over images")
    idx = _resample_indices(num.size, resamples, seed)
    sums_den = den[idx].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = num[idx].sum(axis=1) / sums_den
    lo, hi = _percentile_interval(draws)
    return Interval(float(num.sum() / den.sum()), lo, hi, "bootstrap over images")


def bootstrap_mean(
    values: Sequence[float] | np.ndarray, *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> Interval:
    """Mean of ``values`` (n,) with a 95 % percentile bootstrap interval (NaN with no data)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return Interval(math.nan, math.nan, math.nan, "bootstrap")
    draws = v[_resample_indices(v.size, resamples, seed)].mean(axis=1)
    lo, hi = _percentile_interval(draws)
    return Interval(float(v.mean()), lo, hi, "bootstrap")


def bootstrap_paired_difference(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Interval:
    """``mean(a) - mean(b)`` for values paired by image, bootstrapping the images (rows stay paired).

    Args:
        a, b: (n,) per-image outcomes in the two regions (0/1 successes, or per-image success fractions).
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired samples must be equal-length 1-D, got {x.shape} and {y.shape}")
    if x.size == 0:
        return Interval(math.nan, math.nan, math.nan, "paired bootstrap over images")
    d = x - y
    draws = d[_resample_indices(d.size, resamples, seed)].mean(axis=1)
    lo, hi = _percentile_interval(draws)
    return Interval(float(d.mean()), lo, hi, "paired bootstrap over images")


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts.

    ``b`` = pairs where only the first condition succeeded, ``c`` = only the second. Under the null each
    discordant pair goes either way with probability 1/2, so p = min(1, 2 P(X <= min(b, c))) for
    X ~ Binomial(b + c, 1/2); p = 1 when there are no discordant pairs.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2.0 * tail / 2**n)


def discordant_pairs(a: Sequence[bool] | np.ndarray, b: Sequence[bool] | np.ndarray) -> tuple[int, int]:
    """(b, c) for paired binary outcomes: count of (a and not b), count of (b and not a)."""
    x = np.asarray(a, dtype=bool)
    y = np.asarray(b, dtype=bool)
    if x.shape != y.shape:
        raise ValueError(f"paired outcomes must have equal shapes, got {x.shape} and {y.shape}")
    return int(np.sum(x & ~y)), int(np.sum(~x & y))
