"""Mask files (naming, PNG round trip, MaskFiles), Full, and the quality guard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixelspace.errors import DataError, RegionError, ShapeError
from pixelspace.segment import (
    Full,
    MaskFiles,
    load_masks,
    mask_file_name,
    mask_quality,
    read_mask_png,
    save_masks,
)

IDS = ["test/airplane/0003.jpg", "test/cat/0010.jpg", "n01440764_tench.JPEG"]


@pytest.fixture
def masks() -> np.ndarray:
    return np.random.default_rng(0).random((3, 32, 32)) < 0.4


def test_file_names() -> None:
    assert mask_file_name("test/airplane/0003.jpg") == "test__airplane__0003.png"
    assert mask_file_name("n01440764_tench.JPEG") == "n01440764_tench.png"
    assert mask_file_name("plain") == "plain.png"
    for bad in ["", "/abs/x.jpg", "../up.jpg"]:
        with pytest.raises(DataError, match="image id"):
            mask_file_name(bad)


def test_png_round_trip(tmp_path: Path, masks: np.ndarray) -> None:
    paths = save_masks(masks, IDS, tmp_path / "m")
    assert [p.name for p in paths] == ["test__airplane__0003.png", "test__cat__0010.png", "n01440764_tench.png"]
    assert np.array_equal(load_masks(tmp_path / "m", IDS), masks)
    assert np.array_equal(read_mask_png(paths[1]), masks[1])


def test_mask_files_segmenter(tmp_path: Path, masks: np.ndarray) -> None:
    save_masks(masks, IDS, tmp_path)
    images = np.zeros((3, 32, 32, 3), np.uint8)
    got = MaskFiles(tmp_path)(images[[2, 0]], ids=[IDS[2], IDS[0]])
    assert np.array_equal(got, masks[[2, 0]])


def test_missing_mask_names_the_image(tmp_path: Path, masks: np.ndarray) -> None:
    save_masks(masks[:1], IDS[:1], tmp_path)
    with pytest.raises(DataError, match=r"ids\[1\]: no mask for image id 'test/cat/0010.jpg'"):
        MaskFiles(tmp_path)(np.zeros((2, 32, 32, 3), np.uint8), ids=IDS[:2])
    with pytest.raises(DataError, match="mask folder not found"):
        MaskFiles(tmp_path / "nowhere")


def test_unreadable_png(tmp_path: Path) -> None:
    (tmp_path / "test__cat__0010.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"ids\[0\]: mask of image id 'test/cat/0010.jpg' is unreadable"):
        load_masks(tmp_path, ["test/cat/0010.jpg"])


def test_mask_of_wrong_size(tmp_path: Path, masks: np.ndarray) -> None:
    save_masks(masks[:1], IDS[:1], tmp_path)
    save_masks(np.zeros((1, 16, 16), bool), IDS[1:2], tmp_path)
    with pytest.raises(RegionError, match=r"ids\[1\]: mask of image id 'test/cat/0010.jpg' has size 16x16, expected 32x32"):
        MaskFiles(tmp_path)(np.zeros((2, 32, 32, 3), np.uint8), ids=IDS[:2])


def test_ids_must_match_masks(tmp_path: Path, masks: np.ndarray) -> None:
    with pytest.raises(ShapeError, match="ids: expected 3 image ids"):
        save_masks(masks, IDS[:2], tmp_path)
    with pytest.raises(DataError, match="same mask file"):
        save_masks(masks[:2], ["a/b.jpg", "a/b.png"], tmp_path)


def test_full() -> None:
    assert Full()(np.zeros((2, 5, 7, 3), np.uint8)).all()
    assert Full()(np.zeros((2, 5, 7, 3), np.uint8)).shape == (2, 5, 7)


def test_quality_guard() -> None:
    m = np.zeros((4, 10, 10), bool)
    m[1, :5] = True  # 50 foreground, 50 background: fine
    m[2] = True  # no background
    m[3, 0, :3] = True  # 3 foreground pixels
    q = mask_quality(m, min_foreground=5, min_background=5)
    assert q.flagged.tolist() == [True, False, True, True]
    assert q.ok.tolist() == [False, True, False, False]
    np.testing.assert_allclose(q.foreground_fraction, [0.0, 0.5, 1.0, 0.03])
    assert q.foreground_pixels.tolist() == [0, 50, 100, 3] and q.background_pixels.tolist() == [100, 50, 0, 97]
    assert q.reasons[0] == "foreground has 0 pixels, fewer than min_foreground=5"
    assert q.reasons[1] == ""
    assert q.reasons[2] == "background has 0 pixels, fewer than min_background=5"
    assert len(q) == 4
    assert not mask_quality(m[3:], min_foreground=3).flagged[0]


def test_quality_guard_input_checked() -> None:
    with pytest.raises(ShapeError, match=r"masks: expected shape \(N, H, W\), got \(10, 10\)"):
        mask_quality(np.zeros((10, 10), bool))
