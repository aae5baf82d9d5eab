"""Reading a results store (schema: docs/store-schema.md) for the report: :func:`load_store` reads every table
in one read-only snapshot into plain dataclasses (:class:`StoreSnapshot`); nothing here computes a metric.

The campaign's writer is :class:`pixelspace.campaign.store.Store`; this module never writes.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pixelspace.errors import StoreError, sqlite_store_error
from pixelspace.outcomes import AttackRow
from pixelspace.store_access import check_store, connect_readonly

SUPPORTED_SCHEMAS = ("1", "2")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


# --------------------------------------------------------------------------------------------- rows
# (an attack row is pixelspace.outcomes.AttackRow, shared with the campaign runner)


@dataclass(frozen=True)
class ModelRow:
    """A row of ``models``: accuracies are fractions, NULLs become None."""

    model: str
    weights_hash: str
    test_accuracy: float | None
    test_count: int | None
    pool_accuracy: float | None
    pool_count: int | None


@dataclass(frozen=True)
class ImageRow:
    """A row of ``images`` (``png`` is the clean image's PNG bytes)."""

    image_id: str
    source_id: str
    label: int
    png: bytes
    pool_index: int
    status: str
    reason: str | None


@dataclass(frozen=True)
class StoreSnapshot:
    """Everything a report needs, read from one store."""

    meta: dict[str, str]
    models: list[ModelRow]
    images: list[ImageRow]
    predictions: dict[tuple[str, str], tuple[int, float]]  # (image_id, model) -> (predicted, confidence)
    attacks: list[AttackRow]
    masks: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (image_id, region) -> mask PNG (0/255)
    scans: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (model, image_id) -> VulnerabilityMap npz
    mask_hashes: dict[tuple[str, str], str] = field(default_factory=dict)  # (image_id, region) -> masks.mask_hash

    @property
    def config(self) -> dict[str, Any]:
        """The campaign config (``meta.config_json``), or {} when absent or unreadable."""
        try:
            cfg = json.loads(self.meta.get("config_json", "{}"))
        except json.JSONDecodeError:
            return {}
        return cfg if isinstance(cfg, dict) else {}

    @property
    def planned(self) -> list[tuple[str, str, int, str, bool, str, int]]:
        """The campaign's plan (``meta.plan_json``): (model, region, pixels, mode, early stop, search hash or ""
        in plans older than scans, attacks) per group; [] when absent or unreadable."""
        try:
            plan = json.loads(self.meta.get("plan_json", "[]"))
            return [(str(g[0]), str(g[1]), int(g[2]), str(g[3]), bool(g[4]), str(g[7]) if len(g) > 7 else "",
                     int(g[5])) for g in plan]
        except (json.JSONDecodeError, TypeError, ValueError, IndexError):
            return []

    @property
    def class_names(self) -> list[str]:
        """Class names from ``meta.class_names_json``; CIFAR-10's for a CIFAR store; else the indices."""
        try:
            names = json.loads(self.meta.get("class_names_json", "null"))
        except json.JSONDecodeError:
            names = None
        if isinstance(names, list) and names:
            return [str(n) for n in names]
        if "cifar" in self.meta.get("dataset", "").lower():
            return list(CIFAR10_CLASSES)
        top = max((max(r.clean_class or 0, r.predicted or 0, r.target) for r in self.attacks), default=9)
        return [str(i) for i in range(max(top + 1, 10))]

    @cached_property
    def early_stop(self) -> bool:
        """The campaign's early-stop setting (``config_json`` ``de.early_stop``; else whether any row stopped early)."""
        de = self.config.get("de")
        if isinstance(de, dict) and "early_stop" in de:
            return bool(de["early_stop"])
        return any(r.early_stop for r in self.de_attacks) or not self.de_attacks

    @cached_property
    def de_attacks(self) -> list[AttackRow]:
        """Every DE row (fitness-curve attacks included; scan rows left out)."""
        return [r for r in self.attacks if r.search == "de"]

    @cached_property
    def results(self) -> list[AttackRow]:
        """The campaign's DE attacks proper (run with its early-stop setting): what Tables II–IV and Figs 1, 3–5
        use.

        A campaign with early stop on may also hold ``fitness_curves`` attacks run without it (Fig. 6 only);
        scan rows have their own section.
        """
        return [r for r in self.de_attacks if r.early_stop == self.early_stop]

    @cached_property
    def curve_attacks(self) -> list[AttackRow]:
        """Fig. 6 rows: the attacks run without early stop when the store has them, else :attr:`results`."""
        full = [r for r in self.de_attacks if not r.early_stop]
        return full or self.results

    @cached_property
    def scan_rows(self) -> list[AttackRow]:
        """Rows of the ``"scan"`` search (one per network × image × region)."""
        return [r for r in self.attacks if r.search == "scan"]

    @cached_property
    def scan_first_rows(self) -> list[AttackRow]:
        """Rows of the ``"scan-first"`` search."""
        return [r for r in self.attacks if r.search == "scan-first"]

    def image(self, image_id: str) -> ImageRow | None:
        """The image row with this id, or None."""
        return next((im for im in self.images if im.image_id == image_id), None)


def load_store(path: str | Path) -> StoreSnapshot:
    """Read a results store (read-only) into a :class:`StoreSnapshot`.

    Raises:
        StoreError: the file is missing, not a store, or of a newer schema version.
    """
    p = Path(path)
    if not p.is_file():
        raise StoreError(f"store {p} does not exist")
    con = connect_readonly(p)
    try:
        check_store(con, p)  # the check every command that reads a store makes
        con.execute("BEGIN")  # one snapshot for every table, while a campaign may be writing
        con.row_factory = sqlite3.Row
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = {"meta", "models", "images", "predictions", "attacks"} - tables
        if missing:
            raise StoreError(f"{p} is not a pixelspace store: missing tables {sorted(missing)}")
        meta = {str(r["key"]): str(r["value"]) for r in con.execute("SELECT key, value FROM meta")}
        version = meta.get("schema_version", SUPPORTED_SCHEMAS[0])
        if version not in SUPPORTED_SCHEMAS:
            raise StoreError(f"{p} has store schema version {version}; this report reads versions "
                             f"{', '.join(SUPPORTED_SCHEMAS)}")
        models = [
            ModelRow(
                str(r["model"]),
                str(r["weights_hash"] or ""),
                None if r["test_accuracy"] is None else float(r["test_accuracy"]),
                None if r["test_count"] is None else int(r["test_count"]),
                None if r["pool_accuracy"] is None else float(r["pool_accuracy"]),
                None if r["pool_count"] is None else int(r["pool_count"]),
            )
            for r in con.execute("SELECT * FROM models ORDER BY model")
        ]
        images = [
            ImageRow(
                str(r["image_id"]), str(r["source_id"] or ""), int(r["label"]), bytes(r["png"] or b""),
                int(r["pool_index"] if r["pool_index"] is not None else -1), str(r["status"]), r["reason"],
            )
            for r in con.execute("SELECT * FROM images ORDER BY pool_index, image_id")
        ]
        predictions = {
            (str(r["image_id"]), str(r["model"])): (int(r["predicted"]), float(r["confidence"]))
            for r in con.execute("SELECT * FROM predictions")
        }
        mask_rows = con.execute("SELECT image_id, region, mask_hash, png FROM masks").fetchall() if "masks" in tables else []
        masks = {(str(r["image_id"]), str(r["region"])): bytes(r["png"] or b"") for r in mask_rows}
        mask_hashes = {(str(r["image_id"]), str(r["region"])): str(r["mask_hash"]) for r in mask_rows
                       if r["mask_hash"] is not None}
        attacks = [
            AttackRow.from_mapping(dict(r))
            for r in con.execute("SELECT * FROM attacks ORDER BY model, region, pixels, mode, image_id, target")
        ]
        scans = ({(str(r["model"]), str(r["image_id"])): bytes(r["npz"])
                  for r in con.execute("SELECT model, image_id, npz FROM scans")} if "scans" in tables else {})
    except sqlite3.Error as exc:
        raise sqlite_store_error(p, "read", exc) from exc
    finally:
        con.close()
    return StoreSnapshot(meta, models, images, predictions, attacks, masks, scans, mask_hashes)
