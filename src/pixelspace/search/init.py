"""Initial populations in the unit cube: Latin hypercube (the paper's choice) and uniform random."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def latin_hypercube(rng: np.random.Generator, population: int, dims: int) -> np.ndarray:
    """One Latin-hypercube sample per problem: each gene's [0, 1) range is cut into ``population`` strata
    and every stratum holds exactly one member (SciPy's ``init="latinhypercube"``).

    Returns:
        float64 array (population, dims) in [0, 1).
    """
    segsize = 1.0 / population
    samples = segsize * rng.uniform(size=(population, dims)) + np.linspace(0.0, 1.0, population, endpoint=False)[:, None]
    out = np.empty_like(samples)
    for j in range(dims):
        out[:, j] = samples[rng.permutation(population), j]
    return out


def uniform_random(rng: np.random.Generator, population: int, dims: int) -> np.ndarray:
    """Independent uniform draws in [0, 1); shape (population, dims)."""
    return rng.uniform(size=(population, dims))


INITIALIZERS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "latinhypercube": latin_hypercube,
    "random": uniform_random,
}
