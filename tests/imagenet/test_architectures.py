"""ImageNet architectures: torchvision key names, parameter counts and loading, all without big allocations.

ResNet-50, VGG-16 and AlexNet are built on the ``meta`` device (shapes only, no memory), and weight files for
them hold meta tensors (``torch.save`` writes their shapes and no data), so the 138 M-parameter VGG-16 is
checked key by key and shape by shape without allocating it. ResNet-50 also does one real round trip.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pixelspace.errors import WeightsError
from pixelspace.models import get_spec, load, read_accuracy_records, shipped_weights_path
from pixelspace.models.architectures import AlexNet, EfficientNetLite0, ResNet50, VGG16ImageNet
from pixelspace.models.architectures.common import Normalize
from pixelspace.models.architectures.efficientnet_lite import Conv2dSame
from pixelspace.models.architectures.imagenet_common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    NORMALIZE_KEYS,
    ImageNetClassifier,
)

# parameter counts of torchvision's resnet50, vgg16 and alexnet (and of the EfficientNet-Lite0 weight file)
COUNTS = {"resnet50-imagenet": 25_557_032, "vgg16-imagenet": 138_357_544, "alexnet-imagenet": 61_100_840,
          "efficientnet-lite0-imagenet": 4_652_008}
BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def torchvision_resnet50_keys() -> list[str]:
    """The state-dict keys of torchvision's ``resnet50()``, written out from its naming scheme."""
    keys = ["conv1.weight", *(f"bn1.{b}" for b in BN)]
    for layer, blocks in enumerate((3, 4, 6, 3), start=1):
        for i in range(blocks):
            p = f"layer{layer}.{i}"
            for j in (1, 2, 3):
                keys += [f"{p}.conv{j}.weight", *(f"{p}.bn{j}.{b}" for b in BN)]
            if i == 0:
                keys += [f"{p}.downsample.0.weight", *(f"{p}.downsample.1.{b}" for b in BN)]
    return keys + ["fc.weight", "fc.bias"]


def linear_keys(prefix: str, indices: tuple[int, ...]) -> list[str]:
    return [f"{prefix}.{i}.{w}" for i in indices for w in ("weight", "bias")]


TORCHVISION_KEYS = {
    "resnet50-imagenet": torchvision_resnet50_keys(),
    "vgg16-imagenet": linear_keys("features", (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28))
    + linear_keys("classifier", (0, 3, 6)),
    "alexnet-imagenet": linear_keys("features", (0, 3, 6, 8, 10)) + linear_keys("classifier", (1, 4, 6)),
}
SPOT_SHAPES = {
    "resnet50-imagenet": {"conv1.weight": (64, 3, 7, 7), "layer2.0.conv2.weight": (128, 128, 3, 3),
                          "layer4.0.downsample.0.weight": (2048, 1024, 1, 1), "fc.weight": (1000, 2048)},
    "vgg16-imagenet": {"features.28.weight": (512, 512, 3, 3), "classifier.0.weight": (4096, 25088),
                       "classifier.6.weight": (1000, 4096)},
    "alexnet-imagenet": {"features.0.weight": (64, 3, 11, 11), "features.3.weight": (192, 64, 5, 5),
                         "classifier.1.weight": (4096, 9216), "classifier.6.bias": (1000,)},
}


def meta_model(name: str) -> nn.Module:
    with torch.device("meta"):
        return get_spec(name).factory()


def save_meta_state(path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    """A torchvision-style ``.pth`` of meta tensors: keys and shapes, no data."""
    with torch.device("meta"):
        state = {k: torch.empty(s, dtype=torch.int64 if k.endswith("num_batches_tracked") else torch.float32)
                 for k, s in shapes.items()}
    torch.save(state, path)
    return path


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_parameter_counts(name: str) -> None:
    model = meta_model(name)
    assert sum(p.numel() for p in model.parameters()) == COUNTS[name]
    assert get_spec(name).input_size == (224, 224) and get_spec(name).num_classes == 1000


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS))
def test_state_dict_keys_are_torchvisions(name: str) -> None:
    state = meta_model(name).state_dict()
    assert list(state) == [*sorted(NORMALIZE_KEYS), *TORCHVISION_KEYS[name]]  # torchvision's order, too
    for key, shape in SPOT_SHAPES[name].items():
        assert tuple(state[key].shape) == shape, key
    assert shipped_weights_path(name) is None  # no weights exist here for these three


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS))
def test_forward_shapes_on_meta(name: str) -> None:
    model = meta_model(name).eval()
    with torch.device("meta"):
        assert model(torch.empty(2, 3, 224, 224)).shape == (2, 1000)


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS))
@pytest.mark.parametrize("with_normalize", [False, True])
def test_a_torchvision_format_file_loads_by_name(name: str, with_normalize: bool, tmp_path: Path) -> None:
    shapes = {k: tuple(v.shape) for k, v in meta_model(name).state_dict().items()}
    if not with_normalize:  # a plain torchvision file has no normalize.* keys
        shapes = {k: s for k, s in shapes.items() if k not in NORMALIZE_KEYS}
    path = save_meta_state(tmp_path / f"{name}.pth", shapes)
    with torch.device("meta"):
        model = load(name, weights=path)
    assert not model.training and all(p.is_meta for p in model.parameters())


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS))
def test_files_that_do_not_fit_are_refused(name: str, tmp_path: Path) -> None:
    shapes = {k: tuple(v.shape) for k, v in meta_model(name).state_dict().items() if k not in NORMALIZE_KEYS}
    last = TORCHVISION_KEYS[name][-2]  # the final linear layer's weight
    cases = {
        "missing": ({k: s for k, s in shapes.items() if k != last}, "1 missing keys"),
        "unexpected": ({**shapes, "module.extra": (3,)}, "1 unexpected keys"),
        "shape": ({**shapes, last: (10, shapes[last][1])}, rf"{last}' has shape \(10, "),
    }
    for case, (bad, message) in cases.items():
        path = save_meta_state(tmp_path / f"{case}.pth", bad)
        with torch.device("meta"), pytest.raises(WeightsError, match=message):
            load(name, weights=path)


def test_resnet50_real_round_trip_from_a_torchvision_file(tmp_path: Path) -> None:
    """25.6 M real parameters: a plain torchvision-format ``.pth`` (no normalize keys) loads and runs."""
    source = ResNet50()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        source.get_parameter("fc.bias").copy_(torch.randn(1000, generator=gen))
        source.get_buffer("bn1.running_mean").copy_(torch.randn(64, generator=gen))
    state = {k: v for k, v in source.state_dict().items() if k not in NORMALIZE_KEYS}
    torch.save(state, tmp_path / "resnet50-torchvision.pth")
    model = load("resnet50-imagenet", weights=tmp_path / "resnet50-torchvision.pth")
    loaded = model.state_dict()
    for key in ("fc.bias", "bn1.running_mean", "layer3.5.conv2.weight"):
        assert torch.equal(loaded[key], state[key]), key
    assert torch.equal(model.get_buffer("normalize.mean").flatten(), torch.tensor(IMAGENET_MEAN))  # kept from the architecture
    assert torch.equal(model.get_buffer("normalize.std").flatten(), torch.tensor(IMAGENET_STD))
    with torch.inference_mode():
        out = model(torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


def test_normalisation_is_inside_the_models() -> None:
    for cls in (ResNet50, VGG16ImageNet, AlexNet):
        with torch.device("meta"):
            net = cls()
        assert isinstance(net, ImageNetClassifier) and isinstance(net.normalize, Normalize)
    base = ImageNetClassifier()  # the default the three share: torchvision's ImageNet mean/std
    assert torch.equal(base.normalize.mean.flatten(), torch.tensor(IMAGENET_MEAN))
    assert torch.equal(base.normalize.std.flatten(), torch.tensor(IMAGENET_STD))
    lite = EfficientNetLite0()  # found by measured accuracy: [-1, 1] inputs
    assert lite.normalize.mean.flatten().tolist() == [0.5] * 3 and lite.normalize.std.flatten().tolist() == [0.5] * 3
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(lite.normalize(x), 2 * x - 1)


# --- EfficientNet-Lite0 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "kernel", "stride"), [(224, 3, 2), (112, 3, 2), (56, 5, 2), (15, 5, 2), (14, 3, 1),
                                                        (7, 5, 1), (13, 3, 2)])
def test_conv2d_same_pads_like_tensorflow(size: int, kernel: int, stride: int) -> None:
    conv = Conv2dSame(2, 3, kernel, stride=stride)
    x = torch.randn(1, 2, size, size + 1)
    out = conv(x)
    assert out.shape[-2:] == (math.ceil(size / stride), math.ceil((size + 1) / stride))
    # TensorFlow "SAME": total = (out - 1) * stride + kernel - in, half before (rounded down), the rest after
    pads = []
    for n in (size + 1, size):
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    expected = F.conv2d(F.pad(x, pads), conv.weight, None, stride)
    assert torch.allclose(out, expected, atol=1e-5)


def test_efficientnet_lite0_keys_match_the_shipped_file() -> None:
    from safetensors import safe_open

    path = shipped_weights_path("efficientnet-lite0-imagenet")
    assert path is not None, "assets/weights/efficientnet-lite0-imagenet.safetensors must ship"
    model = EfficientNetLite0()
    own = model.state_dict()
    with safe_open(str(path), "pt") as f:
        keys = set(f.keys())
        assert keys == set(own) - NORMALIZE_KEYS  # the upstream file's keys exactly, in fp16
        assert f.get_tensor("_fc.weight").dtype == torch.float16
        assert f.get_tensor("_blocks.15._depthwise_conv.weight").shape == (1152, 1, 3, 3)
        assert f.metadata()["license"] == "Apache-2.0"
    assert len([k for k in keys if k.endswith("_expand_conv.weight")]) == 15  # block 0 has no expansion
    assert not any("_se_" in k for k in own)  # Lite: no squeeze-and-excitation


def test_efficientnet_lite0_reaches_its_recorded_accuracy_on_the_shipped_subset() -> None:
    from pixelspace.data.imagenet import load_imagenet_sample

    record = read_accuracy_records()["efficientnet-lite0-imagenet"]
    sample = load_imagenet_sample()
    model = load("efficientnet-lite0-imagenet")
    with torch.inference_mode():
        logits = model(torch.from_numpy(sample.images).permute(0, 3, 1, 2).float().div(255))
    accuracy = float((logits.argmax(1).numpy() == sample.labels).mean())
    assert record.sample_size == len(sample) == 50
    assert abs(accuracy - record.sample_accuracy) <= 1.001 / len(sample), (accuracy, record.sample_accuracy)
    assert accuracy >= 0.7 and np.isfinite(logits.numpy()).all()
