"""Candidate encoding: genes in the unit cube <-> perturbed pixel positions and colours.

Per perturbed pixel, ``restrict`` mode uses 5 genes ``(row, col, r, g, b)`` over the whole image and drops
(restores) pixels outside the region; ``index`` mode uses 4 genes ``(i, r, g, b)`` where ``i`` indexes the
region's own pixel list. Coordinates are floored, colours rounded to 0..255. :func:`encode` is the inverse
(pixels and colours to genes), used to seed a search with known pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pixelspace.errors import RegionError

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

    def __getitem__(self, index: slice | np.ndarray) -> Decoded:
        """The candidates at ``index`` (first axis)."""
        return Decoded(self.positions[index], self.colors[index], self.applied[index])


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


def encode(positions: np.ndarray, colors: np.ndarray, rows: np.ndarray, regions: Regions, mode: RegionMode) -> np.ndarray:
    """The inverse of :func:`decode`: genes that decode exactly to the given pixels and colours.

    Coordinates are encoded at the centre of their cell (``(row + 0.5) / H``; in index mode
    ``(rank + 0.5) / region_size`` with ``rank`` the pixel's place in the region's row-major list), colours as
    ``value / 255``, so ``decode(encode(...))`` returns the same positions and colours.

    Args:
        positions: int (B, k) flat pixel indices ``row * W + col``.
        colors: uint8 (B, k, 3) RGB.
        rows: int (B,) the attack (region) of each candidate.
        regions: the attacks' regions.
        mode: ``"restrict"`` or ``"index"``.

    Returns:
        float64 (B, k * genes_per_pixel) in [0, 1].

    Raises:
        RegionError: in index mode, a position outside its attack's region (it has no index there).
    """
    pos = np.asarray(positions, dtype=np.int64)
    b, k = pos.shape
    assert colors.shape == (b, k, 3) and rows.shape == (b,)
    h, w = regions.height, regions.width
    assert pos.min(initial=0) >= 0 and pos.max(initial=0) < h * w
    col_genes = colors.astype(np.float64) / 255.0
    if mode == "restrict":
        coord = np.stack([(pos // w + 0.5) / h, (pos % w + 0.5) / w], axis=-1)
    else:
        inside = regions.mask[rows[:, None], pos]
        if not inside.all():
            bad = int(rows[np.flatnonzero(~inside.all(axis=1))[0]])
            raise RegionError(f"index mode can only encode pixels inside the region; attack {bad} has one outside")
        rank = np.cumsum(regions.mask, axis=1)[rows[:, None], pos] - 1
        coord = ((rank + 0.5) / regions.counts[rows][:, None])[..., None]
    return np.concatenate([coord, col_genes], axis=-1).reshape(b, k * GENES_PER_PIXEL[mode])
