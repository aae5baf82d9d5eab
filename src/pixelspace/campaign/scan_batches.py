"""Campaign batches of the ``"scan"`` and ``"scan-first"`` searches (``docs/scan.md``).

Both return one record per attack, shaped like the engine's (``AttackResult.to_records()``) where the fields
mean the same thing, with ``"search"`` naming the search and ``"region_mode": "scan"``:

* ``"scan"``: one :class:`~pixelspace.attack.scan.PixelScan` per image over the union of its rows' regions
  (every ``stride``-th row and column), then one row per region from the map: ``success`` (some scanned pixel
  of the region flips the prediction with some colour), the most damaging pixel and colour of the region,
  ``flipping_pixels``, ``flipping_share``, ``reachable_classes`` (a list) and ``min_probability``. A row's
  ``queries`` is what a scan of that region alone costs (its scanned pixels × colours + the clean image);
  the map itself, with the queries the union scan spent, travels in the first record's ``"_map"``.
* ``"scan-first"``: :func:`~pixelspace.attack.scan.scan_first` with each attack's keyed seed; the record
  holds the first hit (or the clean image's prediction when the region has none) and ``first_hit``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from pixelspace.attack.scan import PixelScan, region_stats, scan_first
from pixelspace.campaign.backends import AttackSpec, Batch, Job, ProgressFn
from pixelspace.models.classifier import Classifier
from pixelspace.outcomes import VulnerabilityMap


def stride_grid(shape: tuple[int, int], stride: int) -> np.ndarray:
    """bool (H, W): every ``stride``-th row and column, starting at (0, 0)."""
    grid = np.zeros(shape, dtype=bool)
    grid[::stride, ::stride] = True
    return grid


def map_to_npz(vmap: VulnerabilityMap) -> bytes:
    """``VulnerabilityMap.to_npz`` as bytes."""
    buf = io.BytesIO()
    vmap.to_npz(buf)
    return buf.getvalue()


def map_from_npz(data: bytes) -> VulnerabilityMap:
    """Inverse of :func:`map_to_npz`."""
    return VulnerabilityMap.from_npz(io.BytesIO(data))


def _top5(probs: np.ndarray) -> tuple[list[int], list[float]]:
    order = np.argsort(-probs, kind="stable")[:5]
    return order.tolist(), [float(probs[c]) for c in order]


def _base_record(spec: AttackSpec, clean_probs: np.ndarray, adv_probs: np.ndarray, queries: int,
                 region_size: int) -> dict[str, Any]:
    """The engine-shaped fields of one record from the clean and the adversarial probability vectors (K,)."""
    cls = spec.target if spec.mode == "targeted" else spec.label
    clean_top, clean_top_p = _top5(clean_probs)
    adv_top, adv_top_p = _top5(adv_probs)
    predicted = int(adv_probs.argmax())
    return {
        "predicted": predicted,
        "confidence": float(adv_probs[predicted]),
        "target_probability": float(adv_probs[cls]),
        "clean_probability": float(clean_probs[cls]),
        "label": int(spec.label),
        "target": int(spec.target),
        "clean_top5_classes": clean_top,
        "clean_top5_probs": clean_top_p,
        "adv_top5_classes": adv_top,
        "adv_top5_probs": adv_top_p,
        "adv_probs_of_clean_top5": [float(adv_probs[c]) for c in clean_top],
        "generations": 0,
        "queries": int(queries),
        "fitness_history": [],
        "seed": int(spec.seed),
        "region_size": int(region_size),
        "mode": spec.mode,
        "region_mode": "scan",
    }


def run_scan_batch(job: Job, clf: Classifier, batch: Batch, progress: ProgressFn | None = None) -> list[dict[str, Any]]:
    """One vulnerability map per image of the batch; one record per row (see the module docstring)."""
    cfg = job.config.scan
    colors = cfg.color_set()
    specs = batch.attacks
    records: list[dict[str, Any]] = []
    for image_id in dict.fromkeys(s.image_id for s in specs):
        rows = [s for s in specs if s.image_id == image_id]
        image = job.images[image_id]
        grid = stride_grid(image.shape[:2], cfg.stride)
        regions = {s.region: job.regions[(image_id, s.region)] & grid for s in rows}
        union = np.logical_or.reduce(list(regions.values()))
        vmap = PixelScan(colors=colors, batch_size=job.batch_size, precision=job.config.attack.precision)(
            clf, image[None], [rows[0].label], regions=union[None],
        )[0]
        for j, s in enumerate(rows):
            records.append(_scan_record(s, vmap, image, regions[s.region], len(colors)))
            if j == 0:
                records[-1]["_map"] = {"npz": map_to_npz(vmap), "queries": vmap.queries}
        if progress is not None:
            progress(batch.index, len(rows))
    return records


def _scan_record(
    spec: AttackSpec, vmap: VulnerabilityMap, image: np.ndarray, region: np.ndarray, n_colors: int,
) -> dict[str, Any]:
    st = region_stats(vmap, region)
    prob = np.where(region[..., None], vmap.probability, np.inf)
    flips = (vmap.predicted != vmap.label) & (vmap.predicted >= 0) & region[..., None]
    # the most damaging (pixel, colour): among flipping ones if any, else overall, by lowest p_label
    pick = np.where(flips, prob, np.inf) if flips.any() else prob
    r, c, k = np.unravel_index(int(np.argmin(pick)), pick.shape) if st.region_pixels else (-1, -1, 0)
    found = st.region_pixels > 0
    return {
        "success": bool(st.success),
        "pixels": [[int(r), int(c)]] if found else [[-1, -1]],
        "colors": [vmap.colors[k].tolist()],
        "changed": int(found and bool((image[r, c] != vmap.colors[k]).any())),
        "predicted": int(vmap.predicted[r, c, k]) if found else int(vmap.label),
        "target_probability": float(vmap.probability[r, c, k]) if found else float(vmap.clean_probability),
        "clean_probability": float(vmap.clean_probability),
        "label": int(spec.label),
        "target": -1,
        "generations": 0,
        "queries": st.region_pixels * n_colors + 1,
        "fitness_history": [],
        "seed": int(spec.seed),
        "region_size": int(region.sum()),
        "mode": "untargeted",
        "region_mode": "scan",
        "search": "scan",
        "flipping_pixels": st.flipping_pixels,
        "flipping_share": st.flipping_share,
        "reachable_classes": vmap.reachable_classes(region).tolist(),
        "min_probability": st.min_probability,
    }


def run_scan_first_batch(
    job: Job, clf: Classifier, batch: Batch, progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """``scan_first`` over the batch's attacks, each with its keyed seed; one record per attack."""
    cfg = job.config.scan
    specs: Sequence[AttackSpec] = batch.attacks
    images = np.stack([job.images[s.image_id] for s in specs])
    regions = np.stack([job.regions[(s.image_id, s.region)] for s in specs])
    labels = np.array([s.label for s in specs], dtype=np.int64)
    targets = np.array([s.target for s in specs], dtype=np.int64) if batch.mode == "targeted" else None
    res = scan_first(clf, images, labels, targets, regions=regions, colors=cfg.color_set(),
                     seed=np.array([s.seed for s in specs], dtype=np.int64), per_round=cfg.per_round,
                     batch_size=job.batch_size)
    records = []
    for i, s in enumerate(specs):
        rec = _base_record(s, res.clean_probabilities[i], res.probabilities[i], int(res.queries[i]),
                           int(regions[i].sum()))
        ok = bool(res.success[i])
        r, c = (int(v) for v in res.pixel[i])
        changed = ok and bool((images[i, r, c] != res.color[i]).any())
        rec.update({
            "success": ok,
            "pixels": [[r, c]] if ok else [[-1, -1]],
            "colors": [res.color[i].tolist()],
            "changed": int(changed),
            "search": "scan-first",
            "first_hit": int(res.first_hit[i]),
        })
        records.append(rec)
    if progress is not None:
        progress(batch.index, len(specs))
    return records
