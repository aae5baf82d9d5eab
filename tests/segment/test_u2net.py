"""U²-Net through onnxruntime: the shipped weights, plumbing end to end, thresholds and weight errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from pixelspace.errors import ConfigError, WeightsError
from pixelspace.segment import U2Net
from pixelspace.segment.u2net import U2NETP_SHA256, _preprocess, shipped_weights
from tests.segment.synthetic import synthetic


@pytest.fixture(scope="module")
def u2net() -> U2Net:
    return U2Net(threads=1)


def test_shipped_weights_are_the_documented_file() -> None:
    path = shipped_weights()
    assert path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == U2NETP_SHA256


def test_end_to_end_on_a_small_image(u2net: U2Net) -> None:
    img, _ = synthetic("disc", size=24, seed=0)
    sal = u2net.saliency(img[None])
    assert sal.shape == (1, 24, 24) and sal.dtype == np.float32
    assert 0.0 <= sal.min() <= sal.max() <= 1.0
    masks = u2net(img[None])
    assert masks.shape == (1, 24, 24) and masks.dtype == np.bool_
    assert np.array_equal(masks, sal >= u2net.threshold)


def test_preprocessing_matches_the_reference_recipe() -> None:
    """Resize to size x size, divide by the image's max, then ImageNet mean/std, NCHW float32."""
    img = np.empty((8, 8, 3), np.uint8)
    img[:] = (200, 100, 0)
    x = _preprocess(img, 16)
    assert x.shape == (1, 3, 16, 16) and x.dtype == np.float32
    expected = (np.array([1.0, 0.5, 0.0]) - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(x[0, :, 5, 9], expected, atol=1e-5)
    assert np.isfinite(_preprocess(np.zeros((8, 8, 3), np.uint8), 16)).all()  # a black image: no division by 0


def test_missing_and_corrupt_weights(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        U2Net(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not an onnx model")
    with pytest.raises(WeightsError, match="cannot load .*bad.onnx"):
        U2Net(bad)


def test_bad_threshold() -> None:
    with pytest.raises(ConfigError, match=r"threshold: expected a saliency level in \[0, 1\], got 1.5"):
        U2Net(threshold=1.5)


def test_imagenet_sample_has_a_foreground(shared_data: Path, u2net: U2Net) -> None:
    """On a real ImageNet photo (an orange) U²-Netp finds a foreground that is neither empty nor everything."""
    from pixelspace.segment import mask_quality, read_image

    files = sorted((shared_data / "imagenet-samples").glob("*_orange.JPEG"))
    if not files:
        pytest.skip("no *_orange.JPEG in imagenet-samples")
    img = read_image(files[0])
    q = mask_quality(u2net(img[None]))
    assert not q.flagged[0]
    assert 0.05 < q.foreground_fraction[0] < 0.95


def test_resampling_names_what_preprocessing_does() -> None:
    """A CIFAR-sized image is upscaled with bicubic, a photo larger than the input on both sides is shrunk with
    area averaging; the map always comes back bilinear. The names are those recorded with shipped masks."""
    from pixelspace.segment.u2net import resampling

    assert resampling(32, 32, 320) == ("cv2.INTER_CUBIC", "cv2.INTER_LINEAR")
    assert resampling(480, 640, 320) == ("cv2.INTER_AREA", "cv2.INTER_LINEAR")
    assert resampling(300, 640, 320)[0] == "cv2.INTER_CUBIC"  # smaller than the input on one side
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    by_hand = cv2.resize(img, (320, 320), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    by_hand = (by_hand / by_hand.max() - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(_preprocess(img, 320)[0].transpose(1, 2, 0), by_hand, atol=1e-5)
