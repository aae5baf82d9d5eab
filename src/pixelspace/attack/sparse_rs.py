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

Look-ahead: late in a search nearly every candidate is rejected, and a rejected candidate leaves the point
where it was, so the next candidate depends only on the attack's random stream. With ``look_ahead`` d > 1
each attack proposes its next d candidates as if each were rejected (recording its random stream's state after
each), all attacks' together go to the model in one call (:meth:`~pixelspace.attack.evaluation.Evaluation.
look_ahead`), and each attack keeps its candidates up to its first decision (accepted, a success, the budget
spent): those are counted and remembered, the rest are discarded as if never asked and the stream is rewound to
just after the last kept one. Every decision, query count and recorded value is that of asking one candidate
at a time (tests/attack/test_sparse_look_ahead.py); d only moves work into larger model calls. An attack's d
doubles after a step without a decision, up to ``look_ahead``, and falls back to the run it just saw after
one. The k = 1 enumeration (whose candidates never depend on the state) asks one at a time.

Positions are drawn only from the region, and candidates go to the evaluation path as pixels and colours
(:class:`~pixelspace.attack.evaluation.Evaluation`), so ``region_mode`` has no effect on the search: it is
recorded in the result (and campaigns keep it in the search hash of their rows, as stored). All active attacks
advance together, one candidate each per step (several with look-ahead, above), evaluated in one model call
through the evaluation path every search uses (the evaluation memo, query budget, success confirmation and result assembly). Query
counting is DE's (DESIGN.md §2): the clean image, every evaluated candidate (a candidate answered from the
memo is free) and the confirmation, at most ``max_queries`` in all. ``generations`` in the result counts
iterations.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from pixelspace.attack.encoding import GENES_PER_PIXEL, Decoded, RegionMode
from pixelspace.attack.evaluation import Attack, AttackInputs, Evaluation, check_settings
from pixelspace.attack.objectives import Margin
from pixelspace.attack.result import AttackResult
from pixelspace.errors import ConfigError
from pixelspace.models.precision import Precision

#: The 8 colours a perturbed pixel takes: the corners of the RGB cube, uint8 (8, 3).
CORNERS = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], dtype=np.uint8)
_STREAM = 0x5A55  # spawn key of the search's random stream, apart from DE's and the scan seeding's
_SCHEDULE = ((50, 2), (200, 4), (500, 5), (1000, 6), (2000, 8), (4000, 10), (6000, 12), (8000, 15))
_HISTORY_POINTS = 100
#: candidates per step the look-ahead aims at (when fewer attacks are active, each asks for more): one-pixel
#: candidates against the points run at their full rate from about 48 per call on the shipped networks
_STEP_CANDIDATES = 64
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
class SparseRandomSearch(Attack):
    """A configured Sparse-RS-style k-pixel attack (hyperparameters only; model and data are call arguments).

    Args:
        pixels: k, pixels perturbed per attack (>= 1).
        max_queries: model evaluations per attack, clean image and confirmation included (>= 3).
        region_mode: ``"restrict"`` or ``"index"``: recorded in the result only (positions are always drawn
            from the region and evaluated as they are; see the module docstring).
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
        follow_points: at k >= 2, answer candidates against each attack's current point (and the point with one
            pixel restored) instead of the clean image, where the model's incremental pass makes that cheaper
            (:mod:`pixelspace.attack.points`). An evaluation route, not a search setting: the results are the
            same (tests/attack/test_points.py), so it is not in :meth:`config_dict`.
        look_ahead: at most this many candidates per attack per step (1: one, as the search is written). The
            search cannot know its next candidate before it has decided on this one, but it is rejected far more
            often than accepted, and a rejected candidate leaves the point as it was: so an attack asks for its
            next candidates as if each were rejected, in one model call with every other attack's, and keeps
            them up to its first decision (an accepted candidate, a success, the budget spent); the rest are
            discarded unasked (no query, no memo entry, its random stream rewound). The same results (module
            docstring, "Look-ahead"), so it is not in :meth:`config_dict`.

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
    follow_points: bool = True
    look_ahead: int = 16

    def __post_init__(self) -> None:
        check_settings(self.pixels, self.batch_size, self.precision, self.eval_chunk, self.reuse_evaluations)
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
        if not isinstance(self.follow_points, bool):
            raise ConfigError(f"follow_points must be True or False, got {self.follow_points!r}")
        if not isinstance(self.look_ahead, int) or isinstance(self.look_ahead, bool) or self.look_ahead < 1:
            raise ConfigError(f"look_ahead must be an int >= 1, got {self.look_ahead!r}")
        if self.max_iterations is not None and (not isinstance(self.max_iterations, int) or self.max_iterations < 0):
            raise ConfigError(f"max_iterations must be None or an int >= 0, got {self.max_iterations!r}")

    @property
    def iterations(self) -> int:
        """The iteration limit per attack."""
        return self.max_iterations if self.max_iterations is not None else 2 * self.max_queries

    def config_dict(self) -> dict[str, Any]:
        """:meth:`Attack.config_dict` less the evaluation routes (``follow_points``, ``look_ahead``: same
        results) and ``region_mode`` (recorded in results only), with the iteration limit resolved, and without
        ``single_pixel`` above one pixel (no effect)."""
        d = super().config_dict()
        for name in ("follow_points", "look_ahead", "region_mode"):
            d.pop(name)
        d["max_iterations"] = self.iterations
        if self.pixels != 1:
            d.pop("single_pixel")
        return d

    @property
    def enumerates(self) -> bool:
        """Whether the search walks (pixel, corner) pairs without repeats (one pixel, ``"enumerate"``)."""
        return self.pixels == 1 and self.single_pixel == "enumerate"

    def search(self, inputs: AttackInputs, **options: Any) -> AttackResult:
        """The random search on checked inputs (``attack(model, images, objective, ...)`` calls it; no options).

        Returns:
            An :class:`AttackResult` with N attacks; ``generations`` counts iterations, ``fitness_history``
            holds the best margin loss after iterations ``0, s, 2s, ...`` with ``s = ceil(iterations / 100)``.
        """
        self._refuse(options)
        ev = Evaluation(inputs, objective=Margin(inputs.objective), max_queries=self.max_queries,
                        eval_chunk=self.eval_chunk, reuse_evaluations=self.reuse_evaluations)
        return _search(self, ev, inputs.clean)


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


def _group_starts(rows: np.ndarray) -> np.ndarray:
    """Where each run of equal values of ``rows`` (B,) starts (G,)."""
    change = np.ones(rows.shape[0], dtype=bool)
    change[1:] = rows[1:] != rows[:-1]
    return np.flatnonzero(change)


def _search(cfg: SparseRandomSearch, ev: Evaluation, clean_np: np.ndarray) -> AttackResult:
    """The search step on ``ev`` for clean uint8 images ``clean_np`` (N, 3, H, W) (see the module docstring)."""
    n, k = ev.n, cfg.pixels
    rows_all = np.arange(n)
    rngs = [np.random.default_rng(np.random.SeedSequence(int(s), spawn_key=(_STREAM,))) for s in ev.seeds]
    corner_of = _clean_colors(clean_np)
    opposite_of = _opposite_colors(clean_np)
    placed: list[set[int]] = [set() for _ in range(n)]  # pixels each attack has placed so far

    def place(a: int, p: int, added: list[int] | None = None) -> int:
        """The corner index attack ``a`` gives pixel ``p`` as it places it (see the module docstring); a pixel
        placed for the first time is appended to ``added``."""
        first = p not in placed[a]
        placed[a].add(p)
        if first and added is not None:
            added.append(p)
        if first and cfg.first_color == "opposite":
            return int(opposite_of[a, p])
        return _corner(rngs[a], int(corner_of[a, p]))

    region_px = [ev.regions.pixel_lists[i, : ev.regions.counts[i]] for i in range(n)]

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

    def pixels(p: np.ndarray, c: np.ndarray) -> Decoded:
        """Candidates (B, k) from flat positions and corner indices (every pixel inside its region)."""
        return Decoded(p, CORNERS[c], np.ones(p.shape, dtype=bool))

    def slots_moved(q: int) -> int:
        """How many slots an iteration moves after ``q`` evaluated candidates (the schedule)."""
        return max(int(alpha_schedule(cfg.p_init, q, cfg.max_queries) * k), 1)

    def propose(a: int, m: int, added: list[int] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Attack ``a``'s next candidate from its current point, ``m`` slots moved: positions (k,), corner
        indices (k,) and the one moved slot (-1: several)."""
        rng = rngs[a]
        new_p, new_c = pos[a].copy(), col[a].copy()
        slots = rng.choice(k, size=min(m, k), replace=False)
        taken = set(pos[a].tolist())
        for s in slots:
            if region_px[a].size > len(taken):
                p = _free_pixel(rng, region_px[a], taken)
                taken.add(p)
                new_p[s] = p
                new_c[s] = place(a, p, added)
            else:  # no free pixel in the region: recolour in place
                new_c[s] = _corner(rng, int(new_c[s]))
        return new_p, new_c, int(slots[0]) if slots.size == 1 else -1

    iters = cfg.iterations
    step = max(1, math.ceil(iters / _HISTORY_POINTS))
    history = np.full((n, iters // step + 1), np.nan)
    generations = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    cur = ev.clean_summary.map(np.copy)  # the summary of each attack's current point

    # at k >= 2 a candidate moves slots of the attack's current point: answered against the point where the
    # model's incremental pass makes that cheaper (same answers; evaluation.Evaluation.follow_points)
    follow = cfg.follow_points and not cfg.enumerates and k >= 2 and ev.follow_points(k)

    def settle(idx: np.ndarray, it: int, new_pos: np.ndarray, new_col: np.ndarray, moved: np.ndarray) -> None:
        """Evaluate the candidates (pixels, corner indices) of attacks ``idx`` at iteration ``it``, each moving
        slot ``moved`` (-1: any) of its point; accept, confirm and stop."""
        cand = pixels(new_pos, new_col)
        summ, scored = ev.score(idx, cand, moved if follow else None)
        summ, scored = summ[:, 0], scored[:, 0]
        done[idx[~scored]] = True  # out of budget
        accept = scored & ((it == 0) | (summ.fitness <= cur.fitness[idx]))
        pos[idx[accept]], col[idx[accept]] = new_pos[accept], new_col[accept]
        cur.put(idx[accept], summ[accept])
        if follow:
            ev.accept(idx[accept], cand[accept], moved[accept])
        for j in np.flatnonzero(scored & summ.success):
            if ev.confirm(int(idx[j]), cand[j : j + 1], it) is not None:
                done[idx[j]] = True
        if it % step == 0:
            history[idx[scored], it // step] = cur.fitness[idx[scored]]
        if orders:
            done[idx[scored & (it >= order_end[idx])]] = True  # every pair tried
        done[idx] |= ev.remaining(idx) <= 0

    # at k = 1 with enumeration: every attack's (pixel, corner) order in one padded array (attacks, pairs)
    order_end = np.array([o[0].size - 1 for o in orders], dtype=np.int64)
    order_pos = np.zeros((len(orders), int(order_end.max(initial=-1)) + 1), dtype=np.int64)
    order_col = np.zeros_like(order_pos)
    for i, (opos, ocol) in enumerate(orders):
        order_pos[i, : opos.size], order_col[i, : ocol.size] = opos, ocol

    def look_ahead() -> None:
        """Iterations 1, 2, ... of every attack with look-ahead (module docstring): each step, every active
        attack asks for its next d candidates as if each were rejected, and keeps them up to its first decision;
        the state above moves as the one-at-a-time loop moves it."""
        t = np.zeros(n, dtype=np.int64)  # iterations done per attack
        depth = np.ones(n, dtype=np.int64)
        while True:
            active = np.flatnonzero(~done & (t < iters))
            if active.size == 0:
                break
            rows: list[int] = []
            new_pos: list[np.ndarray] = []
            new_col: list[np.ndarray] = []
            moved: list[int] = []
            offset: list[int] = []  # each candidate's place in its attack's look-ahead, 0, 1, ...
            rewind: dict[int, tuple[list[Mapping[str, Any]], list[list[int]]]] = {}
            share = -(-_STEP_CANDIDATES // active.size)  # enough candidates per step to fill the model's calls
            for a in active.tolist():
                d = int(min(depth[a], share, iters - t[a]))
                q = int(ev.queries[a]) - 1
                m = slots_moved(q)
                while d > 1 and slots_moved(q + d - 1) != m:  # the schedule must not change inside the look-ahead
                    d -= 1
                states: list[Mapping[str, Any]] = []
                additions: list[list[int]] = []
                for j in range(d):
                    added: list[int] = []
                    p_, c_, mv = propose(a, m, added)
                    rows.append(a)
                    new_pos.append(p_)
                    new_col.append(c_)
                    moved.append(mv)
                    offset.append(j)
                    states.append(rngs[a].bit_generator.state)
                    additions.append(added)
                rewind[a] = (states, additions)
            r = np.asarray(rows, dtype=np.int64)
            cand_pos, cand_col = np.stack(new_pos), np.stack(new_col)
            mv_arr = np.asarray(moved, dtype=np.int64)
            off = np.asarray(offset, dtype=np.int64)
            cand = pixels(cand_pos, cand_col)
            trial = ev.look_ahead(r, cand, mv_arr if follow else None)
            summ, scored = trial.summary, trial.scored
            it_c = t[r] + 1 + off
            accept = scored & (summ.fitness <= cur.fitness[r])
            success = scored & summ.success
            starts = _group_starts(r)
            spent_out = ev.remaining(r) - trial.spent <= 0
            decided = ~scored | accept | success | spent_out
            ends = np.append(starts[1:], r.size) - 1
            first = np.minimum.reduceat(np.where(decided, np.arange(r.size), r.size), starts)
            cut = np.where(first < r.size, first, ends)  # (G,) each attack's last kept candidate
            group = np.repeat(np.arange(starts.size), np.diff(np.append(starts, r.size)))
            kept = np.arange(r.size) <= cut[group]
            ev.keep(trial, kept)
            old_fitness = cur.fitness[r]
            a_cut = r[cut]
            before = done.copy()
            done[a_cut[~scored[cut]]] = True  # out of budget
            acc = cut[accept[cut]]
            pos[r[acc]], col[r[acc]] = cand_pos[acc], cand_col[acc]
            cur.put(r[acc], summ[acc])
            if follow:
                ev.accept(r[acc], cand[acc], mv_arr[acc])
            for j in cut[success[cut]].tolist():
                if ev.confirm(int(r[j]), cand[j : j + 1], int(it_c[j])) is not None:
                    done[r[j]] = True
            record = kept & scored & (it_c % step == 0)
            is_cut = np.zeros(r.size, dtype=bool)
            is_cut[cut] = True
            values = np.where(is_cut, cur.fitness[r], old_fitness)
            history[r[record], it_c[record] // step] = values[record]
            done[a_cut] |= ev.remaining(a_cut) <= 0
            t[a_cut] = it_c[cut]
            generations[a_cut] = it_c[cut]
            for g in np.flatnonzero(cut < ends).tolist():  # rewind the discarded proposals
                a = int(a_cut[g])
                states, additions = rewind[a]
                j = int(cut[g] - starts[g])
                rngs[a].bit_generator.state = states[j]
                for later in additions[j + 1 :]:
                    placed[a].difference_update(later)
            run = cut - starts + 1
            depth[a_cut] = np.where(decided[cut], run, np.minimum(2 * depth[a_cut], cfg.look_ahead))
            ev.report(int((done & ~before).sum()))

    settle(rows_all, 0, pos.copy(), col.copy(), np.full(n, -1, dtype=np.int64))
    ev.report(int(done.sum()))
    if orders or cfg.look_ahead == 1:
        for it in range(1, iters + 1):
            active = np.flatnonzero(~done)
            if active.size == 0:
                break
            new_pos, new_col = pos[active].copy(), col[active].copy()
            moved = np.full(active.size, -1, dtype=np.int64)
            if orders:  # an attack is done once its order is exhausted, so ``it`` lies inside every active order
                new_pos[:, 0], new_col[:, 0] = order_pos[active, it], order_col[active, it]
            for j, a in enumerate(active if not orders else ()):
                new_pos[j], new_col[j], moved[j] = propose(int(a), slots_moved(int(ev.queries[a]) - 1))
            before = done.copy()
            settle(active, it, new_pos, new_col, moved)
            generations[active] = it
            ev.report(int((done & ~before).sum()))
    else:
        look_ahead()
    ev.report(int((~done).sum()))
    return ev.result(pixels(pos, col), cur, generations, history, cfg.region_mode)

