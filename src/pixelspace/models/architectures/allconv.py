"""All-CNN-C (Springenberg et al., 2015, "Striving for Simplicity"), for 32x32 CIFAR-10 input.

Layers as in the paper's Table 2 (model C): 3x3 conv 96, 3x3 conv 96, 3x3 conv 96 stride 2, 3x3 conv 192,
3x3 conv 192, 3x3 conv 192 stride 2, 3x3 conv 192 (valid), 1x1 conv 192, 1x1 conv 10, global average pooling.
Deviations (see docs/models.md): batch norm after every conv but the last (those convs lose their biases);
dropout 0.2 after each stride-2 conv and none on the input (the paper drops 20 % of the input and 50 % after
each strided conv, with a 350-epoch schedule).
"""

from __future__ import annotations

import torch
from torch import nn

from pixelspace.models.architectures.common import CIFAR10_MEAN, CIFAR10_STD, Normalize, conv_bn_relu


class AllConv(nn.Module):
    """All-CNN-C. Input float (N, 3, 32, 32) in [0, 1]; output logits (N, num_classes)."""

    def __init__(self, num_classes: int = 10, dropout: float = 0.2) -> None:
        super().__init__()
        self.normalize = Normalize(CIFAR10_MEAN, CIFAR10_STD)
        self.features = nn.Sequential(
            conv_bn_relu(3, 96, 3),
            conv_bn_relu(96, 96, 3),
            conv_bn_relu(96, 96, 3, stride=2, padding=1),
            nn.Dropout(dropout),
            conv_bn_relu(96, 192, 3),
            conv_bn_relu(192, 192, 3),
            conv_bn_relu(192, 192, 3, stride=2, padding=1),
            nn.Dropout(dropout),
            conv_bn_relu(192, 192, 3, padding=0),
            conv_bn_relu(192, 192, 1),
            nn.Conv2d(192, num_classes, 1),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(self.normalize(x))).flatten(1)
