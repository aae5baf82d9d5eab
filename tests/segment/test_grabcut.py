"""GrabCut: accuracy on synthetic shapes, repeatability under a seed, hints, and input checks."""

from __future__ import annotations

import numpy as np
import pytest

from pixelspace.errors import ConfigError, DTypeError, RegionError, ShapeError
from pixelspace.segment import HINT_BACKGROUND, HINT_FOREGROUND, HINT_UNKNOWN, GrabCut
from tests.segment.synthetic import iou, synthetic


@pytest.mark.parametrize("segmenter", [GrabCut(), GrabCut(init="centre"), GrabCut(scale=1, iterations=3)],
                         ids=["rect-default", "centre", "rect-scale1"])
def test_synthetic_shapes_iou(shapes: tuple[np.ndarray, np.ndarray], segmenter: GrabCut) -> None:
    images, truth = shapes
    masks = segmenter(images)
    assert masks.shape == truth.shape and masks.dtype == np.bool_
    for i in range(len(images)):
        assert iou(masks[i], truth[i]) >= 0.9, f"image {i}: IoU {iou(masks[i], truth[i]):.3f}"


def test_two_tone_object_on_noisy_background() -> None:
    """An object of two colours (a striped shape) is still found as one foreground."""
    img, truth = synthetic("disc", size=40, seed=5, colour=(220, 60, 60))
    yy = np.mgrid[0:40, 0:40][0]
    img[truth & (yy % 6 < 3)] = (240, 220, 90)
    assert iou(GrabCut()(img[None])[0], truth) >= 0.9


def test_same_seed_same_mask_independent_of_batch(shapes: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = shapes
    seg = GrabCut(seed=7, scale=2)
    a = seg(images)
    b = seg(images[::-1])[::-1]
    c = np.concatenate([seg(images[i : i + 1]) for i in range(len(images))])
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_repeatable_on_a_natural_image() -> None:
    """On a real CIFAR image, GrabCut's k-means start depends on the seed: the seed fixes the mask."""
    from pixelspace.data.samples import load_cifar10_sample

    img = load_cifar10_sample().images[1:3]
    seg = GrabCut(seed=3, scale=2)
    first = seg(img)
    assert np.array_equal(first, seg(img))
    assert np.array_equal(first, GrabCut(scale=2)(img, seeds=[3, 3]))
    assert not np.array_equal(GrabCut(seed=0, scale=2)(img), GrabCut(seed=1, scale=2)(img))


def test_seeds_per_image_length_checked(shapes: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ShapeError, match="seeds: expected one seed per image \\(3\\), got 2"):
        GrabCut()(shapes[0], seeds=[1, 2])


def test_hints_fix_definite_pixels(shapes: tuple[np.ndarray, np.ndarray]) -> None:
    images, truth = shapes
    hints = np.full(truth.shape, HINT_UNKNOWN, np.uint8)
    hints[0, 1:4, 1:4] = HINT_FOREGROUND  # claim a background corner as foreground
    hints[1][truth[1]] = HINT_BACKGROUND  # declare the whole object background
    masks = GrabCut()(images, hints=hints)
    assert masks[0, 1:4, 1:4].all()
    assert not masks[1][truth[1]].any()
    assert iou(masks[2], truth[2]) >= 0.9  # no hint: unchanged behaviour


def test_hints_all_foreground_gives_full_mask(shapes: tuple[np.ndarray, np.ndarray]) -> None:
    images, truth = shapes
    hints = np.full(truth.shape, HINT_FOREGROUND, np.uint8)
    assert GrabCut(scale=1)(images[:1], hints=hints[:1]).all()


def test_uniform_image_does_not_crash() -> None:
    masks = GrabCut()(np.full((1, 32, 32, 3), 128, np.uint8))
    assert masks.shape == (1, 32, 32)


def test_grayscale_batch_rejected() -> None:
    with pytest.raises(ShapeError, match=r"images: expected RGB images of shape \(N, H, W, 3\), got shape \(2, 32, 32\).*grayscale"):
        GrabCut()(np.zeros((2, 32, 32), np.uint8))


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        (np.zeros((1, 32, 32, 4), np.uint8), ShapeError, r"got shape \(1, 32, 32, 4\)"),
        (np.zeros((1, 32, 32, 3), np.float32), DTypeError, "expected dtype uint8.*got float32"),
        (np.zeros((0, 32, 32, 3), np.uint8), ShapeError, "non-empty"),
        ([[1, 2, 3]], DTypeError, "got list"),
        (np.zeros((1, 2, 2, 3), np.uint8), ShapeError, "size 2x2 leaves no rectangle inside a margin of 1"),
    ],
)
def test_bad_images(images: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        GrabCut()(images)  # type: ignore[arg-type]


def test_hint_of_wrong_size(shapes: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(RegionError, match="hints: hint maps of size 16x16 do not match the images of size 32x32"):
        GrabCut()(shapes[0], hints=np.zeros((3, 16, 16), np.uint8))
    with pytest.raises(DTypeError, match="hints: expected dtype uint8"):
        GrabCut()(shapes[0], hints=np.zeros((3, 32, 32), bool))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"init": "box"}, "init: expected one of rect, centre, got 'box'"), ({"margin": 0}, "margin: expected an integer >= 1"),
     ({"iterations": 0}, "iterations"), ({"scale": 0}, "scale"), ({"prior": 1.5}, "prior")],
)
def test_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GrabCut(**kwargs)  # type: ignore[arg-type]


def test_settings_record_everything() -> None:
    assert GrabCut(seed=4).settings() == {"method": "grabcut", "init": "rect", "margin": 1, "iterations": 5,
                                          "scale": 6, "prior": 0.6, "seed": 4}
