"""The Ray backend on a two-node cluster on this machine: same rows as local, a killed worker, a killed driver.

One cluster for the whole module (``conftest.ray_cluster``); the local reference run happens once too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from pixelspace.campaign import CampaignConfig, campaign_status, format_status, run_campaign
from pixelspace.campaign.backends import Batch, BatchResult, ProgressFn
from tests.campaign.conftest import REPO, attack_rows, planted_dict, to_toml

pytest.importorskip("ray", reason="Ray is not installed: pip install 'pixelspace[ray]'")

from pixelspace.campaign.backends.ray import RayBackend  # noqa: E402

SLOW = {"name": "planted", "factory": "tests.ray.slownet:slow_planted"}
# the planted campaign: 2 images x whole/foreground/background x untargeted and 2 targets = 18 attacks in 9
# batches of 2, 14 of them successes (so early stop and confirmation run on workers and across a resume)
GRID = {"execution.attacks_per_batch": 2, "execution.tasks_per_worker": 2}
TOTAL, SUCCESSES = 18, 14


def _config(planted_data: dict[str, Any], store: Path, slow: bool = False, **updates: Any) -> dict[str, Any]:
    d = planted_dict(planted_data, store, **{**GRID, **updates})
    if slow:
        d["models"] = [dict(SLOW)]
    return d


def _count(store: Path) -> int:
    with contextlib.suppress(sqlite3.Error), contextlib.closing(
        sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    ) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM attacks").fetchone()[0])
    return 0


@pytest.fixture(scope="module")
def local_rows(planted_data: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    """Attack rows of the campaign run by the local backend (one torch thread, like each 1-CPU worker)."""
    store = tmp_path_factory.mktemp("local") / "local.sqlite"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        summary = run_campaign(CampaignConfig.from_dict(_config(planted_data, store)), progress=False)
    finally:
        torch.set_num_threads(threads)
    assert summary.attacks_total == TOTAL and summary.complete and summary.successes == SUCCESSES
    return attack_rows(store)


def test_ray_rows_equal_local_rows(ray_cluster: Any, planted_data: dict[str, Any], local_rows: list[Any],
                                   tmp_path: Path) -> None:
    store = tmp_path / "ray.sqlite"
    on_ray: dict[str, Any] = {"execution.backend": "ray", "execution.workers": 2}
    cfg = CampaignConfig.from_dict(_config(planted_data, store, **on_ray))
    backend = RayBackend()
    summary = run_campaign(cfg, progress=True, backend=backend)  # the bar (with per-worker q/s) on stderr
    assert (summary.attacks_run, summary.attacks_total) == (TOTAL, TOTAL)
    assert attack_rows(store) == local_rows  # every column of every row, the record JSON included
    stats = backend.worker_stats()
    assert len(stats) == 2 and sum(s["attacks"] for s in stats) == TOTAL
    assert len({s["host"] for s in stats}) == 1 and all(s["device"] == "cpu" for s in stats)
    assert backend.redispatched == 0
    # the run records how the workers computed (each one torch thread at this machine's kernel level): a replay of
    # these rows knows both
    from pixelspace.campaign.store import Store
    from pixelspace.runtime import cpu_capability

    with Store.open_readonly(store) as opened:
        (details,) = [r["details"] for r in opened.runs()]
    assert details["backend"] == "ray" and len(details["workers"]) == 2
    assert (details["cpu_capability"], details["torch_threads"]) == (cpu_capability(), "1")
    status = campaign_status(store)
    assert (status.done, status.total) == (TOTAL, TOTAL) and f"{TOTAL}/{TOTAL}" in format_status(status)
    again = run_campaign(cfg, progress=False)  # resume of a complete store: nothing to run
    assert again.attacks_run == 0 and attack_rows(store) == local_rows


class KillingRayBackend(RayBackend):
    """The Ray backend, with a worker killed mid-campaign: by ``ray.kill`` after the first result, and by
    SIGKILL to the (replacement or other) worker's process after the fourth."""

    def run(self, batches: Iterable[Batch], progress: ProgressFn | None = None) -> Iterator[BatchResult]:
        import ray

        for i, result in enumerate(super().run(batches, progress)):
            if i == 0:
                victim = max(self._slots, key=lambda s: len(s.inflight))
                assert victim.inflight, "the first kill must hit a worker holding batches"
                ray.kill(victim.actor)
            if i == 3:
                victim = max(self._slots, key=lambda s: len(s.inflight))
                pid = ray.get(victim.ready_ref)["pid"]  # its process on this machine (both nodes are local)
                os.kill(pid, signal.SIGKILL)
            yield result


def test_killed_workers_lose_nothing(ray_cluster: Any, planted_data: dict[str, Any], local_rows: list[Any],
                                     tmp_path: Path) -> None:
    store = tmp_path / "killed-worker.sqlite"
    cfg = CampaignConfig.from_dict(_config(planted_data, store, slow=True, **{"execution.backend": "ray",
                                                                           "execution.workers": 2}))
    backend = KillingRayBackend()
    summary = run_campaign(cfg, progress=False, backend=backend)
    assert summary.complete and summary.attacks_run == TOTAL and summary.successes == SUCCESSES
    assert attack_rows(store) == local_rows  # every column; redispatched batches stored once (rows equal)
    assert backend.replaced == 2 and backend.redispatched >= 2


class MemoryKilledRayBackend(RayBackend):
    """Ray's memory monitor kills a worker: the driver's ``ray.get`` of its batch raises ``OutOfMemoryError``
    (once, on the first batch result it asks for; the fake leaves the worker to ``lose``, which replaces it)."""

    def run(self, batches: Iterable[Batch], progress: ProgressFn | None = None) -> Iterator[BatchResult]:
        ray = self._ray
        real_get, raised = ray.get, list[Any]()

        def get(ref: Any, *args: Any, **kwargs: Any) -> Any:
            value = real_get(ref, *args, **kwargs)
            if not raised and isinstance(value, tuple):  # a batch's (records, seconds), not a ready() dict
                raised.append(ref)
                raise ray.exceptions.OutOfMemoryError("1 worker(s) were killed due to the node running low on memory")
            return value

        ray.get = get
        try:
            yield from super().run(batches, progress)
        finally:
            ray.get = real_get
        assert raised, "the fake must have hit a batch"


def test_a_worker_killed_for_memory_loses_nothing(ray_cluster: Any, planted_data: dict[str, Any],
                                                  local_rows: list[Any], tmp_path: Path) -> None:
    """Seen on a real campaign: a memory-hungry process beside the workers made Ray kill them, and the driver
    stopped with the error instead of dispatching the batch again."""
    store = tmp_path / "oom-worker.sqlite"
    on_ray: dict[str, Any] = {"execution.backend": "ray", "execution.workers": 2}
    cfg = CampaignConfig.from_dict(_config(planted_data, store, **on_ray))
    backend = MemoryKilledRayBackend()
    summary = run_campaign(cfg, progress=False, backend=backend)
    assert summary.complete and summary.attacks_run == TOTAL and summary.successes == SUCCESSES
    assert attack_rows(store) == local_rows
    assert backend.replaced == 1 and backend.redispatched >= 1


def test_killed_driver_resumes(ray_cluster: Any, planted_data: dict[str, Any], local_rows: list[Any],
                               tmp_path: Path) -> None:
    store = tmp_path / "killed-driver.sqlite"
    toml = tmp_path / "killed-driver.toml"
    toml.write_text(to_toml(_config(planted_data, store, slow=True, **{"execution.workers": 2})))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [sys.executable, "-m", "pixelspace", "run", str(toml), "--backend", "ray",
           "--address", ray_cluster.address, "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stored, deadline = 0, time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            stored = _count(store) if store.exists() else 0
            if stored >= 4:
                break
            time.sleep(0.02)
        running = campaign_status(store) if proc.poll() is None else None  # `pixelspace status` mid-run
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode == -signal.SIGKILL, err
    at_kill = _count(store)
    assert 4 <= at_kill < TOTAL, f"killed with {at_kill} of {TOTAL} attacks stored\n{err}"
    assert running is not None and running.total == TOTAL and 4 <= running.done <= at_kill
    summary = run_campaign(CampaignConfig.load(toml).replace(backend="ray"), progress=False)
    assert summary.attacks_before == at_kill and summary.attacks_run == TOTAL - at_kill
    assert attack_rows(store) == local_rows


def test_worker_that_cannot_start_stops_the_campaign(ray_cluster: Any, planted_data: dict[str, Any],
                                                     tmp_path: Path) -> None:
    from pixelspace.campaign.backends import Job
    from pixelspace.campaign.backends.ray import RayBackendError

    cfg = CampaignConfig.from_dict(_config(planted_data, tmp_path / "unused.sqlite"))
    backend = RayBackend(workers=1)
    backend.start(Job(cfg, {}, {}, 16, "cpu", {"planted": "0" * 64}))  # not the weights the worker loads
    try:
        with pytest.raises(RayBackendError, match="could not start.*weights of 'planted' differ"):
            list(backend.run([Batch(0, "planted", 1, "untargeted", True, ())]))
    finally:
        backend.close()
    assert backend.replaced == 0


def test_batches_queued_on_workers_finish_when_the_limit_stops_the_run(
        ray_cluster: Any, planted_data: dict[str, Any], local_rows: list[Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the old runner stopped at a result and killed the workers, losing the batches they were running; now the
    # feed declines further batches and the run waits for those it handed out. The feed says 100 s a batch, so
    # a batch queued behind another on a worker would start in about 100 s.
    from pixelspace.campaign import runner
    from pixelspace.campaign.time_limit import TimedFeed

    asked: list[float] = []

    class FourBatches(TimedFeed):
        def estimate(self, batch: Batch) -> float | None:
            return 100.0

        def take(self, starts_in: float = 0.0) -> Batch | None:
            if len(asked) == 4:
                return None  # as if the limit were near
            asked.append(starts_in)
            return super().take(starts_in)

    monkeypatch.setattr(runner, "TimedFeed", FourBatches)
    store = tmp_path / "limited.sqlite"
    two: dict[str, Any] = {"execution.workers": 2}
    cfg = CampaignConfig.from_dict(_config(planted_data, store, **two))
    summary = run_campaign(cfg, progress=False, backend=RayBackend(), time_limit=3600)
    assert summary.stopped_by_time_limit and summary.attacks_run == 4 * 2 == _count(store)  # none of the 4 lost
    assert sorted(asked)[:2] == [0.0, 0.0] and min(sorted(asked)[2:]) > 50, asked  # two idle, two queued
    monkeypatch.setattr(runner, "TimedFeed", TimedFeed)
    rest = run_campaign(cfg, progress=False, backend=RayBackend())
    assert rest.attacks_run == TOTAL - 8 and attack_rows(store) == local_rows


def test_a_batch_of_unknown_length_is_never_queued_behind_another_under_a_limit(
        ray_cluster: Any, planted_data: dict[str, Any], local_rows: list[Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a new store has no timing: its first batches start on idle workers only (one each), not two per worker as
    # tasks_per_worker allows, so a short limit is not overrun by a queue of batches nobody could price
    from pixelspace.campaign import runner
    from pixelspace.campaign.time_limit import TimedFeed

    calls: list[tuple[float, bool]] = []

    class Recording(TimedFeed):
        def take(self, starts_in: float = 0.0) -> Batch | None:
            batch = super().take(starts_in)
            calls.append((starts_in, batch is not None))
            return batch

    monkeypatch.setattr(runner, "TimedFeed", Recording)
    store = tmp_path / "fresh.sqlite"
    two: dict[str, Any] = {"execution.workers": 2}
    summary = run_campaign(CampaignConfig.from_dict(_config(planted_data, store, **two)), progress=False,
                           backend=RayBackend(), time_limit=3600)
    assert summary.complete and attack_rows(store) == local_rows
    assert calls[:3] == [(0.0, True), (0.0, True), (float("inf"), False)], calls[:4]
    assert not any(handed for s, handed in calls if s == float("inf")), calls
