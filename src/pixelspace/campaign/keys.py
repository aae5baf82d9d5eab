"""Attack keys and keyed seeds (DESIGN.md §5).

An attack's key is the sha256 of what decides its result: the model (name and weights hash), the image id,
the region (name and mask hash), the pixel count, the mode, the target and the hash of the result-changing
search settings (the ``[de]`` section: DE settings, early stop and success check; the region mode and the
evaluation memo; for the scans, the search's name and its colours, stride or round size). Batch size,
device and backend are never part of it. The attack's seed derives from the campaign seed and the key, so a
result does not depend on when, where or beside which other attacks it ran.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pixelspace.campaign.config import CampaignConfig, DESection, ScanSection, SparseRSSection, canonical_json
from pixelspace.campaign.legacy import carried, option_values
from pixelspace.search.de import DEConfig

KEY_CHARS = 32  # hex characters of an attack key (128 bits)


def search_settings(de: DESection | DEConfig, region_mode: str, reuse_evaluations: bool = False,
                    precision: str = "fp32", *, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The search settings that change a DE attack's result, as plain data (batch size excluded).

    ``de`` is the campaign's ``[de]`` section: the DE settings, early stop and success check, under ``"de"`` as
    the ``DEConfig`` of earlier stores held them all; a ``DEConfig`` counts as the section it stands for
    (:meth:`DESection.of <pixelspace.campaign.config.DESection.of>`).
    ``reuse_evaluations``, ``precision`` and the other ``options`` (name -> value; they win over the two
    arguments) enter as :func:`pixelspace.campaign.legacy.carried` says: only away from their old values, so
    attacks made before an option existed keep their keys.
    """
    section = de if isinstance(de, DESection) else DESection.of(de)
    d = dataclasses.asdict(section)
    d["mutation"] = list(section.settings.mutation_range) if isinstance(section.mutation, tuple) else section.mutation
    out: dict[str, Any] = {"de": d, "region_mode": region_mode}
    out.update(carried("de", {"reuse_evaluations": reuse_evaluations, "precision": precision, **(options or {})}))
    return out


def search_hash(de: DESection | DEConfig, region_mode: str, reuse_evaluations: bool = False,
                precision: str = "fp32", *, options: Mapping[str, Any] | None = None) -> str:
    """sha256 (hex, 16 chars) of :func:`search_settings`."""
    settings = search_settings(de, region_mode, reuse_evaluations, precision, options=options)
    return hashlib.sha256(canonical_json(settings).encode()).hexdigest()[:16]


def scan_settings(search: str, scan: ScanSection, precision: str = "fp32", *,
                  options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings that change a ``"scan"`` / ``"scan-first"`` row, as plain data. ``precision`` (the
    scan's) and the other ``options`` enter a ``"scan"`` row's as :func:`pixelspace.campaign.legacy.carried`
    says; ``scan-first`` always runs at fp32 and carries none."""
    d: dict[str, Any] = {"search": search, "colors": scan.color_set().tolist(), "stride": scan.stride}
    if search == "scan-first":
        d = {"search": search, "colors": d["colors"], "per_round": scan.per_round}
    else:
        d.update(carried("scan", {"precision": precision, **(options or {})}))
    return d


def scan_hash(search: str, scan: ScanSection, precision: str = "fp32", *,
              options: Mapping[str, Any] | None = None) -> str:
    """sha256 (hex, 16 chars) of :func:`scan_settings`."""
    settings = scan_settings(search, scan, precision, options=options)
    return hashlib.sha256(canonical_json(settings).encode()).hexdigest()[:16]


def sparse_rs_settings(section: SparseRSSection, region_mode: str, reuse_evaluations: bool, *, pixels: int,
                       options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings that change a ``"sparse-rs"`` row of ``pixels`` pixels, as plain data. The options of
    ``section`` added after the search (and the other ``options``) enter as
    :func:`pixelspace.campaign.legacy.carried` says (at ``(pixels,)``)."""
    d: dict[str, Any] = {"search": "sparse-rs", "max_queries": section.max_queries, "p_init": float(section.p_init),
                         "max_iterations": 2 * section.max_queries, "region_mode": region_mode,
                         "reuse_evaluations": reuse_evaluations}
    d.update(carried("sparse-rs", {**dataclasses.asdict(section), **(options or {})}, (pixels,)))
    return d


def sparse_rs_hash(section: SparseRSSection, region_mode: str, reuse_evaluations: bool, *, pixels: int,
                   options: Mapping[str, Any] | None = None) -> str:
    """sha256 (hex, 16 chars) of :func:`sparse_rs_settings`."""
    settings = sparse_rs_settings(section, region_mode, reuse_evaluations, pixels=pixels, options=options)
    return hashlib.sha256(canonical_json(settings).encode()).hexdigest()[:16]


def config_search_hash(config: CampaignConfig, search: str, pixels: int, early_stop: bool) -> str:
    """The search hash of ``config``'s ``search`` attacks with ``pixels`` pixels and ``early_stop`` (the one
    :func:`pixelspace.campaign.runner.expand_attacks` keys them with); every option of
    :data:`pixelspace.campaign.legacy.OLD_DEFAULTS` that names the search's hash is read from ``config``."""
    if search == "de":
        return search_hash(dataclasses.replace(config.de, early_stop=early_stop), config.attack.region_mode,
                           options=option_values(config, "de"))
    if search == "sparse-rs":
        return sparse_rs_hash(config.sparse_rs, config.attack.region_mode, config.attack.reuse_evaluations,
                              pixels=pixels, options=option_values(config, "sparse-rs"))
    return scan_hash(search, config.scan, options=option_values(config, "scan"))


def mask_hash(mask: np.ndarray) -> str:
    """sha256 (hex, 16 chars) of a bool mask (H, W), its shape included."""
    m = np.ascontiguousarray(mask, dtype=bool)
    h = hashlib.sha256(f"{m.shape[0]}x{m.shape[1]}:".encode())
    h.update(np.packbits(m).tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class KeyFields:
    """Everything an attack key is the hash of (see the module docstring)."""

    model: str
    weights_hash: str
    image_id: str
    region: str
    mask_hash: str
    pixels: int
    mode: str
    target: int
    search_hash: str

    def key(self) -> str:
        """The attack key: the first :data:`KEY_CHARS` hex characters of the sha256 of these fields."""
        return hashlib.sha256(canonical_json(dataclasses.asdict(self)).encode()).hexdigest()[:KEY_CHARS]


def attack_key(fields: KeyFields) -> str:
    """The attack key of ``fields`` (hex string of :data:`KEY_CHARS` characters)."""
    return fields.key()


def attack_seed(campaign_seed: int, key: str) -> int:
    """The attack's seed, a non-negative 63-bit int derived from the campaign seed and the key."""
    ss = np.random.SeedSequence([int(campaign_seed), int(key[:15], 16)])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))
