"""Control regions: masks that separate a region's content from its area and position (beyond the paper).

A rectangle-initialised GrabCut makes the background mostly the image border, so a background effect could
come from the background's content, its area or its position. The controls tell these apart:

- ``random``: a seeded random set of pixels with exactly the foreground's pixel count (area, no position);
- ``centre``: the pixels closest to the image centre (concentric rectangles), with the foreground's count;
- ``border``: the complement of ``centre``, hence the background's pixel count.

Plus the plain regions ``whole``, ``foreground`` and ``background``. All functions take bool foreground masks
(H, W) or (N, H, W) and return masks of the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from pixelspace.errors import ConfigError, DTypeError, ShapeError

RegionName = Literal["whole", "foreground", "background", "random", "centre", "border"]
#: The region names :func:`make_region` accepts.
REGION_NAMES: tuple[str, ...] = get_args(RegionName)

SeedLike = int | np.integer | Sequence[int] | np.random.Generator


def _as_batch(foreground: object) -> tuple[np.ndarray, bool]:
    """(N, H, W) view of a bool mask batch, and whether the input was a single (H, W) mask."""
    if not isinstance(foreground, np.ndarray) or foreground.dtype != np.bool_:
        got = foreground.dtype if isinstance(foreground, np.ndarray) else type(foreground).__name__
        raise DTypeError(f"foreground: expected a numpy bool mask (H, W) or (N, H, W), got {got}")
    if foreground.ndim == 2:
        return foreground[None], True
    if foreground.ndim == 3:
        return foreground, False
    raise ShapeError(f"foreground: expected shape (H, W) or (N, H, W), got {foreground.shape}")


def _generators(seed: SeedLike, n: int) -> list[np.random.Generator]:
    """One generator per image: an int or Generator feeds all images in order; a sequence gives one seed each."""
    if isinstance(seed, np.random.Generator):
        return [seed] * n
    if isinstance(seed, int | np.integer):
        rng = np.random.default_rng(int(seed))
        return [rng] * n
    seeds = list(seed)
    if len(seeds) != n:
        raise ShapeError(f"seed: expected one seed per mask ({n}), got {len(seeds)}")
    return [np.random.default_rng(int(s)) for s in seeds]


def random_region(foreground: np.ndarray, *, seed: SeedLike) -> np.ndarray:
    """Random pixels, uniformly without replacement, as many as each mask's foreground.

    Args:
        foreground: bool (H, W) or (N, H, W).
        seed: an int or ``np.random.Generator`` (masks drawn in order from one stream), or one int per
            mask (each mask its own stream, independent of the batch: what campaigns pass).

    Returns:
        bool masks of the same shape, ``out[i].sum() == foreground[i].sum()``.

    Examples:
        >>> fg = np.zeros((8, 8), bool); fg[2:5, 2:5] = True
        >>> int(random_region(fg, seed=0).sum())
        9
    """
    batch, single = _as_batch(foreground)
    n, h, w = batch.shape
    rngs = _generators(seed, n)
    out = np.zeros_like(batch)
    flat = out.reshape(n, h * w)
    for i in range(n):
        count = int(batch[i].sum())
        flat[i, rngs[i].choice(h * w, size=count, replace=False)] = True
    return out[0] if single else out


def _centre_order(h: int, w: int) -> np.ndarray:
    """Flat pixel indices (h*w,) sorted by normalised Chebyshev distance to the centre (concentric rectangles);
    ties by Euclidean distance (a partial ring fills its sides before its corners), then row-major."""
    yy, xx = np.mgrid[0:h, 0:w]
    dy, dx = np.abs(yy - (h - 1) / 2) / h, np.abs(xx - (w - 1) / 2) / w
    return np.lexsort((np.hypot(dy, dx).ravel(), np.maximum(dy, dx).ravel()))


def centre_region(foreground: np.ndarray, *, fraction: float | None = None) -> np.ndarray:
    """The pixels nearest the image centre (a centred rectangle with the image's aspect ratio).

    Args:
        foreground: bool (H, W) or (N, H, W); gives the size and, unless ``fraction`` is set, the count.
        fraction: share of the image's pixels to take; default each mask's foreground count.

    Returns:
        bool masks of the same shape.
    """
    batch, single = _as_batch(foreground)
    n, h, w = batch.shape
    if fraction is not None and not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"fraction: expected a share of the image in [0, 1], got {fraction!r}")
    order = _centre_order(h, w)
    out = np.zeros_like(batch)
    flat = out.reshape(n, h * w)
    for i in range(n):
        count = int(round(fraction * h * w)) if fraction is not None else int(batch[i].sum())
        flat[i, order[:count]] = True
    return out[0] if single else out


def border_region(foreground: np.ndarray, *, fraction: float | None = None) -> np.ndarray:
    """The complement of :func:`centre_region`: a frame along the image border.

    Args:
        foreground: bool (H, W) or (N, H, W); by default the frame has each mask's background count.
        fraction: share of the image's pixels in the frame, instead.

    Returns:
        bool masks of the same shape.
    """
    return ~centre_region(foreground, fraction=None if fraction is None else 1.0 - fraction)


def make_region(name: str, foreground: np.ndarray, *, seed: SeedLike | None = None) -> np.ndarray:
    """The region called ``name`` for foreground masks (H, W) or (N, H, W), as bool masks of that shape.

    Args:
        name: one of :data:`REGION_NAMES`.
        foreground: bool foreground masks.
        seed: required for ``"random"`` (see :func:`random_region`).

    Raises:
        ConfigError: unknown name (lists the valid ones), or ``"random"`` without a seed.
    """
    batch, _ = _as_batch(foreground)
    if name == "whole":
        return np.ones_like(foreground)
    if name == "foreground":
        return foreground.copy()
    if name == "background":
        return ~foreground
    if name == "random":
        if seed is None:
            raise ConfigError("seed: the 'random' region needs a seed")
        return random_region(foreground, seed=seed)
    if name == "centre":
        return centre_region(foreground)
    if name == "border":
        return border_region(foreground)
    assert batch.ndim == 3
    raise ConfigError(f"name: unknown region {name!r}; valid regions are {', '.join(REGION_NAMES)}")
