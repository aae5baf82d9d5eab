"""benchmarks/shift_confidence.py splits a shift into the strip it loses (content in place) and the move."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    return importlib.import_module("shift_confidence")


@pytest.mark.parametrize("shift", [(4, 4), (-4, -4), (3, -2)])
def test_the_strip_image_holds_the_shifted_content_where_it_was(script: ModuleType, shift: tuple[int, int]) -> None:
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    v = script.variants(x, shift)
    dy, dx = shift
    rows = slice(max(-dy, 0), 32 - max(dy, 0))  # the rows of x that stay in the image once shifted
    cols = slice(max(-dx, 0), 32 - max(dx, 0))
    moved_rows = slice(max(dy, 0), 32 + min(dy, 0))
    moved_cols = slice(max(dx, 0), 32 + min(dx, 0))
    assert np.array_equal(v["A"], x)
    assert np.array_equal(v["B"][:, moved_rows, moved_cols], x[:, rows, cols])  # B: the content, moved
    assert np.array_equal(v["D"][:, rows, cols], x[:, rows, cols])  # D: the same content, in place
    lost = np.ones((32, 32), bool)
    lost[rows, cols] = False
    assert not np.array_equal(v["D"][:, lost], x[:, lost])  # ... and the strip B loses is replaced
    # the replacement is the mirror of the kept content (reflect padding, edge pixel not repeated)
    if dy > 0:
        assert np.array_equal(v["D"][:, 32 - dy:, cols], x[:, 32 - dy - 2:32 - 2 * dy - 2:-1, cols])
