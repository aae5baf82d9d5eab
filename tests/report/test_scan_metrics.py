"""Scan metrics on maps and rows built by hand (answers worked out by hand)."""

from __future__ import annotations

import numpy as np
import pytest

from pixelspace.attack.scan import VulnerabilityMap, cube_corners
from pixelspace.report import scan_metrics as sm
from pixelspace.report.metrics import AttackRow


def _square(size: int = 7, lo: int = 2, hi: int = 5) -> np.ndarray:
    fg = np.zeros((size, size), dtype=bool)
    fg[lo:hi, lo:hi] = True
    return fg


def _map(flip_at: list[tuple[int, int]], size: int = 7, label: int = 0, to: int = 3) -> VulnerabilityMap:
    """A map where only the listed pixels flip (colour 0 reaches class ``to``); p_label 0.9 elsewhere."""
    c = 8
    prob = np.full((size, size, c), 0.9, dtype=np.float32)
    pred = np.full((size, size, c), label, dtype=np.int32)
    for r, q in flip_at:
        prob[r, q, 0] = 0.1
        pred[r, q, 0] = to
    return VulnerabilityMap(label, 0.95, cube_corners(), prob, pred, np.ones((size, size), bool), size * size * c + 1)


def test_signed_distance_of_a_square() -> None:
    d = sm.signed_distance(_square())
    expected = np.array([
        [2, 2, 2, 2, 2, 2, 2],
        [2, 1, 1, 1, 1, 1, 2],
        [2, 1, -1, -1, -1, 1, 2],
        [2, 1, -1, -2, -1, 1, 2],
        [2, 1, -1, -1, -1, 1, 2],
        [2, 1, 1, 1, 1, 1, 2],
        [2, 2, 2, 2, 2, 2, 2],
    ])
    np.testing.assert_array_equal(d, expected)
    assert (sm.signed_distance(np.zeros((3, 3), bool)) > 0).all()
    assert (sm.signed_distance(np.ones((3, 3), bool)) < 0).all()


def test_shift_foreground_erodes_and_dilates() -> None:
    fg = _square()
    assert sm.shift_foreground(fg, -1).sum() == 1 and sm.shift_foreground(fg, -1)[3, 3]
    assert sm.shift_foreground(fg, -2).sum() == 0
    np.testing.assert_array_equal(sm.shift_foreground(fg, 1), _square(lo=1, hi=6))
    assert sm.shift_foreground(fg, 2).all()
    np.testing.assert_array_equal(sm.shift_foreground(fg, 0), fg)


def test_distance_profile_counts_pixels_and_flips_per_band() -> None:
    fg = _square()
    vmap = _map([(3, 3), (1, 1), (1, 3), (0, 0)])  # centre (-2), two on ring +1, one corner (+2)
    bands = {b.label: b for b in sm.distance_profile([vmap, vmap], [fg, fg])}
    assert bands["inside 2"].pixels == 2 and bands["inside 2"].flipping == 2
    assert bands["edge (inside 1)"].pixels == 16 and bands["edge (inside 1)"].flipping == 0
    assert bands["edge (outside 1)"].pixels == 32 and bands["edge (outside 1)"].flipping == 4
    assert bands["outside 2"].pixels == 48 and bands["outside 2"].flipping == 2
    assert bands["outside 2"].flip_rate == pytest.approx(2 / 48)
    assert np.isnan(bands["inside ≥4"].flip_rate)


def test_boundary_shift_moves_an_edge_pixel_between_regions() -> None:
    fg = _square()
    # image A: its only flipping pixel sits on the outer ring (+1); image B: deep in the background (+2)
    a, b = _map([(1, 3)]), _map([(0, 0)])
    shifts = {s.shift: s for s in sm.boundary_shift([a, b], [fg, fg], shifts=(-1, 0, 1, 2))}
    assert shifts[0].foreground.successes == 0 and shifts[0].background.successes == 2
    assert shifts[1].foreground.successes == 1 and shifts[1].background.successes == 1
    assert (shifts[1].fg_only, shifts[1].bg_only) == (1, 1) and shifts[1].p_value == pytest.approx(1.0)
    assert shifts[0].difference.value == pytest.approx(-1.0)
    assert shifts[2].images == 0  # dilating by 2 leaves no background in a 7x7 image: nothing to compare
    assert shifts[-1].images == 2 and shifts[-1].foreground.successes == 0


def _row(region: str, image: str, success: bool, search: str, *, reach: tuple[int, ...] = (), queries: int = 10,
         label: int = 0, predicted: int | None = None) -> AttackRow:
    rec = {"label": label, "predicted": predicted if predicted is not None else (1 if success else label),
           "target": -1, "search": search, "reachable_classes": list(reach), "flipping_pixels": len(reach) * 2}
    if search == "de":
        rec.pop("search")
    return AttackRow("k", "net", image, region, 1, "untargeted", -1,
                     record={**rec, "success": success, "generations": 0, "queries": queries})


def test_scan_vs_de_pairs_images_and_counts_discordant_ones() -> None:
    scans = [_row("whole", f"i{i}", s, "scan", reach=(1,) if s else (), queries=8193)
             for i, s in enumerate([True, True, True, False, False])]
    de = [_row("whole", f"i{i}", s, "de", queries=q) for i, (s, q) in enumerate(
        [(True, 100), (False, 1000), (False, 1000), (True, 50), (False, 1000)])]
    de.append(_row("whole", "only-de", True, "de"))
    (cell,) = sm.scan_vs_de(scans, de)
    assert cell.images == 5 and cell.scan.successes == 3 and cell.de.successes == 2
    assert (cell.scan_only, cell.de_only) == (2, 1)
    assert cell.p_value == pytest.approx(1.0)  # exact McNemar with 2 vs 1 discordant pairs
    assert cell.flipping_pixels == pytest.approx(6 / 5) and cell.reachable_classes == pytest.approx(3 / 5)
    assert cell.scan_queries == 8193 and cell.de_queries == pytest.approx(630)


def test_reachable_distribution_caps_at_the_last_bin() -> None:
    rows = [_row("whole", "a", False, "scan"), _row("whole", "b", True, "scan", reach=(1, 2)),
            _row("whole", "c", True, "scan", reach=tuple(range(1, 10)))]
    np.testing.assert_array_equal(sm.reachable_distribution(rows, 10), [1, 0, 1, 0, 0, 0, 0, 0, 0, 1])


def test_scan_table2_counts_images_per_reachable_target() -> None:
    rows = [_row("foreground", "a", True, "scan", reach=(1, 2)), _row("foreground", "b", True, "scan", reach=(2,)),
            _row("foreground", "c", False, "scan", label=2), _row("background", "a", False, "scan")]
    fg, bg = sm.scan_table2(rows, 4)
    assert (fg.region, bg.region) == ("foreground", "background")
    assert (fg.untargeted1.successes, fg.untargeted1.total) == (2, 3)
    np.testing.assert_array_equal(fg.per_target, [0, 1, 2, 0])
    np.testing.assert_array_equal(fg.eligible, [1, 3, 2, 3])  # no image is sent to its own class (a, b: 0; c: 2)
    np.testing.assert_array_equal(bg.per_target, [0, 0, 0, 0])


def test_flip_density_pairs_images_and_bootstraps_them() -> None:
    def row(region: str, image: str, flips: int, size: int) -> AttackRow:
        r = _row(region, image, flips > 0, "scan")
        r.record.update(flipping_pixels=flips, region_size=size)
        return r

    rows = [row("foreground", "a", 10, 100), row("background", "a", 0, 900),
            row("foreground", "b", 0, 200), row("background", "b", 8, 800),
            row("foreground", "c", 5, 100)]  # c has no background row: left out of the paired sample
    (d,) = sm.flip_density(rows)
    assert d.images == 2
    assert d.by_region["foreground"].value == pytest.approx((0.1 + 0.0) / 2)
    assert d.by_region["background"].value == pytest.approx((0.0 + 0.01) / 2)
    diff = d.paired[("foreground", "background")]
    assert diff.value == pytest.approx(0.045)
    assert diff.low <= diff.value <= diff.high and diff.low == pytest.approx(-0.01)
