"""Pieces shared by the architectures: input normalisation inside the model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` on float NCHW input in [0, 1]; stored as buffers so it travels with weights."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1, padding: int | None = None) -> nn.Sequential:
    """Convolution (no bias), batch norm, ReLU."""
    pad = kernel // 2 if padding is None else padding
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=pad, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )
