"""``SparseRandomSearch``: a Sparse-RS-style random search for k-pixel attacks inside a region.

The method of Croce et al., "Sparse-RS: a versatile framework for query-efficient sparse black-box
adversarial attacks" (AAAI 2022), L0 threat model, written for this engine:

* state: k distinct pixels of the region, each set to a corner of the RGB cube (every channel 0 or 255);
  the initial pixels are drawn uniformly from the region;
* iteration: ``m = max(int(alpha(q) * k), 1)`` of the k slots (drawn without replacement) move to pixels of the
  region that are not perturbed now, each with a fresh corner colour; when the region has no free pixel
  (exactly k pixels) the slot keeps its pixel and draws another colour;
* colour of a placed pixel: with ``first_color="opposite"`` (default) a pixel placed for the first time in the
  attack takes its opposite corner (each channel 255 where the clean value is below 128, else 0: the corner
  farthest from it), and a pixel placed again draws uniformly from the corners that differ from the clean
  pixel; with ``first_color="random"`` every placement draws uniformly (the authors' rule). This is our
  deviation from the paper, measured on stored corner scans (docs/sparse-rs.md);
* one pixel (``pixels=1``) with ``single_pixel="enumerate"`` (default): the search walks a random order of the
  region's (pixel, corner) pairs without repeating one: first every region pixel once with its first colour
  (the rule above), in random order, then every remaining pair whose corner differs from the clean pixel, in
  random order; iteration ``t`` evaluates pair ``t`` and the attack ends when the order is exhausted (8 pairs
  per region pixel, 7 where the clean pixel is itself a corner). At k = 1 a candidate never depends
  on the state (the one slot always moves), so this is the random search without repeats and, given the
  queries, finds every flip a corner scan finds. ``single_pixel="random"`` is the authors' rule (pairs drawn
  with repetition; a repeat is answered from the memo but costs an iteration);
* acceptance: the candidate replaces the state when its margin loss (:class:`~pixelspace.attack.objectives.Margin`)
  is not larger; the search stops at the first candidate that meets the criterion and confirms on its own;
* ``alpha(q)`` is the authors' L0 schedule: ``p_init`` divided by 1, 2, 4, 5, 6, 8, 10, 12, 15, 20 after
  0, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10,000 rescaled queries, where ``q`` counts this
  attack's evaluated candidates rescaled to ``10000 * q / max_queries``.

Positions are drawn only from the region in both region modes; ``region_mode`` only chooses the gene
encoding the engine's evaluation path uses (so both modes give the same result for the same seed). All
active attacks advance one iteration together: one candidate per attack, evaluated in one model call through
:class:`~pixelspace.attack.pixel_attack.PixelAttack`'s evaluation path (the evaluation memo, query budget,
success confirmation and result assembly are the engine's). Query counting is DE's (DESIGN.md §2): the clean
image, every evaluated candidate (a candidate answered from the memo is free) and the confirmation, at most
``max_queries`` in all. ``generations`` in the result counts iterations.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from pixelspace.attack.encoding import GENES_PER_PIXEL, RegionMode, Regions, encode
from pixelspace.attack.inputs import attack_seeds, images_to_uint8_nchw, regions_to_masks
from pixelspace.attack.objectives import Margin, Objective
from pixelspace.attack.pixel_attack import _SUMMARY_KEYS, PixelAttack, _Run
from pixelspace.attack.result import AttackResult
from pixelspace.errors import ConfigError, ObjectiveError
from pixelspace.models.classifier import Classifier
from pixelspace.models.precision import Precision
from pixelspace.models.registry import check_registered_size
from pixelspace.search.de import DEConfig

#: The 8 colours a perturbed pixel takes: the corners of the RGB cube, uint8 (8, 3).
CORNERS = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], dtype=np.uint8)
_STREAM = 0x5A55  # spawn key of the search's random stream, apart from DE's and the scan seeding's
_SCHEDULE = ((50, 2), (200, 4), (500, 5), (1000, 6), (2000, 8), (4000, 10), (6000, 12), (8000, 15))
_HISTORY_POINTS = 100
FirstColor = Literal["opposite", "random"]
FIRST_COLORS: tuple[str, ...] = typing.get_args(FirstColor)
SinglePixel = Literal["enumerate", "random"]
SINGLE_PIXEL_RULES: tuple[str, ...] = typing.get_args(SinglePixel)


def alpha_schedule(p_init: float, queries: int, max_queries: int) -> float:
    """The fraction of the k pixels resampled after ``queries`` evaluated candidates of ``max_queries``
    (the authors' piecewise-constant L0 schedule on 10,000 rescaled queries)."""
    it = int(queries / max_queries * 10000)
    if it <= 0:
        return p_init
    div = 20
    for bound, d in _SCHEDULE:
        if it <= bound:
            div = d
            break
    return p_init / div


@dataclass(frozen=True)
class SparseRandomSearch:
    """A configured Sparse-RS-style k-pixel attack (hyperparameters only; model and data are call arguments).

    Args:
        pixels: k, pixels perturbed per attack (>= 1).
        max_queries: model evaluations per attack, clean image and confirmation included (>= 3).
        region_mode: ``"restrict"`` or ``"index"``: the gene encoding of the evaluation path (positions are
            always drawn from the region; see the module docstring).
        p_init: the initial fraction of the k pixels resampled per iteration, in (0, 1] (the authors' default
            0.3; for k <= 3 any value below 1/k resamples one pixel per iteration throughout).
        max_iterations: iterations per attack; None: ``2 * max_queries`` (a candidate answered from the memo
            costs an iteration but no query).
        batch_size: images per model call, or ``"auto"``.
        eval_chunk: candidates built and evaluated per step, as a multiple of the batch size.
        reuse_evaluations: answer a candidate image the attack already evaluated from memory (no query).
        first_color: ``"opposite"``: a pixel's first placement in an attack takes the corner farthest from its
            clean colour, later placements a uniform corner other than the clean one; ``"random"``: always
            uniform (the authors' rule).
        single_pixel: at ``pixels=1`` only: ``"enumerate"`` walks the region's (pixel, corner) pairs in a
            random order without repeats (module docstring); ``"random"`` draws them with repetition (the
            authors' rule). Ignored for ``pixels > 1``.
        precision: the arithmetic of the search's evaluations, or None (default): the Classifier's; as for
            :class:`PixelAttack` (an override of a Classifier made without one, a ConfigError against a
            different chosen one; every success is confirmed at fp32 and a failed attack's fields are fp32
            answers).

    Examples:
        >>> SparseRandomSearch(pixels=3, max_queries=1000).pixels
        3
    """

    pixels: int = 1
    max_queries: int = 10000
    region_mode: RegionMode = "restrict"
    p_init: float = 0.3
    max_iterations: int | None = None
    batch_size: int | Literal["auto"] = "auto"
    eval_chunk: int = 8
    reuse_evaluations: bool = True
    first_color: FirstColor = "opposite"
    single_pixel: SinglePixel = "enumerate"
    precision: Precision | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.pixels, int) or self.pixels < 1:
            raise ConfigError(f"pixels must be an int >= 1, got {self.pixels!r}")
        if not isinstance(self.max_queries, int) or self.max_queries < 3:
            raise ConfigError(f"max_queries must be an int >= 3 (clean image, a candidate, the confirmation), "
                              f"got {self.max_queries!r}")
        if self.region_mode not in GENES_PER_PIXEL:
            raise ConfigError(f"region_mode must be 'restrict' or 'index', got {self.region_mode!r}")
        if not isinstance(self.p_init, int | float) or not 0.0 < self.p_init <= 1.0:
            raise ConfigError(f"p_init must lie in (0, 1], got {self.p_init!r}")
        if self.first_color not in FIRST_COLORS:
            raise ConfigError(f"first_color must be one of {', '.join(map(repr, FIRST_COLORS))}, "
                              f"got {self.first_color!r}")
        if self.single_pixel not in SINGLE_PIXEL_RULES:
            raise ConfigError(f"single_pixel must be one of {', '.join(map(repr, SINGLE_PIXEL_RULES))}, "
                              f"got {self.single_pixel!r}")
        if self.max_iterations is not None and (not isinstance(self.max_iterations, int) or self.max_iterations < 0):
            raise ConfigError(f"max_iterations must be None or an int >= 0, got {self.max_iterations!r}")
        # the engine's checks of batch_size, eval_chunk, reuse_evaluations and precision
        self._engine()

    @property
    def iterations(self) -> int:
        """The iteration limit per attack."""
        return self.max_iterations if self.max_iterations is not None else 2 * self.max_queries

    def config_dict(self) -> dict[str, Any]:
        """The result-changing settings as plain data (batch size and chunking excluded)."""
        d = dataclasses.asdict(self)
        d.pop("batch_size")
        d.pop("eval_chunk")
        d["max_iterations"] = self.iterations
        if self.pixels != 1:
            d.pop("single_pixel")  # no effect above one pixel
        if self.precision is None:
            d.pop("precision")  # the Classifier's
        return d

    @property
    def enumerates(self) -> bool:
        """Whether the search walks (pixel, corner) pairs without repeats (one pixel, ``"enumerate"``)."""
        return self.pixels == 1 and self.single_pixel == "enumerate"

    def _engine(self) -> PixelAttack:
        """The PixelAttack whose evaluation path this search uses (its DE settings are not used)."""
        return PixelAttack(pixels=self.pixels, region_mode=self.region_mode,
                           de=DEConfig(population_size=4, max_generations=0, max_queries=self.max_queries),
                           batch_size=self.batch_size, eval_chunk=self.eval_chunk,
                           reuse_evaluations=self.reuse_evaluations, precision=self.precision)

    def __call__(
        self,
        model: nn.Module | Classifier | Callable[[Any], Any],
        images: np.ndarray | torch.Tensor,
        objective: Objective,
        *,
        regions: np.ndarray | torch.Tensor | None = None,
        seed: int | Sequence[int] | np.ndarray = 0,
        progress: Callable[[int], None] | None = None,
    ) -> AttackResult:
        """Attack every image (the arguments are :class:`PixelAttack`'s).

        Returns:
            An :class:`AttackResult` with N attacks; ``generations`` counts iterations, ``fitness_history``
            holds the best margin loss after iterations ``0, s, 2s, ...`` with ``s = ceil(iterations / 100)``.
        """
        clean_np, layout, _ = images_to_uint8_nchw(images)
        n, _, h, w = clean_np.shape
        if not isinstance(objective, Objective):
            raise ConfigError(f"objective must be Untargeted(...) or Targeted(...), got {type(objective).__name__}")
        if len(objective) != n:
            raise ObjectiveError(f"objective has {len(objective)} labels for {n} images")
        masks = regions_to_masks(regions, n, h, w, self.pixels)
        seeds = attack_seeds(seed, n)
        clf = Classifier.wrap(model, self.batch_size)
        check_registered_size(clf.fn, h, w)
        precision = clf.search_precision(self.precision, "SparseRandomSearch")
        run = _Run(self._engine(), clf, torch.from_numpy(clean_np), Margin(objective), Regions.from_masks(masks),
                   seeds, progress, precision=precision)
        return _search(self, run, clean_np, layout)


@dataclass
class _State:
    """What ``_Run._assemble`` reads of a search state: genes (N, 1, D) and the best member (all 0)."""

    population: np.ndarray
    best_index: np.ndarray


def _clean_colors(clean: np.ndarray) -> np.ndarray:
    """For uint8 images (N, 3, H, W): the index (N, H*W) of each pixel's colour among :data:`CORNERS`, -1 if
    it is not a corner."""
    n, _, h, w = clean.shape
    px = clean.reshape(n, 3, h * w)
    is_corner = ((px == 0) | (px == 255)).all(axis=1)
    idx = ((px[:, 0] == 255) * 4 + (px[:, 1] == 255) * 2 + (px[:, 2] == 255)).astype(np.int64)
    return np.where(is_corner, idx, -1)


def _opposite_colors(clean: np.ndarray) -> np.ndarray:
    """For uint8 images (N, 3, H, W): the index (N, H*W) among :data:`CORNERS` of each pixel's opposite corner
    (each channel 255 where the clean value is below 128, else 0; the corner farthest from the pixel in L1)."""
    n, _, h, w = clean.shape
    low = clean.reshape(n, 3, h * w) < 128
    return (low[:, 0] * 4 + low[:, 1] * 2 + low[:, 2]).astype(np.int64)


def _corner(rng: np.random.Generator, avoid: int) -> int:
    """A corner index drawn uniformly from the 8 (or the 7 other than ``avoid`` when ``avoid >= 0``)."""
    if avoid < 0:
        return int(rng.integers(8))
    c = int(rng.integers(7))
    return c + (c >= avoid)


def _free_pixel(rng: np.random.Generator, region: np.ndarray, taken: set[int]) -> int:
    """A region pixel (flat index) drawn uniformly among those not in ``taken`` (len(region) > len(taken))."""
    while True:
        p = int(region[rng.integers(region.size)])
        if p not in taken:
            return p


def _pair_order(rng: np.random.Generator, region: np.ndarray, clean_corner: np.ndarray, first: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """The enumeration order of one attack at k = 1: pixels (P,) and corner indices (P,) of every (region
    pixel, corner other than the clean one) pair; first each region pixel with its colour ``first`` (all
    arrays indexed by flat pixel, ``first`` never the clean corner), then the other pairs, each part in a
    random order."""
    px1 = rng.permutation(region)
    col1 = first[px1]
    allowed = np.ones((region.size, 8), dtype=bool)
    allowed[np.arange(region.size), first[region]] = False
    is_corner = clean_corner[region] >= 0
    allowed[np.flatnonzero(is_corner), clean_corner[region][is_corner]] = False
    rest_i, rest_c = np.nonzero(allowed)
    perm = rng.permutation(rest_i.size)
    return (np.concatenate([px1, region[rest_i[perm]]]).astype(np.int64),
            np.concatenate([col1, rest_c[perm]]).astype(np.int64))


def _search(cfg: SparseRandomSearch, run: _Run, clean_np: np.ndarray, layout: str) -> AttackResult:
    n, k = run.n, cfg.pixels
    rows_all = np.arange(n)
    run.start()
    rngs = [np.random.default_rng(np.random.SeedSequence(int(s), spawn_key=(_STREAM,))) for s in run.seeds]
    corner_of = _clean_colors(clean_np)
    opposite_of = _opposite_colors(clean_np)
    placed: list[set[int]] = [set() for _ in range(n)]  # pixels each attack has placed so far

    def place(a: int, p: int) -> int:
        """The corner index attack ``a`` gives pixel ``p`` as it places it (see the module docstring)."""
        first = p not in placed[a]
        placed[a].add(p)
        if first and cfg.first_color == "opposite":
            return int(opposite_of[a, p])
        return _corner(rngs[a], int(corner_of[a, p]))

    region_px = [run.regions.pixel_lists[i, : run.regions.counts[i]] for i in range(n)]

    def remaining(idx: np.ndarray) -> np.ndarray:
        return np.maximum(cfg.max_queries - run.queries[idx] - 1, 0)  # one query kept for the confirmation

    # initial state: k distinct region pixels, corner colours that change them
    pos = np.empty((n, k), dtype=np.int64)
    col = np.empty((n, k), dtype=np.int64)  # corner indices
    orders: list[tuple[np.ndarray, np.ndarray]] = []
    for i in range(n):
        if cfg.enumerates:
            first = opposite_of[i].copy()
            if cfg.first_color == "random":
                first[region_px[i]] = [place(i, int(p)) for p in region_px[i]]
            orders.append(_pair_order(rngs[i], region_px[i], corner_of[i], first))
            pos[i], col[i] = orders[i][0][0], orders[i][1][0]
        else:
            pos[i] = rngs[i].choice(region_px[i], size=k, replace=False)
            col[i] = [place(i, int(p)) for p in pos[i]]

    def genes_of(idx: np.ndarray, p: np.ndarray, c: np.ndarray) -> np.ndarray:
        return encode(p, CORNERS[c], idx, run.regions, cfg.region_mode)

    iters = cfg.iterations
    step = max(1, math.ceil(iters / _HISTORY_POINTS))
    history = np.full((n, iters // step + 1), np.nan)
    generations = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    won = np.zeros(n, dtype=bool)
    extra = {key: run.clean_summary[key].shape[1:] for key in _SUMMARY_KEYS}
    cur = {key: np.empty((n, *extra[key]), dtype=run.clean_summary[key].dtype) for key in _SUMMARY_KEYS}
    win = {key: np.empty((n, *extra[key]), dtype=run.clean_summary[key].dtype) for key in _SUMMARY_KEYS}
    genes = genes_of(rows_all, pos, col)
    win_genes = np.zeros_like(genes)

    def settle(idx: np.ndarray, it: int, cand_genes: np.ndarray, summ: dict[str, np.ndarray],
               scored: np.ndarray) -> None:
        """Accept, confirm and stop attacks ``idx`` after iteration ``it`` (summ: their candidates)."""
        for j, a in enumerate(idx):
            if not scored[j]:
                done[a] = True  # out of budget
                continue
            if it == 0 or summ["fitness"][j] <= cur["fitness"][a]:
                genes[a] = cand_genes[j]
                for key in _SUMMARY_KEYS:
                    cur[key][a] = summ[key][j]
            if summ["success"][j]:
                confirmed = run._confirm(int(a), cand_genes[j])
                if confirmed["success"]:
                    won[a] = done[a] = True
                    win_genes[a] = cand_genes[j]
                    for key in _SUMMARY_KEYS:
                        win[key][a] = confirmed[key]
            if it % step == 0:
                history[a, it // step] = cur["fitness"][a]
            if orders and it >= orders[a][0].size - 1:
                done[a] = True  # every pair tried
        done[idx] |= remaining(idx) <= 0

    summ, scored = run._score(genes[:, None, :], rows_all, remaining(rows_all))
    settle(rows_all, 0, genes.copy(), {key: v[:, 0] for key, v in summ.items()}, scored[:, 0])
    if run.progress is not None:
        run.progress(int(done.sum()))
    for it in range(1, iters + 1):
        active = np.flatnonzero(~done)
        if active.size == 0:
            break
        new_pos, new_col = pos[active].copy(), col[active].copy()
        for j, a in enumerate(active):
            if orders:
                new_pos[j, 0], new_col[j, 0] = orders[a][0][it], orders[a][1][it]
                continue
            rng = rngs[a]
            m = max(int(alpha_schedule(cfg.p_init, int(run.queries[a]) - 1, cfg.max_queries) * k), 1)
            slots = rng.choice(k, size=min(m, k), replace=False)
            taken = set(pos[a].tolist())
            for s in slots:
                if region_px[a].size > len(taken):
                    p = _free_pixel(rng, region_px[a], taken)
                    taken.add(p)
                    new_pos[j, s] = p
                    new_col[j, s] = place(int(a), p)
                else:  # no free pixel in the region: recolour in place
                    new_col[j, s] = _corner(rng, int(new_col[j, s]))
        cand = genes_of(active, new_pos, new_col)
        summ, scored = run._score(cand[:, None, :], active, remaining(active))
        before = done.copy()
        accept = scored[:, 0] & (summ["fitness"][:, 0] <= cur["fitness"][active])
        pos[active[accept]], col[active[accept]] = new_pos[accept], new_col[accept]
        settle(active, it, cand, {key: v[:, 0] for key, v in summ.items()}, scored[:, 0])
        generations[active] = it
        if run.progress is not None:
            run.progress(int((done & ~before).sum()))
    if run.progress is not None:
        run.progress(int((~done).sum()))
    state = _State(genes[:, None, :].copy(), np.zeros(n, dtype=np.int64))
    pop = {key: v[:, None] for key, v in cur.items()}
    return run._assemble(state, pop, win_genes, win, won, generations, history, layout)
