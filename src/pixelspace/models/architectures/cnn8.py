"""CNN-8: a small, fast CIFAR-10 network (not from the paper) for quick demos, tests and benchmarks.

Six 3x3 conv-BN-ReLU layers (32, 32, M, 64, 64, M, 128, 128, M), global average pooling, linear 128 -> 10;
about 0.29 M parameters and 39 M multiply-adds per image, ~8x cheaper than VGG-16 (CIFAR).
"""

from __future__ import annotations

import torch
from torch import nn

from pixelspace.models.architectures.common import CIFAR10_MEAN, CIFAR10_STD, Normalize, conv_bn_relu


class CNN8(nn.Module):
    """Input float (N, 3, 32, 32) in [0, 1]; output logits (N, num_classes)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.normalize = Normalize(CIFAR10_MEAN, CIFAR10_STD)
        self.features = nn.Sequential(
            conv_bn_relu(3, 32, 3), conv_bn_relu(32, 32, 3), nn.MaxPool2d(2),
            conv_bn_relu(32, 64, 3), conv_bn_relu(64, 64, 3), nn.MaxPool2d(2),
            conv_bn_relu(64, 128, 3), conv_bn_relu(128, 128, 3), nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(self.normalize(x))).flatten(1))
