"""The translation experiment's contrast table: A − B before and after the shift, on the same images, with the
change's paired bootstrap interval (a planted change is found; no change gives 0)."""

from __future__ import annotations

import numpy as np
import pytest

from pixelspace.report.position_section import contrast_moves

REGIONS = ("foreground", "background", "centre", "border")


def outcomes(success: dict[str, np.ndarray], share: dict[str, np.ndarray], model: str = "m"
             ) -> dict[tuple[str, str, str], tuple[bool, float]]:
    n = len(next(iter(success.values())))
    return {(model, r, f"img{i}"): (bool(success[r][i]), float(share[r][i])) for r in success for i in range(n)}


def test_a_contrast_the_object_carries_keeps_its_value_and_one_the_position_carries_moves() -> None:
    """Planted: the foreground beats the background on every image before and after the move (an advantage the
    object carries), while the fixed centre, which never succeeded before, succeeds on every image after (the
    moved foreground loses its lead over the position): foreground − centre drops from +1 to 0."""
    rng = np.random.default_rng(0)
    n = 60
    base_share = {r: rng.uniform(0, 10, n) for r in REGIONS}
    before = {"foreground": np.ones(n), "background": np.zeros(n), "centre": np.zeros(n), "border": np.zeros(n)}
    # after the move: the foreground still beats the background (object), and the fixed centre now succeeds
    # on every image (position): foreground − centre drops from +1 to 0 on every image
    after = {"foreground": np.ones(n), "background": np.zeros(n), "centre": np.ones(n), "border": np.zeros(n)}
    after_share = {**base_share, "foreground": base_share["foreground"] - 2.0}
    moves = {(m.a, m.b): m for m in contrast_moves(outcomes(before, base_share), outcomes(after, after_share))}
    fb, fc, bb = moves[("foreground", "background")], moves[("foreground", "centre")], moves[("background", "border")]
    assert fb.images == fc.images == bb.images == n
    assert (fb.unshifted, fb.shifted) == (1.0, 1.0) and fb.change.value == 0 and fb.change.low == fb.change.high == 0
    assert (fc.unshifted, fc.shifted) == (1.0, 0.0) and fc.change.value == -1.0 and fc.change.high == -1.0
    assert bb.change.value == 0
    # per pixel: the foreground's flip share fell by exactly 2 pp on every image
    assert fb.pixel_change.value == pytest.approx(-2.0) and fb.pixel_change.high == pytest.approx(-2.0)
    assert fb.pixel_shifted == pytest.approx(fb.pixel_unshifted - 2.0)


def test_a_noisy_planted_change_is_covered_and_images_missing_a_region_are_left_out() -> None:
    rng = np.random.default_rng(1)
    n = 400
    share = {r: rng.uniform(0, 10, n) for r in REGIONS}
    before = {r: (rng.random(n) < 0.3).astype(float) for r in REGIONS}
    after = {**before, "foreground": before["foreground"] * (rng.random(n) < 0.5)}  # half the fg successes lost
    planted = float((after["foreground"] - before["foreground"]).mean())
    a, b = outcomes(before, share), outcomes(after, share)
    del b[("m", "centre", "img0")]  # one image lacks the centre once shifted
    moves = {(m.a, m.b): m for m in contrast_moves(a, b)}
    fb, fc = moves[("foreground", "background")], moves[("foreground", "centre")]
    assert fb.images == n and fc.images == n - 1
    assert fb.change.value == pytest.approx(planted) and fb.change.low < planted < fb.change.high
    assert fb.change.high < 0  # about 0.15 lost on average: the interval excludes no change
    assert fb.pixel_change.value == 0
