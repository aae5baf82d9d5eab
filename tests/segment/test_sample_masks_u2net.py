"""The shipped U²-Netp masks of the 1,000-image CIFAR-10 sample, and choosing the shipped masks by method."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from pixelspace.data.samples import asset_path, load_cifar10_sample
from pixelspace.errors import ConfigError, DataError
from pixelspace.segment import MIN_REGION_PIXELS, SampleMasks, U2Net, load_cifar10_sample_masks, mask_quality
from pixelspace.segment.masks import SAMPLE_MASK_FILES, save_sample_masks
from pixelspace.segment.u2net import U2NETP_SHA256, shipped_weights
from tests.segment.synthetic import iou


@pytest.fixture(scope="module")
def shipped() -> SampleMasks:
    return load_cifar10_sample_masks(method="u2net")


def test_shape_ids_and_settings(shipped: SampleMasks) -> None:
    assert shipped.foreground.shape == (1000, 32, 32) and shipped.foreground.dtype == np.bool_
    assert shipped.ids == load_cifar10_sample().ids
    assert shipped.settings["method"] == "u2net"
    assert {"weights", "weights_sha256", "threshold", "size", "upscale", "downscale", "onnxruntime",
            "opencv"} <= set(shipped.settings)
    assert shipped.settings["threshold"] == 0.5 and shipped.settings["size"] == 320
    assert shipped.settings["upscale"] == "cv2.INTER_CUBIC"
    # not the GrabCut masks under another name
    grabcut = load_cifar10_sample_masks()
    assert grabcut.settings["method"] == "grabcut"
    assert not np.array_equal(grabcut.foreground, shipped.foreground)


def test_recorded_model_hash_is_the_shipped_onnx(shipped: SampleMasks) -> None:
    assert shipped.settings["weights"] == shipped_weights().name
    assert shipped.settings["weights_sha256"] == U2NETP_SHA256
    assert hashlib.sha256(shipped_weights().read_bytes()).hexdigest() == shipped.settings["weights_sha256"]


def test_masks_reproduce_from_their_settings(shipped: SampleMasks) -> None:
    """A fresh U²-Netp run gives the shipped masks: exactly on the recorded onnxruntime (checked bit-stable
    across runs and thread counts here), else IoU >= 0.98 per image (a threshold crossing of a few pixels)."""
    seg = U2Net(threshold=float(shipped.settings["threshold"]), size=int(shipped.settings["size"]))  # type: ignore[arg-type, call-overload]
    idx = [0, 257, 613, 999]
    again = seg(load_cifar10_sample().images[idx])
    if shipped.settings["onnxruntime"] == onnxruntime.__version__:
        assert np.array_equal(again, shipped.foreground[idx])
    else:
        assert min(iou(a, b) for a, b in zip(again, shipped.foreground[idx], strict=True)) >= 0.98


def test_recorded_quality_matches_the_masks(shipped: SampleMasks) -> None:
    """The asset records which images the quality guard drops (readable with numpy alone); the record agrees
    with the guard run on the masks, and ``SampleMasks.quality`` gives the same."""
    q = mask_quality(shipped.foreground)
    with np.load(asset_path(SAMPLE_MASK_FILES["u2net"]), allow_pickle=False) as z:
        assert tuple(str(r) for r in z["quality_reasons"]) == q.reasons
        assert int(z["setting_min_pixels"]) == MIN_REGION_PIXELS
    assert shipped.quality.reasons == q.reasons
    assert 0 < int(q.flagged.sum()) < 1000


def test_inconsistent_quality_record_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "bad.npz"
    save_sample_masks(p, np.zeros((1, 8, 8), bool), ["a"], {"method": "u2net", "min_pixels": 20}, packed=True)
    with np.load(p, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["quality_reasons"] = np.array([""])  # an empty mask recorded as usable
    np.savez(p, **arrays)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"quality_reasons\[0\].*does not match"):
        load_cifar10_sample_masks(p)


def test_unknown_method_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"method: unknown .*'deeplab'.*valid methods are grabcut, u2net"):
        load_cifar10_sample_masks(method="deeplab")


def test_default_stays_grabcut() -> None:
    assert load_cifar10_sample_masks().settings["method"] == "grabcut"


def test_a_file_of_another_method_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "grabcut.npz"
    save_sample_masks(p, np.zeros((2, 4, 4), bool), ["a.png", "b.png"], {"method": "grabcut"})
    assert load_cifar10_sample_masks(p).settings["method"] == "grabcut"
    with pytest.raises(DataError, match="holds 'grabcut' masks, not 'u2net'"):
        load_cifar10_sample_masks(p, method="u2net")


def test_packed_file_round_trips(tmp_path: Path) -> None:
    """Masks written as packed bits (a width that is not a multiple of 8) load back unchanged."""
    rng = np.random.default_rng(0)
    fg = rng.random((3, 5, 13)) < 0.4
    p = tmp_path / "packed.npz"
    save_sample_masks(p, fg, ["a", "b", "c"], {"method": "u2net"}, packed=True)
    with np.load(p, allow_pickle=False) as z:
        assert "foreground" not in z and z["foreground_bits"].shape == (3, 5, 2)
    back = load_cifar10_sample_masks(p, method="u2net")
    assert np.array_equal(back.foreground, fg) and back.ids == ("a", "b", "c")
