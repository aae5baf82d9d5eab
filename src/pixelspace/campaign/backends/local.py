"""The in-process backend: runs each batch through the batched engine in this process, one after another."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from torch import nn

from pixelspace.attack.evaluation import Attack
from pixelspace.campaign.backends import Backend, Batch, BatchResult, Job, ProgressFn
from pixelspace.campaign.config import CampaignConfig
from pixelspace.campaign.prepare import load_model
from pixelspace.models.classifier import Classifier


def run_batch(job: Job, clf: Classifier, batch: Batch, progress: ProgressFn | None = None) -> list[dict[str, Any]]:
    """Run one batch with the engine (or the batch's scan search); one record per attack, in batch order.

    Args:
        job: the campaign's images, regions, batch size and config.
        clf: the batch's model, wrapped (on ``job.device``).
        batch: attacks sharing model, pixels, mode and early stop.
        progress: called with (batch index, attacks finished) as attacks finish.
    """
    from pixelspace import Targeted, Untargeted

    if batch.search not in ("de", "sparse-rs"):
        from pixelspace.campaign.scan_batches import run_scan_batch, run_scan_first_batch

        run = run_scan_batch if batch.search == "scan" else run_scan_first_batch
        return run(job, clf, batch, progress)
    attack = search_attack(job.config, batch, job.batch_size)
    specs = batch.attacks
    images = np.stack([job.images[s.image_id] for s in specs])
    regions = np.stack([job.regions[(s.image_id, s.region)] for s in specs])
    labels = np.array([s.label for s in specs], dtype=np.int64)
    objective = (
        Untargeted(labels) if batch.mode == "untargeted"
        else Targeted(labels, np.array([s.target for s in specs], dtype=np.int64))
    )
    seeds = np.array([s.seed for s in specs], dtype=np.int64)
    report = (lambda n: progress(batch.index, n)) if progress is not None else None
    result = attack(clf, images, objective, regions=regions, seed=seeds, progress=report)
    records = result.to_records()
    if batch.search == "sparse-rs":
        for rec in records:
            rec["search"] = "sparse-rs"  # DE records carry no search (the stores made before other searches)
    return records


def search_attack(config: CampaignConfig, batch: Batch, batch_size: int) -> Attack:
    """The configured attack of a ``"de"`` or ``"sparse-rs"`` batch: the campaign's settings, the batch's pixels
    and early stop. A DE attack gets the ``[de]`` section's DE settings as ``de`` and its ``success_check``."""
    from pixelspace import PixelAttack, SparseRandomSearch

    if batch.search == "sparse-rs":
        return SparseRandomSearch(
            pixels=batch.pixels, max_queries=config.sparse_rs.max_queries, p_init=config.sparse_rs.p_init,
            first_color=config.sparse_rs.first_color, single_pixel=config.sparse_rs.single_pixel,
            region_mode=config.attack.region_mode, reuse_evaluations=config.attack.reuse_evaluations,
            batch_size=batch_size,
        )
    return PixelAttack(
        pixels=batch.pixels, region_mode=config.attack.region_mode, reuse_evaluations=config.attack.reuse_evaluations,
        de=config.de.settings, early_stop=batch.early_stop, success_check=config.de.success_check,
        batch_size=batch_size, precision=config.attack.precision,
    )


class LocalBackend(Backend):
    """Runs batches in this process, in order; models are loaded once per campaign."""

    name = "local"

    def __init__(self, modules: Mapping[str, nn.Module] | None = None) -> None:
        """Args: modules: already loaded networks by name (others are loaded from the config on first use)."""
        self.job: Job | None = None
        self._modules = dict(modules or {})
        self._classifiers: dict[str, Classifier] = {}

    def start(self, job: Job) -> None:
        self.job = job
        self._classifiers = {}

    def _classifier(self, model: str) -> Classifier:
        assert self.job is not None
        if model not in self._classifiers:
            module = self._modules.get(model)
            if module is None:
                entry = next(m for m in self.job.config.models if m.name == model)
                module = load_model(entry).module
            module = module.to(self.job.device)
            self._classifiers[model] = Classifier(module, batch_size=self.job.batch_size,
                                                  incremental="auto" if self.job.config.attack.incremental else False)
        return self._classifiers[model]

    def run(self, batches: Iterable[Batch], progress: ProgressFn | None = None) -> Iterator[BatchResult]:
        if self.job is None:
            raise RuntimeError("LocalBackend.run called before start()")
        for batch in batches:
            clf = self._classifier(batch.model)  # loading a network is not the batch's compute time
            t0 = time.perf_counter()
            records = run_batch(self.job, clf, batch, progress)
            yield BatchResult(batch, records, time.perf_counter() - t0)

    def close(self) -> None:
        self._classifiers = {}
        self._modules = {}
