"""Which batches a run under ``--time-limit`` starts: each only while it would likely end before the limit.

A batch's length is estimated from the worker seconds per attack of its group (network × pixels × mode × search ×
early stop): the slowest batch of the group in this run, else the group's mean in the store's earlier runs on the
same device, backend and (where both recorded it) thread count (``runs.details["timing"]``; records from before
early stop was recorded count as early-stopped), else the longest batch of any group in this run. A batch with
none of these (a run's first batches on a new store) starts only on an idle worker, never queued behind another.
A call's first batch is the first that fits, else the next in order whatever its estimate, so every call advances
the campaign, however short its limit. A batch that would not fit is left for the next run and a shorter one
further on may start in its place, so the last minutes go to the batches that fit. Started batches always finish: the run
ends about when the limit passes, later by how much the estimates fell short (or by the first batch's length).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pixelspace.campaign.backends import Batch, BatchSource

log = logging.getLogger(__name__)

#: (network, pixels, mode, search, early stop): a batch group, as the runs' ``timing`` records name it.
Group = tuple[str, int, str, str, bool]


def _group(batch: Batch) -> Group:
    return (batch.model, batch.pixels, batch.mode, batch.search, batch.early_stop)


def earlier_rates(runs: Sequence[Mapping[str, Any]], device: str, backend: str,
                  threads: str | None = None) -> dict[Group, float]:
    """Mean worker seconds per attack per group over the store's runs on ``device`` with ``backend`` and, where
    both are known, ``threads`` torch threads per worker (runs as :meth:`~pixelspace.campaign.store.Store.runs`
    gives them; those without a ``timing`` record are skipped)."""
    sums: dict[Group, list[float]] = {}
    for run in runs:
        details = run.get("details") or {}
        if (details.get("device"), details.get("backend")) != (device, backend):
            continue
        if threads is not None and details.get("torch_threads") not in (None, threads):
            continue
        for t in details.get("timing") or []:
            key = (t["model"], int(t["pixels"]), t["mode"], t["search"], bool(t.get("early_stop", True)))
            entry = sums.setdefault(key, [0.0, 0.0])
            entry[0] += float(t["seconds"])
            entry[1] += float(t["attacks"])
    return {g: s / n for g, (s, n) in sums.items() if n > 0}


class TimedFeed(BatchSource):
    """The pending batches in order, each handed out only while it would likely end before ``deadline``.

    Args:
        batches: the batches to run, in the order to run them.
        deadline: a ``clock()`` value; None: no limit (every batch is handed out in order).
        earlier: worker seconds per attack per group from earlier runs (:func:`earlier_rates`).
        clock: the clock ``deadline`` is on (``time.monotonic``).
    """

    def __init__(self, batches: Iterable[Batch], deadline: float | None, earlier: Mapping[Group, float],
                 clock: Callable[[], float]) -> None:
        self._pending = list(batches)
        self._deadline, self._earlier, self._clock = deadline, dict(earlier), clock
        self._slowest: dict[Group, float] = {}  # this run: the largest seconds per attack of a batch, per group
        self._longest = 0.0  # this run: the longest batch, seconds
        self._handed = 0  # batches handed out

    @property
    def left(self) -> int:
        """Batches not handed out."""
        return len(self._pending)

    def estimate(self, batch: Batch) -> float | None:
        """Expected worker seconds of ``batch`` (see the module docstring); None: nothing to go on."""
        g = _group(batch)
        rate = self._slowest.get(g) or self._earlier.get(g)
        if rate:
            return rate * len(batch)
        return self._longest or None

    def observe(self, batch: Batch, seconds: float) -> None:
        """A batch finished after ``seconds`` of its worker."""
        if len(batch):
            g = _group(batch)
            self._slowest[g] = max(self._slowest.get(g, 0.0), seconds / len(batch))
        self._longest = max(self._longest, seconds)

    def take(self, starts_in: float = 0.0) -> Batch | None:
        if not self._pending:
            return None
        if self._deadline is None:
            return self._hand(0)
        now = self._clock()
        if now >= self._deadline:
            return None
        for i, batch in enumerate(self._pending):
            expected = self.estimate(batch)
            if (now + starts_in + expected <= self._deadline) if expected is not None else starts_in == 0:
                if i:
                    log.info("time limit: %d batch(es) skipped for one that fits (%s, %d attacks, about %.0f s)",
                             i, batch.model, len(batch), expected or 0.0)
                return self._hand(i)
        return None if self._handed else self._hand(0)  # a call's first batch: the first that fits, else the next

    def _hand(self, i: int) -> Batch:
        self._handed += 1
        return self._pending.pop(i)
