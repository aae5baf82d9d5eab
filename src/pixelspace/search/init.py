"""Initial populations in the unit cube: Latin hypercube (the paper's choice), uniform random, and the check
of a caller-given population."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pixelspace.errors import DTypeError, ShapeError


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


def check_population(population: object, problems: int, size: int, dims: int, name: str = "population") -> np.ndarray:
    """Validate a caller-given initial population and return it as a float64 copy.

    Args:
        population: array-like (problems, size, dims) of genes in the unit cube [0, 1].
        problems, size, dims: the expected number of problems A, members P and genes D.
        name: the argument's name, used in error messages.

    Returns:
        float64 array (problems, size, dims), a copy (the caller's array is never modified).

    Raises:
        DTypeError: not a real-valued array, NaN/inf, or a gene outside [0, 1].
        ShapeError: the shape is not (problems, size, dims).
    """
    arr = np.asarray(population)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise DTypeError(f"{name} must be a real-valued array of genes in [0, 1]; got dtype {arr.dtype}")
    if arr.shape != (problems, size, dims):
        raise ShapeError(
            f"{name} must have shape (problems, population_size, genes) = ({problems}, {size}, {dims}); "
            f"got {arr.shape}"
        )
    out = arr.astype(np.float64)  # astype copies
    if not np.isfinite(out).all():
        raise DTypeError(f"{name} must be finite; it holds NaN or inf")
    if out.size and (out.min() < 0.0 or out.max() > 1.0):
        raise DTypeError(f"{name} genes must lie in [0, 1]; got range [{out.min():.4g}, {out.max():.4g}]")
    return out
