"""Joining a store with other stores of the same images (``pixelspace report STORE --with OTHER [--with ...]``).

A joined report reads its rows from several stores, e.g. the 3- and 5-pixel untargeted rows of a sparse-search
campaign beside the 1-pixel rows of a corner-colour scan of the same images and the targeted rows of a campaign on
the first 100 of them. :func:`join_stores` checks that two stores can be read as one sample: the same dataset and
class names, the same network weights where a network is in both, and, for every image both stores selected, the
same label, the same pixels and, for every region both stores attacked, the same mask (``masks.mask_hash``);
:func:`join_all` checks every pair. Anything else is refused with a :class:`~pixelspace.errors.StoreError` that
names what differs, and so are two stores holding rows of the same search, pixel count and mode (they would count
twice).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelspace.errors import StoreError
from pixelspace.report import figures as figs
from pixelspace.report.pixel_counts import search_rows
from pixelspace.report.stored import StoreSnapshot

SHOWN_DIFFERENCES = 3  # differing images or masks named in a refusal


@dataclass(frozen=True)
class JoinedStore:
    """A second store joined to the report's store, with what the join checked.

    Attributes:
        store: the joined store's snapshot.
        name: how the report names it (its campaign name, else its file name); here: the report store's name.
        path: where it was read from.
        images: ids of the images both stores selected for attack, in the report store's pool order: the joined
            store's rows are read on these only (the report store's on all it selected).
        only_here, only_there: selected images that only the report's store / only the joined store holds.
        regions: the regions both stores hold rows of, whose masks were checked equal.
        models: the networks both stores hold, whose weights hashes were checked equal.
    """

    store: StoreSnapshot
    name: str
    here: str
    path: Path
    images: tuple[str, ...]
    only_here: int
    only_there: int
    regions: tuple[str, ...]
    models: tuple[str, ...]


def store_name(store: StoreSnapshot, path: Path) -> str:
    """The campaign name recorded in the store's config, else the store's file name."""
    campaign = store.config.get("campaign")
    name = campaign.get("name") if isinstance(campaign, dict) else None
    return name if isinstance(name, str) and name.strip() else path.name


def _listed(items: Iterable[str]) -> str:
    shown = list(items)
    return ", ".join(shown[:SHOWN_DIFFERENCES]) + (f" and {len(shown) - SHOWN_DIFFERENCES} more"
                                                    if len(shown) > SHOWN_DIFFERENCES else "")


def _same_pixels(a: bytes, b: bytes) -> bool:
    """Whether two stored image PNGs hold the same pixels (equal bytes, or equal once decoded)."""
    if a == b:
        return True
    try:
        return bool(np.array_equal(figs.decode_png(a), figs.decode_png(b)))
    except ValueError:
        return False


def join_stores(here: StoreSnapshot, there: StoreSnapshot, here_path: Path, there_path: Path, *,
                share: bool = True) -> JoinedStore:
    """Check that ``there`` can be read beside ``here`` and describe the join.

    Args:
        share: refuse stores that share no selected image (False: two stores joined to a third, which may each
            hold other images of it).

    Raises:
        StoreError: the stores differ in dataset or class names, a network has other weights, they share no
            selected image, a shared image differs in label, pixels or the mask of a region both attacked, both
            stores hold rows of the same search at the same pixel count in the same mode (which would count
            twice), or rows of the same search at the same pixel count made with other settings (the search
            hash; one Table II row reads both).
    """
    a, b = store_name(here, here_path), store_name(there, there_path)
    what = f"cannot join {a} ({here_path}) with {b} ({there_path})"
    da, db = here.meta.get("dataset", ""), there.meta.get("dataset", "")
    if da != db:
        raise StoreError(f"{what}: the dataset differs ({a}: {da or 'not recorded'!r}, {b}: "
                         f"{db or 'not recorded'!r})")
    if here.class_names != there.class_names:
        raise StoreError(f"{what}: the class names differ ({a}: {', '.join(here.class_names)}; {b}: "
                         f"{', '.join(there.class_names)})")
    weights_a = {m.model: m.weights_hash for m in here.models}
    weights_b = {m.model: m.weights_hash for m in there.models}
    models = sorted(set(weights_a) & set(weights_b))
    other_weights = [m for m in models if weights_a[m] and weights_b[m] and weights_a[m] != weights_b[m]]
    if other_weights:
        raise StoreError(f"{what}: network(s) {_listed(other_weights)} have other weights in the two stores "
                         f"(e.g. {other_weights[0]}: {weights_a[other_weights[0]]} against "
                         f"{weights_b[other_weights[0]]})")
    selected_a = [im for im in here.images if im.status == "attacked"]
    selected_b = {im.image_id: im for im in there.images if im.status == "attacked"}
    common = [im for im in selected_a if im.image_id in selected_b]
    if not common and share:
        raise StoreError(f"{what}: they share no selected image ({a} selects {len(selected_a)}, {b} "
                         f"{len(selected_b)}; e.g. {selected_a[0].image_id if selected_a else 'none'} against "
                         f"{next(iter(selected_b), 'none')})")
    relabelled = [im.image_id for im in common if im.label != selected_b[im.image_id].label]
    if relabelled:
        raise StoreError(f"{what}: {len(relabelled)} shared image id(s) have another label ({_listed(relabelled)})")
    repainted = [im.image_id for im in common if not _same_pixels(im.png, selected_b[im.image_id].png)]
    if repainted:
        raise StoreError(f"{what}: {len(repainted)} shared image id(s) hold other pixels ({_listed(repainted)}); "
                         "the same id names another image (a shifted or re-encoded campaign?)")
    ids = {im.image_id for im in common}
    attacked_a = {(r.image_id, r.region) for r in here.attacks if r.image_id in ids}
    attacked_b = {(r.image_id, r.region) for r in there.attacks if r.image_id in ids}
    joined = sorted(attacked_a & attacked_b)
    other_masks = [(i, g) for i, g in joined if here.mask_hashes.get((i, g)) != there.mask_hashes.get((i, g))]
    if other_masks:
        i, g = other_masks[0]
        raise StoreError(
            f"{what}: the masks differ for {len(other_masks)} (image, region) pair(s) that both stores attacked, "
            f"e.g. {i} {g} ({a}: {here.mask_hashes.get((i, g), 'no mask')}, {b}: "
            f"{there.mask_hashes.get((i, g), 'no mask')}); regions made by another segmenter or shift cannot be "
            "read as one sample")
    twice = sorted(_searches(here, a, ids) & _searches(there, b, ids), key=lambda x: (x[1], x[0], x[2]))
    if twice:
        raise StoreError(f"{what}: both stores hold rows of the same search at the same pixel count "
                         f"({', '.join(f'{s} at {k} px' + ('' if m == 'untargeted' else f' {m}') for s, k, m in twice)}"
                         "); a joined report takes each search, pixel count and mode from one store")
    hashes_a, hashes_b = _search_hashes(here, a, ids), _search_hashes(there, b, ids)
    other_settings = sorted(set(hashes_a) & set(hashes_b), key=lambda x: (x[1], x[0]))
    other_settings = [sk for sk in other_settings if hashes_a[sk] != hashes_b[sk]]
    if other_settings:
        s, k = other_settings[0]
        raise StoreError(f"{what}: the {s} rows at {k} px were made with other settings (search hash "
                         f"{', '.join(sorted(hashes_a[(s, k)]))} in {a}, {', '.join(sorted(hashes_b[(s, k)]))} in "
                         f"{b}); one Table II row reads both, so their search must be the same")
    return JoinedStore(
        store=there, name=b, here=a, path=there_path, images=tuple(im.image_id for im in common),
        only_here=len(selected_a) - len(common), only_there=len(selected_b) - len(common),
        regions=tuple(sorted({g for _, g in joined})), models=tuple(models),
    )


def _searches(store: StoreSnapshot, name: str, ids: Iterable[str]) -> set[tuple[str, int, str]]:
    """(search, pixels, mode) of the store's rows on the images ``ids``."""
    return {(g.search, g.pixels, r.mode) for g in search_rows(store, name, ids) for r in g.rows}


def _search_hashes(store: StoreSnapshot, name: str, ids: Iterable[str]) -> dict[tuple[str, int], set[str]]:
    """(search, pixels) -> the search hashes of the store's rows on the images ``ids``."""
    return {(g.search, g.pixels): {r.search_hash for r in g.rows} for g in search_rows(store, name, ids)}


def join_all(here: StoreSnapshot, here_path: Path,
             others: Sequence[tuple[StoreSnapshot, Path]]) -> list[JoinedStore]:
    """:func:`join_stores` of the report store with each other store, and of the other stores with each other
    (so two of them may not hold the same search, pixel count and mode either, and must agree on the images they
    share).

    Raises:
        StoreError: as :func:`join_stores`, for the first pair that cannot be joined.
    """
    joins = [join_stores(here, snap, here_path, path) for snap, path in others]
    for i, (snap, path) in enumerate(others):
        for later, later_path in others[i + 1:]:
            join_stores(snap, later, path, later_path, share=False)
    return joins
