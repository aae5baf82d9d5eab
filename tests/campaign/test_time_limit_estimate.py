"""``time_limit`` stops a campaign before a batch that would likely end past the limit (issue 32: the estimate
of the next batch's length was never reached by the CLI test, whose 0.001 s limit has passed after any batch)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pixelspace.campaign import run_campaign, runner
from pixelspace.campaign.backends import Batch, BatchResult, ProgressFn
from pixelspace.campaign.backends.local import LocalBackend
from tests.campaign.conftest import attack_rows


class FakeClock:
    """The runner's ``time`` module with a ``monotonic`` clock that moves only when a batch "takes" time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def perf_counter() -> float:
        return time.perf_counter()


class TimedBackend(LocalBackend):
    """The local backend, each batch taking ``seconds`` on ``clock`` (and reporting them as its worker time)."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def run(self, batches: Iterable[Batch], progress: ProgressFn | None = None) -> Iterator[BatchResult]:
        for result in super().run(batches, progress):
            self.clock.now += self.seconds
            yield replace(result, seconds=self.seconds)


@pytest.mark.parametrize(("limit", "batches"), [(25.0, 2), (30.0, 3), (45.0, 4)])
def test_the_run_stops_where_the_next_batch_would_likely_end_past_the_limit(
        make_config: Any, monkeypatch: pytest.MonkeyPatch, limit: float, batches: int) -> None:
    # 12 attacks, 2 per batch, 10 s a batch: after batch b it is 10 b s into the call and the next batch would
    # likely end at 10 (b + 1) s, so the run stops after the last b with 10 (b + 1) <= limit. Without the
    # estimate it would stop only once the limit had passed (after 3, 4 and 5 batches).
    clock = FakeClock()
    monkeypatch.setattr(runner, "time", clock)
    cfg = make_config()
    summary = run_campaign(cfg, progress=False, backend=TimedBackend(clock, 10.0), time_limit=limit)
    assert summary.stopped_by_time_limit and not summary.complete
    assert summary.attacks_run == 2 * batches and len(attack_rows(Path(cfg.campaign.store))) == 2 * batches
    assert clock.now - 1000.0 == 10.0 * batches <= limit  # it never ran past the limit
    rest = run_campaign(cfg, progress=False, backend=TimedBackend(clock, 10.0))  # no limit: the rest
    assert rest.complete and rest.attacks_run == 12 - 2 * batches
