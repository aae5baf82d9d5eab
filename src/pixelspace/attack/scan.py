"""Pixel vulnerability maps: every pixel of a region set to each colour of a small set, one query each.

For a 32×32 image and the 8 corners of the RGB cube this costs 8,192 queries, less than a quarter of one
paper-budget DE attack (up to 40,400), and answers exactly, for that colour set, which single pixels flip the
prediction and to which classes. It neither bounds DE from above nor from below (DE searches all colours).

``PixelScan(...)(model, images, labels, regions=...)`` returns one :class:`VulnerabilityMap` per image;
``scan_first`` visits (position, colour) pairs in a seeded random order and stops at the first flip (or the
first hit of a target), as a cheap one-pixel attack.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from pixelspace.attack.encoding import Decoded
from pixelspace.attack.inputs import images_to_uint8_nchw, regions_to_masks
from pixelspace.attack.objectives import _as_classes
from pixelspace.attack.perturb import perturb, pixel_probabilities
from pixelspace.errors import ConfigError, ObjectiveError, ShapeError
from pixelspace.models.classifier import Classifier
from pixelspace.models.precision import Precision, check_precision
from pixelspace.models.registry import check_registered_size
from pixelspace.outcomes import VulnerabilityMap as VulnerabilityMap  # re-exported: the store holds maps
from pixelspace.search.de import check_seed

log = logging.getLogger(__name__)


def cube_corners() -> np.ndarray:
    """The 8 corners of the RGB cube, uint8 (8, 3), in binary order (black, blue, green, … white)."""
    return np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], dtype=np.uint8)


def colour_grid(levels: int) -> np.ndarray:
    """A regular ``levels``³ grid over the RGB cube (levels >= 2), uint8 (levels³, 3)."""
    if levels < 2:
        raise ConfigError(f"levels must be >= 2, got {levels}")
    v = np.rint(np.linspace(0, 255, levels)).astype(np.uint8)
    return np.array([[r, g, b] for r in v for g in v for b in v], dtype=np.uint8)


@dataclass(frozen=True)
class RegionScanStats:
    """Scan statistics of one image inside one region (exact for the colour set).

    Attributes:
        success: some pixel of the region flips the prediction with some colour.
        flipping_pixels: number of region pixels that flip it; flipping_share: that over the region's pixels.
        reachable_classes: number of distinct classes reachable from the region.
        min_probability: lowest p_y reachable in the region.
        region_pixels: pixels in the region.
    """

    success: bool
    flipping_pixels: int
    flipping_share: float
    reachable_classes: int
    min_probability: float
    region_pixels: int


def region_stats(vmap: VulnerabilityMap, region: np.ndarray) -> RegionScanStats:
    """Statistics of ``vmap`` inside a bool region (H, W); the region must lie within the scanned pixels."""
    if region.shape != vmap.scanned.shape:
        raise ShapeError(f"region has shape {region.shape}, the map {vmap.scanned.shape}")
    if (region & ~vmap.scanned).any():
        raise ShapeError("region covers pixels the scan did not visit")
    n = int(region.sum())
    flips = vmap.flips & region
    k = int(flips.sum())
    mp = vmap.min_probability[region]
    return RegionScanStats(
        success=k > 0, flipping_pixels=k, flipping_share=k / n if n else float("nan"),
        reachable_classes=int(vmap.reachable_classes(region).size),
        min_probability=float(np.nanmin(mp)) if n else float("nan"), region_pixels=n,
    )


@dataclass(frozen=True)
class PixelScan:
    """Scan every pixel of a region with every colour of a set.

    Args:
        colors: uint8 (C, 3); default the 8 RGB cube corners.
        batch_size: images per model call or ``"auto"``.
        chunk: perturbed images built per step, as a multiple of the batch size (bounds memory).
        precision: the arithmetic of the scan's model evaluations (:mod:`pixelspace.models.precision`), or
            None (default): the Classifier's (an override or a conflict as for :class:`PixelAttack`). Below
            ``"fp32"``, every (pixel, colour) that the scan finds flipping the prediction is evaluated again at
            fp32 (one more query each, counted) and the map keeps the fp32 answer, so no flip in the map rests
            on reduced precision; a flip that only fp32 would see is not looked for.
    """

    colors: np.ndarray = field(default_factory=cube_corners)
    batch_size: int | Literal["auto"] = "auto"
    chunk: int = 8
    precision: Precision | None = None

    def __post_init__(self) -> None:
        c = np.asarray(self.colors)
        if c.ndim != 2 or c.shape[1] != 3 or c.shape[0] < 1:
            raise ShapeError(f"colors must have shape (C, 3); got {c.shape}")
        if c.dtype != np.uint8:
            raise ConfigError(f"colors must be uint8 RGB; got dtype {c.dtype}")
        if self.precision is not None:
            check_precision(self.precision)

    def __call__(
        self,
        model: nn.Module | Classifier | Callable[[Any], Any],
        images: np.ndarray | torch.Tensor,
        labels: Sequence[int] | np.ndarray | None = None,
        *,
        regions: np.ndarray | torch.Tensor | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[VulnerabilityMap]:
        """Scan each image.

        Args:
            model: an ``nn.Module`` or :class:`Classifier`.
            images: as for :class:`~pixelspace.PixelAttack`.
            labels: class of interest per image; default: the clean prediction.
            regions: None, bool (H, W) or bool (N, H, W): pixels to scan.
            progress: called with the number of queries done at each step.

        Returns:
            One :class:`VulnerabilityMap` per image.
        """
        clean_np, _, _ = images_to_uint8_nchw(images)
        n, _, h, w = clean_np.shape
        masks = regions_to_masks(regions, n, h, w, 1)
        clf = Classifier.wrap(model, self.batch_size)
        check_registered_size(clf.fn, h, w)
        precision = clf.search_precision(self.precision, "PixelScan")
        clean = torch.from_numpy(clean_np).to(clf.device)
        clean_probs = clf.probabilities(clean, precision="fp32").cpu().numpy()
        y = clean_probs.argmax(1) if labels is None else _as_classes(labels, "labels")
        if y.shape[0] != n:
            raise ObjectiveError(f"labels has {y.shape[0]} entries for {n} images")
        if y.max() >= clean_probs.shape[1]:
            raise ObjectiveError(f"labels must be < {clean_probs.shape[1]}; got {int(y.max())}")
        colors = np.asarray(self.colors)
        c = colors.shape[0]
        prob = np.full((n, h * w, c), np.nan, dtype=np.float32)
        pred = np.full((n, h * w, c), -1, dtype=np.int32)
        # all (image, position, colour) triples inside the regions, image-major
        img_idx, pos = np.nonzero(masks.reshape(n, -1))
        triples_img = np.repeat(img_idx, c)
        triples_pos = np.repeat(pos, c)
        triples_col = np.tile(np.arange(c), pos.size)
        step = clf.resolve_batch_size(h, w, triples_img.size) * self.chunk
        y_t = torch.as_tensor(y, device=clf.device)
        for s in range(0, triples_img.size, step):
            sl = slice(s, s + step)
            rows = triples_img[sl]
            dec = Decoded(triples_pos[sl, None], colors[triples_col[sl]][:, None, :], np.ones((rows.size, 1), bool))
            probs = pixel_probabilities(clf, clean, rows, dec, precision)
            r_t = torch.as_tensor(rows, device=clf.device)
            prob[rows, triples_pos[sl], triples_col[sl]] = probs.gather(1, y_t[r_t][:, None])[:, 0].cpu().numpy()
            pred[rows, triples_pos[sl], triples_col[sl]] = probs.argmax(1).cpu().numpy()
            if progress is not None:
                progress(rows.size)
        counts = masks.reshape(n, -1).sum(axis=1) * c + 1
        if precision != "fp32":
            counts += self._confirm_flips(clf, clean, y, colors, prob, pred, step)
        return [
            VulnerabilityMap(int(y[i]), float(clean_probs[i, y[i]]), colors.copy(), prob[i].reshape(h, w, c),
                             pred[i].reshape(h, w, c), masks[i].copy(), int(counts[i]))
            for i in range(n)
        ]


    @staticmethod
    def _confirm_flips(clf: Classifier, clean: torch.Tensor, y: np.ndarray, colors: np.ndarray, prob: np.ndarray,
                       pred: np.ndarray, step: int) -> np.ndarray:
        """Evaluate every flipping (image, position, colour) of ``pred`` (N, H*W, C) again at fp32, overwrite
        ``prob`` / ``pred`` there, and return the extra queries per image, int64 (N,)."""
        n = pred.shape[0]
        img, pos, col = np.nonzero((pred != y[:, None, None]) & (pred >= 0))
        y_t = torch.as_tensor(y, device=clf.device)
        for s in range(0, img.size, step):
            sl = slice(s, s + step)
            dec = Decoded(pos[sl, None], colors[col[sl]][:, None, :], np.ones((img[sl].size, 1), bool))
            probs = clf.probabilities(perturb(clean, img[sl], dec), precision="fp32")
            r_t = torch.as_tensor(img[sl], device=clf.device)
            prob[img[sl], pos[sl], col[sl]] = probs.gather(1, y_t[r_t][:, None])[:, 0].cpu().numpy()
            pred[img[sl], pos[sl], col[sl]] = probs.argmax(1).cpu().numpy()
        return np.bincount(img, minlength=n).astype(np.int64)


@dataclass(frozen=True)
class ScanFirstResult:
    """Outcome of :func:`scan_first` per image: success (N,), pixel (N, 2) (row, col; -1 if none), color (N, 3),
    predicted (N,), queries (N,) actually evaluated (clean image included), first_hit (N,) the 1-based position
    of the hit in the visiting order (what a strictly sequential scan would have spent, without the clean
    query; -1 if none), probabilities (N, K) float32 the model's probabilities at the hit (of the clean image
    where none), clean_probabilities (N, K) float32 on the clean image."""

    success: np.ndarray
    pixel: np.ndarray
    color: np.ndarray
    predicted: np.ndarray
    queries: np.ndarray
    first_hit: np.ndarray
    probabilities: np.ndarray
    clean_probabilities: np.ndarray


def scan_first(
    model: nn.Module | Classifier | Callable[[Any], Any],
    images: np.ndarray | torch.Tensor,
    labels: Sequence[int] | np.ndarray,
    targets: Sequence[int] | np.ndarray | None = None,
    *,
    regions: np.ndarray | torch.Tensor | None = None,
    colors: np.ndarray | None = None,
    seed: int | Sequence[int] | np.ndarray = 0,
    per_round: int = 32,
    max_queries: int | None = None,
    batch_size: int | Literal["auto"] = "auto",
) -> ScanFirstResult:
    """Visit (position, colour) pairs in a seeded random order inside each region; stop at the first hit.

    Each round evaluates the next ``per_round`` pairs of every unfinished image in one batch, so up to
    ``per_round - 1`` queries past the hit are spent (counted in ``queries``; ``first_hit`` gives the strictly
    sequential count). Untargeted: a hit changes the prediction away from ``labels``; targeted: it equals the
    target. Image ``i``'s order comes from ``numpy.random.default_rng([seed, i])``, or from
    ``numpy.random.default_rng(seed[i])`` when ``seed`` is a sequence of per-image seeds (so an image's order
    does not depend on the images beside it).

    It runs at fp32 only: a hit ends the image's search and is not evaluated again, so a reduced-precision hit
    would stand unconfirmed. A Classifier made with another precision is refused (ConfigError).
    """
    clean_np, _, _ = images_to_uint8_nchw(images)
    n, _, h, w = clean_np.shape
    masks = regions_to_masks(regions, n, h, w, 1)
    y = _as_classes(labels, "labels")
    t = None if targets is None else _as_classes(targets, "targets")
    cols = cube_corners() if colors is None else np.asarray(colors, dtype=np.uint8)
    c = cols.shape[0]
    clf = Classifier.wrap(model, batch_size)
    if clf.precision != "fp32":
        raise ConfigError(f"scan_first runs at fp32 only (a hit ends the search unconfirmed); its Classifier was "
                          f"made with precision={clf.precision!r}")
    check_registered_size(clf.fn, h, w)
    clean = torch.from_numpy(clean_np).to(clf.device)
    clean_probs = clf.probabilities(clean).cpu().numpy().astype(np.float32)
    check_seed(seed)
    if np.ndim(seed) == 0:
        rngs = [np.random.default_rng([int(seed), i]) for i in range(n)]  # type: ignore[arg-type]
    else:
        seeds = np.asarray(seed, dtype=np.int64)
        if seeds.shape != (n,) or (seeds < 0).any():
            raise ConfigError(f"seed must be an int or {n} non-negative ints, one per image; got shape {seeds.shape}")
        rngs = [np.random.default_rng(int(v)) for v in seeds]
    orders = []
    for i in range(n):
        pos = np.flatnonzero(masks[i].reshape(-1))
        pairs = np.stack([np.repeat(pos, c), np.tile(np.arange(c), pos.size)], axis=1)
        orders.append(pairs[rngs[i].permutation(len(pairs))])
    limit = np.array([len(o) for o in orders])
    if max_queries is not None:
        limit = np.minimum(limit, max_queries - 1)
    done_at = np.zeros(n, dtype=np.int64)
    success = np.zeros(n, bool)
    pixel = np.full((n, 2), -1, dtype=np.int64)
    color = np.zeros((n, 3), dtype=np.uint8)
    predicted = np.full(n, -1, dtype=np.int64)
    first_hit = np.full(n, -1, dtype=np.int64)
    hit_probs = clean_probs.copy()
    queries = np.ones(n, dtype=np.int64)
    active = np.flatnonzero(limit > 0)
    while active.size:
        rows_l, pairs_l = [], []
        for a in active:
            chunk = orders[a][done_at[a] : min(done_at[a] + per_round, limit[a])]
            rows_l.append(np.full(len(chunk), a))
            pairs_l.append(chunk)
        rows = np.concatenate(rows_l)
        pairs = np.concatenate(pairs_l)
        dec = Decoded(pairs[:, :1], cols[pairs[:, 1]][:, None, :], np.ones((len(rows), 1), bool))
        probs = pixel_probabilities(clf, clean, rows, dec).cpu().numpy()
        argmax = probs.argmax(1)
        hit = argmax == t[rows] if t is not None else argmax != y[rows]
        still = []
        offset = 0
        for a, chunk in zip(active, pairs_l, strict=True):
            hits = np.flatnonzero(hit[offset : offset + len(chunk)])
            queries[a] += len(chunk)
            if hits.size:
                j = hits[0]
                success[a] = True
                pixel[a] = divmod(int(chunk[j, 0]), w)
                color[a] = cols[chunk[j, 1]]
                predicted[a] = argmax[offset + j]
                hit_probs[a] = probs[offset + j]
                first_hit[a] = done_at[a] + j + 1
            else:
                done_at[a] += len(chunk)
                if done_at[a] < limit[a]:
                    still.append(a)
            offset += len(chunk)
        active = np.array(still, dtype=np.int64)
    return ScanFirstResult(success, pixel, color, predicted, queries, first_hit, hit_probs, clean_probs)
