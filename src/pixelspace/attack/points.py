"""Candidates of a point-to-point search, answered against bases that hold the search's current points.

:class:`~pixelspace.attack.sparse_rs.SparseRandomSearch` at k >= 2 keeps one point per attack (k pixels) and
proposes candidates that move one of them: a candidate differs from the current point in two pixels (the old
place restored to its clean value, the new place set), or in one (a pixel recoloured in place). Against the
current point *with that pixel restored* (the slot's leave-one-out base) it differs in one pixel only, so with
the incremental forward pass (:mod:`pixelspace.models.incremental`) it costs what one changed pixel can reach.

:class:`PointBases` keeps per attack, in a :class:`~pixelspace.models.classifier.PixelBases`, the current point
and, with the ``"leave-one-out"`` plan, its k leave-one-out bases:

* a candidate that moves one slot of a started attack is answered against that slot's leave-one-out base (one
  changed pixel). A leave-one-out base is brought up to date lazily, the first time a candidate needs it after
  the point moved: a copy of the point's activations with the slot's pixel restored (one changed pixel, not
  counted as a query). A move keeps the moved slot's base (the point without that slot is unchanged);
* with the ``"point"`` plan, against the current point (two changed pixels);
* any other candidate (an attack's starting point, or one that moves several slots) against the current point
  with every old pixel restored and every new one set (its first point: against the clean image).

Accepting a candidate moves the point: its activations become the leave-one-out base's plus the windows the
candidate's evaluation computed (no pass through the model). The answers are those of full forward passes of
the candidate images, bit for bit on the shipped networks (``benchmarks/incremental_exactness.py``,
``tests/attack/test_points.py``), so a search gives the same results with or without it.

:func:`choose_plan` picks the plan from the engine's cost model: leave-one-out when two one-pixel passes (a
candidate and, at worst, a refresh) cost less than one two-pixel pass, else the point when a two-pixel pass
costs less than the search's candidates against the clean image, else None (the caller keeps that path).
"""

from __future__ import annotations

import typing
from typing import Literal

import numpy as np
import torch

from pixelspace.attack.encoding import Decoded
from pixelspace.models.classifier import Classifier, PixelBases

Plan = Literal["leave-one-out", "point"]
PLANS: tuple[str, ...] = typing.get_args(Plan)
#: bytes of base activations a :class:`PointBases` holds at a time (beyond it the least recently used are
#: recomputed when next needed)
MAX_POINT_BYTES = 1 << 30


def choose_plan(clf: Classifier, channels: int, height: int, width: int, pixels: int) -> Plan | None:
    """The cheapest way to answer one-slot moves of a ``pixels``-pixel point on this classifier, or None
    (no incremental pass, or the candidates against the clean image cost no more)."""
    engine = clf._incremental_engine()
    if engine is None or pixels < 2:
        return None
    from pixelspace.models.incremental import MAX_COST_SHARE

    with clf._eval_mode():
        def share(m: int) -> float:
            return engine.cost_share(channels, height, width, m, clf.device)

        s1, s2, sk = share(1), share(2), share(pixels)
    clean = sk if (sk <= MAX_COST_SHARE or clf.incremental is True) else 1.0
    if 2 * s1 < min(s2, clean):
        return "leave-one-out"
    if s2 < clean:
        return "point"
    return None


class PointBases:
    """Per attack, the current point of a search (k pixels on a clean image) and the bases its candidates are
    answered against (see the module docstring).

    Args:
        clf: the classifier (its incremental pass on; fp32).
        clean: uint8 clean images (N, 3, H, W) on the classifier's device.
        pixels: k.
        plan: ``"leave-one-out"`` or ``"point"``.
        max_bytes: bytes of base activations held at a time.

    Attributes:
        refreshes: leave-one-out bases brought up to date so far (one-pixel passes, not queries).
        answered: candidates answered so far, by base: ``"leave-one-out"`` (one changed pixel), ``"point"``
            (one slot moved: two changed pixels, one where recoloured in place) and ``"other"`` (several slots
            moved, or an attack's first point).
    """

    def __init__(self, clf: Classifier, clean: torch.Tensor, pixels: int, plan: Plan,
                 max_bytes: int = MAX_POINT_BYTES) -> None:
        if plan not in PLANS:
            raise ValueError(f"plan must be one of {PLANS}, got {plan!r}")
        n, _, h, w = clean.shape
        self.k = pixels
        self.plan = plan
        self.roles = pixels + 1 if plan == "leave-one-out" else 1  # base a * roles: the point; + 1 + i: slot i's
        self.bases = PixelBases(clf, clean.repeat_interleave(self.roles, dim=0), max_bytes=max_bytes)
        self.clean = clean.cpu().numpy().reshape(n, 3, h * w).transpose(0, 2, 1)  # (N, H*W, 3) uint8
        self.point = Decoded(np.zeros((n, pixels), dtype=np.int64), np.zeros((n, pixels, 3), dtype=np.uint8),
                             np.zeros((n, pixels), dtype=bool))
        self.started = np.zeros(n, dtype=bool)
        self.fresh = np.zeros((n, pixels), dtype=bool)  # slot i's leave-one-out base = the point without slot i
        self.refreshes = 0
        self.answered = {"leave-one-out": 0, "point": 0, "other": 0}

    def _point_id(self, attacks: np.ndarray) -> np.ndarray:
        return attacks * self.roles

    def _slot_id(self, attacks: np.ndarray, slots: np.ndarray) -> np.ndarray:
        return attacks * self.roles + 1 + slots

    def _restore(self, attacks: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entries (B, 1) that restore the point's pixel in ``slots`` to its clean colour."""
        pos = self.point.positions[attacks, slots]
        return pos[:, None], self.clean[attacks, pos][:, None], self.point.applied[attacks, slots][:, None]

    def _split(self, attacks: np.ndarray, moved: np.ndarray) -> np.ndarray:
        """Which candidates (B,) go against a leave-one-out base."""
        return (self.plan == "leave-one-out") & self.started[attacks] & (moved >= 0)

    def _groups(self, attacks: np.ndarray, moved: np.ndarray, rest: np.ndarray) -> list[np.ndarray]:
        """The candidates ``rest`` answered against their point, split as :meth:`_entries` treats them: one
        slot moved on a started point, the others; empty groups left out."""
        one = (moved[rest] >= 0) & self.started[attacks[rest]]
        return [g for g in (rest[one], rest[~one]) if g.size]

    def _entries(self, attacks: np.ndarray, cand: Decoded, moved: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Changes (B, m) of candidates against their attack's point: a moved slot's old pixel restored and its new
        one set (m = 2) when every candidate moves one slot of a started point, else every old pixel restored and
        every new one set (m = 2k)."""
        b = attacks.shape[0]
        rows = np.arange(b)
        if b and (moved >= 0).all() and self.started[attacks].all():
            rp, rc, ra = self._restore(attacks, moved)
            return (np.concatenate([rp, cand.positions[rows, moved][:, None]], axis=1),
                    np.concatenate([rc, cand.colors[rows, moved][:, None]], axis=1),
                    np.concatenate([ra, cand.applied[rows, moved][:, None]], axis=1))
        old = self.point
        restored = np.take_along_axis(self.clean[attacks], old.positions[attacks][:, :, None], axis=1)
        return (np.concatenate([old.positions[attacks], cand.positions], axis=1),
                np.concatenate([restored, cand.colors], axis=1),
                np.concatenate([old.applied[attacks] & self.started[attacks][:, None], cand.applied], axis=1))

    def _refresh(self, attacks: np.ndarray, slots: np.ndarray) -> None:
        """Bring the leave-one-out bases of (attack, slot) pairs (repeats allowed) up to date."""
        stale = ~self.fresh[attacks, slots]
        a, s = attacks[stale], slots[stale]
        if a.size == 0:
            return
        pairs = np.unique(np.stack([a, s], axis=1), axis=0)
        a, s = pairs[:, 0], pairs[:, 1]
        pos, col, on = self._restore(a, s)
        self.bases.commit(self._slot_id(a, s), pos, col, on, sources=self._point_id(a))
        self.fresh[a, s] = True
        self.refreshes += int(a.size)

    def probabilities(self, attacks: np.ndarray, cand: Decoded, moved: np.ndarray, keep: bool = False
                      ) -> torch.Tensor:
        """Probabilities (B, K) of the candidates (B, k) of ``attacks`` (B,) (an attack may have several: each is
        answered against its attack's current point, as if the others were not accepted).

        Args:
            moved: int (B,), the one slot in which each candidate differs from its attack's point, or -1.
            keep: keep what the previous call computed for :meth:`accept` too.
        """
        loo = self._split(attacks, moved)
        idx_l = np.flatnonzero(loo)
        if idx_l.size:
            self._refresh(attacks[idx_l], moved[idx_l])
        parts: list[tuple[np.ndarray, torch.Tensor]] = []
        if idx_l.size:
            a, s = attacks[idx_l], moved[idx_l]
            probs = self.bases.probabilities(
                self._slot_id(a, s), cand.positions[idx_l, s][:, None], cand.colors[idx_l, s][:, None],
                cand.applied[idx_l, s][:, None], keep=keep)
            parts.append((idx_l, probs))
            keep = True
            self.answered["leave-one-out"] += int(idx_l.size)
        for group in self._groups(attacks, moved, np.flatnonzero(~loo)):
            one_slot = bool(moved[group[0]] >= 0 and self.started[attacks[group[0]]])
            self.answered["point" if one_slot else "other"] += int(group.size)
            pos, col, on = self._entries(attacks[group], cand[group], moved[group])
            parts.append((group, self.bases.probabilities(self._point_id(attacks[group]), pos, col, on,
                                                          keep=keep)))
            keep = True
        first = parts[0][1]
        out = first.new_empty((attacks.shape[0], *first.shape[1:]))
        for idx, val in parts:
            out[torch.as_tensor(idx, device=out.device)] = val
        return out

    def accept(self, attacks: np.ndarray, cand: Decoded, moved: np.ndarray) -> None:
        """Move the points of ``attacks`` (B,) (distinct) to the candidates (B, k), each differing from its point
        in slot ``moved`` (B,) or -1 as given to :meth:`probabilities`."""
        if attacks.size == 0:
            return
        loo = self._split(attacks, moved)
        loo[loo] = self.fresh[attacks[loo], moved[loo]]
        idx_l = np.flatnonzero(loo)
        if idx_l.size:
            a, s = attacks[idx_l], moved[idx_l]
            self.bases.commit(self._point_id(a), cand.positions[idx_l, s][:, None], cand.colors[idx_l, s][:, None],
                              cand.applied[idx_l, s][:, None], sources=self._slot_id(a, s))
        for group in self._groups(attacks, moved, np.flatnonzero(~loo)):
            pos, col, on = self._entries(attacks[group], cand[group], moved[group])
            self.bases.commit(self._point_id(attacks[group]), pos, col, on)
        self.point.positions[attacks] = cand.positions
        self.point.colors[attacks] = cand.colors
        self.point.applied[attacks] = cand.applied
        self.fresh[attacks] = False
        self.fresh[attacks[idx_l], moved[idx_l]] = True  # the point without the moved slot did not change
        self.started[attacks] = True
