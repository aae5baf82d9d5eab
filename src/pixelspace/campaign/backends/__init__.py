"""Execution backends: they run batches of attacks and hand the records back; only the runner writes the store.

A backend gets a :class:`Job` once (everything the attacks need: config, images, region masks, labels,
seeds, batch size, device), then an iterable of :class:`Batch` es; it yields one :class:`BatchResult` per
batch, in any order, each with one record (``AttackResult.to_records()[i]``) per attack of the batch; where the
iterable is a :class:`BatchSource`, the backend takes a batch only when a worker has room for it. A
record's keys starting with ``_`` are not stored with it: ``"_map"`` (``{"npz": bytes, "queries": int}``)
carries a ``"scan"`` batch's vulnerability map to the store's ``scans`` table. A batch
that fails on a worker may be retried by the backend; a batch returned twice is harmless (the store ignores a
key it already holds). The runner decides what is pending (resume) and commits each result atomically, so a
new backend (Ray) changes neither the store nor the resume logic.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from pixelspace.campaign.config import CampaignConfig
from pixelspace.errors import ConfigError
from pixelspace.outcomes import AttackIdentity

#: Called with (batch index, attacks that just finished) while a batch runs.
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True, kw_only=True)
class AttackSpec(AttackIdentity):
    """One planned attack: its identity (key, what it attacks, search hash, early stop, keyed seed: the fields
    of :class:`~pixelspace.outcomes.AttackIdentity`, which the stored row shares), the class of interest and
    the search that runs it.

    Attributes:
        label: the class of interest (the model's clean prediction).
        search: ``"de"``, ``"scan"``, ``"scan-first"`` or ``"sparse-rs"``.
    """

    label: int
    search: str = "de"


@dataclass(frozen=True)
class Batch:
    """Attacks run in one engine call: they share model, pixels, mode, early stop and search (images, regions
    and targets may differ). A ``"scan"`` batch holds every row of one image (its regions): one scan answers
    them all."""

    index: int
    model: str
    pixels: int
    mode: str
    early_stop: bool
    attacks: tuple[AttackSpec, ...]
    search: str = "de"

    def __len__(self) -> int:
        return len(self.attacks)


class BatchSource(Iterable[Batch]):
    """Batches handed to a backend one at a time, where the source may decline one that would start too late (a
    run under a time limit: :class:`pixelspace.campaign.time_limit.TimedFeed`). A backend that queues
    batches ahead on busy workers says in how many seconds the batch would start; iterating takes batches that
    would start now."""

    @abstractmethod
    def take(self, starts_in: float = 0.0) -> Batch | None:
        """The next batch to run, if one would start in ``starts_in`` seconds and likely end in time; None: none
        now (a later call, with a smaller ``starts_in``, may still get one)."""

    def estimate(self, batch: Batch) -> float | None:
        """Expected seconds of one worker for ``batch``; None: unknown."""
        return None

    def __iter__(self) -> Iterator[Batch]:
        while (batch := self.take()) is not None:
            yield batch


@dataclass(frozen=True)
class BatchResult:
    """Records of a finished batch, one per attack in ``batch.attacks`` order, and ``seconds``: the wall time
    the worker spent computing them (None where a backend does not measure it). The runner adds the seconds up
    per network in the run's record, which ``pixelspace status`` reads for its time-left estimate."""

    batch: Batch
    records: list[dict[str, Any]]
    seconds: float | None = None


@dataclass(frozen=True)
class Job:
    """Everything a backend needs to run a campaign's batches.

    Attributes:
        config: the campaign.
        images: image id -> uint8 (H, W, 3).
        regions: (image id, region name) -> bool (H, W).
        batch_size: images per model call (fixed for the campaign).
        device: torch device name the models run on.
        weights: model -> sha256 of its weights as stored (a remote worker checks the network it loads against
            it); empty: not checked.
    """

    config: CampaignConfig
    images: dict[str, np.ndarray]
    regions: dict[tuple[str, str], np.ndarray]
    batch_size: int
    device: str
    weights: dict[str, str] = field(default_factory=dict)


class Backend(ABC):
    """Runs batches of attacks (see the module docstring)."""

    name: ClassVar[str] = ""

    @abstractmethod
    def start(self, job: Job) -> None:
        """Prepare to run the job's batches (load models, start workers)."""

    @abstractmethod
    def run(self, batches: Iterable[Batch], progress: ProgressFn | None = None) -> Iterator[BatchResult]:
        """Run the batches; yield each one's records as it finishes."""

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release workers and memory."""

    def postfix(self) -> dict[str, str]:
        """Extra fields for the progress bar (e.g. per-worker throughput); empty by default."""
        return {}

    def environment(self) -> dict[str, Any]:
        """How this backend's workers compute rows, where they are other processes than the campaign's (JSON-ready;
        the runner merges it into the run's record): ``cpu_capability`` and ``torch_threads`` where every worker
        agrees on them (None where they do not), and ``workers``, one entry per worker started. Empty by default:
        a local backend runs in the campaign's process, whose environment the run already records."""
        return {}

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


BACKENDS = {"local": "pixelspace.campaign.backends.local:LocalBackend",
            "ray": "pixelspace.campaign.backends.ray:RayBackend"}


def get_backend(name: str, **options: Any) -> Backend:
    """A backend by name (``"local"`` or ``"ray"``).

    Raises:
        ConfigError: unknown name, or a backend whose module or dependency is not installed.
    """
    if name not in BACKENDS:
        raise ConfigError(f"backend: unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    module_name, _, cls_name = BACKENDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        hint = " (install it with: pip install 'pixelspace[ray]')" if name == "ray" else ""
        raise ConfigError(f"backend {name!r} is not available: {exc}{hint}") from exc
    backend: Backend = getattr(module, cls_name)(**options)
    return backend
