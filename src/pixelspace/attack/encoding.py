"""Candidate encoding: genes in the unit cube <-> perturbed pixel positions and colours.

Per perturbed pixel, ``restrict`` mode uses 5 genes ``(row, col, r, g, b)`` over the whole image and drops
(restores) pixels outside the region; ``index`` mode uses 4 genes ``(i, r, g, b)`` where ``i`` indexes the
region's own pixel list. Coordinates are floored, colours rounded to 0..255.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

RegionMode = Literal["restrict", "index"]
GENES_PER_PIXEL: dict[str, int] = {"restrict": 5, "index": 4}


@dataclass(frozen=True)
class Regions:
    """Per-attack regions as flat pixel sets.

    Attributes:
        mask: bool (A, H*W), True inside the region.
        pixel_lists: int64 (A, L) flat indices of each region's pixels (row-major), padded with 0.
        counts: int64 (A,), pixels per region.
        height, width: image size.
    """

    mask: np.ndarray
    pixel_lists: np.ndarray
    counts: np.ndarray
    height: int
    width: int

    @classmethod
    def from_masks(cls, masks: np.ndarray) -> Regions:
        """Build from bool masks (A, H, W)."""
        a, h, w = masks.shape
        flat = masks.reshape(a, h * w)
        counts = flat.sum(axis=1).astype(np.int64)
        lists = np.zeros((a, max(int(counts.max()) if a else 0, 1)), dtype=np.int64)
        for i in range(a):
            idx = np.flatnonzero(flat[i])
            lists[i, : idx.size] = idx
        return cls(flat.copy(), lists, counts, h, w)


@dataclass(frozen=True)
class Decoded:
    """Decoded candidates: flat positions (B, k) int64, colours (B, k, 3) uint8, applied (B, k) bool
    (False where restrict mode restored a pixel outside the region)."""

    positions: np.ndarray
    colors: np.ndarray
    applied: np.ndarray


def decode(genes: np.ndarray, rows: np.ndarray, regions: Regions, mode: RegionMode, pixels: int) -> Decoded:
    """Turn genes (B, pixels * genes_per_pixel) of attacks ``rows`` (B,) into pixel perturbations."""
    g = GENES_PER_PIXEL[mode]
    b = genes.shape[0]
    assert genes.shape[1] == pixels * g
    per = genes.reshape(b, pixels, g)
    colors = np.clip(np.rint(per[:, :, g - 3 :] * 255.0), 0, 255).astype(np.uint8)
    h, w = regions.height, regions.width
    if mode == "restrict":
        r = np.minimum((per[:, :, 0] * h).astype(np.int64), h - 1)
        c = np.minimum((per[:, :, 1] * w).astype(np.int64), w - 1)
        pos = r * w + c
        applied = regions.mask[rows[:, None], pos]
    else:
        n = regions.counts[rows][:, None]
        i = np.minimum((per[:, :, 0] * n).astype(np.int64), n - 1)
        pos = regions.pixel_lists[rows[:, None], i]
        applied = np.ones_like(pos, dtype=bool)
    return Decoded(pos, colors, applied)
