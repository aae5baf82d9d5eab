"""The paper's three CIFAR-10 architectures: shapes, parameter counts derived by hand, normalisation inside."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pixelspace.models.architectures import CNN8, AllConv, NiN, VGG16Cifar
from pixelspace.models.architectures.common import CIFAR10_MEAN, CIFAR10_STD, Normalize

ARCHS: dict[str, type[nn.Module]] = {"allconv": AllConv, "nin": NiN, "vgg16": VGG16Cifar, "cnn8": CNN8}


def conv(cin: int, cout: int, k: int, bias: bool = False) -> int:
    """Parameters of a k x k convolution (biases are dropped where batch norm follows)."""
    return cin * cout * k * k + (cout if bias else 0)


def bn(c: int) -> int:
    """Batch-norm parameters: a scale and a shift per channel (running statistics are buffers)."""
    return 2 * c


# All-CNN-C (Springenberg et al. 2015, Table 2, model C): 3x3 96, 3x3 96, 3x3 96 /2, 3x3 192, 3x3 192,
# 3x3 192 /2, 3x3 192 valid, 1x1 192, 1x1 10, global average pooling; BN after all convs but the last.
ALLCONV_PARAMS = (
    conv(3, 96, 3) + bn(96)          # 2,592 + 192
    + conv(96, 96, 3) + bn(96)       # 82,944 + 192
    + conv(96, 96, 3) + bn(96)       # 82,944 + 192 (stride 2)
    + conv(96, 192, 3) + bn(192)     # 165,888 + 384
    + conv(192, 192, 3) + bn(192)    # 331,776 + 384
    + conv(192, 192, 3) + bn(192)    # 331,776 + 384 (stride 2)
    + conv(192, 192, 3) + bn(192)    # 331,776 + 384 (valid: 8x8 -> 6x6)
    + conv(192, 192, 1) + bn(192)    # 36,864 + 384
    + conv(192, 10, 1, bias=True)    # 1,920 + 10
)

# Network in Network (Lin et al. 2014, the Caffe CIFAR-10 model): 5x5 192 -> 1x1 160 -> 1x1 96, max pool;
# 5x5 192 -> 1x1 192 -> 1x1 192, average pool; 3x3 192 -> 1x1 192 -> 1x1 10, global average pooling.
NIN_PARAMS = (
    conv(3, 192, 5) + bn(192)        # 14,400 + 384
    + conv(192, 160, 1) + bn(160)    # 30,720 + 320
    + conv(160, 96, 1) + bn(96)      # 15,360 + 192
    + conv(96, 192, 5) + bn(192)     # 460,800 + 384
    + conv(192, 192, 1) + bn(192)    # 36,864 + 384
    + conv(192, 192, 1) + bn(192)    # 36,864 + 384
    + conv(192, 192, 3) + bn(192)    # 331,776 + 384
    + conv(192, 192, 1) + bn(192)    # 36,864 + 384
    + conv(192, 10, 1, bias=True)    # 1,920 + 10
)

# VGG-16 (Simonyan & Zisserman 2015, configuration D): 13 3x3 convs 64,64 | 128,128 | 256 x3 | 512 x3 | 512 x3,
# each with BN; after five 2x2 poolings a 32x32 input is 1x1x512; CIFAR head: one linear layer 512 -> 10.
_VGG_WIDTHS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
VGG16_PARAMS = (
    sum(conv(cin, cout, 3) + bn(cout) for cin, cout in zip([3, *_VGG_WIDTHS[:-1]], _VGG_WIDTHS, strict=True))
    + 512 * 10 + 10
)


_CNN8_WIDTHS = [32, 32, 64, 64, 128, 128]
CNN8_PARAMS = (
    sum(conv(cin, cout, 3) + bn(cout) for cin, cout in zip([3, *_CNN8_WIDTHS[:-1]], _CNN8_WIDTHS, strict=True))
    + 128 * 10 + 10
)


def test_hand_counts() -> None:
    # the sums above, spelled out once more: conv weights + BN scale/shift + the last layer
    assert ALLCONV_PARAMS == 1_368_490 + 2_496 == 1_370_986
    assert NIN_PARAMS == 965_578 + 2_816 == 968_394
    assert VGG16_PARAMS == 14_710_464 + 8_448 + 5_130 == 14_724_042
    assert CNN8_PARAMS == 286_560 + 896 + 1_290 == 288_746


@pytest.mark.parametrize(("arch", "expected"), [("allconv", ALLCONV_PARAMS), ("nin", NIN_PARAMS),
                                                ("vgg16", VGG16_PARAMS), ("cnn8", CNN8_PARAMS)])
def test_parameter_count(arch: str, expected: int) -> None:
    model = ARCHS[arch]()
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_output_shape_and_finite(arch: str) -> None:
    model = ARCHS[arch]().eval()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = model(x)
    assert out.shape == (2, 10) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("arch", ["allconv", "nin"])
def test_num_classes(arch: str) -> None:
    with torch.inference_mode():
        assert ARCHS[arch](num_classes=7).eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 7)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_normalisation_is_inside_the_model(arch: str) -> None:
    # a model maps float [0, 1] input: its first layer sees (x - mean) / std, and mean/std travel in the weights
    model = ARCHS[arch]().eval()
    assert isinstance(getattr(model, "normalize", None), Normalize)
    state = model.state_dict()
    assert torch.allclose(state["normalize.mean"].flatten(), torch.tensor(CIFAR10_MEAN))
    assert torch.allclose(state["normalize.std"].flatten(), torch.tensor(CIFAR10_STD))
    seen: list[torch.Tensor] = []
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    first_conv.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        model(x)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(seen[0], (x - mean) / std)


def test_normalize_maps_the_mean_image_to_zero() -> None:
    norm = Normalize(CIFAR10_MEAN, CIFAR10_STD)
    mean_image = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    assert torch.allclose(norm(mean_image), torch.zeros(1, 3, 4, 4))


def test_spatial_sizes_follow_the_papers() -> None:
    # All-CNN-C: 32 -> 16 -> 8 -> 6 (valid 3x3) before global pooling; NiN: 32 -> 16 -> 8; VGG: 32 -> 1
    x = torch.zeros(1, 3, 32, 32)
    with torch.inference_mode():
        assert AllConv().eval().features(x).shape == (1, 10, 6, 6)
        assert NiN().eval().features(x).shape == (1, 10, 8, 8)
        assert VGG16Cifar().eval().features(x).shape == (1, 512, 1, 1)


def test_vgg16_has_13_convolutions_and_one_linear_layer() -> None:
    model = VGG16Cifar()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [c.out_channels for c in convs] == _VGG_WIDTHS
    assert len(linears) == 1 and (linears[0].in_features, linears[0].out_features) == (512, 10)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 13


@pytest.mark.parametrize(("arch", "bns", "convs"), [("allconv", 8, 9), ("nin", 8, 9)])
def test_batch_norm_after_every_conv_but_the_last(arch: str, bns: int, convs: int) -> None:
    model = ARCHS[arch]()
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == convs
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == bns


def test_eval_mode_is_deterministic() -> None:
    model = NiN().eval()  # dropout off in eval mode
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        assert torch.equal(model(x), model(x))
