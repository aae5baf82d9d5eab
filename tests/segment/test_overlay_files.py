"""Overlays, image-file segmentation and the ``pixelspace segment`` command."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from pixelspace.cli import cli
from pixelspace.errors import ConfigError, DataError, RegionError
from pixelspace.segment import (
    GrabCut,
    load_masks,
    make_segmenter,
    overlay,
    overlay_grid,
    read_image,
    segment_files,
)
from pixelspace.segment.overlay import OUTLINE
from tests.segment.synthetic import iou, synthetic


def test_overlay_tints_background_and_outlines_foreground() -> None:
    img = np.full((1, 6, 6, 3), 200, np.uint8)
    m = np.zeros((1, 6, 6), bool)
    m[0, 2:4, 2:4] = True
    ov = overlay(img, m, scale=3)
    assert ov.shape == (1, 18, 18, 3) and ov.dtype == np.uint8
    assert tuple(ov[0, 0, 0]) != (200, 200, 200)  # tinted background
    assert tuple(ov[0, 6, 6]) == OUTLINE  # the foreground's edge
    assert tuple(ov[0, 8, 8]) == (200, 200, 200)  # the foreground's inside is untouched


def test_overlay_grid_layout() -> None:
    imgs = np.zeros((7, 4, 5, 3), np.uint8)
    g = overlay_grid(imgs, np.zeros((7, 4, 5), bool), columns=3, scale=2)
    tile_w = 2 * 5 * 2 + 2
    assert g.shape == (4 + 3 * (8 + 4), 4 + 3 * (tile_w + 4), 3)
    assert overlay_grid(imgs, np.zeros((7, 4, 5), bool), columns=3, scale=2, labels=list("abcdefg")).shape[0] > g.shape[0]


def test_overlay_rejects_mismatched_masks() -> None:
    with pytest.raises(RegionError, match="masks of size 4x4 .* do not match the images of size 4x5"):
        overlay(np.zeros((1, 4, 5, 3), np.uint8), np.zeros((1, 4, 4), bool))


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    for k, (kind, cls) in enumerate([("disc", "cat"), ("square", "dog")]):
        img, _ = synthetic(kind, seed=k)
        (root / cls).mkdir(parents=True)
        cv2.imwrite(str(root / cls / f"{k:04d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return root


def test_segment_files_writes_masks_overlays_and_quality(image_dir: Path, tmp_path: Path) -> None:
    rep = segment_files([image_dir], GrabCut(), tmp_path / "out", progress=False)
    assert [p.name for p in rep.masks] == ["cat__0000.png", "dog__0001.png"]
    assert len(rep.overlays) == 1 and rep.overlays[0].is_file() and rep.flagged == ()
    masks = load_masks(tmp_path / "out" / "masks", ["cat/0000.png", "dog/0001.png"])
    assert iou(masks[0], synthetic("disc", seed=0)[1]) >= 0.9
    rows = list(csv.DictReader(rep.quality.open()))
    assert [r["id"] for r in rows] == ["cat/0000.png", "dog/0001.png"] and rows[0]["flag"] == ""


def test_segment_files_with_root_and_mixed_sizes(image_dir: Path, tmp_path: Path) -> None:
    big = np.zeros((40, 60, 3), np.uint8)
    big[10:30, 20:40] = (255, 0, 0)
    cv2.imwrite(str(image_dir / "cat" / "big.png"), big)
    rep = segment_files([image_dir / "cat"], GrabCut(scale=1), tmp_path / "o", root=image_dir.parent, progress=False)
    assert sorted(p.name for p in rep.masks) == ["imgs__cat__0000.png", "imgs__cat__big.png"]


def test_read_image_errors(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="cannot read image"):
        read_image(tmp_path / "x.png")
    with pytest.raises(DataError, match="no such file or folder"):
        segment_files([tmp_path / "none.png"], GrabCut(), tmp_path / "o", progress=False)


def test_make_segmenter() -> None:
    assert make_segmenter("grabcut", seed=3) == GrabCut(seed=3)
    with pytest.raises(ConfigError, match="unknown segmentation method 'snake'; valid methods are grabcut, u2net"):
        make_segmenter("snake")
    with pytest.raises(ConfigError, match="only the 'u2net' method"):
        make_segmenter("grabcut", threshold=0.3)
    with pytest.raises(ConfigError, match="only the 'grabcut' method takes a seed"):
        make_segmenter("u2net", seed=1)


def test_cli_segment(image_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    res = CliRunner().invoke(cli, ["segment", "--method", "grabcut", str(image_dir), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (out / "masks" / "cat__0000.png").is_file() and (out / "overlays" / "overlay_000.png").is_file()
    assert "2 images" in res.output
    bad = CliRunner().invoke(cli, ["segment", "--method", "snake", str(image_dir), "--out", str(out)])
    assert bad.exit_code != 0 and "snake" in bad.output


def test_every_segmenter_takes_the_same_call(tmp_path: Path) -> None:
    from pixelspace.segment import Full, MaskFiles, save_masks

    img, truth = synthetic("disc", seed=0)
    save_masks(truth[None], ["a/0.png"], tmp_path)
    for seg in (GrabCut(scale=2), Full(), MaskFiles(tmp_path)):
        masks = seg(img[None], ids=["a/0.png"], progress=False)
        assert masks.shape == (1, 32, 32) and masks.dtype == np.bool_


def test_cli_segment_u2net(image_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "u2"
    res = CliRunner().invoke(cli, ["segment", "--method", "u2net", str(image_dir / "cat" / "0000.png"), "--out", str(out),
                                   "--threshold", "0.3", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (out / "masks" / "0000.png").is_file() and (out / "quality.csv").is_file()
    bad = CliRunner().invoke(cli, ["segment", "--method", "grabcut", str(image_dir), "--out", str(out), "--threshold", "0.3"])
    assert bad.exit_code != 0 and "only the 'u2net' method" in bad.output


def test_grayscale_and_rgba_images_are_read_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # issue 21: a grayscale PNG was expanded and an RGBA image's alpha dropped without a word
    from pixelspace.segment import read_image

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    bgra = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    bgra[..., 3] = 255
    bgra[0, :2, 3] = 0  # two transparent pixels
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    cv2.imwrite(str(tmp_path / "rgb.png"), bgra[..., :3])
    with caplog.at_level("WARNING", logger="pixelspace.segment.files"):
        g = read_image(tmp_path / "grey.png")
        assert [r.getMessage() for r in caplog.records] == [
            f"{tmp_path / 'grey.png'} is a grayscale image; its grey values are copied to R, G and B"]
        caplog.clear()
        a = read_image(tmp_path / "rgba.png")
        assert [r.getMessage() for r in caplog.records] == [
            f"{tmp_path / 'rgba.png'} has an alpha channel (2 pixels not fully opaque); it is dropped and the RGB "
            "values are used as stored"]
        caplog.clear()
        c = read_image(tmp_path / "rgb.png")
        assert caplog.records == []
    assert g.shape == (6, 5, 3) and (g == grey[..., None]).all()
    assert (a == bgra[..., 2::-1]).all() and (c == a).all()
