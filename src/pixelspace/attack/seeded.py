"""Scan-seeded search for k-pixel attacks: DE starts from the pixels a vulnerability scan found most damaging.

A :class:`~pixelspace.attack.scan.PixelScan` tells, for every pixel of a region and each colour of a small set
(default: the 8 RGB-cube corners), how far one changed pixel lowers the probability of the class of interest.
:func:`seeded_population` turns those maps into DE's generation 0 for a k-pixel attack, in place of the
Latin hypercube:

* member 0 is the greedy guess: the k most damaging pixels of the region, each with its best colour;
* the other seeded members each take k distinct pixels sampled without replacement from the region's ``top``
  most damaging pixels (ranked by ``min_probability``, ties by position), each with its best colour. With
  ``weighting="damage"`` a pixel is drawn with probability proportional to the drop it causes,
  ``clean_probability - min_probability`` (floored at 1e-6 so every top pixel stays possible); with
  ``"uniform"`` all top pixels are equally likely. A drawn pixel set already in the population is redrawn
  (up to 10 times) so that queries are not spent twice on one candidate;
* a fraction ``random_fraction`` of the members (the last ones) is an ordinary Latin-hypercube sample of the
  whole unit cube, for diversity: pixels and colours the scan did not rank highly stay reachable.

:class:`ScanSeededAttack` scans, seeds and runs DE, and counts the scan's queries in the result: a total
``max_queries`` covers both, so DE gets what the scan left. The scan ranks pixels by the clean class's
probability only, also for a targeted objective (the map does not record the target's probability).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from pixelspace.attack.encoding import GENES_PER_PIXEL, RegionMode, Regions, encode
from pixelspace.attack.evaluation import Attack, AttackInputs, Evaluation, check_settings
from pixelspace.attack.inputs import attack_seeds, regions_to_masks
from pixelspace.attack.pixel_attack import SuccessCheck, check_de_settings, evolve
from pixelspace.attack.result import AttackResult
from pixelspace.attack.scan import PixelScan, VulnerabilityMap, cube_corners
from pixelspace.errors import ConfigError, ObjectiveError, RegionError, ShapeError
from pixelspace.models.precision import Precision
from pixelspace.search.de import DEConfig
from pixelspace.search.init import latin_hypercube

Weighting = Literal["damage", "uniform"]

_INIT_STREAM = 0x5EED  # spawn key of the seeding stream, apart from DE's own stream of the same attack seed
_REDRAWS = 10
_MIN_WEIGHT = 1e-6


def _check_settings(pixels: int, population_size: int, top: int, weighting: str, random_fraction: float) -> None:
    if not isinstance(pixels, int) or pixels < 1:
        raise ConfigError(f"pixels must be an int >= 1, got {pixels!r}")
    if not isinstance(population_size, int) or population_size < 4:
        raise ConfigError(f"population_size must be an int >= 4, got {population_size!r}")
    if not isinstance(top, int) or top < pixels:
        raise ConfigError(f"top must be an int >= pixels ({pixels}), got {top!r}")
    if weighting not in ("damage", "uniform"):
        raise ConfigError(f"weighting must be 'damage' or 'uniform', got {weighting!r}")
    if not 0.0 <= random_fraction <= 1.0:
        raise ConfigError(f"random_fraction must lie in [0, 1], got {random_fraction!r}")


def seeded_population(
    maps: Sequence[VulnerabilityMap],
    *,
    pixels: int,
    population_size: int,
    regions: np.ndarray | torch.Tensor | None = None,
    region_mode: RegionMode = "restrict",
    seed: int | Sequence[int] | np.ndarray = 0,
    top: int = 32,
    weighting: Weighting = "damage",
    random_fraction: float = 0.2,
) -> np.ndarray:
    """DE's initial populations for k-pixel attacks, seeded from vulnerability maps (see the module docstring).

    Args:
        maps: one :class:`VulnerabilityMap` per image (N), all of the same size (H, W).
        pixels: k, pixels per candidate.
        population_size: P, members per attack.
        regions: None (each map's scanned pixels), bool (H, W) shared, or bool (N, H, W); must lie within the
            scanned pixels.
        region_mode: the encoding of the attack that will use the population (``"restrict"`` or ``"index"``).
        seed: int (image ``i`` gets the stream of ``(seed, i)``, as in :class:`PixelAttack`) or one
            non-negative seed per image; the seeding draws use a stream apart from DE's own.
        top: M, the number of most damaging region pixels the seeded members draw from (>= pixels).
        weighting: ``"damage"`` (proportional to the drop of the clean-class probability) or ``"uniform"``.
        random_fraction: share of members drawn as a Latin hypercube over the whole unit cube, in [0, 1].

    Returns:
        float64 (N, P, pixels * genes_per_pixel) genes in [0, 1], ready for
        ``PixelAttack(...)(..., init_population=...)``.

    Raises:
        ConfigError: a setting out of range. ShapeError: maps of different sizes or a mask of the wrong shape.
        RegionError: an empty region, fewer than ``pixels`` pixels, or pixels the scan did not visit.
    """
    _check_settings(pixels, population_size, top, weighting, random_fraction)
    if region_mode not in GENES_PER_PIXEL:
        raise ConfigError(f"region_mode must be 'restrict' or 'index', got {region_mode!r}")
    n = len(maps)
    if n == 0:
        raise ShapeError("maps is empty; need one VulnerabilityMap per image")
    h, w = maps[0].scanned.shape
    for i, m in enumerate(maps):
        if m.scanned.shape != (h, w):
            raise ShapeError(f"map {i} has size {m.scanned.shape}, map 0 has {(h, w)}")
    if regions is None:
        masks = np.stack([m.scanned for m in maps])
    else:
        masks = regions_to_masks(regions, n, h, w, pixels)
    small = np.flatnonzero(masks.reshape(n, -1).sum(axis=1) < pixels)
    if small.size:
        raise RegionError(f"region of image {int(small[0])} has fewer than pixels={pixels} scanned pixels")
    seeds = attack_seeds(seed, n)
    regs = Regions.from_masks(masks)
    d = pixels * GENES_PER_PIXEL[region_mode]
    n_random = int(round(random_fraction * population_size))
    n_seeded = population_size - n_random
    out = np.empty((n, population_size, d))
    for i, vmap in enumerate(maps):
        outside = masks[i] & ~vmap.scanned
        if outside.any():
            r, c = np.argwhere(outside)[0]
            raise RegionError(f"region of image {i} covers pixels the scan did not visit (e.g. ({r}, {c}))")
        rng = np.random.default_rng(np.random.SeedSequence(int(seeds[i]), spawn_key=(_INIT_STREAM,)))
        cand = np.flatnonzero(masks[i].reshape(-1))
        score = vmap.min_probability.reshape(-1)[cand].astype(np.float64)
        ranked = cand[np.lexsort((cand, score))][:top]
        colors = vmap.colors[vmap.best_color.reshape(-1)[ranked]]
        if weighting == "damage":
            drop = vmap.clean_probability - vmap.min_probability.reshape(-1)[ranked].astype(np.float64)
            weights = np.maximum(drop, _MIN_WEIGHT)
            weights /= weights.sum()
        else:
            weights = np.full(ranked.size, 1.0 / ranked.size)
        picks = _draw_pixel_sets(rng, weights, pixels, n_seeded)
        genes = encode(ranked[picks], colors[picks], np.full(n_seeded, i), regs, region_mode)
        out[i, :n_seeded] = genes
        if n_random:
            out[i, n_seeded:] = latin_hypercube(rng, n_random, d)
    return out


def _draw_pixel_sets(rng: np.random.Generator, weights: np.ndarray, k: int, count: int) -> np.ndarray:
    """``count`` index sets of size k into ``weights`` (M,), int64 (count, k); row 0 is ``0..k-1`` (the top k),
    the others are drawn without replacement with probability ``weights`` and mostly distinct as sets."""
    out = np.empty((count, k), dtype=np.int64)
    if count == 0:
        return out
    out[0] = np.arange(k)
    seen = {tuple(range(k))}
    for j in range(1, count):
        for _ in range(_REDRAWS):
            pick = rng.choice(weights.size, size=k, replace=False, p=weights)
            key = tuple(sorted(pick.tolist()))
            if key not in seen:
                break
        seen.add(key)
        out[j] = pick
    return out


@dataclass(frozen=True)
class ScanSeededAttack(Attack):
    """A k-pixel attack whose DE starts from a vulnerability scan of its region (hyperparameters only).

    Each call scans every pixel of each image's region with ``colors`` (:class:`PixelScan`), builds the
    initial populations with :func:`seeded_population`, and runs DE from them (:class:`PixelAttack`'s search
    step, :func:`~pixelspace.attack.pixel_attack.evolve`).

    Args:
        pixels: k, pixels perturbed per attack.
        region_mode: ``"restrict"`` or ``"index"`` (as for :class:`PixelAttack`).
        de: DE settings; ``de.max_queries`` must stay None (the total budget is ``max_queries`` here).
        max_queries: per-attack budget of model queries, scan included (None: no limit). DE gets
            ``max_queries - scan queries`` of the image, so it must exceed the scan's cost
            (region pixels x colours + 1) by at least 3.
        top: how many of the most damaging region pixels the seeded members draw from
            (:func:`seeded_population`).
        weighting: ``"damage"`` or ``"uniform"`` draws among those pixels (:func:`seeded_population`).
        random_fraction: share of members drawn over the whole unit cube (:func:`seeded_population`).
        colors: uint8 (C, 3) the scan's colour set; default the 8 RGB-cube corners.
        batch_size: images per model call, or ``"auto"``.
        precision: the arithmetic of the scan's and DE's evaluations, or None (default): the Classifier's (as
            for :class:`PixelAttack`; flips and successes are checked at fp32).
        early_stop: stop an attack at its first confirmed success (as for :class:`PixelAttack`).
        success_check: ``"any"`` or ``"best"``: which candidates DE tests for success (as for
            :class:`PixelAttack`, which also says how a deprecated ``DEConfig(success_check=...)`` is taken over).

    Examples:
        >>> attack = ScanSeededAttack(pixels=3, de=DEConfig(population_size=100, max_generations=1000),
        ...                           max_queries=12_000)
        >>> attack.pixels, attack.top
        (3, 32)
    """

    pixels: int = 3
    region_mode: RegionMode = "restrict"
    de: DEConfig = field(default_factory=DEConfig)
    max_queries: int | None = None
    top: int = 32
    weighting: Weighting = "damage"
    random_fraction: float = 0.2
    colors: np.ndarray = field(default_factory=cube_corners)
    batch_size: int | Literal["auto"] = "auto"
    precision: Precision | None = None
    early_stop: bool = True
    success_check: SuccessCheck = "any"

    def __post_init__(self) -> None:
        check_settings(self.pixels, self.batch_size, self.precision)
        if self.region_mode not in GENES_PER_PIXEL:
            raise ConfigError(f"region_mode must be 'restrict' or 'index', got {self.region_mode!r}")
        check_de_settings(self)
        _check_settings(self.pixels, self.de.population_size, self.top, self.weighting, self.random_fraction)
        if self.de.max_queries is not None:
            raise ConfigError(
                f"de.max_queries must be None for a scan-seeded attack (got {self.de.max_queries}); "
                "set ScanSeededAttack.max_queries, the total budget with the scan included"
            )
        if self.max_queries is not None and (not isinstance(self.max_queries, int) or self.max_queries < 1):
            raise ConfigError(f"max_queries must be None or an int >= 1, got {self.max_queries!r}")
        PixelScan(colors=self.colors)  # validates the colour set

    def search(self, inputs: AttackInputs, *, maps: Sequence[VulnerabilityMap] | None = None,
               **options: Any) -> AttackResult:
        """Scan, seed and run DE on checked inputs (``attack(model, images, objective, ...)`` calls it).

        The scan ranks pixels by the probability of ``objective.labels``; the scan and the attack stay inside
        the regions; ``result.seed[i]`` replays attack ``i`` alone (the scan is deterministic).

        Args:
            maps: optional precomputed maps (one per image, made with ``objective.labels`` and covering the
                regions) instead of scanning; their ``queries`` are still counted.

        Returns:
            An :class:`AttackResult` with N attacks; ``queries`` = the scan's queries (clean image included) +
            the DE attack's queries (its own clean query included).

        Raises:
            ConfigError: ``max_queries`` does not leave DE at least 3 queries after an image's scan.
            ObjectiveError: a precomputed map's label differs from ``objective.labels``.
        """
        self._refuse(options)
        n, objective = len(inputs), inputs.objective
        if maps is None:
            maps = PixelScan(colors=self.colors, batch_size=self.batch_size, precision=inputs.precision)(
                inputs.clf, torch.from_numpy(inputs.clean), objective.labels, regions=inputs.masks)
        else:
            if len(maps) != n:
                raise ShapeError(f"maps has {len(maps)} entries for {n} images")
            wrong = [i for i, m in enumerate(maps) if m.label != objective.labels[i]]
            if wrong:
                i = wrong[0]
                raise ObjectiveError(f"map {i} was made for class {maps[i].label}, objective.labels[{i}] is "
                                     f"{int(objective.labels[i])}")
        scan_queries = np.array([m.queries for m in maps], dtype=np.int64)
        if self.max_queries is not None:
            left = self.max_queries - scan_queries
            short = np.flatnonzero(left < 3)
            if short.size:
                i = int(short[0])
                raise ConfigError(
                    f"max_queries={self.max_queries} leaves DE {int(left[i])} queries after the scan of image "
                    f"{i} ({int(scan_queries[i])} queries); it needs at least 3"
                )
        init = seeded_population(
            maps, pixels=self.pixels, population_size=self.de.population_size, regions=inputs.masks,
            region_mode=self.region_mode, seed=inputs.seeds, top=self.top, weighting=self.weighting,
            random_fraction=self.random_fraction,
        )
        # DE evaluates the clean images again (its own counted query); the budget covers the scan. One DE run
        # per budget, so that each image's evaluations keep the batches they had before (per-attack seeds keep
        # results batch-free otherwise)
        parts = []
        left = np.zeros(n, dtype=np.int64) if self.max_queries is None else self.max_queries - scan_queries
        for budget in np.unique(left):
            idx = np.flatnonzero(left == budget)
            ev = Evaluation(inputs.subset(idx), max_queries=self.max_queries)
            ev.queries += scan_queries[idx]
            parts.append((idx, evolve(ev, self.de, self.pixels, self.region_mode, init[idx],
                                      early_stop=self.early_stop, success_check=self.success_check)))
        return _concat_results(parts, n)


def _concat_results(parts: list[tuple[np.ndarray, AttackResult]], n: int) -> AttackResult:
    """One result of n attacks from results of disjoint index groups (indices into 0..n-1)."""
    order = np.concatenate([idx for idx, _ in parts])
    assert order.size == n
    inverse = np.argsort(order)
    first = parts[0][1]
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(AttackResult):
        if f.name in AttackResult._SCALARS:
            fields[f.name] = getattr(first, f.name)
        else:
            fields[f.name] = np.concatenate([getattr(r, f.name) for _, r in parts])[inverse]
    return AttackResult(**fields)
