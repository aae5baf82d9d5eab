"""Synthetic segmentation data: coloured shapes on textured backgrounds, with their true masks."""

from __future__ import annotations

import numpy as np


def textured_background(size: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 RGB (size, size, 3): green-grey diagonal stripes plus noise (a cluttered, non-flat background)."""
    yy, xx = np.mgrid[0:size, 0:size]
    stripes = ((xx + yy) // 3 % 2).astype(np.float32)
    base = np.stack([60 + 40 * stripes, 110 + 30 * stripes, 70 + 20 * stripes], axis=-1)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def shape_mask(kind: str, size: int) -> np.ndarray:
    """bool (size, size): a disc, a square or an off-centre ellipse, away from the border."""
    yy, xx = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2
    if kind == "disc":
        return np.asarray((yy - c) ** 2 + (xx - c) ** 2 <= (size * 0.28) ** 2)
    if kind == "square":
        lo, hi = int(size * 0.25), int(size * 0.75)
        return np.asarray((yy >= lo) & (yy < hi) & (xx >= lo) & (xx < hi))
    if kind == "ellipse":
        return np.asarray(((yy - c * 0.8) / (size * 0.22)) ** 2 + ((xx - c * 1.15) / (size * 0.32)) ** 2 <= 1)
    raise ValueError(kind)


def synthetic(kind: str, size: int = 32, seed: int = 0,
              colour: tuple[int, int, int] = (210, 40, 50)) -> tuple[np.ndarray, np.ndarray]:
    """One (image uint8 (size, size, 3), true mask bool (size, size)) pair: a noisy coloured shape."""
    rng = np.random.default_rng(seed)
    img = textured_background(size, rng)
    m = shape_mask(kind, size)
    fg = np.clip(np.array(colour, np.float32) + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    img[m] = fg[m]
    return img, m


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
