"""Table II across pixel counts, from whichever search made each row: pure functions of stored rows.

A report of one store, or of a store joined with other stores of the same images (:mod:`.joined`), can hold
rows of several searches: DE attacks, the corner-colour scan (1 pixel; one row per image × region, whose
``reachable_classes`` answer all nine targets at once) and the sparse random search (``"sparse-rs"``). Here they
are grouped as :class:`SearchRows` (one search at one pixel count, from one store, or from several whose modes
differ) and read into Table II cells
(:func:`table2_cell`), Fig. 3 distributions and Fig. 5 class-pair counts, the same for every search.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pixelspace.report import metrics, stats
from pixelspace.report.metrics import AttackRow, MeanValue, Rate
from pixelspace.report.stored import StoreSnapshot

#: How the report names each search, in the order that breaks a tie when one pixel count has several.
SEARCH_NAMES = {"scan": "the scan", "sparse-rs": "sparse random search", "de": "DE"}


@dataclass(frozen=True)
class SearchRows:
    """The rows of one search at one pixel count, read from one store (or from several, one mode each).

    Attributes:
        search: ``"scan"``, ``"sparse-rs"`` or ``"de"``.
        pixels: k, the pixels the search may change.
        store: the name of the store the rows come from ("a + b" for several).
        rows: the rows (untargeted and targeted).
    """

    search: str
    pixels: int
    store: str
    rows: tuple[AttackRow, ...]

    @property
    def label(self) -> str:
        """'the scan', 'sparse random search' or 'DE'."""
        return SEARCH_NAMES.get(self.search, self.search)

    @property
    def untargeted(self) -> list[AttackRow]:
        """The untargeted rows (for the scan: every row)."""
        return [r for r in self.rows if r.mode == "untargeted"]

    @property
    def images(self) -> int:
        """Images with an untargeted row."""
        return len({r.image_id for r in self.untargeted})


def search_rows(store: StoreSnapshot, name: str, images: Iterable[str] | None = None) -> list[SearchRows]:
    """The store's rows per search × pixel count: DE attacks (the campaign's own early-stop setting, as in
    Table II), scan rows and sparse random search rows; only the given images when ``images`` is not None.
    Scan-first rows (one per 1-pixel attack; their outcomes are the scan's) are left out."""
    keep = None if images is None else set(images)
    out = []
    for search, rows in (("scan", store.scan_rows), ("sparse-rs", [r for r in store.attacks if r.search == "sparse-rs"]),
                         ("de", store.results)):
        rows = [r for r in rows if keep is None or r.image_id in keep]
        for k in sorted({r.pixels for r in rows}):
            out.append(SearchRows(search, k, name, tuple(r for r in rows if r.pixels == k)))
    return out


def by_pixel_count(groups: Sequence[SearchRows]) -> dict[int, SearchRows]:
    """The search each pixel count's paired tests read: the one with the most images with an untargeted row
    (on a tie, the first of the scan, the sparse random search and DE)."""
    order = list(SEARCH_NAMES)
    best: dict[int, SearchRows] = {}
    for g in groups:
        if not g.untargeted:
            continue
        cur = best.get(g.pixels)
        rank = (g.images, -order.index(g.search) if g.search in order else -len(order))
        if cur is None or rank > (cur.images, -order.index(cur.search) if cur.search in order else -len(order)):
            best[g.pixels] = g
    return dict(sorted(best.items()))


# ------------------------------------------------------------------------------------- the scan's targets


def _reachable(row: AttackRow, n_classes: int) -> set[int]:
    """The classes other than the clean one that a scan row's region reaches."""
    label = row.clean_class
    return {int(c) for c in row.record.get("reachable_classes", []) if 0 <= int(c) < n_classes and int(c) != label}


def scan_targets_by_image(rows: Sequence[AttackRow], n_classes: int) -> dict[str, tuple[int, int]]:
    """Image id -> (targets the scan reaches, targets): Table II's Targeted from scan rows (every other class
    is a target, so each image counts ``n_classes − 1`` targeted attacks)."""
    out: dict[str, tuple[int, int]] = {}
    for r in rows:
        s, n = out.get(r.image_id, (0, 0))
        out[r.image_id] = (s + len(_reachable(r, n_classes)), n + n_classes - 1)
    return out


def scan_class_pair_counts(rows: Sequence[AttackRow], n_classes: int) -> np.ndarray:
    """Fig. 5 from scan rows: int (n_classes, n_classes), images of clean class i whose region holds a pixel and
    corner colour that sends them to class j."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    for r in rows:
        label = r.clean_class
        if label is None or not 0 <= label < n_classes:
            continue
        for c in _reachable(r, n_classes):
            m[label, c] += 1
    return m


def targets_reached(group: SearchRows, n_classes: int, region: str, model: str) -> np.ndarray | None:
    """Fig. 3: int (n_classes,) images per number of target classes reached, for one network × region of a
    search (the scan: its reachable classes; a search: its successful targeted attacks); None without targets."""
    rows = metrics.select(group.rows, model=model, region=region)
    if group.search == "scan":
        if not rows:
            return None
        counts = np.zeros(n_classes, dtype=np.int64)
        for r in rows:
            counts[min(len(_reachable(r, n_classes)), n_classes - 1)] += 1
        return counts
    if not any(r.mode == "targeted" for r in rows):
        return None
    return metrics.targets_reached_distribution(rows, n_classes)


def class_pairs(group: SearchRows, n_classes: int, region: str, model: str) -> np.ndarray | None:
    """Fig. 5: int (n_classes, n_classes) clean class × target class counts for one network × region of a
    search (the scan: images that can reach that target; a search: successful targeted attacks); None without
    targets."""
    rows = metrics.select(group.rows, model=model, region=region)
    if group.search == "scan":
        return scan_class_pair_counts(rows, n_classes) if rows else None
    if not any(r.mode == "targeted" for r in rows):
        return None
    return metrics.class_pair_counts(rows, n_classes, "targeted")


def targeted_images(group: SearchRows, model: str, region: str) -> int:
    """Images with targets in one network × region of a search (the scan: every image it scanned)."""
    rows = metrics.select(group.rows, model=model, region=region)
    return len({r.image_id for r in rows if group.search == "scan" or r.mode == "targeted"})


# ------------------------------------------------------------------------------------------- Table II


@dataclass(frozen=True)
class SearchCell:
    """Table II for one network × region × pixels × search (a scan has no confidences: count 0)."""

    model: str
    region: str
    pixels: int
    search: str
    store: str
    untargeted1: Rate
    confidence_u: MeanValue
    untargeted2: Rate
    targeted: Rate
    confidence_t: MeanValue


_NO_MEAN = MeanValue(float("nan"), 0, float("nan"), float("nan"), 0)


def table2_cell(group: SearchRows, model: str, region: str, n_classes: int, *,
                seed: int = stats.DEFAULT_SEED) -> SearchCell:
    """Table II's five metrics for one network × region of a search, each with its n and 95 % interval.

    Scan rows: Untargeted1 and Untargeted2 are the images with a flipping pixel in the region (any flip reaches
    some class, so both are the same), Targeted the reachable (image, target) pairs over the images × the other
    classes (a bootstrap over images); the scan records no confidences.
    """
    rows = metrics.select(group.rows, model=model, region=region)
    if group.search == "scan":
        per = scan_targets_by_image(rows, n_classes)
        iv = stats.bootstrap_ratio([s for s, _ in per.values()], [n for _, n in per.values()], seed=seed)
        tgt = Rate(sum(s for s, _ in per.values()), sum(n for _, n in per.values()), iv.value, iv.low, iv.high,
                   "bootstrap over images", len(per))
        u1 = metrics.untargeted1(rows)
        reach = sum(1 for s, _ in per.values() if s)
        return SearchCell(model, region, group.pixels, group.search, group.store, u1, _NO_MEAN,
                          metrics.wilson_rate(reach, len(per)), tgt, _NO_MEAN)
    return SearchCell(model, region, group.pixels, group.search, group.store, metrics.untargeted1(rows),
                      metrics.confidence_u(rows, seed=seed), metrics.untargeted2(rows),
                      metrics.targeted(rows, seed=seed), metrics.confidence_t(rows, seed=seed))


def table2_by_search(groups: Sequence[SearchRows], n_classes: int, *,
                     seed: int = stats.DEFAULT_SEED) -> list[SearchCell]:
    """One :class:`SearchCell` per network × region × pixels × search present, networks then regions (the
    paper's order) then pixels."""
    cells = [table2_cell(g, m, region, n_classes, seed=seed)
             for g in groups for m in sorted({r.model for r in g.rows})
             for region in metrics.region_order(r.region for r in g.rows if r.model == m)]
    order = {g: i for i, g in enumerate(metrics.region_order(c.region for c in cells))}
    searches = list(SEARCH_NAMES)
    return sorted(cells, key=lambda c: (c.model, order[c.region], c.pixels,
                                        searches.index(c.search) if c.search in searches else len(searches)))
