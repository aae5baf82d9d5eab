"""``ModelSpec``: what the registry knows about a model (a plain record; no registry, no loading)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its factory, input size, classes and the shipped weight file (if any)."""

    name: str
    factory: Callable[[], nn.Module]
    input_size: tuple[int, int]
    num_classes: int
    weights: str | None = None  # file name under pixelspace/assets/weights
