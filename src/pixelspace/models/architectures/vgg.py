"""VGG-16 (Simonyan & Zisserman, 2015, configuration D) adapted to 32x32 CIFAR-10 input.

The 13 3x3 convolutions (64, 64, M, 128, 128, M, 256 x3, M, 512 x3, M, 512 x3, M) with the common CIFAR head:
after five poolings the map is 1x1x512, followed by one linear layer 512 -> 10 (no 4096-wide layers).
Deviation (see docs/models.md): batch norm after every convolution.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelspace.models.architectures.common import CIFAR10_MEAN, CIFAR10_STD, Normalize, conv_bn_relu

VGG16_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)


class VGG16Cifar(nn.Module):
    """VGG-16 for CIFAR. Input float (N, 3, 32, 32) in [0, 1]; output logits (N, num_classes)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.normalize = Normalize(CIFAR10_MEAN, CIFAR10_STD)
        layers: list[nn.Module] = []
        cin = 3
        for item in VGG16_CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                assert isinstance(item, int)
                layers.append(conv_bn_relu(cin, item, 3))
                cin = item
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.normalize(x)).flatten(1))
