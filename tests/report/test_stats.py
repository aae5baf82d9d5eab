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
