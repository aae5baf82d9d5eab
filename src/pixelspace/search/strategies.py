"""Mutation strategies: a name -> function table (SciPy's structure).

Each function gets the populations (A, P, D) of A problems, the index of each one's best member (A,), the
sampled donor indices (A, P, 3) (distinct, and distinct from the member itself) and the mutation factors F
(A,), and returns the mutant vectors (A, P, D). Binomial crossover is applied afterwards by the solver.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Strategy = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _members(population: np.ndarray, index: np.ndarray) -> np.ndarray:
    """population (A, P, D) gathered at index (A, P) -> (A, P, D)."""
    return np.take_along_axis(population, index[:, :, None], axis=1)


def rand1(population: np.ndarray, best: np.ndarray, donors: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``v_i = x_r1 + F (x_r2 - x_r3)``: the paper's Eq. 11 (DE/rand/1)."""
    r1, r2, r3 = (_members(population, donors[..., k]) for k in range(3))
    return r1 + f[:, None, None] * (r2 - r3)


def best1(population: np.ndarray, best: np.ndarray, donors: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``v_i = x_best + F (x_r1 - x_r2)``: DE/best/1, what the public one-pixel implementations run."""
    x_best = population[np.arange(population.shape[0]), best][:, None, :]
    r1, r2 = (_members(population, donors[..., k]) for k in range(2))
    return x_best + f[:, None, None] * (r1 - r2)


STRATEGIES: dict[str, Strategy] = {"rand1bin": rand1, "best1bin": best1}


def get_strategy(name: str) -> Strategy:
    """Look up a strategy by name; an unknown name lists the valid ones."""
    from pixelspace.errors import ConfigError

    if name not in STRATEGIES:
        raise ConfigError(f"unknown DE strategy {name!r}; valid strategies: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]


def draw_donors(rng: np.random.Generator, population: int) -> np.ndarray:
    """The raw draws behind :func:`sample_donors`: int64 (3, P), row k uniform in [0, P-1-k)."""
    if population < 4:
        raise ValueError(f"population must be >= 4 for three distinct donors, got {population}")
    return np.stack([rng.integers(0, population - 1 - k, size=population) for k in range(3)])


def donors_from_draws(draws: np.ndarray) -> np.ndarray:
    """Map raw draws (A, 3, P) of :func:`draw_donors` to donor indices (A, P, 3): three distinct indices per
    member, each different from the member.

    r1 is drawn from the P-1 other members, r2 from the P-2 remaining, r3 from the P-3 remaining; a draw is
    mapped to an index by shifting it past the excluded indices in sorted order, so every ordered triple is
    equally likely.
    """
    a, _, p = draws.shape
    excluded = np.broadcast_to(np.arange(p)[None, :, None], (a, p, 1))
    picks = []
    for k in range(3):
        r = draws[:, k, :]
        ex_sorted = np.sort(excluded, axis=2)
        for j in range(ex_sorted.shape[2]):
            r = r + (r >= ex_sorted[:, :, j])
        picks.append(r)
        excluded = np.concatenate([excluded, r[:, :, None]], axis=2)
    return np.stack(picks, axis=2)


def sample_donors(rng: np.random.Generator, population: int) -> np.ndarray:
    """Three distinct donor indices per member of one population, each different from the member: int64 (P, 3)."""
    return donors_from_draws(draw_donors(rng, population)[None])[0]
