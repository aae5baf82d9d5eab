"""Input checks shared by the segmenters (public entry points call these once; internals assert)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pixelspace.errors import DTypeError, RegionError, ShapeError


def check_images(images: object, name: str = "images") -> np.ndarray:
    """Check a batch of RGB images and return it as a C-contiguous array.

    Args:
        images: uint8 RGB, shape (N, H, W, 3).
        name: the argument name used in error messages.

    Returns:
        The same data as a C-contiguous uint8 array of shape (N, H, W, 3).

    Raises:
        DTypeError: not a numpy array, or not uint8.
        ShapeError: wrong rank, a grayscale or RGBA batch, an empty batch or an empty image.
    """
    if not isinstance(images, np.ndarray):
        raise DTypeError(f"{name}: expected a numpy uint8 array of shape (N, H, W, 3), got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise DTypeError(f"{name}: expected dtype uint8 (values 0-255), got {images.dtype}")
    if images.ndim == 3:
        raise ShapeError(
            f"{name}: expected RGB images of shape (N, H, W, 3), got shape {images.shape}; "
            "a grayscale batch (N, H, W) must be converted to RGB first, and a single image needs a batch axis"
        )
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ShapeError(f"{name}: expected RGB images of shape (N, H, W, 3), got shape {images.shape}")
    if images.shape[0] == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise ShapeError(f"{name}: expected a non-empty batch of non-empty images, got shape {images.shape}")
    return np.ascontiguousarray(images)


def check_masks(masks: object, name: str = "masks", like: np.ndarray | None = None) -> np.ndarray:
    """Check a batch of boolean masks, optionally against the images they belong to.

    Args:
        masks: bool, shape (N, H, W).
        name: the argument name used in error messages.
        like: images (N, H, W, 3) or masks (N, H, W) whose N, H, W the masks must match.

    Returns:
        The masks as a bool array (N, H, W).

    Raises:
        DTypeError: not a numpy bool array.
        ShapeError: not (N, H, W), or a batch size different from ``like``.
        RegionError: mask ``i`` has a different height/width from image ``i``.
    """
    if not isinstance(masks, np.ndarray):
        raise DTypeError(f"{name}: expected a numpy bool array of shape (N, H, W), got {type(masks).__name__}")
    if masks.dtype != np.bool_:
        raise DTypeError(f"{name}: expected dtype bool, got {masks.dtype}")
    if masks.ndim != 3:
        raise ShapeError(f"{name}: expected shape (N, H, W), got {masks.shape}")
    if like is not None:
        if masks.shape[0] != like.shape[0]:
            raise ShapeError(f"{name}: expected {like.shape[0]} masks (one per image), got {masks.shape[0]}")
        if masks.shape[1:3] != like.shape[1:3]:
            raise RegionError(
                f"{name}: masks of size {masks.shape[1]}x{masks.shape[2]} (H x W) do not match the images "
                f"of size {like.shape[1]}x{like.shape[2]} (every image, from index 0)"
            )
    return masks


def check_ids(ids: Sequence[str] | None, n: int, name: str = "ids") -> list[str]:
    """Check there is one string id per image and return them as a list."""
    if ids is None:
        raise ShapeError(f"{name}: expected {n} image ids, got None")
    if isinstance(ids, str):
        raise ShapeError(f"{name}: expected a sequence of {n} image ids, got a single string {ids!r}")
    out = [str(i) for i in ids]
    if len(out) != n:
        raise ShapeError(f"{name}: expected {n} image ids (one per image), got {len(out)}")
    return out


def per_image_seeds(seed: int | Sequence[int], n: int, name: str = "seed") -> list[int]:
    """One integer seed per image: an int is used for every image, a sequence must have length ``n``."""
    if isinstance(seed, int | np.integer):
        return [int(seed)] * n
    seeds = [int(s) for s in seed]
    if len(seeds) != n:
        raise ShapeError(f"{name}: expected one seed per image ({n}), got {len(seeds)}")
    return seeds
