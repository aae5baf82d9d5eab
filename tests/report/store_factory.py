"""Fabricate small results stores with sqlite3, following docs/store-schema.md (schema version 1)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE models (model TEXT PRIMARY KEY, weights_hash TEXT, test_accuracy REAL NULL, test_count INTEGER NULL,
                     pool_accuracy REAL NULL, pool_count INTEGER NULL);
CREATE TABLE images (image_id TEXT PRIMARY KEY, source_id TEXT, label INTEGER, png BLOB, pool_index INTEGER,
                     status TEXT, reason TEXT NULL);
CREATE TABLE masks (image_id TEXT, region TEXT, mask_hash TEXT, png BLOB, PRIMARY KEY (image_id, region));
CREATE TABLE predictions (image_id TEXT, model TEXT, predicted INTEGER, confidence REAL,
                          PRIMARY KEY (image_id, model));
CREATE TABLE attacks (key TEXT PRIMARY KEY, model TEXT, image_id TEXT, region TEXT, pixels INTEGER, mode TEXT,
                      target INTEGER, search_hash TEXT, early_stop INTEGER, seed INTEGER, success INTEGER,
                      generations INTEGER, queries INTEGER, record TEXT);
"""

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# Probability that a fabricated 1-pixel attack succeeds, per region (the paper's pattern, exaggerated).
DEFAULT_SUCCESS = {"whole": 0.8, "foreground": 0.75, "background": 0.15, "random": 0.5}


def encode_png(rgb: np.ndarray) -> bytes:
    """uint8 RGB (H, W, 3) or bool/uint8 (H, W) -> PNG bytes."""
    arr = rgb if rgb.ndim == 2 else rgb[:, :, ::-1]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(arr))
    assert ok
    return bytes(buf)


def synthetic_image(i: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A coloured disc on a gradient: (uint8 RGB (size, size, 3), bool foreground mask (size, size))."""
    yy, xx = np.mgrid[:size, :size]
    cy, cx = size / 2 + (i % 3) - 1, size / 2 + (i % 5) - 2
    fg = (yy - cy) ** 2 + (xx - cx) ** 2 < (size / 3.2) ** 2
    img = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 90 + 15 * (i % 8))], axis=-1)
    colour = np.array([(60 * i) % 256, (200 - 35 * i) % 256, (120 + 50 * i) % 256])
    img[fg] = colour
    return img.astype(np.uint8), fg


def make_record(
    *,
    success: bool,
    label: int,
    predicted: int,
    confidence: float,
    target: int = -1,
    pixels: Sequence[Sequence[int]] = ((0, 0),),
    colors: Sequence[Sequence[int]] = ((255, 0, 0),),
    generations: int = 1,
    fitness_history: Sequence[float] | None = None,
    target_probability: float | None = None,
    clean_probability: float = 0.9,
    clean_top5_classes: Sequence[int] | None = None,
    clean_top5_probs: Sequence[float] | None = None,
    adv_top5_classes: Sequence[int] | None = None,
    adv_probs_of_clean_top5: Sequence[float] | None = None,
    mode: str = "untargeted",
) -> dict[str, Any]:
    """A record dict with every field of ``AttackResult.to_records()``."""
    others = [c for c in range(10) if c != label]
    c5 = list(clean_top5_classes or [label, *others[:4]])
    a5 = list(adv_top5_classes or ([predicted] + [c for c in c5 if c != predicted])[:5])
    return {
        "success": success, "pixels": [list(p) for p in pixels], "colors": [list(c) for c in colors],
        "changed": len(pixels), "predicted": predicted, "confidence": confidence,
        "target_probability": confidence if target_probability is None else target_probability,
        "clean_probability": clean_probability, "label": label, "target": target,
        "clean_top5_classes": c5, "clean_top5_probs": list(clean_top5_probs or [0.9, 0.05, 0.03, 0.01, 0.01]),
        "adv_top5_classes": a5, "adv_top5_probs": [confidence, 0.2, 0.1, 0.05, 0.01],
        "adv_probs_of_clean_top5": list(adv_probs_of_clean_top5 or [0.4, 0.3, 0.03, 0.01, 0.01]),
        "generations": generations, "queries": 2 + 40 * (generations + 1),
        "fitness_history": list(fitness_history if fitness_history is not None else
                                np.linspace(0.9, 0.3 if success else 0.7, generations + 1).tolist()),
        "seed": 1234, "region_size": 100, "mode": mode, "region_mode": "restrict",
    }


def make_store(
    path: Path,
    *,
    models: Sequence[str] = ("allconv-cifar10", "nin-cifar10"),
    regions: Sequence[str] = ("whole", "foreground", "background"),
    n_images: int = 6,
    targeted_images: int = 3,
    pixels: Sequence[int] = (1,),
    success: dict[str, float] | None = None,
    success_fn: Callable[[str, str, int], bool] | None = None,
    max_generations: int = 10,
    seed: int = 0,
    config: dict[str, Any] | None = None,
    curve_images: int = 0,
) -> Path:
    """Write a store with ``models`` × ``regions`` × ``n_images`` untargeted attacks (and 9 targeted attacks on
    the first ``targeted_images``), plus two skipped pool images. The first ``curve_images`` images also get
    1-pixel untargeted attacks without early stop (a campaign's ``[fitness_curves]``). Returns ``path``."""
    rng = np.random.default_rng(seed)
    probs = {**DEFAULT_SUCCESS, **(success or {})}
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    cfg = config if config is not None else {
        "name": "fabricated", "models": list(models), "regions": list(regions),
        "attack": {"pixels": list(pixels), "region_mode": "restrict",
                   "de": {"population_size": 40, "max_generations": max_generations, "max_queries": None,
                          "strategy": "rand1bin", "early_stop": True, "success_check": "best"}},
    }
    meta = {"schema_version": "1", "config_json": json.dumps(cfg), "config_hash": "abc123", "campaign_seed": "7",
            "batch_size": "256", "package_version": "0.1.0", "torch_version": "2.13.0", "device": "cpu",
            "created_utc": "2025-01-01T00:00:00Z", "dataset": "JPEG-CIFAR-10", "segmenter": "grabcut",
            "class_names_json": json.dumps(CLASSES)}
    con.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    for j, m in enumerate(models):
        con.execute("INSERT INTO models VALUES (?, ?, ?, ?, ?, ?)",
                    (m, f"sha256:{j:04d}", 0.85 + 0.01 * j if j == 0 else None, 10000 if j == 0 else None,
                     None, None))
    n_classes = 10
    key = 0
    for i in range(n_images + 2):
        img, fg = synthetic_image(i)
        label = i % n_classes
        iid = f"img{i:03d}"
        status, reason = "attacked", None
        if i == n_images:
            status, reason = "skipped", f"misclassified by {models[-1]}"
        elif i == n_images + 1:
            status, reason = "skipped", "mask: foreground has 3 px < 10"
        con.execute("INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (iid, f"test/{CLASSES[label]}/{i:04d}.jpg", label, encode_png(img), i, status, reason))
        for region in regions:
            mask = {"whole": np.ones_like(fg), "foreground": fg, "background": ~fg}.get(region, fg[::-1])
            con.execute("INSERT INTO masks VALUES (?, ?, ?, ?)",
                        (iid, region, f"m{i}{region}", encode_png(mask.astype(np.uint8) * 255)))
        for m in models:
            wrong = status == "skipped" and reason is not None and reason.endswith(m)
            con.execute("INSERT INTO predictions VALUES (?, ?, ?, ?)",
                        (iid, m, (label + 1) % n_classes if wrong else label, 0.6 if wrong else 0.9))
        if status != "attacked":
            continue
        for m in models:
            for region in regions:
                mask = {"whole": np.ones_like(fg), "foreground": fg, "background": ~fg}.get(region, fg[::-1])
                coords = np.argwhere(mask)
                for k in pixels:
                    jobs = [(-1, "untargeted")]
                    if i < targeted_images:
                        jobs += [(t, "targeted") for t in range(n_classes) if t != label]
                    for target, mode in jobs:
                        if success_fn is not None:
                            ok = success_fn(m, region, i)
                        else:
                            ok = bool(rng.random() < min(1.0, probs.get(region, 0.5) * (0.4 if target >= 0 else 1)
                                                         * (1 + 0.3 * (k - 1))))
                        gens = int(rng.integers(0, 5)) if ok else max_generations
                        if target >= 0:
                            pred = target if ok else label
                        else:
                            pred = (label + 1 + int(rng.integers(0, n_classes - 1))) % n_classes if ok else label
                        pos = coords[rng.integers(0, len(coords), size=k)]
                        hist = np.minimum.accumulate(np.concatenate(
                            [[0.9], 0.9 - np.sort(rng.random(gens)) * (0.7 if ok else 0.3)]))
                        rec = make_record(
                            success=ok, label=label, predicted=pred, confidence=float(rng.uniform(0.4, 0.9)),
                            target=target, pixels=pos.tolist(), colors=rng.integers(0, 256, (k, 3)).tolist(),
                            generations=gens, fitness_history=hist.tolist(), mode=mode)
                        con.execute("INSERT INTO attacks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                    (f"k{key:06d}", m, iid, region, k, mode, target, "s1", 1, key, int(ok), gens,
                                     rec["queries"], json.dumps(rec)))
                        key += 1
                if i < curve_images:  # the fitness-curve attack: no early stop, the full history
                    ok = bool(rng.random() < probs.get(region, 0.5))
                    hist = np.minimum.accumulate(0.9 - np.sort(rng.random(max_generations + 1)) * (0.7 if ok else 0.3))
                    pred = (label + 1) % n_classes if ok else label
                    rec = make_record(success=ok, label=label, predicted=pred, confidence=0.6,
                                      pixels=coords[:1].tolist(), generations=max_generations,
                                      fitness_history=hist.tolist())
                    con.execute("INSERT INTO attacks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                (f"k{key:06d}", m, iid, region, 1, "untargeted", -1, "s0", 0, key, int(ok),
                                 max_generations, rec["queries"], json.dumps(rec)))
                    key += 1
    con.commit()
    con.close()
    return path
