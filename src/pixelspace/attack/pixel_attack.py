"""``PixelAttack``: region-constrained few-pixel attacks, many at once, searched with batched DE.

Each attack perturbs at most ``pixels`` pixels of one image inside its region. All active attacks advance one
DE generation together: their candidates are decoded, scattered into copies of the clean images, evaluated in
model batches, and told back to the solver; finished attacks leave the batch. See DESIGN.md §2 for the exact
semantics (counting of generations and queries, success checks, regions).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from pixelspace.attack.encoding import GENES_PER_PIXEL, Decoded, RegionMode, Regions, decode
from pixelspace.attack.inputs import attack_seeds, images_to_uint8_nchw, regions_to_masks
from pixelspace.attack.memo import EvaluationMemo, candidate_keys, first_occurrences
from pixelspace.attack.objectives import Objective
from pixelspace.attack.perturb import perturb, pixel_probabilities
from pixelspace.attack.result import AttackResult
from pixelspace.errors import ConfigError
from pixelspace.models.classifier import Classifier
from pixelspace.models.precision import Precision, check_precision
from pixelspace.models.registry import check_registered_size
from pixelspace.search.de import DEConfig, DifferentialEvolution, rngs_from_seed
from pixelspace.search.init import check_population

log = logging.getLogger(__name__)

TOPK = 5
# "known" is False for a population member answered from the memo (fitness and success only)
_SUMMARY_KEYS = ("fitness", "success", "predicted", "confidence", "interest", "top_c", "top_p", "clean_top", "known")


@dataclass(frozen=True)
class PixelAttack:
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

    def __post_init__(self) -> None:
        if not isinstance(self.pixels, int) or self.pixels < 1:
            raise ConfigError(f"pixels must be an int >= 1, got {self.pixels!r}")
        if self.region_mode not in GENES_PER_PIXEL:
            raise ConfigError(f"region_mode must be 'restrict' or 'index', got {self.region_mode!r}")
        if not isinstance(self.de, DEConfig):
            raise ConfigError(f"de must be a DEConfig, got {type(self.de).__name__}")
        if self.batch_size != "auto" and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ConfigError(f"batch_size must be 'auto' or an int >= 1, got {self.batch_size!r}")
        if not isinstance(self.reuse_evaluations, bool):
            raise ConfigError(f"reuse_evaluations must be True or False, got {self.reuse_evaluations!r}")
        if self.precision is not None:
            check_precision(self.precision)

    @property
    def dims(self) -> int:
        """Genes per candidate."""
        return self.pixels * GENES_PER_PIXEL[self.region_mode]

    def config_dict(self) -> dict[str, Any]:
        """The result-changing settings as plain data (batch size excluded)."""
        d = dataclasses.asdict(self)
        d.pop("batch_size")
        d.pop("eval_chunk")
        if self.precision is None:
            d.pop("precision")  # the Classifier's
        return d

    def clean_predictions(
        self, model: nn.Module | Classifier | Callable[[Any], Any], images: np.ndarray | torch.Tensor
    ) -> np.ndarray:
        """The model's predicted class of each clean image, int64 (N,): the usual class of interest
        (the paper's Eq. 3), at fp32 like the attack's clean query. These evaluations are not counted as attack
        queries."""
        clean_np, _, _ = images_to_uint8_nchw(images)
        clf = Classifier.wrap(model, self.batch_size)
        return clf.probabilities(torch.from_numpy(clean_np), count=False, precision="fp32").argmax(1).cpu().numpy().astype(np.int64)

    def __call__(
        self,
        model: nn.Module | Classifier | Callable[[Any], Any],
        images: np.ndarray | torch.Tensor,
        objective: Objective,
        *,
        regions: np.ndarray | torch.Tensor | None = None,
        seed: int | Sequence[int] | np.ndarray = 0,
        progress: Callable[[int], None] | None = None,
        init_population: np.ndarray | None = None,
    ) -> AttackResult:
        """Attack every image.

        Args:
            model: an ``nn.Module`` (float NCHW [0, 1] → logits) or a :class:`Classifier`.
            images: uint8 NumPy (N, H, W, 3), or a torch tensor (N, 3, H, W) uint8 or float in [0, 1].
            objective: ``Untargeted(labels)`` or ``Targeted(labels, targets)`` with N entries.
            regions: None (whole image), bool (H, W) shared by all, or bool (N, H, W).
            seed: int (attack i gets the stream of (seed, i)) or one seed per attack.
            progress: called with the number of attacks that finished at each generation.
            init_population: optional float (N, P, D) genes in [0, 1] to start DE from instead of drawing
                generation 0 with ``de.init`` (P = ``de.population_size``, D = :attr:`dims`), in this
                attack's encoding (:func:`~pixelspace.attack.encoding.encode` builds genes from pixels and
                colours). Every member is evaluated like a drawn one; later draws still come from ``seed``.

        Returns:
            An :class:`AttackResult` with N attacks.

        Raises:
            ShapeError, DTypeError: ``init_population`` has the wrong shape, is not finite or leaves [0, 1].
        """
        from pixelspace.errors import ObjectiveError

        clean_np, layout, _ = images_to_uint8_nchw(images)
        n, _, h, w = clean_np.shape
        if not isinstance(objective, Objective):
            raise ConfigError(f"objective must be Untargeted(...) or Targeted(...), got {type(objective).__name__}")
        if len(objective) != n:
            raise ObjectiveError(f"objective has {len(objective)} labels for {n} images")
        masks = regions_to_masks(regions, n, h, w, self.pixels)
        seeds = attack_seeds(seed, n)
        init = None
        if init_population is not None:
            init = check_population(init_population, n, self.de.population_size, self.dims, "init_population")
        clf = Classifier.wrap(model, self.batch_size)
        check_registered_size(clf.fn, h, w)
        precision = clf.search_precision(self.precision, "PixelAttack")
        run = _Run(self, clf, torch.from_numpy(clean_np), objective, Regions.from_masks(masks), seeds, progress, init,
                   precision)
        return run.execute(layout)


class _Run:
    """State of one call: clean info, the DE state and per-member summaries of all attacks."""

    def __init__(
        self,
        attack: PixelAttack,
        clf: Classifier,
        clean: torch.Tensor,
        objective: Objective,
        regions: Regions,
        seeds: np.ndarray,
        progress: Callable[[int], None] | None,
        init_population: np.ndarray | None = None,
        precision: Precision = "fp32",
    ) -> None:
        """``precision``: the search's evaluations (:meth:`Classifier.search_precision`); the clean images,
        confirmations and reported fields are fp32 answers whatever it is."""
        self.precision: Precision = precision
        self.attack, self.clf, self.objective, self.regions, self.seeds = attack, clf, objective, regions, seeds
        self.chunk_size = 0  # the largest chunk size an evaluation used (recorded in the result)
        self.progress = progress
        self.init_population = init_population
        self.cfg = attack.de
        self.clean = clean.to(clf.device)
        self.n = clean.shape[0]
        self.queries = np.zeros(self.n, dtype=np.int64)
        self.memo = EvaluationMemo() if attack.reuse_evaluations else None

    # -- evaluation ---------------------------------------------------------------------------------------
    def _summarise(self, probs: torch.Tensor, rows: np.ndarray) -> dict[str, np.ndarray]:
        r = torch.as_tensor(rows, device=probs.device)
        k = min(TOPK, probs.shape[1])
        top_p, top_c = probs.topk(k, dim=1)
        clean_top = torch.as_tensor(self.clean_top_c[rows], device=probs.device)
        out = {
            "fitness": self.objective.fitness(probs, r).double(),
            "success": self.objective.is_success(probs, r),
            "predicted": top_c[:, 0],
            "confidence": top_p[:, 0],
            "interest": self.objective.interest(probs, r),
            "top_c": top_c,
            "top_p": top_p,
            "clean_top": probs.gather(1, clean_top),
            "known": torch.ones(probs.shape[0], dtype=torch.bool, device=probs.device),
        }
        return {key: v.cpu().numpy() for key, v in out.items()}

    def _evaluate(self, rows: np.ndarray, dec: Decoded, precision: Precision | None = None) -> dict[str, np.ndarray]:
        """Summaries of candidates that need a query (each has >= 1 applied pixel), in memory-bounded steps, at
        ``precision`` (default: the search's, :attr:`precision`)."""
        bs = self.clf.resolve_batch_size(self.regions.height, self.regions.width, rows.shape[0])
        self.chunk_size = max(self.chunk_size, bs)
        step = bs * self.attack.eval_chunk
        parts = []
        for s in range(0, rows.shape[0], step):
            sl = slice(s, s + step)
            sub = Decoded(dec.positions[sl], dec.colors[sl], dec.applied[sl])
            probs = pixel_probabilities(self.clf, self.clean, rows[sl], sub, precision or self.precision)
            parts.append(self._summarise(probs, rows[sl]))
        return {key: np.concatenate([p[key] for p in parts]) for key in _SUMMARY_KEYS}

    def _score(
        self, genes: np.ndarray, attacks: np.ndarray, budget: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Summaries (len(attacks), P, ...) of candidate genes (len(attacks), P, D).

        Candidates with no applied pixel get the clean summary without a query; with the memo, a candidate
        this attack already evaluated (now or in an earlier generation) gets its earlier fitness and success
        without a query (its other fields are filled only if it ends as the reported best member). At most
        ``budget[j]`` new candidates of attack j are evaluated, the rest get fitness +inf. Returns the
        summaries and the bool (len(attacks), P) mask of candidates that were evaluated or answered.
        """
        a, p, d = genes.shape
        rows = np.repeat(attacks, p)
        dec = decode(genes.reshape(a * p, d), rows, self.regions, self.attack.region_mode, self.attack.pixels)
        needs: np.ndarray = np.asarray(dec.applied.any(axis=1))
        recalled = np.zeros(a * p, dtype=bool)  # answered from earlier generations
        repeats = np.zeros(0, dtype=np.int64)  # repeats of a candidate that is new in this generation
        sources = np.zeros(0, dtype=np.int64)
        memo_fitness, memo_success = np.zeros(0), np.zeros(0, dtype=bool)
        keys = None
        if self.memo is not None:
            keys = candidate_keys(rows, dec)
            idx = np.flatnonzero(needs)
            found, memo_fitness, memo_success = self.memo.lookup(keys[idx])
            memo_fitness, memo_success = memo_fitness[found], memo_success[found]
            recalled[idx[found]] = True
            new = idx[~found]
            if new.size:
                first, group = first_occurrences(keys[new])
                is_first = np.zeros(new.size, dtype=bool)
                is_first[first] = True
                repeats, sources = new[~is_first], new[first][group][~is_first]
            needs[recalled] = False
            needs[repeats] = False
        needs2 = needs.reshape(a, p)
        allowed = (needs2 & (np.cumsum(needs2, axis=1) <= budget[:, None])).reshape(-1)
        scored = allowed | ~needs
        scored[repeats] = allowed[sources]
        out = {key: np.repeat(self.clean_summary[key][attacks], p, axis=0) for key in _SUMMARY_KEYS}
        out["fitness"] = np.where(scored, out["fitness"], np.inf)
        out["success"] = out["success"] & scored
        if recalled.any():
            out["fitness"][recalled] = memo_fitness
            out["success"][recalled] = memo_success
            out["known"][recalled] = False
        if allowed.any():
            idx = np.flatnonzero(allowed)
            ev = self._evaluate(rows[idx], Decoded(dec.positions[idx], dec.colors[idx], dec.applied[idx]))
            for key in _SUMMARY_KEYS:
                out[key][idx] = ev[key]
            if self.memo is not None and keys is not None:
                self.memo.add(keys[idx], ev["fitness"], ev["success"])
        if repeats.size:
            for key in _SUMMARY_KEYS:
                out[key][repeats] = np.where(
                    scored[repeats].reshape(-1, *([1] * (out[key].ndim - 1))), out[key][sources], out[key][repeats]
                )
        self.queries[attacks] += allowed.reshape(a, p).sum(axis=1)
        shaped = {key: v.reshape(a, p, *v.shape[1:]) for key, v in out.items()}
        return shaped, scored.reshape(a, p)

    def _confirm(self, attack_idx: int, genes: np.ndarray) -> dict[str, np.ndarray]:
        """Evaluate one candidate on its own (batch of one) at fp32, counting one query."""
        rows = np.array([attack_idx])
        dec = decode(genes[None, :], rows, self.regions, self.attack.region_mode, self.attack.pixels)
        probs = self.clf.probabilities(perturb(self.clean, rows, dec), precision="fp32")
        self.queries[attack_idx] += 1
        return {key: v[0] for key, v in self._summarise(probs, rows).items()}

    # -- the loop -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Evaluate the clean images (one counted query per attack) and keep their summaries."""
        all_rows = np.arange(self.n)
        clean_probs = self.clf.probabilities(self.clean, precision="fp32")
        self.queries += 1
        self.objective.check_classes(clean_probs.shape[1])
        k = min(TOPK, clean_probs.shape[1])
        self.clean_top_c = clean_probs.topk(k, dim=1)[1].cpu().numpy()
        self.clean_summary = self._summarise(clean_probs, all_rows)
        mismatch = np.flatnonzero(self.clean_summary["success"])
        if mismatch.size:
            log.warning(
                "%d attack(s) already meet the criterion on the clean image (e.g. attack %d); labels are "
                "normally the model's clean predictions", mismatch.size, int(mismatch[0]),
            )

    def execute(self, layout: str) -> AttackResult:
        n, cfg = self.n, self.cfg
        p, g_max = cfg.population_size, cfg.max_generations
        all_rows = np.arange(n)
        self.start()
        budget_total = cfg.max_queries if cfg.max_queries is not None else np.iinfo(np.int64).max // 4

        de = DifferentialEvolution(cfg, self.attack.dims)
        state = de.init(rngs_from_seed(self.seeds.tolist(), n), self.init_population)
        shape_extra = {key: self.clean_summary[key].shape[1:] for key in _SUMMARY_KEYS}
        pop = {key: np.empty((n, p, *shape_extra[key]), dtype=self.clean_summary[key].dtype) for key in _SUMMARY_KEYS}
        history = np.full((n, g_max + 1), np.nan)
        generations = np.zeros(n, dtype=np.int64)
        done = np.zeros(n, dtype=bool)
        win_genes = np.zeros((n, self.attack.dims))
        win = {key: np.empty((n, *shape_extra[key]), dtype=self.clean_summary[key].dtype) for key in _SUMMARY_KEYS}
        won = np.zeros(n, dtype=bool)

        def remaining(idx: np.ndarray) -> np.ndarray:
            return np.maximum(budget_total - self.queries[idx] - 1, 0)  # one query kept for the confirmation

        def check(idx: np.ndarray, g: int, cand_genes: np.ndarray, cand: dict[str, np.ndarray]) -> None:
            """Early-stop logic after generation g for attacks idx (cand: this generation's summaries)."""
            for j, a in enumerate(idx):
                if won[a]:  # early_stop=False: the first confirmed success stays the result, no more confirmations
                    continue
                if cfg.success_check == "any":
                    succ = np.flatnonzero(cand["success"][j])
                    if succ.size == 0:
                        continue
                    m = succ[np.argmin(cand["fitness"][j, succ])]
                    genes = cand_genes[j, m]
                else:
                    m = int(np.argmin(state.fitness[a]))
                    if not pop["success"][a, m]:
                        continue
                    genes = state.population[a, m]
                confirmed = self._confirm(int(a), genes)
                if not confirmed["success"]:
                    log.info("attack %d: success at generation %d did not confirm on its own", a, g)
                    continue
                win_genes[a] = genes
                for key in _SUMMARY_KEYS:
                    win[key][a] = confirmed[key]
                won[a] = True
                history[a, g] = min(history[a, g], float(confirmed["fitness"]))
                if cfg.early_stop:
                    done[a] = True
                    generations[a] = g

        # generation 0: the initial population
        summ, _ = self._score(state.population, all_rows, remaining(all_rows))
        de.tell_initial(state, summ["fitness"])
        for key in _SUMMARY_KEYS:
            pop[key][:] = summ[key]
        history[:, 0] = state.best_fitness
        check(all_rows, 0, state.population, summ)
        done |= remaining(all_rows) <= 0
        if self.progress is not None:
            self.progress(int(done.sum()))
        for g in range(1, g_max + 1):
            active = np.flatnonzero(~done)
            if active.size == 0:
                break
            trials = de.ask(state, active)
            summ, _ = self._score(trials, active, remaining(active))
            replaced = de.tell(state, active, trials, summ["fitness"])
            for key in _SUMMARY_KEYS:
                cur = pop[key][active]
                mask = replaced.reshape(*replaced.shape, *([1] * (cur.ndim - 2)))
                pop[key][active] = np.where(mask, summ[key], cur)
            history[active, g] = state.best_fitness[active]
            generations[active] = g
            before = done.copy()
            check(active, g, trials, summ)
            done[active] |= remaining(active) <= 0
            if self.progress is not None:
                self.progress(int((done & ~before).sum()))
        if self.progress is not None:
            self.progress(int((~done).sum()))
        return self._assemble(state, pop, win_genes, win, won, generations, history, layout)

    def _assemble(
        self,
        state: Any,
        pop: dict[str, np.ndarray],
        win_genes: np.ndarray,
        win: dict[str, np.ndarray],
        won: np.ndarray,
        generations: np.ndarray,
        history: np.ndarray,
        layout: str,
    ) -> AttackResult:
        n = self.n
        best = state.best_index
        # a best member answered from the memo has only fitness and success: re-derive its other fields
        # (not a query: the model was asked about this image before). Below fp32, a failed attack's best
        # member is evaluated again at fp32 (one counted query), so every reported field is an fp32 answer.
        reduced = self.precision != "fp32"
        unknown = np.flatnonzero(~won & (reduced | ~pop["known"][np.arange(n), best]))
        dec_u = decode(state.population[unknown, best[unknown]], unknown, self.regions,
                       self.attack.region_mode, self.attack.pixels)
        changes = np.asarray(dec_u.applied.any(axis=1), dtype=bool)  # a member with no pixel is the clean image
        unknown = unknown[changes]
        if unknown.size:
            dec_u = Decoded(dec_u.positions[changes], dec_u.colors[changes], dec_u.applied[changes])
            ev = self._evaluate(unknown, dec_u, "fp32" if reduced else None)
            if reduced:
                self.queries[unknown] += 1
            for key in _SUMMARY_KEYS:
                pop[key][unknown, best[unknown]] = ev[key]
        genes = np.where(won[:, None], win_genes, state.population[np.arange(n), best])
        final = {key: np.where(won.reshape(-1, *([1] * (pop[key].ndim - 2))), win[key], pop[key][np.arange(n), best])
                 for key in _SUMMARY_KEYS}
        rows = np.arange(n)
        dec = decode(genes, rows, self.regions, self.attack.region_mode, self.attack.pixels)
        adv = perturb(self.clean, rows, dec).cpu().numpy()
        clean = self.clean.cpu().numpy()
        changed = (adv != clean).any(axis=1).reshape(n, -1).sum(axis=1)
        w = self.regions.width
        pix = np.stack([dec.positions // w, dec.positions % w], axis=-1)
        pix[~dec.applied] = -1
        cs = self.clean_summary
        return AttackResult(
            success=won.copy(),
            adversarial=adv.transpose(0, 2, 3, 1).copy() if layout == "NHWC" else adv,
            pixels=pix.astype(np.int64),
            colors=dec.colors,
            changed=changed.astype(np.int64),
            predicted=final["predicted"].astype(np.int64),
            confidence=final["confidence"].astype(np.float32),
            target_probability=final["interest"].astype(np.float32),
            clean_probability=cs["interest"].astype(np.float32),
            labels=self.objective.labels.copy(),
            targets=self.objective.targets.copy(),
            clean_top5_classes=cs["top_c"].astype(np.int64),
            clean_top5_probs=cs["top_p"].astype(np.float32),
            adv_top5_classes=final["top_c"].astype(np.int64),
            adv_top5_probs=final["top_p"].astype(np.float32),
            adv_probs_of_clean_top5=final["clean_top"].astype(np.float32),
            generations=generations,
            queries=self.queries.copy(),
            fitness_history=history,
            seed=self.seeds.copy(),
            region_size=self.regions.counts.copy(),
            mode=self.objective.mode,
            region_mode=self.attack.region_mode,
            batch_size=self.chunk_size or self.clf.resolve_batch_size(self.regions.height, self.regions.width, 1),
        )
