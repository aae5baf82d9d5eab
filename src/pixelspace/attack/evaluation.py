"""The evaluation path every search stands on, and the base class of the attacks.

An attack is a frozen dataclass of settings and a *search step*. :class:`Attack`'s ``__call__`` (final) checks
the call's inputs and wraps the model once for every attack (:class:`AttackInputs`), then calls the
subclass's :meth:`~Attack.search`. The search proposes candidates, each a set of pixels and colours
(:class:`~pixelspace.attack.encoding.Decoded`), and hands them to an :class:`Evaluation`, which owns
everything between a candidate and an :class:`~pixelspace.attack.result.AttackResult`:

* the clean images: evaluated once at fp32, one counted query per attack;
* the evaluation memo (:mod:`pixelspace.attack.memo`): a candidate the attack already evaluated is answered
  without a query; a candidate that changes no pixel is the clean image, also without a query;
* the query budget: ``max_queries`` per attack, one query kept for the confirmation of a success;
* the confirmation: a success is evaluated once more on its own (a batch of one) at fp32 and counts only if
  it holds there;
* the :class:`Summary` of each evaluated candidate (fitness, success, top classes ...), and the result.

Searches: :class:`~pixelspace.attack.pixel_attack.PixelAttack` (Differential Evolution over genes it decodes
into pixels), :class:`~pixelspace.attack.sparse_rs.SparseRandomSearch` (a random search over pixels and
corner colours) and :class:`~pixelspace.attack.seeded.ScanSeededAttack` (a scan, then DE from the scan's best
pixels). DESIGN.md §2 fixes the counting; ``docs/engine.md`` draws the whole path.
"""

from __future__ import annotations

import dataclasses
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, final

import numpy as np
import torch
from torch import nn

from pixelspace.attack.encoding import Decoded, Regions
from pixelspace.attack.inputs import attack_seeds, images_to_uint8_nchw, regions_to_masks
from pixelspace.attack.memo import EvaluationMemo, candidate_keys, first_occurrences
from pixelspace.attack.objectives import Objective
from pixelspace.attack.perturb import perturb, pixel_probabilities
from pixelspace.attack.result import AttackResult
from pixelspace.errors import ConfigError, ObjectiveError
from pixelspace.models.classifier import Classifier
from pixelspace.models.precision import Precision, check_precision
from pixelspace.models.registry import check_registered_size

if TYPE_CHECKING:
    from pixelspace.attack.points import PointBases

log = logging.getLogger(__name__)

#: Classes kept per evaluated image (top classes and the clean top classes' probabilities).
TOPK = 5
_UNLIMITED = np.iinfo(np.int64).max // 4


@dataclass(frozen=True)
class Summary:
    """What the evaluation path keeps of evaluated candidates; every field has the same leading axes (the
    candidates, e.g. (B,) or (A, P)), and K = min(5, classes).

    Attributes:
        fitness: float64, the objective's fitness (lower is better); +inf for a candidate left unevaluated
            by the budget.
        success: bool, the objective's criterion met.
        predicted: int64, the top class.
        confidence: float32, its probability.
        interest: float32, the probability of the objective's class (the label, or the target).
        top_c: int64 (..., K) the top classes; top_p: float32 (..., K) their probabilities.
        clean_top: float32 (..., K) the probabilities of the clean image's top classes.
        known: bool, False for a candidate answered from the evaluation memo: only its fitness and success
            are its own (the other fields are the clean image's until :meth:`Evaluation.result` fills them).
    """

    fitness: np.ndarray
    success: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    interest: np.ndarray
    top_c: np.ndarray
    top_p: np.ndarray
    clean_top: np.ndarray
    known: np.ndarray

    def map(self, fn: Callable[[np.ndarray], np.ndarray]) -> Summary:
        """A summary whose every field is ``fn(field)``."""
        return Summary(**{f.name: fn(getattr(self, f.name)) for f in dataclasses.fields(self)})

    def __getitem__(self, index: Any) -> Summary:
        """The candidates at ``index`` (NumPy indexing of the leading axes)."""
        return self.map(lambda v: v[index])

    def put(self, index: Any, other: Summary) -> None:
        """Write ``other`` into the candidates at ``index``, in place."""
        for f in dataclasses.fields(self):
            getattr(self, f.name)[index] = getattr(other, f.name)

    @staticmethod
    def choose(mask: np.ndarray, if_true: Summary, if_false: Summary) -> Summary:
        """Per candidate, ``if_true`` where the bool ``mask`` (the leading axes) holds, else ``if_false``."""
        def pick(f: str) -> np.ndarray:
            a, b = getattr(if_true, f), getattr(if_false, f)
            return np.where(mask.reshape(*mask.shape, *([1] * (a.ndim - mask.ndim))), a, b)

        return Summary(**{f.name: pick(f.name) for f in dataclasses.fields(Summary)})

    @staticmethod
    def concat(parts: Sequence[Summary]) -> Summary:
        """The candidates of ``parts`` one after another (first axis)."""
        return Summary(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                          for f in dataclasses.fields(Summary)})


@dataclass(frozen=True)
class Trial:
    """Candidates answered by :meth:`Evaluation.look_ahead`, not yet counted (:meth:`Evaluation.keep`).

    Attributes:
        rows: int64 (B,) the attack of each candidate.
        summary: :class:`Summary` (B,) their answers.
        scored: bool (B,) evaluated or answered (False: left out by the budget).
        allowed: bool (B,) asked of the model (one query each, once kept).
        spent: int64 (B,) the queries the trial's candidates of the same attack cost up to and including each
            (the running count of ``allowed`` within the attack).
        keys: uint64 (B, 2) their memo keys, or None without the memo.
    """

    rows: np.ndarray
    summary: Summary
    scored: np.ndarray
    allowed: np.ndarray
    spent: np.ndarray
    keys: np.ndarray | None


@dataclass(frozen=True)
class AttackInputs:
    """The checked arguments of one attack call (:meth:`Attack.__call__`), N attacks of k pixels.

    Attributes:
        clf: the model, wrapped once.
        clean: uint8 (N, 3, H, W) the clean images.
        layout: the caller's image layout, ``"NHWC"`` or ``"NCHW"`` (the adversarial images come back in it).
        objective: the criterion, N entries.
        masks: bool (N, H, W) each attack's region.
        seeds: int64 (N,) each attack's seed (its own random streams derive from it).
        precision: the search's arithmetic (:meth:`Classifier.search_precision`).
        pixels: k.
        progress: called with the number of attacks that finished, or None.
    """

    clf: Classifier
    clean: np.ndarray
    layout: str
    objective: Objective
    masks: np.ndarray
    seeds: np.ndarray
    precision: Precision
    pixels: int
    progress: Callable[[int], None] | None = None

    def __len__(self) -> int:
        return int(self.clean.shape[0])

    def subset(self, index: np.ndarray) -> AttackInputs:
        """The attacks at ``index`` (int (M,)) alone."""
        return dataclasses.replace(self, clean=self.clean[index], objective=self.objective.subset(index),
                                   masks=self.masks[index], seeds=self.seeds[index])


def check_settings(pixels: int, batch_size: Any, precision: Any, eval_chunk: Any = 8,
                   reuse_evaluations: Any = True) -> None:
    """The checks of the settings every attack shares (raise a ConfigError naming the bad one)."""
    if not isinstance(pixels, int) or pixels < 1:
        raise ConfigError(f"pixels must be an int >= 1, got {pixels!r}")
    if batch_size != "auto" and (not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigError(f"batch_size must be 'auto' or an int >= 1, got {batch_size!r}")
    if not isinstance(eval_chunk, int) or isinstance(eval_chunk, bool) or eval_chunk < 1:
        raise ConfigError(f"eval_chunk must be an int >= 1, got {eval_chunk!r}")
    if not isinstance(reuse_evaluations, bool):
        raise ConfigError(f"reuse_evaluations must be True or False, got {reuse_evaluations!r}")
    if precision is not None:
        check_precision(precision)


def _running_count(flags: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """For bool ``flags`` (B,) in runs beginning at ``starts`` (G,): int64 (B,) how many are set in each one's
    run up to and including it."""
    counted = np.cumsum(flags, dtype=np.int64)
    return counted - np.repeat(counted[starts] - flags[starts], np.diff(np.append(starts, flags.shape[0])))


class Attack(ABC):
    """Base of the attacks: a frozen dataclass of settings (``pixels``, ``batch_size`` and ``precision`` at
    least) whose final ``__call__`` checks the inputs, wraps the model and calls :meth:`search`."""

    pixels: int
    batch_size: int | Literal["auto"]
    precision: Precision | None

    @final
    def __call__(
        self,
        model: nn.Module | Classifier | Callable[[Any], Any],
        images: np.ndarray | torch.Tensor,
        objective: Objective,
        *,
        regions: np.ndarray | torch.Tensor | None = None,
        seed: int | Sequence[int] | np.ndarray = 0,
        progress: Callable[[int], None] | None = None,
        **options: Any,
    ) -> AttackResult:
        """Attack every image.

        Args:
            model: an ``nn.Module`` (float NCHW [0, 1] → logits) or a :class:`Classifier`.
            images: uint8 NumPy (N, H, W, 3), or a torch tensor (N, 3, H, W) uint8 or float in [0, 1].
            objective: ``Untargeted(labels)`` or ``Targeted(labels, targets)`` with N entries.
            regions: None (whole image), bool (H, W) shared by all, or bool (N, H, W).
            seed: int (attack i gets the stream of (seed, i)) or one seed per attack.
            progress: called with the number of attacks that finished at each step.
            **options: the attack's own call options (``PixelAttack``: ``init_population``;
                ``ScanSeededAttack``: ``maps``), passed to :meth:`search`.

        Returns:
            An :class:`AttackResult` with N attacks.

        Raises:
            ShapeError, DTypeError: bad images. ConfigError: a bad objective type, seed or precision.
            ObjectiveError: an objective of another length. RegionError: an empty or too small region.
        """
        clean, layout, _ = images_to_uint8_nchw(images)
        n, _, h, w = clean.shape
        if not isinstance(objective, Objective):
            raise ConfigError(f"objective must be Untargeted(...) or Targeted(...), got {type(objective).__name__}")
        if len(objective) != n:
            raise ObjectiveError(f"objective has {len(objective)} labels for {n} images")
        masks = regions_to_masks(regions, n, h, w, self.pixels)
        seeds = attack_seeds(seed, n)
        clf = Classifier.wrap(model, self.batch_size)
        check_registered_size(clf.fn, h, w)
        precision = clf.search_precision(self.precision, type(self).__name__)
        inputs = AttackInputs(clf, clean, layout, objective, masks, seeds, precision, self.pixels, progress)
        return self.search(inputs, **options)

    @abstractmethod
    def search(self, inputs: AttackInputs, **options: Any) -> AttackResult:
        """The attack's search on checked inputs (called by ``__call__``, which documents the options); an
        option it does not know is a TypeError."""

    def config_dict(self) -> dict[str, Any]:
        """The result-changing settings as plain data: every field less ``batch_size`` and ``eval_chunk`` (how
        candidates are grouped), and less ``precision`` when None (the Classifier's); arrays as lists.

        What this object would do, for a user's own records; not a campaign's search hash, which
        :mod:`pixelspace.campaign.keys` builds from the campaign file and which reads options added later at
        the value stores made before them imply (:mod:`pixelspace.campaign.legacy`).
        """
        d = {k: v.tolist() if isinstance(v, np.ndarray) else v
             for k, v in dataclasses.asdict(self).items()}  # type: ignore[call-overload]
        d.pop("batch_size")
        d.pop("eval_chunk", None)
        if self.precision is None:
            d.pop("precision")
        return d

    def _refuse(self, options: dict[str, Any]) -> None:
        """A TypeError naming the first of ``options`` (the call options :meth:`search` did not take)."""
        if options:
            raise TypeError(f"{type(self).__name__} call got an unexpected keyword argument {sorted(options)[0]!r}")

    def clean_predictions(
        self, model: nn.Module | Classifier | Callable[[Any], Any], images: np.ndarray | torch.Tensor
    ) -> np.ndarray:
        """The model's predicted class of each clean image, int64 (N,): the usual class of interest
        (the paper's Eq. 3), at fp32 like the attack's clean query. These evaluations are not counted as attack
        queries."""
        clean, _, _ = images_to_uint8_nchw(images)
        clf = Classifier.wrap(model, self.batch_size)
        probs = clf.probabilities(torch.from_numpy(clean), count=False, precision="fp32")
        return probs.argmax(1).cpu().numpy().astype(np.int64)


class Evaluation:
    """The evaluation path of one attack call: candidates (pixels and colours) in, summaries and a result out.

    Creating it evaluates the clean images (one counted query per attack). Then a search calls
    :meth:`score` with candidates (or :meth:`look_ahead` with candidates it may still discard, then :meth:`keep`
    with those it keeps), :meth:`confirm` with a success it wants to return, and finally :meth:`result` with
    each attack's best candidate.

    Args:
        inputs: the checked call.
        objective: the search's criterion (default ``inputs.objective``).
        max_queries: queries per attack, clean image and confirmation included (None: no limit).
        eval_chunk: candidates evaluated per step, as a multiple of the batch size (bounds memory).
        reuse_evaluations: the evaluation memo on or off.

    Attributes:
        n: attacks. regions: their regions. seeds: int64 (N,) their seeds. precision: the search's arithmetic.
        queries: int64 (N,) queries counted so far. won: bool (N,) attacks with a confirmed success.
        clean_summary: :class:`Summary` (N,) of the clean images.
    """

    def __init__(
        self,
        inputs: AttackInputs,
        *,
        objective: Objective | None = None,
        max_queries: int | None = None,
        eval_chunk: int = 8,
        reuse_evaluations: bool = True,
    ) -> None:
        self.clf = inputs.clf
        self.objective = objective if objective is not None else inputs.objective
        self.regions = Regions.from_masks(inputs.masks)
        self.seeds = inputs.seeds
        self.precision: Precision = inputs.precision
        self.layout = inputs.layout
        self.progress = inputs.progress
        self.eval_chunk = eval_chunk
        self.budget = max_queries if max_queries is not None else _UNLIMITED
        self.clean = torch.from_numpy(inputs.clean).to(self.clf.device)
        self.n = len(inputs)
        self.queries = np.zeros(self.n, dtype=np.int64)
        self.memo = EvaluationMemo() if reuse_evaluations else None
        self.chunk_size = 0  # the largest chunk an evaluation used (the result's batch_size)
        self.points: PointBases | None = None  # the search's current points, when followed (follow_points)
        self._start()
        k = inputs.pixels
        self.won = np.zeros(self.n, dtype=bool)
        self._found = Decoded(np.zeros((self.n, k), dtype=np.int64), np.zeros((self.n, k, 3), dtype=np.uint8),
                              np.zeros((self.n, k), dtype=bool))
        self._found_summary = self.clean_summary.map(np.copy)

    def _start(self) -> None:
        all_rows = np.arange(self.n)
        clean_probs = self.clf.probabilities(self.clean, precision="fp32")
        self.queries += 1
        self.objective.check_classes(clean_probs.shape[1])
        k = min(TOPK, clean_probs.shape[1])
        self._clean_top_c = clean_probs.topk(k, dim=1)[1].cpu().numpy()
        self.clean_summary = self._summarise(clean_probs, all_rows)
        mismatch = np.flatnonzero(self.clean_summary.success)
        if mismatch.size:
            log.warning(
                "%d attack(s) already meet the criterion on the clean image (e.g. attack %d); labels are "
                "normally the model's clean predictions", mismatch.size, int(mismatch[0]),
            )

    def report(self, finished: int) -> None:
        """Tell the caller's progress callback that ``finished`` more attacks are done."""
        if self.progress is not None:
            self.progress(int(finished))

    def remaining(self, attacks: np.ndarray) -> np.ndarray:
        """Candidates attacks (A,) may still have evaluated: int64 (A,), one query kept for the confirmation."""
        return np.maximum(self.budget - self.queries[attacks] - 1, 0)

    # -- where a candidate's pixels go -----------------------------------------------------------------
    def _on_base(self, rows: np.ndarray, candidates: Decoded) -> tuple[torch.Tensor, np.ndarray, Decoded]:
        """Where a candidate's pixel set comes from: the images (A, 3, H, W) its pixels are written into,
        indexed by ``rows``, and the pixels written: each candidate's own pixels go into its attack's clean
        image. Every confirmation and returned image goes through here, and every evaluation except those the
        points answer (:meth:`follow_points`), which give the model the same images by another route: a
        candidate is still its whole pixel set here and in the memo keys, whichever route answers it."""
        return self.clean, rows, candidates

    # -- evaluation ----------------------------------------------------------------------------------------
    def _summarise(self, probs: torch.Tensor, rows: np.ndarray) -> Summary:
        r = torch.as_tensor(rows, device=probs.device)
        k = min(TOPK, probs.shape[1])
        top_p, top_c = probs.topk(k, dim=1)
        clean_top = torch.as_tensor(self._clean_top_c[rows], device=probs.device)
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
        return Summary(**{key: v.cpu().numpy() for key, v in out.items()})

    def _evaluate(self, rows: np.ndarray, candidates: Decoded, precision: Precision | None = None,
                  moved: np.ndarray | None = None) -> Summary:
        """Summaries of candidates that need a query (each has >= 1 applied pixel), in memory-bounded steps, at
        ``precision`` (default: the search's). Counts nothing: the caller does. With ``moved`` (B,) and the
        search's points followed (:meth:`follow_points`), the candidates are answered against the points."""
        bs = self.clf.resolve_batch_size(self.regions.height, self.regions.width, rows.shape[0])
        self.chunk_size = max(self.chunk_size, bs)
        step = bs * self.eval_chunk
        parts = []
        points = self.points if (moved is not None and (precision or self.precision) == self.precision) else None
        for s in range(0, rows.shape[0], step):
            # a lone candidate goes the clean-image way: a batch of one takes PyTorch's other CPU convolution in
            # a full pass, whose last bits the points (which run every call as a batch of at least two) would
            # not give, and a search's rows must not depend on which path answered
            if points is not None and moved is not None and min(step, rows.shape[0] - s) >= 2:
                r = rows[s : s + step]
                probs = points.probabilities(r, candidates[s : s + step], moved[s : s + step], keep=s > 0)
            else:
                base, r, dec = self._on_base(rows[s : s + step], candidates[s : s + step])
                probs = pixel_probabilities(self.clf, base, r, dec, precision or self.precision)
            parts.append(self._summarise(probs, r))
        return Summary.concat(parts)

    def follow_points(self, pixels: int) -> bool:
        """Answer the candidates of a search that moves each attack from point to point (k = ``pixels``) against
        its current points (:class:`~pixelspace.attack.points.PointBases`) where the model's incremental pass
        makes that cheaper (:func:`~pixelspace.attack.points.choose_plan`; fp32 only). The search then passes
        ``moved`` to :meth:`score` and tells :meth:`accept` each move. The answers are the same either way;
        returns whether the points are followed."""
        from pixelspace.attack.points import PointBases, choose_plan

        if self.precision != "fp32" or self.n == 0:
            return False
        plan = choose_plan(self.clf, int(self.clean.shape[1]), self.regions.height, self.regions.width, pixels)
        if plan is None:
            return False
        self.points = PointBases(self.clf, self.clean, pixels, plan)
        log.debug("sparse search: candidates against the current points (%s)", plan)
        return True

    def accept(self, attacks: np.ndarray, candidates: Decoded, moved: np.ndarray) -> None:
        """The search moved the points of ``attacks`` (B,) (distinct) to ``candidates`` (B, k), each differing
        from the previous point in slot ``moved`` (B,) or -1 (any number of slots); a no-op unless the points
        are followed (:meth:`follow_points`)."""
        if self.points is not None:
            self.points.accept(attacks, candidates, moved)

    def score(self, attacks: np.ndarray, candidates: Decoded, moved: np.ndarray | None = None
              ) -> tuple[Summary, np.ndarray]:
        """Summaries (A, P) of P candidates per attack: ``attacks`` (A,) distinct, ``candidates`` (A * P, k),
        attack by attack; with the points followed (:meth:`follow_points`), ``moved`` (A * P,) says in which
        slot each candidate differs from its attack's point (-1: any number).

        A candidate with no applied pixel gets the clean summary without a query; with the memo, a candidate
        this attack already evaluated (now or earlier) gets its earlier fitness and success without a query
        (``known`` False). At most :meth:`remaining` new candidates of an attack are evaluated, in order; the
        rest get fitness +inf and no success. Returns the summaries and the bool (A, P) mask of candidates
        that were evaluated or answered. (:meth:`look_ahead` and :meth:`keep` with every candidate kept.)
        """
        a = attacks.shape[0]
        p = candidates.positions.shape[0] // max(a, 1)
        trial = self.look_ahead(np.repeat(attacks, p), candidates, moved)
        self.keep(trial)
        return trial.summary.map(lambda v: v.reshape(a, p, *v.shape[1:])), trial.scored.reshape(a, p)

    def look_ahead(self, rows: np.ndarray, candidates: Decoded, moved: np.ndarray | None = None) -> Trial:
        """Answer candidates a search may still discard: ``rows`` (B,) the attack of each candidate, each
        attack's candidates together and in the order the search would have asked for them one at a time;
        ``candidates`` (B, k); ``moved`` (B,) as for :meth:`score`.

        Each candidate is answered as :meth:`score` answers it, as if every earlier candidate of its attack had
        been asked and kept (the memo and the budget count them), but nothing is counted or remembered until
        :meth:`keep` says which candidates the search keeps (a prefix of each attack's). A search that asks
        for candidates it would only have proposed had the earlier ones been rejected (``SparseRandomSearch``'s
        look-ahead) keeps them up to its attack's first decision and discards the rest: queries, memo and
        results are those of asking one at a time.
        """
        b = rows.shape[0]
        change = np.ones(b, dtype=bool)
        change[1:] = rows[1:] != rows[:-1]
        starts = np.flatnonzero(change)
        if np.unique(rows[starts]).size != starts.size:
            raise ValueError("look_ahead takes each attack's candidates together (rows holds an attack twice, "
                             "apart)")
        needs: np.ndarray = np.asarray(candidates.applied.any(axis=1))
        recalled = np.zeros(b, dtype=bool)  # answered from earlier steps
        repeats = np.zeros(0, dtype=np.int64)  # repeats of a candidate that is new in this step
        sources = np.zeros(0, dtype=np.int64)
        memo_fitness, memo_success = np.zeros(0), np.zeros(0, dtype=bool)
        keys = None
        if self.memo is not None:
            keys = candidate_keys(rows, candidates)
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
        # each attack's new candidates in order, up to its remaining budget
        allowed = needs & (_running_count(needs, starts) <= self.remaining(rows))
        scored = allowed | ~needs
        scored[repeats] = allowed[sources]
        out = self.clean_summary[rows]
        out = dataclasses.replace(out, fitness=np.where(scored, out.fitness, np.inf), success=out.success & scored)
        if recalled.any():
            out.fitness[recalled] = memo_fitness
            out.success[recalled] = memo_success
            out.known[recalled] = False
        if allowed.any():
            idx = np.flatnonzero(allowed)
            out.put(idx, self._evaluate(rows[idx], candidates[idx], moved=None if moved is None else moved[idx]))
        if repeats.size:
            out.put(repeats, Summary.choose(scored[repeats], out[sources], out[repeats]))
        return Trial(rows, out, scored, allowed, _running_count(allowed, starts), keys)

    def keep(self, trial: Trial, kept: np.ndarray | None = None) -> None:
        """Count and remember the candidates of ``trial`` the search keeps: bool (B,), a prefix of each
        attack's candidates (default: all); the others are as if never asked."""
        take = trial.allowed if kept is None else trial.allowed & kept
        idx = np.flatnonzero(take)
        if self.memo is not None and trial.keys is not None and idx.size:
            self.memo.add(trial.keys[idx], trial.summary.fitness[idx], trial.summary.success[idx])
        self.queries += np.bincount(trial.rows[idx], minlength=self.n).astype(np.int64)

    def confirm(self, attack: int, candidate: Decoded, step: int) -> Summary | None:
        """Evaluate a success of attack ``attack`` (candidate (1, k)) on its own, a batch of one at fp32, one
        counted query. When it holds, the attack has won with it: its summary (1,) is returned and
        :meth:`result` reports it. When it does not, None (and a log line names ``step``, the search's
        generation or iteration)."""
        rows = np.array([attack])
        probs = self.clf.probabilities(perturb(*self._on_base(rows, candidate)), precision="fp32")
        self.queries[attack] += 1
        confirmed = self._summarise(probs, rows)
        if not confirmed.success[0]:
            log.info("attack %d: success at generation %d did not confirm on its own", attack, step)
            return None
        self.won[attack] = True
        self._found.positions[attack] = candidate.positions[0]
        self._found.colors[attack] = candidate.colors[0]
        self._found.applied[attack] = candidate.applied[0]
        self._found_summary.put(attack, confirmed[0])
        return confirmed

    def result(self, best: Decoded, summary: Summary, generations: np.ndarray, history: np.ndarray,
               region_mode: str) -> AttackResult:
        """The :class:`AttackResult`: each attack's confirmed success, or else ``best`` (N, k), the candidate
        the search ends with, whose :class:`Summary` (N,) is ``summary``.

        A failed attack's candidate answered from the memo has only fitness and success: its other fields are
        derived again (not counted: the model was asked about it before). Below fp32, a failed attack's
        candidate is evaluated again at fp32 (one counted query), so every reported field is an fp32 answer.
        ``generations`` (N,) and ``history`` (N, G+1) are the search's own; ``region_mode`` is recorded.
        """
        n, won = self.n, self.won
        rows = np.arange(n)
        final = Summary.choose(won, self._found_summary, summary)

        def pick(found: np.ndarray, other: np.ndarray) -> np.ndarray:
            return np.where(won.reshape(-1, *([1] * (found.ndim - 1))), found, other)

        cand = Decoded(pick(self._found.positions, best.positions), pick(self._found.colors, best.colors),
                       pick(self._found.applied, best.applied))
        reduced = self.precision != "fp32"
        unknown = np.flatnonzero(~won & (reduced | ~summary.known))
        unknown = unknown[cand.applied[unknown].any(axis=1)]  # a candidate with no pixel is the clean image
        if unknown.size:
            final.put(unknown, self._evaluate(unknown, cand[unknown], "fp32" if reduced else None))
            if reduced:
                self.queries[unknown] += 1
        adv = perturb(*self._on_base(rows, cand)).cpu().numpy()
        clean = self.clean.cpu().numpy()
        changed = (adv != clean).any(axis=1).reshape(n, -1).sum(axis=1)
        w = self.regions.width
        pix = np.stack([cand.positions // w, cand.positions % w], axis=-1)
        pix[~cand.applied] = -1
        cs = self.clean_summary
        return AttackResult(
            success=won.copy(),
            adversarial=adv.transpose(0, 2, 3, 1).copy() if self.layout == "NHWC" else adv,
            pixels=pix.astype(np.int64),
            colors=cand.colors,
            changed=changed.astype(np.int64),
            predicted=final.predicted.astype(np.int64),
            confidence=final.confidence.astype(np.float32),
            target_probability=final.interest.astype(np.float32),
            clean_probability=cs.interest.astype(np.float32),
            labels=self.objective.labels.copy(),
            targets=self.objective.targets.copy(),
            clean_top5_classes=cs.top_c.astype(np.int64),
            clean_top5_probs=cs.top_p.astype(np.float32),
            adv_top5_classes=final.top_c.astype(np.int64),
            adv_top5_probs=final.top_p.astype(np.float32),
            adv_probs_of_clean_top5=final.clean_top.astype(np.float32),
            generations=generations,
            queries=self.queries.copy(),
            fitness_history=history,
            seed=self.seeds.copy(),
            region_size=self.regions.counts.copy(),
            mode=self.objective.mode,
            region_mode=region_mode,
            batch_size=self.chunk_size or self.clf.resolve_batch_size(self.regions.height, self.regions.width, 1),
        )
