"""benchmarks/shift_pooled.py fits the per-pixel model on every placement of the images all stores hold."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from pixelspace.outcomes import VulnerabilityMap
from pixelspace.report import position as P

ROOT = Path(__file__).resolve().parents[2]
SIZE = 16
COLORS = np.array([[0, 0, 0], [255, 255, 255]], dtype=np.uint8)


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    return importlib.import_module("shift_pooled")


def _map(flips: np.ndarray) -> VulnerabilityMap:
    h, w = flips.shape
    predicted = np.zeros((h, w, 2), dtype=np.int32)
    predicted[..., 0] = flips.astype(np.int32)
    probability = np.stack([0.9 - np.where(flips, 0.6, 0.1), np.full((h, w), 0.9)], axis=2).astype(np.float32)
    return VulnerabilityMap(0, 0.9, COLORS, probability, predicted, np.ones((h, w), dtype=bool), h * w * 2 + 1)


def _placement(object_effect: bool, offset: int, ids: list[str], seed: int, gradient: bool = False,
               fg_rate: float = 0.12) -> dict[str, tuple[list[VulnerabilityMap], list[np.ndarray], list[str]]]:
    """One placement of the images: a disc foreground around the centre moved by ``offset`` px. Object world:
    foreground pixels flip at ``fg_rate``, background at 3 %. Position world: flips fall with the distance to the
    centre only, whatever the disc; with ``gradient``, they rise from the top row to the bottom one instead."""
    rng = np.random.default_rng(seed)
    centre_dist, _ = P.position_grids((SIZE, SIZE))
    r, c = np.mgrid[0:SIZE, 0:SIZE]
    maps, fgs = [], []
    for _ in ids:
        cy, cx = 7.5 + offset + rng.uniform(-1, 1), 7.5 + offset + rng.uniform(-1, 1)
        fg = (r - cy) ** 2 + (c - cx) ** 2 <= rng.uniform(3, 4.5) ** 2
        if gradient:
            p = 1 / (1 + np.exp(-(-4.0 + 0.25 * r)))
        elif object_effect:
            p = np.where(fg, fg_rate, 0.03)
        else:
            p = 1 / (1 + np.exp(-(0.5 - 0.45 * centre_dist)))
        maps.append(_map(rng.random((SIZE, SIZE)) < p))
        fgs.append(fg)
    return {"net": (maps, fgs, list(ids))}


@pytest.mark.parametrize("object_effect", [True, False])
def test_pooled_placements_recover_the_planted_truth(script: ModuleType, object_effect: bool) -> None:
    ids = [f"img{i:03d}" for i in range(90)]
    base = _placement(object_effect, 0, ids, seed=1)
    plus = _placement(object_effect, 3, ids[5:], seed=2)  # five images missing from one shifted store
    minus = _placement(object_effect, -3, ids, seed=3)
    rows, same = script.pooled_rows([base, plus, minus], ["unshifted", "shift (+3, +3)", "shift (-3, -3)"],
                                    grid=True)
    labels = [label for _, terms, label, _ in rows if terms == "distances"]
    assert labels == ["unshifted", "shift (+3, +3)", "shift (-3, -3)", "unshifted + shift (+3, +3)",
                      "unshifted + shift (-3, -3)", "all placements"]
    assert [label for _, terms, label, _ in rows if terms != "distances"] == labels
    pooled = rows[5][3]
    assert pooled.images == 85 and pooled.pixels == 3 * 85 * SIZE * SIZE  # only the images all three hold
    if object_effect:
        assert 6 < pooled.marginal.low and pooled.marginal.high < 12  # the planted 12 % - 3 % = 9 pp
    else:
        assert pooled.marginal.low < 0 < pooled.marginal.high and pooled.naive.low > 3
    # pooling narrows the interval against any single placement of the same images
    width = [e.marginal.high - e.marginal.low for _, _, _, e in rows[:6]]
    assert width[-1] < min(width[:3])
    grid = rows[-1][3]  # row and column splines added: the same answer in both worlds
    assert (grid.marginal.low > 6) if object_effect else (grid.marginal.low < 0 < grid.marginal.high)
    assert same["net"] > 0.01  # the planted effect is the same at every placement


def test_a_network_missing_from_one_store_is_left_out(script: ModuleType) -> None:
    ids = [f"img{i:03d}" for i in range(40)]
    base = _placement(True, 0, ids, seed=1)
    assert script.pooled_rows([base, {}], ["unshifted", "shift (+3, +3)"]) == ([], {})
    assert script.common_images([base, base], "net") == ids


def test_an_object_effect_that_differs_by_placement_is_detected(script: ModuleType) -> None:
    ids = [f"img{i:03d}" for i in range(90)]
    centred = _placement(True, 0, ids, seed=1)
    moved = _placement(True, 3, ids, seed=2, fg_rate=0.03)  # moved, membership no longer matters
    rows, same = script.pooled_rows([centred, moved], ["unshifted", "shift (+3, +3)"])
    assert [label for _, _, label, _ in rows] == ["unshifted", "shift (+3, +3)", "all placements"]
    assert same["net"] < 1e-3


def test_a_gradient_by_direction_is_not_read_as_the_moved_object(script: ModuleType) -> None:
    """Flips rise from top to bottom; the object moved down-right sits where flips are more common. Distances
    alone read that as an object effect; the row and column gradient takes it away."""
    ids = [f"img{i:03d}" for i in range(120)]
    moved = _placement(False, 3, ids, seed=5, gradient=True)
    rows, _ = script.pooled_rows([moved], ["shift (+3, +3)"], grid=True)
    (_, t1, _, distances), (_, t2, _, gradient) = rows
    assert (t1, t2) == ("distances", "distances + row, column gradient")
    assert distances.marginal.low > 0
    assert gradient.marginal.low < 0 < gradient.marginal.high
