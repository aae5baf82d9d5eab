"""Backends for campaign tests: the local backend stopped early, as a killed or time-limited process would be."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pixelspace.campaign.backends import Batch, BatchResult, ProgressFn
from pixelspace.campaign.backends.local import LocalBackend


class FirstBatchOnly(LocalBackend):
    """The local backend, stopping after its first batch."""

    def run(self, batches: Iterable[Batch], progress: ProgressFn | None = None) -> Iterator[BatchResult]:
        yield next(iter(super().run(batches, progress)))
