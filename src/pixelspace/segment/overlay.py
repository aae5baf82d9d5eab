"""Overlays for a person to check masks: the image beside a copy with the background tinted and the
foreground outlined, nearest-neighbour upscaled, laid out as a PNG grid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from pixelspace.errors import ConfigError, DataError, ShapeError
from pixelspace.segment._validate import check_images, check_masks

#: RGB colour of the foreground outline.
OUTLINE = (255, 255, 0)
#: RGB colour the background is blended towards, and the blend weight.
TINT, TINT_WEIGHT = (0, 0, 120), 0.65
_PAD, _GAP, _LABEL = 4, 2, 12


def overlay(images: np.ndarray, masks: np.ndarray, *, scale: int = 4) -> np.ndarray:
    """Images with the background tinted dark blue and the foreground outlined in yellow.

    Args:
        images: uint8 RGB, shape (N, H, W, 3).
        masks: bool foreground, shape (N, H, W).
        scale: integer nearest-neighbour upscaling factor.

    Returns:
        uint8 RGB, shape (N, H*scale, W*scale, 3).
    """
    images = check_images(images)
    masks = check_masks(masks, like=images)
    if int(scale) < 1:
        raise ConfigError(f"scale: expected an integer >= 1, got {scale!r}")
    big = images.repeat(scale, axis=1).repeat(scale, axis=2)
    m = masks.repeat(scale, axis=1).repeat(scale, axis=2)
    out = big.astype(np.float32)
    tint = np.array(TINT, np.float32)
    out[~m] = out[~m] * (1.0 - TINT_WEIGHT) + tint * TINT_WEIGHT
    out8 = out.astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    for i in range(len(m)):
        padded = np.pad(m[i].astype(np.uint8), 1)  # outside the image counts as background
        inner = cv2.erode(padded, kernel)[1:-1, 1:-1].astype(bool)
        out8[i][m[i] & ~inner] = OUTLINE
    return out8


def overlay_grid(
    images: np.ndarray,
    masks: np.ndarray,
    *,
    columns: int = 10,
    scale: int = 4,
    pairs: bool = True,
    labels: Sequence[str] | None = None,
) -> np.ndarray:
    """A grid of overlays (optionally beside the plain image) on a white background.

    Args:
        images: uint8 RGB, shape (N, H, W, 3).
        masks: bool foreground, shape (N, H, W).
        columns: tiles per row.
        scale: nearest-neighbour upscaling factor of each image.
        pairs: put the plain image left of its overlay.
        labels: optional N short captions (for example the image index) drawn above each tile.

    Returns:
        uint8 RGB grid image (rows, cols, 3).
    """
    images = check_images(images)
    masks = check_masks(masks, like=images)
    if int(columns) < 1:
        raise ConfigError(f"columns: expected an integer >= 1, got {columns!r}")
    if labels is not None and len(labels) != len(images):
        raise ShapeError(f"labels: expected {len(images)} captions (one per image), got {len(labels)}")
    ov = overlay(images, masks, scale=scale)
    tiles = ov
    if pairs:
        big = images.repeat(scale, axis=1).repeat(scale, axis=2)
        gap = np.full((*big.shape[:2], _GAP, 3), 255, np.uint8)
        tiles = np.concatenate([big, gap, ov], axis=2)
    n, th, tw = tiles.shape[:3]
    lab = _LABEL if labels is not None else 0
    cols = min(int(columns), n)
    rows = -(-n // cols)
    grid = np.full((_PAD + rows * (th + lab + _PAD), _PAD + cols * (tw + _PAD), 3), 255, np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        y, x = _PAD + r * (th + lab + _PAD), _PAD + c * (tw + _PAD)
        if labels is not None:
            cv2.putText(grid, str(labels[k])[: max(tw // 7, 1)], (x, y + lab - 3), cv2.FONT_HERSHEY_PLAIN, 0.8,
                        (0, 0, 0), 1, cv2.LINE_AA)
        grid[y + lab : y + lab + th, x : x + tw] = tiles[k]
    return grid


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 RGB image (H, W, 3) as PNG (OpenCV, so converted to BGR on the way)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(p), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise DataError(f"path: could not write PNG {p}")
    return p


def save_overlay_grids(
    folder: str | Path,
    images: np.ndarray,
    masks: np.ndarray,
    *,
    per_grid: int = 100,
    labels: Sequence[str] | None = None,
    columns: int = 10,
    scale: int = 4,
    prefix: str = "overlay",
) -> list[Path]:
    """Write overlay grids of at most ``per_grid`` images each as ``<prefix>_000.png``, ``<prefix>_001.png`` ...

    Args:
        folder: output folder (created if missing).
        images: uint8 RGB, shape (N, H, W, 3).
        masks: bool foreground, shape (N, H, W).
        per_grid: images per grid file.
        labels: optional N captions.
        columns: tiles per row.
        scale: nearest-neighbour upscaling factor.
        prefix: file name prefix.

    Returns:
        The written paths.
    """
    images = check_images(images)
    masks = check_masks(masks, like=images)
    paths = []
    for g, start in enumerate(range(0, len(images), per_grid)):
        sl = slice(start, start + per_grid)
        grid = overlay_grid(images[sl], masks[sl], columns=columns, scale=scale,
                            labels=None if labels is None else list(labels)[sl])
        paths.append(write_png(Path(folder) / f"{prefix}_{g:03d}.png", grid))
    return paths
