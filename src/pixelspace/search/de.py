"""Batched Differential Evolution over many independent problems at once.

The solver evolves a population of shape ``(A, P, D)`` (problems, members, genes) in the unit cube
``[0, 1]^D``; it knows vectors and fitness values and nothing about images or models. Semantics follow the
reference paper (§III-C, §IV-B) and SciPy's ``differential_evolution``:

* ``population_size`` is the total population P (not SciPy's multiplier).
* Mutation F is dithered: drawn uniformly from ``mutation = (low, high)`` once per generation per problem.
* Binomial crossover with rate CR (``crossover``); one gene per member always comes from the mutant.
  With the default CR = 1.0 (as in the reference one-pixel code) crossover is a no-op: trial = mutant.
* Out-of-bounds genes are resampled uniformly inside [0, 1] (not clipped).
* Greedy one-to-one selection: a trial replaces its parent only when strictly better (lower fitness).
* Every draw of problem ``a`` comes from ``rngs[a]``, so a problem's trajectory does not depend on which
  other problems share the batch.

``init`` draws generation 0 with ``config.init`` or takes a caller-given population (float (A, P, D) in
[0, 1], e.g. seeded from prior knowledge); everything after it is the same either way.

Use it step-wise (``init`` → evaluate → ``tell_initial``; then ``ask`` → evaluate → ``tell`` per
generation) or through :func:`minimize`.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any

import numpy as np

from pixelspace.errors import ConfigError
from pixelspace.search.init import INITIALIZERS, check_population
from pixelspace.search.strategies import STRATEGIES, donors_from_draws, draw_donors, get_strategy

#: Keywords ``DEConfig`` took before they moved to the attack (issue 32), accepted with a DeprecationWarning.
_MOVED = ("early_stop", "success_check")
_MOVED_TO = "the attack: PixelAttack({names}) or ScanSeededAttack({names}); a campaign file keeps them in [de]"


@dataclass(frozen=True)
class DEConfig:
    """Differential Evolution settings (defaults: the paper's §IV-B); search settings only.

    Attributes:
        population_size: total number of members P (>= 4).
        max_generations: generations after generation 0 (the initial population).
        max_queries: optional per-problem budget of fitness evaluations (None: unlimited).
        mutation: F, a float or a (low, high) range dithered once per generation.
        crossover: CR in [0, 1]; 1.0 makes the trial equal the mutant.
        init: ``"latinhypercube"`` or ``"random"``.
        strategy: ``"rand1bin"`` (paper) or ``"best1bin"`` (public one-pixel code).

    Deprecated: ``early_stop`` and ``success_check`` are the attack's settings
    (``PixelAttack(early_stop=..., success_check=...)``, ``ScanSeededAttack`` likewise). ``DEConfig`` still
    accepts them as keywords for a while, with a DeprecationWarning, and an attack given this config takes
    them over (:attr:`deprecated_attack_settings`). They are not fields: ``asdict``, ``==`` and ``repr`` leave
    them out; ``config.early_stop`` reads the value given (None when none was) and ``dataclasses.replace``
    keeps it.
    """

    population_size: int = 400
    max_generations: int = 100
    max_queries: int | None = None
    mutation: float | tuple[float, float] = (0.5, 1.0)
    crossover: float = 1.0
    init: str = "latinhypercube"
    strategy: str = "rand1bin"
    early_stop: InitVar[bool | None] = None  # deprecated: the attack's (see the class docstring)
    success_check: InitVar[str | None] = None  # deprecated: the attack's

    def __post_init__(self, early_stop: bool | None, success_check: str | None) -> None:
        moved = {k: v for k, v in zip(_MOVED, (early_stop, success_check), strict=True) if v is not None}
        for name, value in moved.items():
            object.__setattr__(self, name, value)  # an instance attribute: old reads and ``replace`` see it
        if moved:
            names = ", ".join(f"{k}=..." for k in moved)
            warnings.warn(f"DEConfig({names}) is deprecated: {', '.join(moved)} moved to "
                          f"{_MOVED_TO.format(names=names)}", DeprecationWarning, stacklevel=3)
        if not isinstance(self.population_size, int) or self.population_size < 4:
            raise ConfigError(f"population_size must be an int >= 4, got {self.population_size!r}")
        if not isinstance(self.max_generations, int) or self.max_generations < 0:
            raise ConfigError(f"max_generations must be an int >= 0, got {self.max_generations!r}")
        if self.max_queries is not None and (not isinstance(self.max_queries, int) or self.max_queries < 1):
            raise ConfigError(f"max_queries must be None or an int >= 1, got {self.max_queries!r}")
        lo, hi = self.mutation_range
        if not (0.0 <= lo <= hi <= 2.0):
            raise ConfigError(f"mutation must lie in [0, 2] with low <= high, got {self.mutation!r}")
        if not 0.0 <= self.crossover <= 1.0:
            raise ConfigError(f"crossover must lie in [0, 1], got {self.crossover!r}")
        if self.init not in INITIALIZERS:
            raise ConfigError(f"init must be one of {sorted(INITIALIZERS)}, got {self.init!r}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {sorted(STRATEGIES)}, got {self.strategy!r}")

    @property
    def mutation_range(self) -> tuple[float, float]:
        """(low, high) of F; equal bounds mean a constant F."""
        if isinstance(self.mutation, int | float):
            return float(self.mutation), float(self.mutation)
        lo, hi = self.mutation
        return float(lo), float(hi)

    @property
    def deprecated_attack_settings(self) -> Mapping[str, Any]:
        """The deprecated ``early_stop`` / ``success_check`` keywords this config was given (name -> value;
        empty without them). The search never reads them; an attack given this config takes them over."""
        return {name: self.__dict__[name] for name in _MOVED if name in self.__dict__}

    def search_settings_only(self) -> DEConfig:
        """This config without the deprecated keywords (equal to it: they are not fields)."""
        return DEConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


@dataclass
class DEState:
    """Mutable state of A problems.

    Attributes:
        population: float64 (A, P, D) in [0, 1].
        fitness: float64 (A, P), +inf before evaluation.
        generation: int (A,), the last generation told (0 after ``tell_initial``).
        rngs: one generator per problem.
    """

    population: np.ndarray
    fitness: np.ndarray
    generation: np.ndarray
    rngs: list[np.random.Generator]
    f_history: list[np.ndarray] = field(default_factory=list)

    @property
    def best_index(self) -> np.ndarray:
        """Index of each problem's best member, int (A,); ties go to the lowest index."""
        return np.argmin(self.fitness, axis=1)

    @property
    def best_fitness(self) -> np.ndarray:
        """Best fitness per problem, float64 (A,)."""
        return self.fitness.min(axis=1)


class DifferentialEvolution:
    """Batched DE solver for ``dims``-dimensional problems in the unit cube (see module docstring)."""

    def __init__(self, config: DEConfig, dims: int) -> None:
        if dims < 1:
            raise ConfigError(f"dims must be >= 1, got {dims}")
        self.config = config
        self.dims = dims
        self._strategy = get_strategy(config.strategy)

    def init(self, rngs: Sequence[np.random.Generator], population: np.ndarray | None = None) -> DEState:
        """The initial population of every problem (generation 0, not yet evaluated).

        Args:
            rngs: one generator per problem (A of them); they feed every later draw of that problem.
            population: optional float (A, P, D) genes in [0, 1] to start from instead of drawing with
                ``config.init``; copied, and then no initialisation draw is taken from ``rngs``.

        Raises:
            ShapeError, DTypeError: ``population`` has the wrong shape, is not finite or leaves [0, 1].
            ConfigError: one generator object is given for two problems (each problem needs its own stream:
                :meth:`ask` draws problem by problem in an order that assumes it).
        """
        p, d = self.config.population_size, self.dims
        if len({id(rng) for rng in rngs}) < len(rngs):
            raise ConfigError("each problem needs its own numpy Generator; the same object was given twice "
                              "(use rngs_from_seed or np.random.default_rng(seed).spawn(n))")
        if population is not None:
            pop = check_population(population, len(rngs), p, d)
        else:
            init = INITIALIZERS[self.config.init]
            pop = np.stack([init(rng, p, d) for rng in rngs]) if rngs else np.empty((0, p, d))
        return DEState(pop, np.full((len(rngs), p), np.inf), np.zeros(len(rngs), dtype=np.int64), list(rngs))

    def tell_initial(self, state: DEState, fitness: np.ndarray) -> None:
        """Record the fitness (A, P) of the initial population."""
        assert fitness.shape == state.fitness.shape
        state.fitness[:] = fitness

    def ask(self, state: DEState, problems: np.ndarray) -> np.ndarray:
        """Trial vectors for the given problems' next generation: float64 (len(problems), P, D) in [0, 1].

        Each problem draws from its own generator, in the same order as a problem run alone (F, the three
        donor draws, the crossover mask, then the redraws of coordinates that left [0, 1]); the arithmetic is
        done for all problems at once.
        """
        problems = np.asarray(problems, dtype=np.intp)
        p, d = self.config.population_size, self.dims
        lo, hi = self.config.mutation_range
        cr = self.config.crossover
        n = len(problems)
        f = np.empty(n)
        draws = np.empty((n, 3, p), dtype=np.int64)
        cross = np.empty((n, p, d) if cr < 1.0 else (0, p, d), dtype=bool)
        for out, a in enumerate(problems):
            rng = state.rngs[a]
            f[out] = rng.uniform(lo, hi) if hi > lo else lo
            draws[out] = draw_donors(rng, p)
            if cr < 1.0:
                cross[out] = rng.uniform(size=(p, d)) < cr
                cross[out, np.arange(p), rng.integers(0, d, size=p)] = True
        pops = state.population[problems]
        trials = self._strategy(pops, state.best_index[problems], donors_from_draws(draws), f)
        if cr < 1.0:
            trials = np.where(cross, trials, pops)
        bad = (trials < 0.0) | (trials > 1.0)
        for j in np.flatnonzero(bad.any(axis=(1, 2))).tolist():
            trials[j][bad[j]] = state.rngs[problems[j]].uniform(size=int(bad[j].sum()))
        return trials

    def tell(self, state: DEState, problems: np.ndarray, trials: np.ndarray, fitness: np.ndarray) -> np.ndarray:
        """Greedy one-to-one selection; returns the bool mask (len(problems), P) of replaced members."""
        assert trials.shape[:2] == fitness.shape
        better = fitness < state.fitness[problems]
        for out, a in enumerate(problems):
            m = better[out]
            state.population[a, m] = trials[out, m]
            state.fitness[a, m] = fitness[out, m]
        state.generation[problems] += 1
        return better


@dataclass(frozen=True)
class MinimizeResult:
    """Outcome of :func:`minimize` for A problems: best vectors (A, D), best fitness (A,), evaluations (A,),
    generations (A,), and best-fitness history (A, G+1) with NaN after a problem stopped."""

    x: np.ndarray
    fun: np.ndarray
    nfev: np.ndarray
    generations: np.ndarray
    history: np.ndarray


def check_seed(seed: Any, name: str = "seed") -> None:
    """Refuse a negative seed (an int, or any entry of a sequence) with a message naming it.

    Raises:
        ConfigError: a seed below 0 (NumPy's ``SeedSequence`` takes integers >= 0).
    """
    values = np.asarray(seed).reshape(-1)
    if values.size and np.issubdtype(values.dtype, np.integer) and (values < 0).any():
        bad = int(values[values < 0][0])
        where = "" if np.ndim(seed) == 0 else f" (entry {int(np.flatnonzero(values < 0)[0])})"
        raise ConfigError(f"{name} {bad}{where}: seeds must be non-negative integers (0, 1, 2, …)")


def rngs_from_seed(seed: int | Sequence[int], count: int) -> list[np.random.Generator]:
    """One independent generator per problem: an int seed gives problem ``i`` the stream of ``(seed, i)``;
    a sequence gives one seed per problem (seeds >= 0)."""
    check_seed(seed)
    if isinstance(seed, int | np.integer):
        return [np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(i,))) for i in range(count)]
    seeds = list(seed)
    if len(seeds) != count:
        raise ConfigError(f"seed has {len(seeds)} entries, expected one per problem ({count})")
    return [np.random.default_rng(np.random.SeedSequence(int(s))) for s in seeds]


def minimize(
    fitness_fn: Callable[[np.ndarray], np.ndarray],
    dims: int,
    problems: int = 1,
    config: DEConfig | None = None,
    seed: int | Sequence[int] = 0,
    stop: Callable[[np.ndarray], np.ndarray] | None = None,
    init_population: np.ndarray | None = None,
) -> MinimizeResult:
    """Minimise a batched function over the unit cube.

    Args:
        fitness_fn: maps candidates (A', P, D) in [0, 1] to fitness (A', P), lower is better.
        dims: number of genes D.
        problems: number of independent problems A (each with its own random stream).
        config: DE settings (``max_queries`` limits evaluations per problem).
        seed: int, or one seed per problem.
        stop: optional early-stop rule mapping the best fitness (A',) to bool (A',) "done".
        init_population: optional float (problems, P, dims) in [0, 1] replacing the drawn initial population.

    Returns:
        A :class:`MinimizeResult`.
    """
    cfg = config or DEConfig()
    de = DifferentialEvolution(cfg, dims)
    state = de.init(rngs_from_seed(seed, problems), init_population)
    p, g_max = cfg.population_size, cfg.max_generations
    budget = cfg.max_queries if cfg.max_queries is not None else np.iinfo(np.int64).max
    nfev = np.zeros(problems, dtype=np.int64)
    history = np.full((problems, g_max + 1), np.nan)
    active = np.arange(problems)

    def evaluate(cands: np.ndarray, idx: np.ndarray) -> np.ndarray:
        allowed = np.minimum(budget - nfev[idx], p)
        fit = np.full(cands.shape[:2], np.inf)
        full = allowed >= p
        if full.any():
            fit[full] = fitness_fn(cands[full])
        for j in np.flatnonzero(~full):
            if allowed[j] > 0:
                fit[j, : allowed[j]] = fitness_fn(cands[j : j + 1, : allowed[j]])[0]
        nfev[idx] += np.maximum(allowed, 0)
        return fit

    de.tell_initial(state, evaluate(state.population, active))
    history[:, 0] = state.best_fitness
    done = np.zeros(problems, dtype=bool)
    if stop is not None:
        done |= stop(state.best_fitness)
    done |= nfev >= budget
    for g in range(1, g_max + 1):
        active = np.flatnonzero(~done)
        if active.size == 0:
            break
        trials = de.ask(state, active)
        de.tell(state, active, trials, evaluate(trials, active))
        history[active, g] = state.best_fitness[active]
        if stop is not None:
            done[active] |= stop(state.best_fitness[active])
        done |= nfev >= budget
    best = state.best_index
    return MinimizeResult(
        state.population[np.arange(problems), best], state.best_fitness.copy(), nfev,
        state.generation.copy(), history,
    )
