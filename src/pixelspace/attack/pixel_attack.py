"""``PixelAttack``: region-constrained few-pixel attacks, many at once, searched with batched DE.

Each attack perturbs at most ``pixels`` pixels of one image inside its region. All active attacks advance one
DE generation together: their candidates are decoded, scattered into copies of the clean images, evaluated in
model batches, and told back to the solver; finished attacks leave the batch. See DESIGN.md §2 for the exact
semantics (counting of generations and queries, success checks, regions).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from pixelspace.attack.encoding import GENES_PER_PIXEL, Decoded, RegionMode, decode
from pixelspace.attack.evaluation import Attack, AttackInputs, Evaluation, Summary, check_settings
from pixelspace.attack.result import AttackResult
from pixelspace.errors import ConfigError
from pixelspace.models.precision import Precision
from pixelspace.search.de import DEConfig, DifferentialEvolution, rngs_from_seed
from pixelspace.search.init import check_population

SuccessCheck = Literal["any", "best"]
SUCCESS_CHECKS: tuple[str, ...] = typing.get_args(SuccessCheck)


@dataclass(frozen=True)
class PixelAttack(Attack):
    """A configured few-pixel attack (hyperparameters only; model and data are call arguments).

    Args:
        pixels: pixels perturbed per attack (k >= 1).
        region_mode: ``"restrict"`` (the paper: whole-image coordinates, outside pixels restored) or
            ``"index"`` (the coordinate gene indexes the region's pixel list).
        de: the Differential Evolution settings.
        batch_size: images per model call, or ``"auto"`` (measured once per Classifier and image size).
        eval_chunk: candidates built and evaluated per step, as a multiple of the batch size (bounds memory).
        reuse_evaluations: answer a candidate that decodes to an image this attack already evaluated from
            memory instead of querying the model again (:mod:`pixelspace.attack.memo`); it changes the
            query counts, not the search. ``False`` reproduces results made before the memo existed.
        precision: the arithmetic of the search's model evaluations, ``"fp32"``, ``"tf32"``, ``"bf16"`` or
            ``"fp16"`` (:mod:`pixelspace.models.precision`; torch modules only), or None (default): the
            Classifier's (:attr:`Classifier.precision <pixelspace.models.classifier.Classifier.precision>`,
            ``"fp32"`` unless chosen). A precision given here overrides a Classifier made without one; one that
            differs from a Classifier's chosen precision is a ConfigError. The clean image and every success
            confirmation are evaluated at ``"fp32"``, so a reduced-precision success that does not hold at fp32
            is not reported (the search goes on).
        early_stop: stop an attack at the end of the first generation with a confirmed success; ``False`` runs
            every generation and keeps the first confirmed success as the result (the paper's Fig. 6).
        success_check: ``"any"`` tests every candidate a generation evaluated and returns the succeeding one
            with the best fitness; ``"best"`` tests only the population's best member after selection (the
            reference code's rule; the paper campaigns use it).

    ``early_stop`` and ``success_check`` were ``DEConfig``'s before (they are not DE settings): a ``de`` given
    them (deprecated, with a warning) hands them over here, and a different value given here as well is a
    ConfigError.

    Examples:
        >>> attack = PixelAttack(pixels=1, de=DEConfig(population_size=40, max_generations=5))
        >>> attack.pixels
        1
    """

    pixels: int = 1
    region_mode: RegionMode = "restrict"
    de: DEConfig = field(default_factory=DEConfig)
    batch_size: int | Literal["auto"] = "auto"
    eval_chunk: int = 8
    reuse_evaluations: bool = True
    precision: Precision | None = None
    early_stop: bool = True
    success_check: SuccessCheck = "any"

    def __post_init__(self) -> None:
        check_settings(self.pixels, self.batch_size, self.precision, self.eval_chunk, self.reuse_evaluations)
        if self.region_mode not in GENES_PER_PIXEL:
            raise ConfigError(f"region_mode must be 'restrict' or 'index', got {self.region_mode!r}")
        check_de_settings(self)

    @property
    def dims(self) -> int:
        """Genes per candidate."""
        return self.pixels * GENES_PER_PIXEL[self.region_mode]

    def search(self, inputs: AttackInputs, *, init_population: np.ndarray | None = None,
               **options: Any) -> AttackResult:
        """DE on checked inputs (``attack(model, images, objective, ...)`` calls it).

        Args:
            init_population: optional float (N, P, D) genes in [0, 1] to start DE from instead of drawing
                generation 0 with ``de.init`` (P = ``de.population_size``, D = :attr:`dims`), in this
                attack's encoding (:func:`~pixelspace.attack.encoding.encode` builds genes from pixels and
                colours). Every member is evaluated like a drawn one; later draws still come from ``seed``.

        Raises:
            ShapeError, DTypeError: ``init_population`` has the wrong shape, is not finite or leaves [0, 1].
        """
        self._refuse(options)
        init = None
        if init_population is not None:
            init = check_population(init_population, len(inputs), self.de.population_size, self.dims,
                                    "init_population")
        ev = Evaluation(inputs, max_queries=self.de.max_queries, eval_chunk=self.eval_chunk,
                        reuse_evaluations=self.reuse_evaluations)
        return evolve(ev, self.de, self.pixels, self.region_mode, init, early_stop=self.early_stop,
                      success_check=self.success_check)


def check_de_settings(attack: Any) -> None:
    """Check the DE settings of a DE-searching attack (a frozen dataclass with ``de``, ``early_stop`` and
    ``success_check`` fields, defaults included) and take over the deprecated ``early_stop`` /
    ``success_check`` its ``de`` was given (:attr:`DEConfig.deprecated_attack_settings`): the attack's own
    value wins where it is the same or left at its default; its ``de`` keeps the search settings only.

    Raises:
        ConfigError: ``de`` is not a DEConfig; a setting is given to both with different values; a bad value.
    """
    if not isinstance(attack.de, DEConfig):
        raise ConfigError(f"de must be a DEConfig, got {type(attack.de).__name__}")
    moved = attack.de.deprecated_attack_settings
    if moved:
        defaults = {f.name: f.default for f in dataclasses.fields(attack)}
        for name, value in moved.items():
            own = getattr(attack, name)
            if own != defaults[name] and own != value:
                raise ConfigError(f"{name} is given twice: {type(attack).__name__}({name}={own!r}) and the "
                                  f"deprecated DEConfig({name}={value!r}); give it to the attack only")
            object.__setattr__(attack, name, value)  # frozen: still being initialised
        object.__setattr__(attack, "de", attack.de.search_settings_only())
    if not isinstance(attack.early_stop, bool):
        raise ConfigError(f"early_stop must be True or False, got {attack.early_stop!r}")
    if attack.success_check not in SUCCESS_CHECKS:
        raise ConfigError(f"success_check must be 'any' or 'best', got {attack.success_check!r}")


def evolve(ev: Evaluation, de_config: DEConfig, pixels: int, region_mode: RegionMode,
           init_population: np.ndarray | None = None, *, early_stop: bool,
           success_check: SuccessCheck) -> AttackResult:
    """DE's search step: every attack of ``ev`` searched with ``de_config`` over ``pixels``-pixel candidates
    encoded in ``region_mode``, from ``init_population`` (checked; None: drawn with ``de_config.init``),
    stopping and checking successes as ``early_stop`` and ``success_check`` say (:class:`PixelAttack`).
    ``de_config.max_queries`` is not read here: the evaluation's budget counts."""
    cfg, n = de_config, ev.n
    p, g_max = cfg.population_size, cfg.max_generations
    dims = pixels * GENES_PER_PIXEL[region_mode]
    all_rows = np.arange(n)
    de = DifferentialEvolution(cfg, dims)
    state = de.init(rngs_from_seed(ev.seeds.tolist(), n), init_population)
    history = np.full((n, g_max + 1), np.nan)
    generations = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=bool)

    def decoded(genes: np.ndarray, rows: np.ndarray) -> Decoded:
        return decode(genes.reshape(rows.shape[0], dims), rows, ev.regions, region_mode, pixels)

    def score(genes: np.ndarray, attacks: np.ndarray) -> Summary:
        return ev.score(attacks, decoded(genes, np.repeat(attacks, p)))[0]

    def check(idx: np.ndarray, g: int, cand_genes: np.ndarray, cand: Summary) -> None:
        """Confirm and stop after generation g for attacks idx (cand: this generation's summaries)."""
        for j, a in enumerate(idx):
            if ev.won[a]:  # early_stop=False: the first confirmed success stays the result, no more confirmations
                continue
            if success_check == "any":
                succ = np.flatnonzero(cand.success[j])
                if succ.size == 0:
                    continue
                genes = cand_genes[j, succ[np.argmin(cand.fitness[j, succ])]]
            else:
                m = int(np.argmin(state.fitness[a]))
                if not pop.success[a, m]:
                    continue
                genes = state.population[a, m]
            confirmed = ev.confirm(int(a), decoded(genes, np.array([a])), g)
            if confirmed is None:
                continue
            history[a, g] = min(history[a, g], float(confirmed.fitness[0]))
            if early_stop:
                done[a] = True
                generations[a] = g

    # generation 0: the initial population
    pop = score(state.population, all_rows)
    de.tell_initial(state, pop.fitness)
    history[:, 0] = state.best_fitness
    check(all_rows, 0, state.population, pop)
    done |= ev.remaining(all_rows) <= 0
    ev.report(int(done.sum()))
    for g in range(1, g_max + 1):
        active = np.flatnonzero(~done)
        if active.size == 0:
            break
        trials = de.ask(state, active)
        summ = score(trials, active)
        replaced = de.tell(state, active, trials, summ.fitness)
        pop.put(active, Summary.choose(replaced, summ, pop[active]))
        history[active, g] = state.best_fitness[active]
        generations[active] = g
        before = done.copy()
        check(active, g, trials, summ)
        done[active] |= ev.remaining(active) <= 0
        ev.report(int((done & ~before).sum()))
    ev.report(int((~done).sum()))
    best = state.best_index
    return ev.result(decoded(state.population[all_rows, best], all_rows), pop[all_rows, best], generations,
                     history, region_mode)
