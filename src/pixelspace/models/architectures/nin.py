"""Network in Network (Lin et al., 2014) for CIFAR-10, the widely used Caffe-model-zoo configuration.

Three mlpconv blocks: 5x5 conv 192 -> 1x1 160 -> 1x1 96, 3x3 max pool stride 2, dropout;
5x5 conv 192 -> 1x1 192 -> 1x1 192, 3x3 average pool stride 2, dropout; 3x3 conv 192 -> 1x1 192 -> 1x1 10,
global average pooling. Deviation (see docs/models.md): batch norm after every conv but the last.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelspace.models.architectures.common import CIFAR10_MEAN, CIFAR10_STD, Normalize, conv_bn_relu


class NiN(nn.Module):
    """Network in Network. Input float (N, 3, 32, 32) in [0, 1]; output logits (N, num_classes)."""

    def __init__(self, num_classes: int = 10, dropout: float = 0.3) -> None:
        super().__init__()
        self.normalize = Normalize(CIFAR10_MEAN, CIFAR10_STD)
        self.features = nn.Sequential(
            conv_bn_relu(3, 192, 5),
            conv_bn_relu(192, 160, 1),
            conv_bn_relu(160, 96, 1),
            nn.MaxPool2d(3, stride=2, padding=1),
            nn.Dropout(dropout),
            conv_bn_relu(96, 192, 5),
            conv_bn_relu(192, 192, 1),
            conv_bn_relu(192, 192, 1),
            nn.AvgPool2d(3, stride=2, padding=1),
            nn.Dropout(dropout),
            conv_bn_relu(192, 192, 3),
            conv_bn_relu(192, 192, 1),
            nn.Conv2d(192, num_classes, 1),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(self.normalize(x))).flatten(1)
