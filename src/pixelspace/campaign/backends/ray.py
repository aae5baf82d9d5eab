"""The Ray backend: batches of attack keys run on Ray actors, one model-holding worker per GPU (or per CPU slot).

The driver (the process that runs :func:`~pixelspace.campaign.run_campaign`) keeps the store; workers never
touch it. At :meth:`RayBackend.start` the driver joins or starts a Ray cluster, puts the campaign's
:class:`~pixelspace.campaign.backends.Job` (config, image and region arrays, batch size, weights hashes) into
the object store once, and starts ``execution.workers`` actors. Each actor loads every network of the
campaign once (registry name + weights path, or the config's factory), checks its weights against the hashes
the store holds, and then runs whole batches, exactly the ones the runner hands out, through the same engine
call as the local backend (:func:`~pixelspace.campaign.backends.local.run_batch`). So a campaign gives the same
rows on Ray as locally (on the same kind of device).

Faults: an actor that dies (killed process, lost node) loses only the batches queued on it; they are
dispatched again, to a fresh actor that replaces the dead one. Results that had already arrived are kept, a
batch computed twice is committed once (the store ignores a key it holds), and a batch that loses its worker
:data:`MAX_ATTEMPTS` times stops the campaign with an error (it is probably what kills the workers). An
exception raised by the attack code itself is not retried: it is re-raised on the driver.

Examples:
    >>> from pixelspace.campaign import load_config, run_campaign  # doctest: +SKIP
    >>> cfg = load_config("campaigns/paper-cifar10.toml").replace(backend="ray", address="auto")  # doctest: +SKIP
    >>> run_campaign(cfg)  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelspace.campaign.backends import Backend, Batch, BatchResult, BatchSource, Job, ProgressFn
from pixelspace.errors import ConfigError, PixelspaceError

log = logging.getLogger(__name__)

#: A batch whose worker died this many times stops the campaign.
MAX_ATTEMPTS = 3
#: Seconds between the driver's looks at the cluster while nothing finishes (and between throughput log lines).
POLL_SECONDS = 30.0
INSTALL_HINT = "pip install 'pixelspace[ray]'"


class RayBackendError(PixelspaceError, RuntimeError):
    """The Ray backend cannot go on: a worker cannot start, or a batch keeps killing its workers."""


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        ConfigError: Ray is not installed (the message says how to install it).
    """
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            f"execution.backend = 'ray' needs Ray, which is not installed ({exc}); install it with: {INSTALL_HINT}"
        ) from None
    return ray


# -- the worker (runs in a Ray actor process) -----------------------------------------------------------------
class RayWorker:
    """A campaign worker: loads the networks once, then runs batches with the local backend's engine call.

    Created by :class:`RayBackend` as a Ray actor; usable in-process too (the tests do).

    Args:
        job: the campaign's job (from the object store); ``job.device`` is the driver's and is not used.
        threads: torch threads on the CPU (the actor's CPU reservation); None leaves torch's default.
    """

    def __init__(self, job: Job, threads: int | None = None) -> None:
        import torch

        from pixelspace.campaign.backends.local import LocalBackend
        from pixelspace.campaign.prepare import load_model, resolve_device
        from pixelspace.runtime import tune_malloc_unless_disabled

        tune_malloc_unless_disabled()  # a worker is a process of its own: as the CLI does (pixelspace.runtime)
        if threads is not None:
            torch.set_num_threads(threads)
        # "auto" resolves here: the GPU Ray gave this actor (CUDA_VISIBLE_DEVICES), else the CPU
        self.device = resolve_device(job.config.execution.device)
        modules = {}
        for entry in job.config.models:
            loaded = load_model(entry)
            expected = job.weights.get(entry.name)
            if expected is not None and loaded.weights_hash != expected:
                where = (f"the same weight file at {entry.weights}" if entry.weights is not None
                         else f"a factory {entry.factory} that builds the same weights" if entry.factory is not None
                         else "the same pixelspace version (its shipped weights)")
                raise RayBackendError(
                    f"worker on {_hostname()}: the weights of {entry.name!r} differ from the campaign's (sha256 "
                    f"{loaded.weights_hash[:12]}… here, {expected[:12]}… in the store); give every node {where}"
                )
            modules[entry.name] = loaded.module
        self._backend = LocalBackend(modules)
        self._backend.start(dataclasses.replace(job, device=self.device))

    def ready(self) -> dict[str, Any]:
        """Where this worker runs: host, pid, device, torch threads and (on the CPU) the level of PyTorch's CPU
        kernels, which CPU float32 results depend on."""
        import torch

        from pixelspace.runtime import cpu_capability

        return {"host": _hostname(), "pid": os.getpid(), "device": self.device, "threads": torch.get_num_threads(),
                "cpu_capability": cpu_capability() if self.device == "cpu" else None}

    def run(self, batch: Batch) -> tuple[list[dict[str, Any]], float]:
        """Run one batch; its records (``AttackResult.to_records()`` order = ``batch.attacks``) and seconds."""
        t0 = time.perf_counter()
        result = next(iter(self._backend.run([batch])))
        return result.records, time.perf_counter() - t0


def _hostname() -> str:
    import socket

    return socket.gethostname()


# -- the driver side ------------------------------------------------------------------------------------------
@dataclass
class _Slot:
    """One worker position: its current actor (replaced when it dies) and its throughput."""

    index: int
    actor: Any
    ready_ref: Any
    info: dict[str, Any] = field(default_factory=dict)
    inflight: list[Any] = field(default_factory=list)  # task refs, in dispatch order
    generation: int = 0
    batches: int = 0
    attacks: int = 0
    queries: int = 0
    busy_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)  # first dispatch of this slot (kept on restart)
    created: float = field(default_factory=time.perf_counter)  # this actor's creation
    startup_seconds: float | None = None  # creation -> ready (model loaded)
    free_at: float = 0.0  # time.monotonic() when its queued batches likely end (estimated; 0: idle)
    unknown: int = 0  # batches it holds whose length the source could not estimate

    def starts_in(self, now: float) -> float:
        """Seconds until a batch queued on this slot now would likely start (inf: after a batch of unknown
        length)."""
        return math.inf if self.unknown else max(self.free_at - now, 0.0)

    def rate(self, now: float) -> float:
        """Queries/s of this slot from its first dispatch to ``now`` (a ``time.perf_counter()`` value)."""
        return self.queries / max(now - self.started, 1e-9)


@dataclass
class _Task:
    batch: Batch
    slot: _Slot
    estimate: float | None = None  # expected seconds (None: unknown)


class RayBackend(Backend):
    """Runs batches on Ray actors (see the module docstring).

    Every argument left None is taken from the campaign's ``[execution]`` section at :meth:`start`.

    Args:
        address: the cluster: ``"auto"``, ``"HOST:PORT"``; None (and no ``execution.address``) starts a private
            Ray instance on this machine, or joins ``$RAY_ADDRESS``. Ignored when Ray is already initialised in
            this process (that connection is used).
        workers: worker actors (``"auto"``: one per cluster GPU, else one per ``worker_cpus`` CPUs).
        worker_cpus: CPUs each actor reserves; on the CPU also its torch threads.
        tasks_per_worker: batches queued on each actor at a time.

    Raises:
        ConfigError: Ray is not installed.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | str | None = None,
        worker_cpus: float | None = None,
        tasks_per_worker: int | None = None,
    ) -> None:
        self._ray = import_ray()
        self._address, self._workers, self._worker_cpus, self._tasks = address, workers, worker_cpus, tasks_per_worker
        self.job: Job | None = None
        self._slots: list[_Slot] = []
        self._job_ref: Any = None
        self._owns_ray = False
        self._actor_options: dict[str, Any] = {}
        self._actor_cls: Any = None
        self._threads: int | None = None
        self._ready_infos: list[dict[str, Any]] = []  # what each actor said when it became ready, in order
        self._last_log = 0.0
        self._closed_at: float | None = None
        #: Batches dispatched again after their worker died, and actors started to replace dead ones.
        self.redispatched = 0
        self.replaced = 0

    # -- setup ------------------------------------------------------------------------------------------
    def start(self, job: Job) -> None:
        """Join or start Ray, put the job into the object store and start the worker actors."""
        ray = self._ray
        ex = job.config.execution
        if ex.device.startswith("cuda:"):
            raise ConfigError(
                f"execution.device = {ex.device!r} with backend 'ray': Ray gives each worker its own GPU, so use "
                "'auto' (a GPU where the cluster has them, else the CPU), 'cuda' or 'cpu'"
            )
        job = _with_absolute_weights(job)
        address = self._address if self._address is not None else ex.address
        cpus = float(self._worker_cpus if self._worker_cpus is not None else ex.worker_cpus)
        self._tasks = int(self._tasks if self._tasks is not None else ex.tasks_per_worker)
        if not ray.is_initialized():
            if address is None and "RAY_ADDRESS" not in os.environ:
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
            self._owns_ray = True
        resources = ray.cluster_resources()
        use_gpu = resources.get("GPU", 0) >= 1 and not (ex.device == "cpu" or ex.device == "mps")
        requested = self._workers if self._workers is not None else ex.workers
        if requested == "auto":
            n = int(resources.get("GPU", 0)) if use_gpu else int(resources.get("CPU", 1) // cpus)
            requested = max(1, n)
        n_workers = int(requested)
        capacity = resources.get("GPU", 0) if use_gpu else resources.get("CPU", 0) / cpus
        if n_workers > capacity:
            log.warning("ray: %d workers requested, the cluster has room for %d now (%s); the others wait for "
                        "resources", n_workers, int(capacity), _describe_resources(resources))
        self._actor_options = {"num_cpus": cpus, "num_gpus": 1 if use_gpu else 0, "max_restarts": 0}
        self._threads = None if use_gpu else max(1, int(cpus))
        self.job = job
        self._closed_at = None
        self._ready_infos = []
        self._last_log = time.perf_counter()
        self._job_ref = ray.put(job)
        self._actor_cls = ray.remote(RayWorker)
        self._slots = [self._new_slot(i) for i in range(n_workers)]
        log.info("ray: %d workers (%s each) on a cluster with %s", n_workers,
                 "1 GPU" if use_gpu else f"{cpus:g} CPU", _describe_resources(resources))

    def _new_slot(self, index: int, generation: int = 0) -> _Slot:
        actor = self._actor_cls.options(**self._actor_options).remote(self._job_ref, self._threads)
        return _Slot(index, actor, actor.ready.remote(), generation=generation)

    # -- running ------------------------------------------------------------------------------------------
    def run(self, batches: Iterable[Batch], progress: ProgressFn | None = None) -> Iterator[BatchResult]:
        """Dispatch the batches to the actors and yield each result as it arrives (any order).

        ``progress`` is not called: a remote batch reports when it is committed. A :class:`BatchSource` is asked for
        a batch only when a worker has room, with the seconds until that worker would start it (its queued batches'
        estimates; infinite behind one the source could not estimate), and only after the runner has seen the last
        result (so its estimates include it); a batch lost with its worker is dispatched again without asking, even
        past a time limit.

        Raises:
            RayBackendError: a worker cannot start, or a batch lost its worker :data:`MAX_ATTEMPTS` times.
            Exception: whatever the attack code raised on a worker.
        """
        ray = self._ray
        if self.job is None:
            raise RuntimeError("RayBackend.run called before start()")
        source = batches if isinstance(batches, BatchSource) else None
        pending: Iterator[Batch] = iter(batches) if source is None else iter([])
        queue: collections.deque[Batch] = collections.deque()  # batches to dispatch again (their worker died)
        inflight: dict[Any, _Task] = {}
        attempts: dict[int, int] = collections.defaultdict(int)
        waiting_ready: dict[Any, _Slot] = {s.ready_ref: s for s in self._slots}

        def fill() -> None:
            """Queue batches on the workers, the one that would start it first (then the least loaded) first, up
            to tasks_per_worker each."""
            while True:
                now = time.monotonic()
                room = [s for s in self._slots if len(s.inflight) < (self._tasks or 1)]
                if not room:
                    return
                slot = min(room, key=lambda s: (s.starts_in(now), len(s.inflight)))
                if queue:
                    batch = queue.popleft()
                elif source is not None:
                    taken = source.take(slot.starts_in(now))
                    if taken is None:
                        return
                    batch = taken
                else:
                    following = next(pending, None)
                    if following is None:
                        return
                    batch = following
                estimate = source.estimate(batch) if source is not None else None
                ref = slot.actor.run.remote(batch)
                slot.inflight.append(ref)
                slot.free_at = max(slot.free_at, now) + (estimate or 0.0)
                slot.unknown += estimate is None
                inflight[ref] = _Task(batch, slot, estimate)

        def lose(slot: _Slot, error: Exception) -> list[BatchResult]:
            """The actor of ``slot`` died: keep what it had finished, requeue the rest, replace the actor."""
            salvaged: list[BatchResult] = []
            lost: list[Batch] = []
            done, _ = ray.wait(slot.inflight, num_returns=len(slot.inflight), timeout=0) if slot.inflight else ([], [])
            for ref in slot.inflight:
                task = inflight.pop(ref)
                if ref in done:
                    try:
                        records, seconds = ray.get(ref)
                    except ray.exceptions.RayError:
                        pass
                    else:
                        salvaged.append(self._account(task, records, seconds))
                        continue
                attempts[task.batch.index] += 1
                if attempts[task.batch.index] >= MAX_ATTEMPTS:
                    raise RayBackendError(
                        f"batch {task.batch.index} ({len(task.batch)} attacks of {task.batch.model}) lost its worker "
                        f"{attempts[task.batch.index]} times; last error: {_first_line(error)}"
                    )
                lost.append(task.batch)
            waiting_ready.pop(slot.ready_ref, None)
            queue.extendleft(reversed(lost))
            self.redispatched += len(lost)
            self.replaced += 1
            with _suppress_ray_errors(ray):
                ray.kill(slot.actor, no_restart=True)
            log.warning("ray: worker %d (%s) died: %s; %d batches dispatched again to a new worker",
                        slot.index, slot.info.get("host", "not started"), _first_line(error), len(lost))
            fresh = self._new_slot(slot.index, slot.generation + 1)
            fresh.batches, fresh.attacks, fresh.queries = slot.batches, slot.attacks, slot.queries
            fresh.busy_seconds, fresh.started = slot.busy_seconds, slot.started
            self._slots[slot.index] = fresh
            waiting_ready[fresh.ready_ref] = fresh
            return salvaged

        def take_ready(ref: Any) -> list[BatchResult]:
            """A worker's ``ready()`` answered: note where it runs (or, if its actor died, :func:`lose` it)."""
            slot = waiting_ready.pop(ref)
            try:
                slot.info = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                if getattr(exc, "actor_init_failed", False):
                    raise RayBackendError(f"ray: worker {slot.index} could not start: {_last_line(exc)}") from exc
                return lose(slot, exc)
            except ray.exceptions.OutOfMemoryError as exc:
                return lose(slot, exc)
            self._ready_infos.append(slot.info)
            slot.startup_seconds = time.perf_counter() - slot.created
            log.info("ray: worker %d ready on %s after %.1f s (pid %s, %s, %s threads)", slot.index,
                     slot.info["host"], slot.startup_seconds, slot.info["pid"], slot.info["device"],
                     slot.info["threads"])
            return []

        while True:
            fill()
            if not inflight:
                return
            refs = [*waiting_ready, *inflight]  # ray.wait answers in this order: a worker's ready() before batches
            done, _ = ray.wait(refs, num_returns=1, timeout=POLL_SECONDS)
            self._maybe_log()
            if not done:
                log.info("ray: waiting (%d batches running, %d queued, %d workers not started); cluster: %s",
                         len(inflight), len(queue), len(waiting_ready), _describe_resources(ray.available_resources()))
                continue
            ref = done[0]
            if ref in waiting_ready:
                yield from take_ready(ref)
                continue
            task = inflight[ref]
            if task.slot.ready_ref in waiting_ready:  # never yield a worker's rows before noting where it runs
                salvaged = take_ready(task.slot.ready_ref)  # done: an actor runs its calls in order
                if ref not in inflight:  # its actor died meanwhile: lose() salvaged or requeued this batch
                    yield from salvaged
                    continue
            try:
                records, seconds = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                if getattr(exc, "actor_init_failed", False):
                    raise RayBackendError(
                        f"ray: worker {task.slot.index} could not start: {_last_line(exc)}"
                    ) from exc
                yield from lose(task.slot, exc)
                continue
            except ray.exceptions.RayTaskError as exc:
                raise exc.as_instanceof_cause() from None
            except (ray.exceptions.ObjectLostError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError) as exc:
                # OutOfMemoryError: Ray's memory monitor killed the worker (the node ran low, whoever used it)
                yield from lose(task.slot, exc)
                continue
            del inflight[ref]
            task.slot.inflight.remove(ref)
            task.slot.free_at = time.monotonic() + sum(inflight[r].estimate or 0.0 for r in task.slot.inflight)
            task.slot.unknown = sum(inflight[r].estimate is None for r in task.slot.inflight)
            result = self._account(task, records, seconds)
            if source is None:
                fill()  # keep the worker busy while the driver commits (a source waits for the runner's look)
            yield result

    def _account(self, task: _Task, records: list[dict[str, Any]], seconds: float) -> BatchResult:
        slot = task.slot
        slot.batches += 1
        slot.attacks += len(records)
        slot.queries += sum(int(r["queries"]) for r in records)
        slot.busy_seconds += seconds
        return BatchResult(task.batch, records, seconds)

    # -- reporting ----------------------------------------------------------------------------------------
    def worker_stats(self) -> list[dict[str, Any]]:
        """Per worker slot: host, device, restarts, batches, attacks, queries, queries/s (since the slot's first
        dispatch), busy fraction and the start-up seconds of its current actor (None until it is ready)."""
        now = self._closed_at if self._closed_at is not None else time.perf_counter()
        return [
            {"worker": s.index, "host": s.info.get("host", "?"), "device": s.info.get("device", "?"),
             "restarts": s.generation, "batches": s.batches, "attacks": s.attacks, "queries": s.queries,
             "queries_per_s": s.rate(now), "busy": s.busy_seconds / max(now - s.started, 1e-9),
             "startup_seconds": s.startup_seconds}
            for s in self._slots
        ]

    def environment(self) -> dict[str, Any]:
        """The workers started so far (every actor that became ready, replacements included): ``workers`` (host,
        device, threads, kernel level), and ``cpu_capability`` / ``torch_threads`` where all run on the CPU and
        agree (what a replay of their rows needs), else None."""
        seen = [{k: info.get(k) for k in ("host", "device", "threads", "cpu_capability")} for info in self._ready_infos]
        if not seen:
            return {}
        out: dict[str, Any] = {"workers": seen, "cpu_capability": None, "torch_threads": None}
        if all(w["device"] == "cpu" for w in seen):
            levels = {w["cpu_capability"] for w in seen}
            threads = {w["threads"] for w in seen}
            if len(levels) == 1 and None not in levels:
                out["cpu_capability"] = levels.pop()
            if len(threads) == 1:
                out["torch_threads"] = str(threads.pop())
        return out

    def engine_seconds(self) -> float:
        """Seconds the workers spent inside batches (the engine call), summed over workers."""
        return sum(s.busy_seconds for s in self._slots)

    def postfix(self) -> dict[str, str]:
        """``workers``: each worker's queries/s, for the progress bar."""
        if not self._slots:
            return {}
        now = time.perf_counter()
        return {"workers": " ".join(_short(s.rate(now)) for s in self._slots) + " q/s"}

    def _maybe_log(self) -> None:
        now = time.perf_counter()
        if now - self._last_log >= POLL_SECONDS:
            self._last_log = now
            self._log_stats()

    def _log_stats(self) -> None:
        for st in self.worker_stats():
            log.info("ray: worker %d on %s (%s): %d batches, %d attacks, %.0f queries/s, busy %.0f %%, %d restarts",
                     st["worker"], st["host"], st["device"], st["batches"], st["attacks"], st["queries_per_s"],
                     100 * st["busy"], st["restarts"])

    def close(self) -> None:
        """Stop the actors, free the job's objects, and shut Ray down if this backend started it.

        :meth:`worker_stats` still reports the finished run afterwards.
        """
        ray = self._ray
        if self._slots and self._job_ref is not None:
            self._closed_at = time.perf_counter()
            self._log_stats()
        for slot in self._slots:
            with _suppress_ray_errors(ray):
                ray.kill(slot.actor, no_restart=True)
            slot.actor = slot.ready_ref = None
            slot.inflight = []
        self._job_ref = None
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False


def _suppress_ray_errors(ray: Any) -> contextlib.suppress:
    """Ignore the errors of killing an actor that is already dead, or of a cluster that is gone."""
    return contextlib.suppress(ray.exceptions.RayError, ValueError, ConnectionError)


def _with_absolute_weights(job: Job) -> Job:
    """The job with relative weight paths made absolute (workers may run in another working directory)."""
    models = tuple(
        dataclasses.replace(m, weights=str(Path(m.weights).resolve()))
        if m.weights is not None and not Path(m.weights).is_absolute() else m
        for m in job.config.models
    )
    return dataclasses.replace(job, config=dataclasses.replace(job.config, models=models))


def _describe_resources(resources: dict[str, float]) -> str:
    return ", ".join(f"{resources.get(k, 0):g} {k}" for k in ("CPU", "GPU"))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _last_line(error: BaseException) -> str:
    """The last line of a remote traceback (``module.Error: message``), colour codes removed."""
    import re

    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", str(error)).splitlines() if ln.strip()]
    return lines[-1] if lines else type(error).__name__


def _short(rate: float) -> str:
    return f"{rate / 1000:.1f}k" if rate >= 1000 else f"{rate:.0f}"
