"""Mutation strategies: a name -> function table (SciPy's structure).

Each function gets the population (P, D) of one problem, the index of its best member, the sampled donor
indices (P, 3) (distinct, and distinct from the member itself) and the mutation factor F, and returns the
mutant vectors (P, D). Binomial crossover is applied afterwards by the solver.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Strategy = Callable[[np.ndarray, int, np.ndarray, float], np.ndarray]


def rand1(population: np.ndarray, best: int, donors: np.ndarray, f: float) -> np.ndarray:
    """``v_i = x_r1 + F (x_r2 - x_r3)``: the paper's Eq. 11 (DE/rand/1)."""
    return population[donors[:, 0]] + f * (population[donors[:, 1]] - population[donors[:, 2]])


def best1(population: np.ndarray, best: int, donors: np.ndarray, f: float) -> np.ndarray:
    """``v_i = x_best + F (x_r1 - x_r2)``: DE/best/1, what the public one-pixel implementations run."""
    return population[best][None, :] + f * (population[donors[:, 0]] - population[donors[:, 1]])


STRATEGIES: dict[str, Strategy] = {"rand1bin": rand1, "best1bin": best1}


def get_strategy(name: str) -> Strategy:
    """Look up a strategy by name; an unknown name lists the valid ones."""
    from pixelspace.errors import ConfigError

    if name not in STRATEGIES:
        raise ConfigError(f"unknown DE strategy {name!r}; valid strategies: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]


def sample_donors(rng: np.random.Generator, population: int) -> np.ndarray:
    """Three distinct donor indices per member, each different from the member: int64 (P, 3).

    Draws r1 uniformly from the P-1 other members, r2 from the P-2 remaining, r3 from the P-3 remaining
    (vectorised by shifting past the excluded, sorted indices), so every ordered triple is equally likely.
    """
    if population < 4:
        raise ValueError(f"population must be >= 4 for three distinct donors, got {population}")
    own = np.arange(population)
    excluded = own[:, None]
    picks = []
    for k in range(3):
        r = rng.integers(0, population - 1 - k, size=population)
        ex_sorted = np.sort(excluded, axis=1)
        for j in range(ex_sorted.shape[1]):
            r = r + (r >= ex_sorted[:, j])
        picks.append(r)
        excluded = np.concatenate([excluded, r[:, None]], axis=1)
    return np.stack(picks, axis=1)
