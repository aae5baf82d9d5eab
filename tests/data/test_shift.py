"""``shift_images``: content moves by (dy, dx), the uncovered strip is the reflect padding of training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelspace.data.shift import place_images, shift_images
from pixelspace.errors import ShapeError


@pytest.mark.parametrize("shift", [(4, 4), (-4, -4), (3, -2), (0, 5), (-1, 0)])
def test_shift_moves_content_and_reflects_like_training_crops(shift: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(3, 12, 10, 3), dtype=np.uint8)
    out = shift_images(x, shift)
    dy, dx = shift
    assert out.shape == x.shape and out.dtype == x.dtype
    h, w = x.shape[1:3]
    for y in range(h):
        for c in range(w):
            if 0 <= y - dy < h and 0 <= c - dx < w:
                np.testing.assert_array_equal(out[:, y, c], x[:, y - dy, c - dx])
    # the whole result equals a crop of the reflect-padded copy, as models/training.augment takes it
    p = 5
    padded = torch.nn.functional.pad(torch.from_numpy(x).permute(0, 3, 1, 2).float(), (p, p, p, p), mode="reflect")
    crop = padded[:, :, p - dy : p - dy + h, p - dx : p - dx + w].permute(0, 2, 3, 1).numpy().astype(np.uint8)
    np.testing.assert_array_equal(out, crop)


def test_shift_moves_a_mask_with_its_image() -> None:
    mask = np.zeros((1, 8, 8), dtype=bool)
    mask[0, 2:4, 3:5] = True
    moved = shift_images(mask, (2, -1))
    assert moved.dtype == bool
    # rows 2-3 move to 4-5; row 0 is the reflection of the original row 2 (edge row 0 not repeated)
    assert set(zip(*np.nonzero(moved[0]), strict=True)) == {(4, 2), (4, 3), (5, 2), (5, 3), (0, 2), (0, 3)}


def test_zero_shift_is_a_copy_and_bad_input_is_named() -> None:
    x = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    out = shift_images(x, (0, 0))
    np.testing.assert_array_equal(out, x)
    assert out is not x
    with pytest.raises(ShapeError, match="too large"):
        shift_images(x, (4, 0))
    with pytest.raises(ShapeError, match=r"\(N, H, W\)"):
        shift_images(x[0], (1, 1))


@pytest.mark.parametrize("shift", [(4, 4), (-4, -4), (3, -2), (0, 4)])  # under half the 12 x 10 image
def test_in_place_keeps_the_shifted_content_where_it_was_and_the_move_is_exact(shift: tuple[int, int]) -> None:
    x = np.random.default_rng(1).integers(0, 256, size=(2, 12, 10, 3), dtype=np.uint8)
    dy, dx = shift
    h, w = x.shape[1:3]
    kept_rows = slice(max(-dy, 0), h - max(dy, 0))  # the rows and columns a move by the shift keeps
    kept_cols = slice(max(-dx, 0), w - max(dx, 0))
    here = place_images(x, shift, "in-place")
    np.testing.assert_array_equal(here[:, kept_rows, kept_cols], x[:, kept_rows, kept_cols])
    far = np.ones((h, w), dtype=bool)
    far[kept_rows, kept_cols] = False
    assert not np.array_equal(here[:, far], x[:, far])  # the strip the shift pushes out is replaced ...
    if dy > 0:  # ... by the mirror of the kept content (edge row not repeated)
        np.testing.assert_array_equal(here[:, h - dy:, kept_cols], x[:, h - dy - 2:h - 2 * dy - 2:-1, kept_cols])
    # the moved image is the in-place image moved, pixel for pixel: the control differs from it only by the move
    np.testing.assert_array_equal(shift_images(here, shift), place_images(x, shift, "move"))
    np.testing.assert_array_equal(place_images(x, shift, "move"), shift_images(x, shift))
    with pytest.raises(ValueError, match="move, in-place"):
        place_images(x, shift, "inplace")  # type: ignore[arg-type]
