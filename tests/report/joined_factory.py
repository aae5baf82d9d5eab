"""Two fabricated stores of the same images for joined reports: a 1-pixel corner-colour scan and a sparse
random search at 3 and 5 pixels, with outcomes set by a function so that every count is known."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.report.store_factory import make_store

REGIONS = ("whole", "foreground", "background", "centre", "border")
MODELS = ("allconv-cifar10", "nin-cifar10")

#: (model, region, pixels, image index, target or -1) -> whether the attack (or scan row) succeeds.
Outcome = Callable[[str, str, int, int, int], bool]


def default_outcome(model: str, region: str, k: int, i: int, target: int) -> bool:
    """Foreground fooled on more images than the background, more so with more pixels; the centre in between."""
    limit = {"whole": 6, "foreground": 5, "background": 1, "centre": 3, "border": 2}[region] + (k - 1) // 2
    return i < limit and (target < 0 or target % 3 == 0)


def _rewrite(path: Path, search: str, outcome: Outcome, *, reachable: Callable[[int, int], list[int]] | None,
             campaign: str, extra_config: dict[str, object]) -> None:
    con = sqlite3.connect(path)
    cfg = json.loads(con.execute("SELECT value FROM meta WHERE key = 'config_json'").fetchone()[0])
    cfg = {**cfg, "campaign": {"name": campaign, "seed": 0}, **extra_config}
    con.execute("UPDATE meta SET value = ? WHERE key = 'config_json'", (json.dumps(cfg),))
    for key, model, image_id, region, k, target, rec in con.execute(
            "SELECT key, model, image_id, region, pixels, target, record FROM attacks").fetchall():
        i = int(image_id[3:])
        r = json.loads(rec)
        ok = outcome(model, region, k, i, target)
        label = r["label"]
        r["success"] = ok
        r["search"] = search
        r["predicted"] = (target if target >= 0 else (label + 1) % 10) if ok else label
        if reachable is not None:
            r["reachable_classes"] = reachable(label, i) if ok else []
            r["flipping_pixels"] = 3 if ok else 0
        con.execute("UPDATE attacks SET record = ?, success = ? WHERE key = ?", (json.dumps(r), int(ok), key))
    con.commit()
    con.close()


def scan_reachable(label: int, i: int) -> list[int]:
    """The classes a fooled image's scan reaches: the next class, and for even images the one after it too."""
    return [(label + 1) % 10] + ([(label + 2) % 10] if i % 2 == 0 else [])


def make_scan_store(path: Path, *, n_images: int = 8, models: Sequence[str] = MODELS,
                    regions: Sequence[str] = REGIONS, outcome: Outcome = default_outcome) -> Path:
    """A 1-pixel scan of ``n_images`` images: one row per network × image × region (search ``"scan"``)."""
    make_store(path, models=models, regions=regions, n_images=n_images, targeted_images=0, pixels=(1,))
    _rewrite(path, "scan", outcome, reachable=scan_reachable, campaign="fake-scan",
             extra_config={"scan": {"colors": "corners"}})
    return path


def make_sparse_store(path: Path, *, n_images: int = 8, models: Sequence[str] = MODELS,
                      regions: Sequence[str] = REGIONS, pixels: Sequence[int] = (3, 5), targeted_images: int = 3,
                      outcome: Outcome = default_outcome, campaign: str = "fake-sparse") -> Path:
    """A sparse random search at ``pixels``: untargeted on every image, all nine targets on the first
    ``targeted_images``."""
    make_store(path, models=models, regions=regions, n_images=n_images, targeted_images=targeted_images,
               pixels=pixels)
    _rewrite(path, "sparse-rs", outcome, reachable=None, campaign=campaign,
             extra_config={"sparse_rs": {"max_queries": 1000}})
    return path
