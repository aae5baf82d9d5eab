"""``second_foreground_masks``: the report's second-segmenter masks (``pixelspace report --second-masks``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixelspace.errors import DataError
from pixelspace.segment import load_cifar10_sample_masks, save_masks, second_foreground_masks


def test_auto_gives_the_shipped_u2netp_masks_that_pass_the_quality_guard() -> None:
    masks, name = second_foreground_masks("auto", [])
    sample = load_cifar10_sample_masks(method="u2net")
    usable = ~sample.quality.flagged
    assert masks is not None and "U²-Netp" in name
    assert len(masks) == int(usable.sum()) and 0 < len(masks) < len(sample)
    k = int(np.flatnonzero(usable)[0])
    np.testing.assert_array_equal(masks[sample.ids[k]], sample.foreground[k])
    assert sample.ids[int(np.flatnonzero(~usable)[0])] not in masks


def test_none_and_a_folder(tmp_path: Path) -> None:
    assert second_foreground_masks("none", ["a"]) == (None, "")
    fg = np.zeros((2, 8, 8), dtype=bool)
    fg[:, 2:5, 2:5] = True
    save_masks(fg, ["x/1.png", "x/2.png"], tmp_path / "mine")
    masks, name = second_foreground_masks(str(tmp_path / "mine"), ["x/1.png", "x/3.png"])
    assert name == "mine" and masks is not None and list(masks) == ["x/1.png"]
    np.testing.assert_array_equal(masks["x/1.png"], fg[0])
    with pytest.raises(DataError, match="holds no mask"):
        second_foreground_masks(str(tmp_path / "mine"), ["y/9.png"])
    with pytest.raises(DataError, match="neither 'auto', 'none' nor a mask folder"):
        second_foreground_masks(str(tmp_path / "absent"), ["x/1.png"])
