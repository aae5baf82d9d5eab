"""What an attack yields, as plain data the attack, the campaign and the report share: which attack it was
(:class:`AttackIdentity`), one attack's outcome with its identity (:class:`AttackRow`, a row of the store's
``attacks`` table) and one image's vulnerability map (:class:`VulnerabilityMap`, what the scan returns and the
store's ``scans`` table holds).

Nothing here runs a model, a search or SQL, so every layer can import it (the report imports no attack code);
``docs/store-schema.md`` describes the tables.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from pixelspace.errors import StoreError

ATTACK_COLUMNS = (
    "key", "model", "image_id", "region", "pixels", "mode", "target", "search_hash", "early_stop", "seed",
    "success", "generations", "queries", "record",
)


@dataclass(frozen=True)
class AttackIdentity:
    """Which attack: the fields a planned attack (``campaign.backends.AttackSpec``) and a stored one
    (:class:`AttackRow`) share, in the ``attacks`` table's column order.

    Attributes:
        key: the attack key (hex, ``campaign.keys``).
        model, image_id, region: names; pixels: k; mode: ``"untargeted"`` or ``"targeted"``.
        target: the target class (-1 untargeted).
        search_hash: hash of the search settings; early_stop: whether the attack stops at its first success.
        seed: the attack's keyed 63-bit seed.
    """

    key: str
    model: str
    image_id: str
    region: str
    pixels: int
    mode: str
    target: int
    search_hash: str = ""
    early_stop: bool = True
    seed: int = 0


@dataclass(frozen=True)
class AttackRow(AttackIdentity):
    """One row of the ``attacks`` table: the attack's identity and ``record``, ``AttackResult.to_records()[i]``
    (a dict).

    ``success``, ``generations`` and ``queries`` are read from the record (the table's columns of those names
    are copies of it, written by :meth:`as_tuple`).
    """

    record: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, attack: AttackIdentity, record: dict[str, Any]) -> AttackRow:
        """The row of ``attack`` (an identity or anything built on one, such as a planned attack) with ``record``."""
        return cls(**{f.name: getattr(attack, f.name) for f in fields(AttackIdentity)}, record=record)

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> AttackRow:
        """Build a row from a dict with the table's columns (``record`` as a dict or a JSON string).

        The ``success``, ``generations`` and ``queries`` columns, when given, are what the row reports.

        Raises:
            StoreError: ``record`` is not a JSON object.
        """
        rec = d.get("record", {})
        if isinstance(rec, str | bytes):
            try:
                rec = json.loads(rec)
            except ValueError as exc:
                raise StoreError(f"attack {d.get('key', '?')!r}: its record is not valid JSON ({exc})") from exc
        if not isinstance(rec, Mapping):
            raise StoreError(f"attack {d.get('key', '?')!r}: its record is not a JSON object")
        record = dict(rec)
        for column, kind in (("success", bool), ("generations", int), ("queries", int)):
            if d.get(column) is not None:
                record[column] = kind(d[column])
        return cls(
            key=str(d.get("key", "")),
            model=str(d["model"]),
            image_id=str(d["image_id"]),
            region=str(d["region"]),
            pixels=int(d["pixels"]),
            mode=str(d["mode"]),
            target=int(d.get("target", -1)),
            search_hash=str(d.get("search_hash", "") or ""),
            early_stop=bool(d.get("early_stop", 1)),
            seed=int(d.get("seed", 0) or 0),
            record=record,
        )

    def as_tuple(self) -> tuple[Any, ...]:
        """The row's values in :data:`ATTACK_COLUMNS` order (the record as compact JSON)."""
        r = self.record
        return (
            self.key, self.model, self.image_id, self.region, int(self.pixels), self.mode, int(self.target),
            self.search_hash, int(bool(self.early_stop)), int(self.seed), int(bool(r["success"])),
            int(r["generations"]), int(r["queries"]), json.dumps(r, separators=(",", ":")),
        )

    @property
    def success(self) -> bool:
        """The stored success flag (False when the record has none)."""
        return bool(self.record.get("success", False))

    @property
    def generations(self) -> int:
        """Generations the attack ran (0 when not recorded)."""
        return int(self.record.get("generations", 0))

    @property
    def queries(self) -> int:
        """Model queries the attack spent (0 when not recorded)."""
        return int(self.record.get("queries", 0))

    @property
    def search(self) -> str:
        """``"de"``, ``"scan"``, ``"scan-first"`` or ``"sparse-rs"`` (the record's ``search``; DE records carry
        none)."""
        return str(self.record.get("search", "de"))

    @property
    def clean_class(self) -> int | None:
        """The class of interest (the clean prediction the attack moved away from), if recorded."""
        v = self.record.get("label")
        return None if v is None else int(v)

    @property
    def predicted(self) -> int | None:
        """The adversarial image's predicted class, if recorded."""
        v = self.record.get("predicted")
        return None if v is None else int(v)


@dataclass(frozen=True)
class VulnerabilityMap:
    """The scan of one image.

    Attributes:
        label: the class of interest y (normally the clean prediction).
        clean_probability: p_y on the clean image.
        colors: uint8 (C, 3) the colour set.
        probability: float32 (H, W, C) p_y with the pixel set to each colour (NaN where not scanned).
        predicted: int32 (H, W, C) the predicted class (-1 where not scanned).
        scanned: bool (H, W) pixels that were scanned (the region).
        queries: model evaluations spent (clean image included).
    """

    label: int
    clean_probability: float
    colors: np.ndarray
    probability: np.ndarray
    predicted: np.ndarray
    scanned: np.ndarray
    queries: int

    @property
    def min_probability(self) -> np.ndarray:
        """float32 (H, W): lowest p_y reachable at each pixel (NaN outside the scan)."""
        p = np.where(self.scanned[..., None], self.probability, np.inf).min(axis=2)
        return np.where(self.scanned, p, np.nan).astype(np.float32)

    @property
    def best_color(self) -> np.ndarray:
        """int64 (H, W): index of the colour giving the lowest p_y (-1 outside the scan)."""
        idx = np.where(self.scanned[..., None], self.probability, np.inf).argmin(axis=2)
        return np.where(self.scanned, idx, -1)

    @property
    def flips(self) -> np.ndarray:
        """bool (H, W): some colour of the set changes the prediction away from ``label`` at this pixel."""
        return ((self.predicted != self.label) & (self.predicted >= 0)).any(axis=2)

    def reachable_classes(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Sorted classes (other than ``label``) that some scanned pixel (inside ``mask``) and colour reach."""
        pred = self.predicted if mask is None else self.predicted[mask]
        cls = np.unique(pred[(pred != self.label) & (pred >= 0)])
        return cls.astype(np.int64)

    def to_npz(self, path: str | Any) -> None:
        """Save compactly (compressed ``.npz``; probabilities as float16)."""
        np.savez_compressed(
            path, label=self.label, clean_probability=self.clean_probability, colors=self.colors,
            probability=self.probability.astype(np.float16), predicted=self.predicted.astype(np.int16),
            scanned=self.scanned, queries=self.queries,
        )

    @classmethod
    def from_npz(cls, path: str | Any) -> VulnerabilityMap:
        """Load a map written by :meth:`to_npz`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(int(z["label"]), float(z["clean_probability"]), z["colors"],
                       z["probability"].astype(np.float32), z["predicted"].astype(np.int32), z["scanned"],
                       int(z["queries"]))
