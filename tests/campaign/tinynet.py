"""A tiny seeded conv net for campaign tests (referenced by campaign files as ``tests.campaign.tinynet:tiny_cnn``)."""

from __future__ import annotations

import os
import time

import torch
from torch import nn

from tests.helpers import TwoPlantModel


class TinyCNN(nn.Module):
    """Float (N, 3, H, W) in [0, 1] -> logits (N, 10); ~1k parameters, any image size.

    ``$PIXELSPACE_TINY_DELAY`` (seconds) slows each forward call, so a subprocess can be killed mid-run.
    """

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.conv2 = nn.Conv2d(8, 10, 3, padding=1)
        self.delay = float(os.environ.get("PIXELSPACE_TINY_DELAY", "0"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.delay:
            time.sleep(self.delay)
        h = torch.relu(self.conv1(x - 0.5))
        return 8.0 * self.conv2(h).amax(dim=(2, 3))


def tiny_cnn() -> TinyCNN:
    """The test network with seed 0."""
    return TinyCNN(0)


def tiny_cnn_b() -> TinyCNN:
    """A second test network (seed 1)."""
    return TinyCNN(1)


class PlantedNet(TwoPlantModel):
    """``tests.helpers.TwoPlantModel`` (16x16 images, 3 classes: a pixel at plant A gives class 2, at plant B
    class 1), sleeping ``$PIXELSPACE_TINY_DELAY`` seconds per forward call like :class:`TinyCNN`."""

    def __init__(self) -> None:
        super().__init__()
        self.delay = float(os.environ.get("PIXELSPACE_TINY_DELAY", "0"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.delay:
            time.sleep(self.delay)
        return super().forward(x)


def planted() -> PlantedNet:
    """The planted test network (a campaign ``factory``)."""
    return PlantedNet()
