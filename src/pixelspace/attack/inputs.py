"""Validation and normalisation of the attack's public inputs (images, regions, seeds)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pixelspace.errors import ConfigError, DTypeError, RegionError, ShapeError
from pixelspace.search.de import check_seed

log = logging.getLogger(__name__)


def images_to_uint8_nchw(images: Any) -> tuple[np.ndarray, str, bool]:
    """Convert the caller's images to uint8 NCHW NumPy.

    Accepts uint8 NumPy (N, H, W, 3), or a torch tensor (N, 3, H, W) that is uint8 or float in [0, 1].

    Returns:
        (uint8 array (N, 3, H, W), the caller's layout "NHWC"|"NCHW", whether the caller used torch).

    Raises:
        ShapeError: wrong rank or channel count, or an empty batch (N = 0).
        DTypeError: another dtype, a float outside [0, 1], or a float containing NaN or infinity.
    """
    if isinstance(images, torch.Tensor | np.ndarray) and images.ndim == 4 and images.shape[0] == 0:
        raise ShapeError(f"images: the batch is empty (shape {tuple(images.shape)}); pass at least one image")
    if isinstance(images, torch.Tensor):
        t = images.detach().cpu()
        if t.ndim != 4 or t.shape[1] != 3:
            raise ShapeError(f"images tensor must have shape (N, 3, H, W); got {tuple(t.shape)}")
        if t.dtype == torch.uint8:
            return t.numpy().copy(), "NCHW", True
        if not t.is_floating_point():
            raise DTypeError(f"images tensor must be uint8 or float in [0, 1]; got dtype {t.dtype}")
        if torch.isnan(t).any():
            raise DTypeError(f"float images contain NaN ({int(torch.isnan(t).sum())} values); they must lie in [0, 1]")
        if torch.isinf(t).any():
            raise DTypeError(f"float images contain infinity ({int(torch.isinf(t).sum())} values); they must lie in "
                             "[0, 1]")
        if t.min() < 0 or t.max() > 1:
            raise DTypeError(
                f"float images must lie in [0, 1]; got range [{t.min().item():.3f}, {t.max().item():.3f}]"
            )
        scaled = t.double() * 255.0
        q = torch.round(scaled)
        if (scaled - q).abs().max() > 1e-3:
            log.warning("float images are not on the 1/255 grid; the attack works on their uint8 rounding")
        return q.to(torch.uint8).numpy(), "NCHW", True
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[3] != 3:
            raise ShapeError(f"images array must have shape (N, H, W, 3) RGB; got {images.shape}")
        if images.dtype != np.uint8:
            raise DTypeError(f"images array must be uint8 (0-255); got dtype {images.dtype}")
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2)), "NHWC", False
    raise DTypeError(f"images must be a NumPy array or a torch tensor; got {type(images).__name__}")


def regions_to_masks(regions: Any, n: int, height: int, width: int, pixels: int) -> np.ndarray:
    """Validate regions: None (whole image), bool (H, W) shared, or bool (N, H, W); returns bool (N, H, W)."""
    if regions is None:
        if pixels > height * width:
            raise RegionError(f"the whole image has {height * width} pixels ({height}x{width}), fewer than "
                              f"pixels={pixels}")
        return np.ones((n, height, width), dtype=bool)
    arr = regions.detach().cpu().numpy() if isinstance(regions, torch.Tensor) else np.asarray(regions)
    if arr.dtype != bool:
        if np.issubdtype(arr.dtype, np.integer) and np.isin(arr, (0, 1)).all():
            arr = arr.astype(bool)
        elif np.issubdtype(arr.dtype, np.integer):
            values = np.unique(arr)
            shown = ", ".join(str(v) for v in values[:5]) + (", ..." if values.size > 5 else "")
            raise DTypeError(f"regions must be a bool mask (or 0/1 integers); got {arr.dtype} values {{{shown}}}: "
                             "for a 0/255 mask PNG pass `mask > 0`")
        else:
            raise DTypeError(f"regions must be a bool mask (or 0/1 integers); got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = np.broadcast_to(arr, (n, *arr.shape))
    if arr.ndim != 3 or arr.shape != (n, height, width):
        raise ShapeError(f"regions must have shape ({height}, {width}) or ({n}, {height}, {width}); got {arr.shape}")
    counts = arr.reshape(n, -1).sum(axis=1)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise RegionError(f"region of image {int(empty[0])} is empty (images {empty[:10].tolist()}); nothing to attack")
    small = np.flatnonzero(counts < pixels)
    if small.size:
        i = int(small[0])
        raise RegionError(f"region of image {i} has {int(counts[i])} pixels, fewer than pixels={pixels}")
    return np.ascontiguousarray(arr)


def attack_seeds(seed: int | Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    """One 63-bit seed per attack: an int gives attack ``i`` the stream of ``(seed, i)``; a sequence is used as is.

    Raises:
        ConfigError: a negative seed, or a sequence of the wrong length or type.
    """
    check_seed(seed)
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        ss = np.random.SeedSequence(int(seed))
        children = ss.spawn(n)
        return np.array([int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children], dtype=np.int64)
    arr = np.asarray(seed)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ConfigError(f"seed must be an int or one seed per attack ({n}); got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer) or (arr < 0).any():
        raise ConfigError("per-attack seeds must be non-negative integers")
    return arr.astype(np.int64)
