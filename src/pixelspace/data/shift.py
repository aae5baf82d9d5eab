"""Translation with reflect padding: the shift the CIFAR-10 networks saw in training (reflect-pad random crops).

``shift_images(x, (dy, dx))`` moves the content of every image down by ``dy`` and right by ``dx`` pixels (negative:
up / left) and fills the uncovered strip with the mirror image of the content next to it, exactly as cropping a
reflect-padded copy does (``torch.nn.functional.pad(..., mode="reflect")``, the edge pixel not repeated). The
same function moves a mask with its image, so a pixel ``p`` of the original lands at ``p + s`` in both.

``place_images(x, s, "in-place")`` is the control that separates the two things a shift does: it shows the content
``shift_images(x, s)`` keeps at its original position, the strip the shift pushes out replaced by the mirror of the
content next to it (``shift_images(shift_images(x, s), -s)``). The shifted image is that image moved by ``s``,
pixel for pixel (``shift_images(place_images(x, s, "in-place"), s) == shift_images(x, s)`` wherever the shift is
under half the image, 2 |dy| < H and 2 |dx| < W), so comparing the two isolates the move with the content held
fixed.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from pixelspace.errors import ShapeError

#: How a shifted campaign places its images: ``"move"`` (the content moves by the shift) or ``"in-place"`` (the
#: content the shift keeps, left where it was).
ShiftMode = Literal["move", "in-place"]
SHIFT_MODES: tuple[ShiftMode, ...] = ("move", "in-place")


def shift_images(images: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Images (or masks) moved by ``shift = (dy, dx)`` pixels, reflect-padded.

    Args:
        images: (N, H, W) or (N, H, W, C) array of any dtype (uint8 images, bool masks).
        shift: (rows down, columns right); each of magnitude < H (rows) and < W (columns), as reflect padding
            needs.

    Returns:
        An array of the same shape and dtype: ``out[:, y, x] = images[:, y - dy, x - dx]`` where that lies
        inside the image, the reflection of the image across its edge elsewhere.

    Raises:
        ShapeError: fewer than 3 dimensions, or a shift too large for reflect padding.
    """
    if images.ndim < 3:
        raise ShapeError(f"shift_images expects (N, H, W) or (N, H, W, C), got shape {images.shape}")
    dy, dx = (int(s) for s in shift)
    h, w = images.shape[1], images.shape[2]
    if abs(dy) >= h or abs(dx) >= w:
        raise ShapeError(f"shift {(dy, dx)} is too large for {h}x{w} images (reflect padding needs |dy| < {h}, "
                         f"|dx| < {w})")
    if dy == 0 and dx == 0:
        return images.copy()
    pad = [(0, 0), (max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0))] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, pad, mode="reflect")
    top, left = max(-dy, 0), max(-dx, 0)
    return np.ascontiguousarray(padded[:, top : top + h, left : left + w])


def place_images(images: np.ndarray, shift: tuple[int, int], mode: ShiftMode = "move") -> np.ndarray:
    """Images (or masks) as a shifted campaign attacks them.

    Args:
        images: (N, H, W) or (N, H, W, C) array of any dtype.
        shift: (rows down, columns right), as for :func:`shift_images`.
        mode: ``"move"``: :func:`shift_images`; ``"in-place"``: the content that shift keeps at its original
            position, the strip it pushes out (``|dy|`` rows and ``|dx|`` columns on the far side) replaced by the
            mirror of the content next to it.

    Raises:
        ValueError: an unknown mode.
        ShapeError: as :func:`shift_images`.
    """
    if mode not in SHIFT_MODES:
        raise ValueError(f"shift mode must be one of {', '.join(SHIFT_MODES)}, got {mode!r}")
    moved = shift_images(images, shift)
    if mode == "move":
        return moved
    return shift_images(moved, (-int(shift[0]), -int(shift[1])))
