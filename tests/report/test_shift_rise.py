"""shift_rise (report/position.py) on planted maps: a rise made by the reflected strip, a rise on the shared
content, and a rise that the clean confidence carries (the adjusted odds ratio loses it) or does not."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pixelspace.outcomes import VulnerabilityMap
from pixelspace.report import position as pos

SHIFT = (2, 2)
SIDE = 8


def _map(flips: np.ndarray, clean: float = 0.9) -> VulnerabilityMap:
    """A one-colour scan of a SIDE × SIDE image whose pixels ``flips`` change the class (label 0)."""
    predicted = np.where(flips, 1, 0).astype(np.int32)[..., None]
    probability = np.where(flips, 0.2, clean).astype(np.float32)[..., None]
    return VulnerabilityMap(0, clean, np.zeros((1, 3), np.uint8), probability, predicted,
                            np.ones((SIDE, SIDE), bool), SIDE * SIDE + 1)


def _none() -> np.ndarray:
    return np.zeros((SIDE, SIDE), bool)


def test_a_rise_made_only_by_the_reflected_strip_is_counted_as_such() -> None:
    original: dict[str, Any] = {}
    shifted: dict[str, Any] = {}
    for i in range(40):
        original[f"i{i}"] = _map(_none())
        moved = _none()
        if i % 2:
            moved[0, 0] = True  # inside the strip a (+2, +2) shift brings in
        shifted[f"i{i}"] = _map(moved)
    r = pos.shift_rise(original, shifted, SHIFT)
    assert r.images == 40 and r.strip_only == 20
    assert not r.content_unshifted.any() and not r.content_shifted.any()
    assert r.share_content_shifted.value == 0 and r.share_strip.value > 0


def test_a_rise_on_the_shared_content_is_found_where_the_content_went() -> None:
    original: dict[str, Any] = {}
    shifted: dict[str, Any] = {}
    for i in range(40):
        original[f"i{i}"] = _map(_none())
        moved = _none()
        if i % 4 == 0:
            moved[5, 6] = True  # content pixel (3, 4) moved by (2, 2)
        shifted[f"i{i}"] = _map(moved)
    r = pos.shift_rise(original, shifted, SHIFT)
    assert r.strip_only == 0 and int(r.content_shifted.sum()) == 10 and not r.content_unshifted.any()
    # a map fooled at p unshifted keeps counting as content when p + s flips shifted
    original["i0"] = _map(np.eye(SIDE, dtype=bool))
    assert bool(pos.shift_rise(original, shifted, SHIFT).content_unshifted[0])


def _confidence_world(direct: float, n: int = 600, seed: int = 8) -> pos.ShiftRise:
    """Images whose odds of being fooled fall with the clean probability's log-odds; the shift lowers it by a
    random amount and adds ``direct`` to the log-odds of being fooled."""
    rng = np.random.default_rng(seed)
    original: dict[str, Any] = {}
    shifted: dict[str, Any] = {}
    for i in range(n):
        z0 = rng.normal(3.0, 1.0)
        z1 = z0 - abs(rng.normal(0.8, 0.4))
        for z, extra, out in ((z0, 0.0, original), (z1, direct, shifted)):
            p = 1 / (1 + math.exp(-z))
            fooled = rng.random() < 1 / (1 + math.exp(-(2.0 - 1.0 * z + extra)))
            flips = _none()
            flips[4, 4] = fooled  # inside the shared content for both placements
            out[f"i{i}"] = _map(flips, p)
    return pos.shift_rise(original, shifted, SHIFT)


def test_a_rise_that_the_clean_confidence_carries_vanishes_once_adjusted_for_it() -> None:
    r = _confidence_world(direct=0.0)
    assert r.clean_change.high < 0
    assert r.odds_ratio.low > 1  # fooled more often once shifted ...
    assert r.adjusted_odds_ratio.low < 1 < r.adjusted_odds_ratio.high  # ... but not at equal confidence


def test_a_rise_beyond_the_confidence_survives_the_adjustment() -> None:
    r = _confidence_world(direct=1.2)
    assert r.adjusted_odds_ratio.low > 1
    assert r.adjusted_odds_ratio.value < r.odds_ratio.value


def test_the_in_place_control_counts_its_far_mirror_strip_and_its_content_in_place() -> None:
    original, control = {}, {}
    for i in range(40):
        original[f"i{i}"] = _map(_none())
        here = _none()
        if i % 2:
            here[SIDE - 1, 3] = True  # the far strip: a (+2, +2) shift pushes these rows out; the control mirrors them
        if i % 4 == 0:
            here[3, 4] = True  # kept content, at its own place in the control
        control[f"i{i}"] = _map(here)
    r = pos.shift_rise(original, control, SHIFT, in_place=True)
    assert r.images == 40 and r.strip_only == 20  # the odd images: only the strip flips
    assert int(r.content_shifted.sum()) == 10 and not r.content_unshifted.any()
    # read as a moved store, the same maps put the far-strip pixel inside the content (moved from (5, 1)): the
    # in-place reading is what makes it the strip
    assert pos.shift_rise(original, control, SHIFT).strip_only == 0
