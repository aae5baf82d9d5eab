"""``--time-limit`` holds within the limit plus one batch (issue 33: 10 s stopped at 40.7 s)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pixelspace.campaign import run_campaign
from pixelspace.campaign.backends import Batch, BatchResult, ProgressFn
from pixelspace.campaign.backends.local import LocalBackend
from pixelspace.cli import cli
from tests.campaign.conftest import config_dict, to_toml


class TimedBackend(LocalBackend):
    """The local backend, recording each batch's wall time."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def run(self, batches: Iterable[Batch], progress: ProgressFn | None = None) -> Iterator[BatchResult]:
        it = iter(super().run(batches, progress))
        while True:
            t0 = time.monotonic()
            try:
                result = next(it)
            except StopIteration:
                return
            self.seconds.append(time.monotonic() - t0)
            yield result


def test_no_batch_starts_after_the_limit_and_the_stop_is_within_one_batch(
        make_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXELSPACE_TINY_DELAY", "0.1")  # every forward call of the tiny net sleeps 0.1 s
    config = make_config(**{"attack.incremental": False})
    # the setup (clean predictions of the pool) alone takes longer than the limit: no batch may start after it
    t0 = time.monotonic()
    summary = run_campaign(config, progress=False, time_limit=0.05)
    assert summary.stopped_by_time_limit and summary.attacks_run == 0, summary
    assert time.monotonic() - t0 < 0.05 + 2.0  # the setup only (the old code ran a whole batch after it)
    # a resumed run: batches start while they are expected to end in time, and the last one ends within
    # the limit plus one batch's length
    limit = 2.0
    backend = TimedBackend()
    t0 = time.monotonic()
    summary = run_campaign(config, progress=False, time_limit=limit, backend=backend)
    elapsed = time.monotonic() - t0
    assert summary.stopped_by_time_limit and 0 < summary.attacks_run < summary.attacks_total, summary
    assert elapsed <= limit + max(backend.seconds) + 0.5, (elapsed, backend.seconds)


def test_the_command_counts_its_own_start(tiny_data: dict[str, Any], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # the limit runs from the command's start (its imports and model loading included), not from the campaign's
    import pixelspace.campaign as campaign

    seen: dict[str, Any] = {}
    real = campaign.run_campaign

    def spy(config: Any, progress: bool = True, **kw: Any) -> Any:
        seen["time_limit"] = kw.get("time_limit")
        return real(config, progress=progress, **kw)

    toml = tmp_path / "tiny.toml"
    toml.write_text(to_toml(config_dict(tiny_data, tmp_path / "store.sqlite")))
    monkeypatch.setattr(campaign, "run_campaign", spy)
    import pixelspace.runtime as runtime

    def slow_start() -> bool:
        time.sleep(0.5)  # a slow start (importing torch takes seconds on a loaded machine)
        return False

    monkeypatch.setattr(runtime, "tune_malloc_unless_disabled", slow_start)
    out = CliRunner().invoke(cli, ["run", str(toml), "--no-progress", "--time-limit", "1h"])
    assert out.exit_code == 0, out.output
    assert 3600 - 5 < seen["time_limit"] <= 3600 - 0.5
