"""Candidates are built by copying the clean image and writing the perturbed pixels, slot by slot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelspace.attack.encoding import Decoded
from pixelspace.attack.perturb import perturb


def _decoded(positions: list[list[int]], colors: list[list[list[int]]], applied: list[list[bool]]) -> Decoded:
    return Decoded(np.array(positions, dtype=np.int64), np.array(colors, dtype=np.uint8), np.array(applied))


def test_perturb_writes_pixels_in_order_and_copies() -> None:
    clean = torch.arange(2 * 3 * 4 * 5, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(2, 3, 4, 5)
    dec = _decoded([[7, 7], [0, 19], [3, 3]], [[[1, 2, 3], [4, 5, 6]], [[9, 9, 9], [8, 8, 8]], [[7, 7, 7], [6, 6, 6]]],
                   [[True, True], [True, True], [True, False]])
    out = perturb(clean, np.array([1, 0, 1]), dec)
    expected = clean[[1, 0, 1]].clone()
    for i, (positions, colours, applied) in enumerate(zip(dec.positions, dec.colors, dec.applied, strict=True)):
        for p, c, a in zip(positions, colours, applied, strict=True):  # slot by slot, so the last applied pixel wins
            if a:
                expected[i, :, p // 5, p % 5] = torch.from_numpy(c)
    assert torch.equal(out, expected)
    assert out[0, :, 1, 2].tolist() == [4, 5, 6]  # two pixels at position 7: the second wins
    assert out[2, :, 0, 3].tolist() == [7, 7, 7]  # the unapplied second slot leaves the first
    assert torch.equal(clean, torch.arange(120).remainder(256).to(torch.uint8).reshape(2, 3, 4, 5))


def test_perturb_keeps_channels_last_input_in_logical_order() -> None:
    clean = torch.randint(0, 256, (2, 3, 4, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    dec = _decoded([[13]], [[[1, 2, 3]]], [[True]])
    plain = perturb(clean, np.array([1]), dec)
    assert torch.equal(perturb(clean.contiguous(memory_format=torch.channels_last), np.array([1]), dec), plain)
    assert plain[0, :, 2, 3].tolist() == [1, 2, 3]


@pytest.mark.parametrize("position", [-1, 20])
def test_perturb_refuses_a_position_outside_the_image(position: int) -> None:
    clean = torch.zeros((1, 3, 4, 5), dtype=torch.uint8)
    with pytest.raises(IndexError, match=r"\[0, 20\) for 4x5 images"):
        perturb(clean, np.array([0, 0]), _decoded([[0], [position]], [[[1, 1, 1]], [[2, 2, 2]]], [[True], [True]]))
