"""The shipped GrabCut masks of the 1,000-image CIFAR-10 sample."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pixelspace.data.samples import load_cifar10_sample
from pixelspace.errors import DataError
from pixelspace.segment import GrabCut, SampleMasks, load_cifar10_sample_masks, mask_quality
from tests.segment.synthetic import iou


@pytest.fixture(scope="module")
def shipped() -> SampleMasks:
    return load_cifar10_sample_masks()


def test_shape_ids_and_settings(shipped: SampleMasks) -> None:
    assert shipped.foreground.shape == (1000, 32, 32) and shipped.foreground.dtype == np.bool_
    assert len(shipped) == 1000
    assert shipped.ids == load_cifar10_sample().ids
    assert shipped.settings["method"] == "grabcut"
    assert {"init", "margin", "iterations", "scale", "prior", "seed", "opencv"} <= set(shipped.settings)


def test_most_masks_pass_the_quality_guard(shipped: SampleMasks) -> None:
    q = mask_quality(shipped.foreground)
    assert q.ok.mean() >= 0.9, f"only {q.ok.mean():.1%} of the shipped masks pass"
    assert 0.15 < q.foreground_fraction[q.ok].mean() < 0.6


def test_masks_reproduce_from_their_settings(shipped: SampleMasks) -> None:
    """Recomputing three masks with the recorded settings gives the shipped ones (exactly, on the same OpenCV)."""
    kwargs = {k: v for k, v in shipped.settings.items() if k not in ("method", "opencv")}
    seg = GrabCut(**kwargs)  # type: ignore[arg-type]
    idx = [0, 401, 902]
    again = seg(load_cifar10_sample().images[idx])
    if shipped.settings["opencv"] == cv2.__version__:
        assert np.array_equal(again, shipped.foreground[idx])
    else:
        assert np.mean([iou(a, b) for a, b in zip(again, shipped.foreground[idx], strict=True)]) > 0.8


def test_missing_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="mask file not found"):
        load_cifar10_sample_masks(tmp_path / "none.npz")
    np.savez(tmp_path / "bad.npz", masks=np.zeros((1, 2, 2), bool))
    with pytest.raises(DataError, match=r"lacks the 'foreground' \(or 'foreground_bits'\) and 'ids' arrays"):
        load_cifar10_sample_masks(tmp_path / "bad.npz")
