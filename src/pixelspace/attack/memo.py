"""Evaluation memo: an attack never asks the model about the same perturbed image twice.

DE with integer pixel coordinates and 8-bit colours proposes many candidates that decode to an image it has
already evaluated: with ``best1bin`` 24-39 % of them once the population converges (VGG-16 and CNN-8,
``benchmarks/peers.py``; docs/engine.md). The memo remembers, per attack, the fitness and success of every evaluated
candidate, so such a repeat gets its answer without a model query (the same rule as DESIGN.md §2 applies to a
restrict-mode candidate that falls outside the region: its answer is already known).

Keys are two independent 64-bit hashes of (attack row, the applied pixels' positions and colours in order),
so a false match needs a 128-bit collision. Storage is a log-structured set of sorted runs: about 25 bytes per
evaluated candidate (≈ 1 MB for an attack that spends the paper's 40,400 queries), lookups by binary search.
Nothing is ever evicted, so an attack's queries do not depend on which other attacks share its call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixelspace.attack.encoding import Decoded

_SEEDS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD1B54A32D192ED03))


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def candidate_keys(rows: np.ndarray, decoded: Decoded) -> np.ndarray:
    """Two 64-bit hashes per candidate, uint64 (B, 2), of its attack row (B,) and applied pixels.

    Candidates that build the same image from the same pixels in the same order get the same key; a pixel
    that is not applied (restored by restrict mode) enters as "nothing", whatever its genes were.
    """
    pos = decoded.positions.astype(np.uint64) + np.uint64(1)
    col = decoded.colors.astype(np.uint64)
    words = (pos << np.uint64(24)) | (col[..., 0] << np.uint64(16)) | (col[..., 1] << np.uint64(8)) | col[..., 2]
    words = np.where(decoded.applied, words, np.uint64(0))
    out = np.empty((rows.shape[0], 2), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for h, seed in enumerate(_SEEDS):
            z = _mix(rows.astype(np.uint64) * np.uint64(0x100000001B3) + seed)
            for j in range(words.shape[1]):
                z = _mix((z ^ words[:, j]) + seed)
            out[:, h] = z
    return out


def first_occurrences(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group equal rows of keys uint64 (B, 2): (first, group), where ``first`` (G,) holds the index of each
    group's first row and ``group`` (B,) each row's group number, so ``keys[first[group]] == keys``.

    The same grouping as ``np.unique(keys, axis=0, return_index=True, return_inverse=True)``, several times
    faster (a two-key lexsort instead of a sort of structured rows).
    """
    order = np.lexsort((keys[:, 1], keys[:, 0]))  # stable: equal rows keep their original order
    ordered = keys[order]
    starts = np.ones(keys.shape[0], dtype=bool)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    group = np.empty(keys.shape[0], dtype=np.int64)
    group[order] = np.cumsum(starts) - 1
    return order[starts], group


@dataclass
class _Run:
    """One sorted run: first hash (sorted), second hash, fitness and success, all (n,)."""

    h1: np.ndarray
    h2: np.ndarray
    fitness: np.ndarray
    success: np.ndarray


class EvaluationMemo:
    """Fitness and success of every evaluated candidate, looked up by :func:`candidate_keys`."""

    def __init__(self) -> None:
        self._runs: list[_Run] = []

    def __len__(self) -> int:
        return sum(r.h1.shape[0] for r in self._runs)

    def add(self, keys: np.ndarray, fitness: np.ndarray, success: np.ndarray) -> None:
        """Remember candidates: keys uint64 (B, 2), fitness float64 (B,), success bool (B,)."""
        if keys.shape[0] == 0:
            return
        order = np.argsort(keys[:, 0], kind="stable")
        run = _Run(keys[order, 0].copy(), keys[order, 1].copy(), np.asarray(fitness, dtype=np.float64)[order],
                   np.asarray(success, dtype=bool)[order])
        self._runs.append(run)
        # merge while a run is not at least twice as large as the next: O(log n) runs, amortised O(n log n)
        while len(self._runs) >= 2 and self._runs[-2].h1.shape[0] < 2 * self._runs[-1].h1.shape[0]:
            b, a = self._runs.pop(), self._runs.pop()
            h1 = np.concatenate([a.h1, b.h1])
            order = np.argsort(h1, kind="stable")
            self._runs.append(_Run(h1[order], np.concatenate([a.h2, b.h2])[order],
                                   np.concatenate([a.fitness, b.fitness])[order],
                                   np.concatenate([a.success, b.success])[order]))

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For keys uint64 (B, 2): found bool (B,), fitness float64 (B,) and success bool (B,) (0 / False
        where not found)."""
        b = keys.shape[0]
        # search with sorted needles: NumPy's binary search starts from the previous answer, about 3x faster
        order = np.argsort(keys[:, 0])
        h1, h2 = keys[order, 0], keys[order, 1]
        found = np.zeros(b, dtype=bool)
        fitness = np.zeros(b, dtype=np.float64)
        success = np.zeros(b, dtype=bool)
        for run in self._runs:
            n = run.h1.shape[0]
            i = np.minimum(np.searchsorted(run.h1, h1), n - 1)
            hit = ~found & (run.h1[i] == h1) & (run.h2[i] == h2)
            fitness[hit] = run.fitness[i[hit]]
            success[hit] = run.success[i[hit]]
            found |= hit
        out_found, out_fitness, out_success = (np.empty_like(v) for v in (found, fitness, success))
        out_found[order], out_fitness[order], out_success[order] = found, fitness, success
        return out_found, out_fitness, out_success
