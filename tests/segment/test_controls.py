"""Control regions: random (same pixel count, seeded), centre and border."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelspace.errors import ConfigError, DTypeError
from pixelspace.segment import REGION_NAMES, border_region, centre_region, make_region, random_region


@pytest.fixture
def fg() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.random((4, 12, 16)) < np.array([0.1, 0.3, 0.6, 0.0])[:, None, None]


def test_random_has_the_foreground_count_and_is_seeded(fg: np.ndarray) -> None:
    r = random_region(fg, seed=5)
    assert r.shape == fg.shape and r.dtype == np.bool_
    assert r.sum(axis=(1, 2)).tolist() == fg.sum(axis=(1, 2)).tolist()
    assert np.array_equal(r, random_region(fg, seed=5))
    assert np.array_equal(r, random_region(fg, seed=np.random.default_rng(5)))
    assert not np.array_equal(r, random_region(fg, seed=6))


def test_random_per_image_seeds_do_not_depend_on_the_batch(fg: np.ndarray) -> None:
    seeds = [11, 12, 13, 14]
    batch = random_region(fg, seed=seeds)
    for i in range(len(fg)):
        assert np.array_equal(batch[i], random_region(fg[i : i + 1], seed=[seeds[i]])[0])


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), p=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_random_count_property(h: int, w: int, p: float, seed: int) -> None:
    fg = np.random.default_rng(seed).random((h, w)) < p
    assert int(random_region(fg, seed=seed).sum()) == int(fg.sum())


def test_centre_and_border(fg: np.ndarray) -> None:
    c, b = centre_region(fg), border_region(fg)
    assert c.sum(axis=(1, 2)).tolist() == fg.sum(axis=(1, 2)).tolist()
    assert np.array_equal(b, ~c)
    assert b.sum(axis=(1, 2)).tolist() == (~fg).sum(axis=(1, 2)).tolist()
    assert c[2, 5:7, 7:9].all()  # the four centre pixels of a 12x16 image
    assert b[2, 0, :].all() and b[2, :, 0].all()  # the frame is the border
    assert not c[3].any()  # an empty foreground gives an empty centre


def test_centre_fraction_is_a_centred_rectangle() -> None:
    c = centre_region(np.zeros((8, 8), bool), fraction=0.25)
    assert c.sum() == 16 and c[2:6, 2:6].all()
    with pytest.raises(ConfigError, match="fraction"):
        centre_region(np.zeros((8, 8), bool), fraction=2.0)


def test_make_region(fg: np.ndarray) -> None:
    assert set(REGION_NAMES) == {"whole", "foreground", "background", "random", "centre", "border"}
    assert make_region("whole", fg).all()
    assert np.array_equal(make_region("background", fg), ~fg)
    assert np.array_equal(make_region("random", fg, seed=3), random_region(fg, seed=3))
    with pytest.raises(ConfigError, match="unknown region 'middle'; valid regions are whole, foreground"):
        make_region("middle", fg)
    with pytest.raises(ConfigError, match="needs a seed"):
        make_region("random", fg)
    with pytest.raises(DTypeError, match="foreground: expected a numpy bool mask"):
        make_region("centre", fg.astype(np.uint8))
