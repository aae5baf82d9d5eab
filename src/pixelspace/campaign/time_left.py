"""How long the rest of a campaign will take, estimated from its own store: the attacks left per group × the
group's mean queries per attack × the network's measured seconds per query (the worker time of the batches its
runs timed, ``runs.details["timing"]``).

An estimate, not a measurement: it assumes the attacks left need the queries the stored ones needed, and the
workers run as fast as they did. A group with no row yet takes, where a reference store is given (a pilot of the
same search), that store's mean for the same network × region × pixels × mode and search settings (its mean over
regions where it lacks the region); otherwise, or where the reference has no such row, the mean of the same
network's other groups of its mode and search (other pixel counts or regions). The estimate names both.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # status imports this module
    from pixelspace.campaign.status import StatusRow


@dataclass(frozen=True)
class TimeLeft:
    """The estimate of :func:`estimate_time_left`.

    Attributes:
        attacks: attacks left in the groups the estimate covers; queries: their expected queries.
        worker_seconds: the compute they need, in seconds of one worker at the timed rates.
        borrowed: groups ("model region k px mode") with no row yet, priced at the mean queries of the same
            network's other groups of their mode and search.
        referenced: groups with no row yet priced at the reference store's mean; reference: its name.
        by_model: worker seconds per network (the same total as ``worker_seconds``).
        unpriced: the unfinished groups the estimate leaves out, each with the reason (no stored row of its
            network, mode and search, or no timed batch of them); unpriced_attacks: their attacks left.
        timed_batches: batches whose worker time the rates come from; runs: the runs they belong to.
        workers: workers of the last timed run.
    """

    attacks: int
    queries: float
    worker_seconds: float
    borrowed: list[str]
    unpriced: dict[str, str]
    timed_batches: int
    runs: list[int]
    workers: int
    unpriced_attacks: int = 0
    referenced: list[str] = field(default_factory=list)
    reference: str | None = None
    by_model: dict[str, float] = field(default_factory=dict)

    @property
    def wall_seconds(self) -> float:
        """``worker_seconds`` spread over the last timed run's workers, each kept busy (a worker's start, loading
        its networks, is not counted)."""
        return self.worker_seconds / max(self.workers, 1)


def estimate_time_left(groups: Iterable[StatusRow], runs: Sequence[Mapping[str, Any]],
                       reference: Iterable[StatusRow] | None = None,
                       reference_name: str | None = None) -> TimeLeft | None:
    """Estimate the compute the unfinished groups need (see the module docstring).

    Args:
        groups: the campaign's groups with their progress (``CampaignStatus.rows``).
        runs: the store's runs (``Store.runs()``); those with a ``timing`` record price the queries.
        reference: another store's groups (a pilot's ``CampaignStatus.rows``) whose mean queries price the groups
            with no row yet, matched on network, region, pixels, mode, search and search settings hash.
        reference_name: what to call it in the text.

    Returns:
        The estimate, or None when nothing is left or no run recorded a timed batch (runs made before the
        runner timed batches).
    """
    groups = list(groups)
    timed = [r for r in runs if r.get("details", {}).get("timing")]
    left = [g for g in groups if g.total > g.done]
    if not left or not timed:
        return None
    # seconds per query: per (model, search, mode, pixels), else pooled over pixel counts
    cost: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
    batches = 0
    for run in timed:
        for t in run["details"]["timing"]:
            for key in ((t["model"], t["search"], t["mode"], int(t["pixels"])), (t["model"], t["search"], t["mode"])):
                cost[key][0] += float(t["seconds"])
                cost[key][1] += float(t["queries"])
            batches += int(t["batches"])
    # mean queries per attack of the stored rows, pooled per (model, mode, search) for the groups with none
    pooled: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for g in groups:
        if g.done:
            pooled[(g.model, g.mode, g.search)][0] += g.mean_queries * g.done
            pooled[(g.model, g.mode, g.search)][1] += g.done
    ref_exact: dict[tuple[Any, ...], float] = {}
    ref_pooled: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in reference or ():
        if r.done and r.search_hash:
            ref_exact[(r.model, r.region, r.pixels, r.mode, r.search, r.search_hash)] = r.mean_queries
            ref_pooled[(r.model, r.pixels, r.mode, r.search, r.search_hash)][0] += r.mean_queries * r.done
            ref_pooled[(r.model, r.pixels, r.mode, r.search, r.search_hash)][1] += r.done
    attacks, skipped, queries, seconds = 0, 0, 0.0, 0.0
    by_model: dict[str, float] = defaultdict(float)
    borrowed: list[str] = []
    referenced: list[str] = []
    unpriced: dict[str, str] = {}
    for g in left:
        name = f"{g.model} {g.region} {g.pixels} px {g.mode}"
        n = g.total - g.done
        exact = (g.model, g.region, g.pixels, g.mode, g.search, g.search_hash)
        near = ref_pooled.get((g.model, g.pixels, g.mode, g.search, g.search_hash))
        if g.done:
            per_attack = g.mean_queries
        elif g.search_hash and exact in ref_exact:
            per_attack = ref_exact[exact]
            referenced.append(name)
        elif g.search_hash and near and near[1]:
            per_attack = near[0] / near[1]
            referenced.append(f"{name} (over the reference's regions)")
        elif pooled[(g.model, g.mode, g.search)][1]:
            q, k = pooled[(g.model, g.mode, g.search)]
            per_attack = q / k
            borrowed.append(name)
        else:
            unpriced[name] = f"no stored {g.mode} {g.search} row of {g.model}"
            skipped += n
            continue
        rate = cost.get((g.model, g.search, g.mode, g.pixels)) or cost.get((g.model, g.search, g.mode))
        if not rate or not rate[1]:
            unpriced[name] = f"no timed {g.mode} {g.search} batch of {g.model}"
            skipped += n
            continue
        attacks += n
        queries += n * per_attack
        seconds += n * per_attack * rate[0] / rate[1]
        by_model[g.model] += n * per_attack * rate[0] / rate[1]
    workers = max(len(timed[-1]["details"].get("workers") or []), 1)
    return TimeLeft(attacks, queries, seconds, borrowed, unpriced, batches, [int(r["run"]) for r in timed],
                    workers, skipped, referenced, reference_name if reference is not None else None, dict(by_model))


def format_time_left(estimate: TimeLeft | None) -> str:
    """One paragraph for ``pixelspace status``; '' when there is no estimate."""
    if estimate is None:
        return ""
    e = estimate
    runs = ", ".join(str(r) for r in e.runs)
    text = (f"time left (an estimate): {e.attacks:,} attacks, about {e.queries / 1e6:,.1f} M queries, "
            f"{e.worker_seconds / 3600:,.1f} worker-hours at the rates of {e.timed_batches} timed batches "
            f"(run(s) {runs})")
    text += f"; about {e.wall_seconds / 3600:,.1f} h on {e.workers} busy worker(s) (as many as run {e.runs[-1]} had)"
    if len(e.by_model) > 1 and e.worker_seconds > 0:
        text += "; per network " + ", ".join(f"{m} {s / 3600:,.1f} worker-h ({100 * s / e.worker_seconds:.0f} %)"
                                             for m, s in e.by_model.items())
    text += "."
    if e.reference is not None:
        pooled = sum("(over the reference's regions)" in g for g in e.referenced)
        text += (f" {len(e.referenced)} group(s) with no row yet take the mean queries of the same group in "
                 f"{e.reference}" + (f" (e.g. {e.referenced[0]})" if e.referenced else "")
                 + (f", {pooled} of them, of a region it lacks, its mean over its regions." if pooled else "."))
    if e.borrowed:
        text += (f" {len(e.borrowed)} group(s) with no row yet take the mean queries of their network's other "
                 f"groups (e.g. {e.borrowed[0]}): a guess where those need fewer or more queries.")
    if e.unpriced:
        name, why = next(iter(e.unpriced.items()))
        text += (f" Not in these hours: {e.unpriced_attacks:,} more attacks in {len(e.unpriced)} group(s) "
                 f"({name}: {why}).")
    return textwrap.fill(text, width=115, subsequent_indent="  ")
