"""The report's statistics: Wilson intervals, bootstraps over images, the exact McNemar test.

Everything is deterministic: bootstraps draw from ``np.random.default_rng(seed)``, never from a global RNG.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
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


# ------------------------------------------------------------------ small-count paired statistics


def paired_difference_newcombe(both: int, only_a: int, only_b: int, neither: int, z: float = Z95) -> Interval:
    """``p_a − p_b`` for paired binary outcomes with Newcombe's (1998) score interval (his method 10).

    Args:
        both, only_a, only_b, neither: the paired 2×2 table (images where both, only A, only B, neither
            succeeded).
    Returns the difference (fraction) and its 95 % interval. The interval combines the Wilson intervals of the
    two marginal rates with the correlation of the pairs, so it stays valid, and not empty, when there are
    no or few discordant pairs (e.g. 0 of 40 in both: ±8.8 points). NaNs when there are no pairs.
    """
    cells = (both, only_a, only_b, neither)
    if min(cells) < 0:
        raise ValueError(f"paired counts must be >= 0, got {cells}")
    n = sum(cells)
    method = "Newcombe score (paired)"
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, method)
    pa, pb = (both + only_a) / n, (both + only_b) / n
    la, ua = wilson_interval(both + only_a, n, z)
    lb, ub = wilson_interval(both + only_b, n, z)
    product = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = 0.0
    if product > 0:
        cross = both * neither - only_a * only_b
        corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
        phi = corrected / math.sqrt(product)
    d = pa - pb
    low = d - math.sqrt(max(0.0, (pa - la) ** 2 - 2 * phi * (pa - la) * (ub - pb) + (ub - pb) ** 2))
    high = d + math.sqrt(max(0.0, (pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2))
    return Interval(d, max(-1.0, low), min(1.0, high), method)


def clopper_pearson(successes: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval for ``successes`` of ``total`` (fractions; NaNs when total is 0).

    Each limit solves a binomial tail equation by bisection (60 steps: far below display precision).
    """
    if total < 0 or not 0 <= successes <= total:
        raise ValueError(f"need 0 <= successes <= total, got {successes} of {total}")
    if total == 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2

    def solve(f: Callable[[float], float]) -> float:  # f increasing in p, root in [0, 1]
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return (lo + hi) / 2

    low = 0.0 if successes == 0 else solve(lambda p: _binom_sf(successes, total, p) - tail)
    high = 1.0 if successes == total else solve(lambda p: tail - _binom_cdf(successes, total, p))
    return low, high


@functools.lru_cache(maxsize=1024)
def _log_choose(n: int) -> np.ndarray:
    """(n + 1,) log C(n, i) for i = 0 … n (cached: the power computations ask for the same n many times)."""
    out = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(n + 1)])
    out.flags.writeable = False
    return out


def _binom_pmf(n: int, p: float) -> np.ndarray:
    """(n + 1,) Binomial(n, p) probabilities, computed in log space (stable for n in the thousands)."""
    k = np.arange(n + 1)
    if p <= 0.0 or p >= 1.0:
        out = np.zeros(n + 1)
        out[0 if p <= 0.0 else n] = 1.0
        return out
    return np.exp(_log_choose(n) + k * math.log(p) + (n - k) * math.log1p(-p))


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return float(min(1.0, _binom_pmf(n, p)[: k + 1].sum()))


def _binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return float(min(1.0, _binom_pmf(n, p)[k:].sum()))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (reject where adjusted < alpha).

    The i-th smallest p is multiplied by (m − i + 1) (i from 1), capped at 1, and made non-decreasing.
    """
    m = len(p_values)
    if any(not 0.0 <= p <= 1.0 for p in p_values):
        raise ValueError(f"p-values must lie in [0, 1], got {list(p_values)}")
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def mcnemar_power(n: int, discordant: float, difference: float, alpha: float = 0.05) -> float:
    """Power of the two-sided exact McNemar test (:func:`mcnemar_exact`) at level ``alpha``.

    Args:
        n: pairs (images).
        discordant: ψ, the chance that a pair is discordant (only A or only B succeeds).
        difference: δ = P(only A) − P(only B), the paired difference of the two rates (|δ| <= ψ).
    Exact: the discordant count D ~ Binomial(n, ψ); given D, the only-A count ~ Binomial(D, (ψ + δ) / 2ψ);
    the power sums the probability of every (D, only-A) whose exact p-value is below ``alpha``.
    """
    if n < 0 or not 0.0 <= discordant <= 1.0 or abs(difference) > discordant + 1e-12:
        raise ValueError(f"need n >= 0 and |difference| <= discordant <= 1, got {n}, {discordant}, {difference}")
    if n == 0 or discordant == 0.0:
        return 0.0
    q = min(1.0, max(0.0, (discordant + difference) / (2 * discordant)))
    p_d = _binom_pmf(n, discordant)
    power = 0.0
    for d in range(1, n + 1):
        if p_d[d] < 1e-15:
            continue
        reject = _mcnemar_rejects(d, alpha)
        if reject.any():
            power += p_d[d] * float(_binom_pmf(d, q)[reject].sum())
    return power


@functools.lru_cache(maxsize=4096)
def _mcnemar_rejects(d: int, alpha: float) -> np.ndarray:
    """bool (d + 1,): the only-A counts of ``d`` discordant pairs whose exact McNemar p is below ``alpha``."""
    lower_tail = np.cumsum(_binom_pmf(d, 0.5))  # P(X <= k) under the null
    out = np.array([min(1.0, 2 * lower_tail[min(k, d - k)]) < alpha for k in range(d + 1)])
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=1024)
def detectable_difference(n: int, discordant: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest paired difference δ the exact McNemar test at ``alpha`` detects with ``power`` on ``n`` pairs.

    The discordant share is taken as max(``discordant``, δ) (at least every discordant pair must go one way),
    so the answer exists for any observed share, zero included. Returns NaN when no δ <= 1 reaches the power
    (too few pairs). Bisection to 0.1 percentage point.
    """
    if n <= 0:
        return math.nan

    def ok(delta: float) -> bool:
        return mcnemar_power(n, max(discordant, delta), delta, alpha) >= power

    if not ok(1.0):
        return math.nan
    lo, hi = 0.0, 1.0
    while hi - lo > 5e-4:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact p for the 2×2 table [[a, b], [c, d]] (rows: groups, columns: success/failure).

    Sums the hypergeometric probabilities of every table with the same margins that is no more likely than the
    observed one (relative tolerance 1e-7, as is usual).
    """
    if min(a, b, c, d) < 0:
        raise ValueError(f"counts must be >= 0, got {(a, b, c, d)}")
    row1, col1, n = a + b, a + c, a + b + c + d
    if n == 0:
        return 1.0

    def prob(k: int) -> float:
        return math.comb(col1, k) * math.comb(n - col1, row1 - k) / math.comb(n, row1)

    observed = prob(a)
    ks = range(max(0, row1 + col1 - n), min(row1, col1) + 1)
    return min(1.0, sum(p for p in map(prob, ks) if p <= observed * (1 + 1e-7)))
