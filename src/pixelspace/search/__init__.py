"""Batched Differential Evolution in the unit cube; knows vectors and fitness, nothing about images or models."""

from pixelspace.search.de import (
    DEConfig,
    DEState,
    DifferentialEvolution,
    MinimizeResult,
    minimize,
    rngs_from_seed,
)
from pixelspace.search.strategies import STRATEGIES, get_strategy, sample_donors

__all__ = [
    "STRATEGIES", "DEConfig", "DEState", "DifferentialEvolution", "MinimizeResult", "get_strategy", "minimize",
    "rngs_from_seed", "sample_donors",
]
