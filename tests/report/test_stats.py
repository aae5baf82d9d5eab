"""Statistics against values worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pixelspace.report import stats


def test_wilson_known_values() -> None:
    # 3 of 4: centre (0.75 + z²/8) / (1 + z²/4), half-width z/(1 + z²/4) * sqrt(3/64 + z²/64)
    lo, hi = stats.wilson_interval(3, 4)
    assert lo == pytest.approx(0.30064, abs=1e-4)
    assert hi == pytest.approx(0.95441, abs=1e-4)
    # 0 of 10: [0, z² / (10 + z²)]
    lo, hi = stats.wilson_interval(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(stats.Z95**2 / (10 + stats.Z95**2))
    assert hi == pytest.approx(0.27753, abs=1e-5)
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))
    with pytest.raises(ValueError):
        stats.wilson_interval(5, 4)


def test_mcnemar_exact_known_values() -> None:
    # b=1, c=8: 2 * (C(9,0) + C(9,1)) / 2^9 = 20 / 512
    assert stats.mcnemar_exact(1, 8) == 0.0390625
    assert stats.mcnemar_exact(8, 1) == 0.0390625
    assert stats.mcnemar_exact(0, 0) == 1.0
    assert stats.mcnemar_exact(3, 3) == 1.0  # capped at 1
    assert stats.mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert stats.discordant_pairs(np.array([1, 1, 0, 0, 1]), np.array([1, 0, 1, 0, 0])) == (2, 1)


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    num = np.array([0, 1, 2, 0, 3, 1, 0, 0, 2, 1])
    den = np.full(10, 9)
    a = stats.bootstrap_ratio(num, den, seed=3)
    b = stats.bootstrap_ratio(num, den, seed=3)
    assert a == b
    assert a.value == pytest.approx(10 / 90)
    assert a.low <= a.value <= a.high
    before = np.random.random_sample.__self__.get_state(legacy=False)  # type: ignore[attr-defined]
    stats.bootstrap_paired_difference([1, 0, 1], [0, 0, 1])
    after = np.random.random_sample.__self__.get_state(legacy=False)  # type: ignore[attr-defined]
    assert json.dumps(before, default=str) == json.dumps(after, default=str)  # the global RNG is untouched


def test_bootstrap_degenerate_inputs() -> None:
    assert math.isnan(stats.bootstrap_ratio([], []).value)
    d = stats.bootstrap_paired_difference([1, 1, 1], [0, 0, 0])
    assert (d.value, d.low, d.high) == (1.0, 1.0, 1.0)
    m = stats.bootstrap_mean([0.5, 0.5])
    assert (m.value, m.low, m.high) == (0.5, 0.5, 0.5)


def test_newcombe_paired_matches_published_worked_value() -> None:
    # Cavo et al. (2012) as worked in Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables"
    # (2017), ch. 8: both 59, only A 6, only B 16, neither 80 -> -0.0621 (95 % CI -0.1186 to -0.0046).
    iv = stats.paired_difference_newcombe(59, 6, 16, 80)
    assert iv.value == pytest.approx(-0.0621, abs=5e-5)
    assert iv.low == pytest.approx(-0.1186, abs=5e-5)
    assert iv.high == pytest.approx(-0.0046, abs=5e-5)


def test_newcombe_paired_is_not_empty_without_discordant_pairs() -> None:
    # 0/40 in both regions (the case whose paired bootstrap collapsed to [0, 0]): phi = 0, so the limits are
    # minus/plus the Wilson upper limit of 0/40, z^2 / (40 + z^2) = 8.76 points.
    iv = stats.paired_difference_newcombe(0, 0, 0, 40)
    assert iv.value == 0.0
    assert iv.high == pytest.approx(stats.Z95**2 / (40 + stats.Z95**2))
    assert iv.low == pytest.approx(-iv.high)
    assert iv.high == pytest.approx(0.0876, abs=1e-4)
    # 5/40 in both, no discordance: worked by hand, Wilson [0.05457, 0.26079], phi = (175 - 20) / 175
    iv = stats.paired_difference_newcombe(5, 0, 0, 35)
    assert (iv.low, iv.high) == pytest.approx((-0.0807, 0.0807), abs=1e-4)
    # the old bootstrap interval is degenerate on the same data
    a = np.array([1.0] * 5 + [0.0] * 35)
    old = stats.bootstrap_paired_difference(a, a)
    assert old.low == old.high == 0.0
    assert math.isnan(stats.paired_difference_newcombe(0, 0, 0, 0).low)
    with pytest.raises(ValueError):
        stats.paired_difference_newcombe(1, -1, 0, 0)


def test_clopper_pearson_known_values() -> None:
    # 0/40: upper limit 1 - 0.025^(1/40) (the "exact 97.5 % bound on 0/40 is 8.8 points" of issue 17)
    assert stats.clopper_pearson(0, 40) == pytest.approx((0.0, 1 - 0.025 ** (1 / 40)))
    assert stats.clopper_pearson(0, 40)[1] == pytest.approx(0.0881, abs=1e-4)
    # 3/10: the textbook [0.0667, 0.6525]
    assert stats.clopper_pearson(3, 10) == pytest.approx((0.0667, 0.6525), abs=1e-4)
    assert stats.clopper_pearson(10, 10) == pytest.approx((0.025 ** (1 / 10), 1.0))
    assert all(math.isnan(v) for v in stats.clopper_pearson(0, 0))


def test_holm_adjusted_p_values() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4 * 0.005, 3 * 0.01, max(2 * 0.03, .), max(1 * 0.04, 0.06)
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []
    with pytest.raises(ValueError):
        stats.holm([1.5])


def test_mcnemar_power_and_detectable_difference() -> None:
    # every pair discordant and always the same way: D = n, the only-A count is n; exact p = 2 / 2^n.
    assert stats.mcnemar_power(5, 1.0, 1.0) == 0.0  # p = 2/32 = 0.0625: never below 0.05
    assert stats.mcnemar_power(4, 1.0, 1.0) == 0.0  # p = 2/16 = 0.125: never significant
    assert stats.mcnemar_power(6, 1.0, 1.0) == pytest.approx(1.0)  # p = 2/64 = 0.031
    assert stats.mcnemar_power(40, 0.2, 0.0) < 0.05  # the null: size at most alpha
    # more pairs detect smaller differences; a zero observed discordance still gives a finite answer
    small, large = stats.detectable_difference(40, 0.1), stats.detectable_difference(500, 0.1)
    assert 0 < large < small < 1
    assert large == pytest.approx(0.041, abs=0.002)
    assert math.isfinite(stats.detectable_difference(20, 0.0))
    assert math.isnan(stats.detectable_difference(4, 0.0))


def test_fisher_exact_known_values() -> None:
    # Fisher's tea-tasting table [[3, 1], [1, 3]]: two-sided p = 34/70
    assert stats.fisher_exact(3, 1, 1, 3) == pytest.approx(34 / 70)
    # VGG-16 whole image in results/cifar10-cpu: 9/20 on the first 20 images, 1/20 on the next 20
    assert stats.fisher_exact(9, 11, 1, 19) == pytest.approx(0.00836, abs=1e-5)
    assert stats.fisher_exact(0, 0, 0, 0) == 1.0
