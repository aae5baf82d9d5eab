"""Object or position (``report/position.py``) on synthetic maps where the truth is planted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pixelspace.outcomes import VulnerabilityMap
from pixelspace.report import position as P

SIZE = 16
COLORS = np.array([[0, 0, 0], [255, 255, 255]], dtype=np.uint8)


def _map(flips: np.ndarray, drop: np.ndarray | None = None) -> VulnerabilityMap:
    """A map whose pixels flip where ``flips`` (class 0 -> 1 with colour 0), p_y dropping by ``drop``."""
    h, w = flips.shape
    predicted = np.zeros((h, w, 2), dtype=np.int32)
    predicted[..., 0] = flips.astype(np.int32)
    d = np.where(flips, 0.6, 0.1) if drop is None else drop
    probability = np.stack([0.9 - d, np.full((h, w), 0.9)], axis=2).astype(np.float32)
    return VulnerabilityMap(0, 0.9, COLORS, probability, predicted, np.ones((h, w), dtype=bool), h * w * 2 + 1)


def _disc(centre: tuple[float, float], radius: float) -> np.ndarray:
    r, c = np.mgrid[0:SIZE, 0:SIZE]
    return (r - centre[0]) ** 2 + (c - centre[1]) ** 2 <= radius**2


def _world(position_effect: bool, n: int = 150, seed: int = 1) -> tuple[list[VulnerabilityMap], list[np.ndarray]]:
    """Images with a disc foreground. Position world: discs near the centre, flips depend only on the distance
    to the centre. Object world: discs anywhere, flips depend only on membership."""
    rng = np.random.default_rng(seed)
    centre_dist, _ = P.position_grids((SIZE, SIZE))
    maps, fgs = [], []
    for _ in range(n):
        if position_effect:
            fg = _disc((7.5 + rng.uniform(-2, 2), 7.5 + rng.uniform(-2, 2)), rng.uniform(3, 5))
            p = 1 / (1 + np.exp(-(0.5 - 0.45 * centre_dist)))
        else:
            fg = _disc((rng.uniform(2, 13), rng.uniform(2, 13)), rng.uniform(2.5, 4))
            p = np.where(fg, 0.12, 0.03)
        maps.append(_map(rng.random((SIZE, SIZE)) < p))
        fgs.append(fg)
    return maps, fgs


def test_a_planted_position_effect_is_not_read_as_an_object_effect() -> None:
    maps, fgs = _world(position_effect=True)
    t = P.pixel_table(maps, fgs, [str(i) for i in range(len(maps))])
    e = P.object_effect(t)
    assert e.naive.low > 5  # the naive foreground - background difference is large and "significant"
    assert e.marginal.low < 0 < e.marginal.high  # at equal position: no object effect
    assert e.odds_ratio.low < 1 < e.odds_ratio.high
    assert e.position_p < 1e-6
    # 1-px bands: with this steep a gradient, 2-px bands keep some confounding (the disc sits nearer the centre
    # than the background within a band); the model above has no such band width
    eq = P.equal_distance(t, bands=[(k, k + 1) for k in range(12)])
    assert eq.standardised.low < 0 < eq.standardised.high


def test_a_planted_object_effect_is_found_at_equal_position() -> None:
    maps, fgs = _world(position_effect=False)
    t = P.pixel_table(maps, fgs, [str(i) for i in range(len(maps))])
    e = P.object_effect(t)
    assert 6 < e.marginal.low and e.marginal.high < 12  # the planted 12 % - 3 % = 9 pp
    assert e.odds_ratio.low > 1 and e.p_value < 1e-6
    eq = P.equal_distance(t)
    assert eq.standardised.low > 5 and eq.fg_ahead >= eq.bands_compared - 1


def test_pixel_table_covariates_are_positions() -> None:
    fg = np.zeros((SIZE, SIZE), dtype=bool)
    fg[6:10, 6:10] = True
    t = P.pixel_table([_map(np.zeros((SIZE, SIZE), dtype=bool))], [fg], ["a"])
    assert len(t) == SIZE * SIZE and t.foreground.sum() == 16
    k = 0 * SIZE + 0  # the corner pixel
    assert math.isclose(t.centre[k], math.hypot(7.5, 7.5)) and t.border[k] == 0
    assert t.outline[7 * SIZE + 7] == 2 and t.outline[5 * SIZE + 5] == 1  # inside 2; the ring outside


def test_interior_exterior_leaves_the_outline_band_out() -> None:
    fg = np.zeros((SIZE, SIZE), dtype=bool)
    fg[3:13, 3:13] = True
    band = np.zeros_like(fg)
    band[1:15, 1:15] = True
    band[6:10, 6:10] = False  # flips only within 2 px of the outline, on both sides
    r = P.interior_exterior([_map(band & ~_ring_free(fg))] * 3, [fg] * 3)
    assert r.images == 3 and r.interior[0] == 0 and r.exterior[0] == 0
    inner = np.zeros_like(fg)
    inner[7, 7] = True
    r = P.interior_exterior([_map(inner)] * 4, [fg] * 4)
    assert r.interior[0] == 1 and r.exterior[0] == 0 and r.difference.value == 1


def _ring_free(fg: np.ndarray) -> np.ndarray:
    """Pixels more than 2 px from the outline (the ones interior_exterior counts)."""
    from pixelspace.report.scan_metrics import signed_distance

    d = signed_distance(fg)
    return (d < -2) | (d > 2)


@pytest.mark.parametrize("shift", [(2, 3), (-2, -1)])
def test_translation_tells_content_from_position(shift: tuple[int, int]) -> None:
    from pixelspace.data.shift import shift_images

    rng = np.random.default_rng(4)
    drops = [rng.random((SIZE, SIZE)) * 0.8 for _ in range(20)]
    original = {str(i): _map(d > 0.7, d) for i, d in enumerate(drops)}
    moved = [shift_images(d[None], shift)[0] for d in drops]
    follows_content = {str(i): _map(d > 0.7, d) for i, d in enumerate(moved)}
    follows_position = original
    c = P.translation(original, follows_content, shift)
    assert c.images == 20 and c.content_r.value > 0.99 and c.content_kept.value == 100
    assert c.content_minus_position.low > 0.5
    p = P.translation(original, follows_position, shift)
    assert p.position_r.value > 0.99 and p.position_kept.value == 100 and p.content_minus_position.high < -0.5


def test_the_model_refuses_too_few_images() -> None:
    maps, fgs = _world(position_effect=False, n=P.MIN_MODEL_IMAGES - 1)
    t = P.pixel_table(maps, fgs, [str(i) for i in range(len(maps))])
    with pytest.raises(ValueError, match="at least 30 images"):
        P.object_effect(t)


def test_concat_tables_keeps_an_image_one_cluster() -> None:
    maps, fgs = _world(position_effect=False, n=3)
    a = P.pixel_table(maps[:2], fgs[:2], ["x", "y"])
    b = P.pixel_table(maps[1:], fgs[1:], ["y", "z"])
    t = P.concat_tables([a, b])
    assert t.image_ids == ("x", "y", "z") and len(t) == len(a) + len(b)
    assert np.unique(t.image).tolist() == [0, 1, 2]
    assert (t.image[len(a):][: SIZE * SIZE] == 1).all()  # b's first image is "y", a's second: one cluster
    np.testing.assert_array_equal(t.flip, np.concatenate([a.flip, b.flip]))


def test_a_covariate_range_without_flips_is_marked_quasi_separated() -> None:
    """The object world's flips, removed from every pixel near the image edge: a range of the border distance
    without a flipping pixel, whose spline coefficients run off (the report marks the row); the object world
    as planted is not marked."""
    maps, fgs = _world(position_effect=False)
    ids = [str(i) for i in range(len(maps))]
    assert not P.object_effect(P.pixel_table(maps, fgs, ids)).separated
    _, border = P.position_grids((SIZE, SIZE))
    edge = border < 2
    cut = [_map(m.flips & ~edge) for m in maps]
    e = P.object_effect(P.pixel_table(cut, fgs, ids))
    assert e.separated and math.isfinite(e.marginal.value)


def test_the_outline_table_corrects_each_p_over_all_its_rows() -> None:
    """Holm over every row of the outline table: each row's corrected p is at least its p, and the smallest p
    is multiplied by the number of rows."""
    from pixelspace.report.position_section import outline_table

    maps, fgs = _world(position_effect=False, n=24)
    ids = [str(i) for i in range(len(maps))]
    table, _ = outline_table({"a": (maps, fgs, ids), "b": (maps[:16], fgs[:16], ids[:16])}, None, "")
    rows = [[str(c) for c in r] for r in table.rows]  # every cell of this table is one line
    p_col, holm_col = table.header.index("p"), table.header.index("Holm p")
    ps = [float(r[p_col]) if r[p_col] not in ("—", "<0.0001") else None for r in rows]
    assert len(rows) == 12 and all(p is not None for p in ps)  # 5 outlines + interior/exterior, twice
    smallest = min(range(len(ps)), key=lambda k: ps[k] or 1.0)
    for r, p in zip(rows, ps, strict=True):
        assert float(r[holm_col]) >= (p or 0.0)
    reading = table.header.index("reading")
    assert any(r[reading].startswith(("fg >", "fg <")) for r in rows)  # the loop below checks something
    for r in rows:  # an interval clear of 0 whose corrected p is not below 0.05 says so
        if r[reading].startswith(("fg >", "fg <")):
            assert r[reading].endswith("(not after Holm)") == (float(r[holm_col]) >= 0.05), r
    expected = min(1.0, len(ps) * float(rows[smallest][p_col]))
    assert float(rows[smallest][holm_col]) == pytest.approx(expected, rel=0.01)
