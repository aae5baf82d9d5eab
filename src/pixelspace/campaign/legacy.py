"""The one table of old defaults: how a store written before an option existed reads, and what hashes omit.

A store records its config (``meta.config_json``) and hashes (the config hash, each attack's search hash) as
the code of its day wrote them. A later option must not change them, so each option added after the first
stores has an *old value*: what the engine did without it. The table says, per option, its
section and field, that old value, and which search hashes carry it; from it

* :meth:`CampaignConfig.from_stored <pixelspace.campaign.config.CampaignConfig.from_stored>` fills an option
  a stored config lacks with its old value (:func:`fill_stored`);
* :meth:`CampaignConfig.result_dict <pixelspace.campaign.config.CampaignConfig.result_dict>` (the config
  hash) leaves an option out while it holds its old value, and a search's section out while that search is
  not used (:func:`omit_old`);
* the search hashes of :mod:`pixelspace.campaign.keys` carry an option only when it differs from its old
  value (:func:`carried`);

and the replay (``pixelspace replay``) reads a store through the first and reproduces its keys through the
others. Adding an option that changes results: add its field to its section, pass it to the attack, and add
one :class:`OldDefault` row here; nothing else. :mod:`tests.campaign.test_stored_formats` proves every
stored format keeps its hashes and keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pixelspace.campaign.config import CampaignConfig

#: The search hashes an option can enter: DE's (``keys.search_hash``), the ``"scan"`` search's
#: (``keys.scan_hash``; ``"scan-first"`` always runs at fp32 and carries none) and Sparse-RS's
#: (``keys.sparse_rs_hash``).
HASHES = ("de", "scan", "sparse-rs")


@dataclass(frozen=True)
class OldDefault:
    """One option added after stores existed.

    Attributes:
        section: its config section (``"attack"``, ``"images"``, ``"sparse_rs"``, …).
        name: its field in that section (and its key in the search hashes that carry it).
        old: what a store that lacks the option reads as: the engine's behaviour before it. Hashes leave
            the option out while it holds this value, so those stores keep their hashes.
        hashes: the search hashes (:data:`HASHES`) that carry it when it is not ``old``; () for an option that
            decides which attacks exist or how they are computed but not their results (config hash only).
        idle: ``idle(pixels)`` is true where the option has no effect for these pixel counts (the campaign's
            ``attack.pixels`` for the config hash, ``(k,)`` for one attack's search hash): left out there too.
        meaning: the old value in words.
        feature: for an option that turns an engine feature on, its name (``"the evaluation memo"``): a store
            that refuses a config is checked for it, and the message says which key to set to resume it.
    """

    section: str
    name: str
    old: Any
    hashes: tuple[str, ...] = ()
    idle: Callable[[tuple[int, ...]], bool] | None = None
    meaning: str = ""
    feature: str = ""

    def omitted(self, value: Any, pixels: tuple[int, ...]) -> bool:
        """Whether a hash leaves the option out at ``value`` (its old value, or idle at ``pixels``)."""
        return _plain(value) == _plain(self.old) or (self.idle is not None and self.idle(pixels))


def _no_single_pixel(pixels: tuple[int, ...]) -> bool:
    return 1 not in pixels


#: Every option a store written before the option existed lacks, with the value it reads as.
OLD_DEFAULTS: tuple[OldDefault, ...] = (
    OldDefault("attack", "search", ("de",),
               meaning="DE only (the searches' list and the [scan] section entered the config hash with scans)"),
    OldDefault("attack", "reuse_evaluations", False, hashes=("de",),
               meaning="no evaluation memo: every candidate costs a model query", feature="the evaluation memo"),
    OldDefault("attack", "precision", "fp32", hashes=("de", "scan"),
               meaning="fp32 model evaluations"),
    OldDefault("attack", "incremental", False,
               meaning="full forward passes (same answers; not part of any search hash)",
               feature="the incremental forward pass"),
    OldDefault("images", "shift", (0, 0),
               meaning="no translation of the attacked images"),
    OldDefault("images", "shift_mode", "move",
               meaning="a shifted image's content moves by the shift (no in-place control)"),
    OldDefault("sparse_rs", "first_color", "random", hashes=("sparse-rs",),
               meaning="every placement a uniform corner (the Sparse-RS authors' rule)"),
    OldDefault("sparse_rs", "single_pixel", "random", hashes=("sparse-rs",), idle=_no_single_pixel,
               meaning="(pixel, corner) pairs drawn with repetition at one pixel (the authors' rule); no effect "
                       "above one pixel"),
)

#: Sections that enter the config hash only while their search is used (campaigns without that search keep
#: the hash they had before the section existed).
SECTIONS_WHEN_USED: Mapping[str, Callable[[CampaignConfig], bool]] = {
    "scan": lambda config: tuple(config.attack.searches) != ("de",),
    "sparse_rs": lambda config: "sparse-rs" in config.attack.searches,
}


def fill_stored(data: Any) -> Any:
    """A stored ``config_json`` with every option of :data:`OLD_DEFAULTS` it lacks set to its old value (a
    section it lacks stays absent; anything not a table of tables is returned as it is, for the loader to
    refuse)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for row in OLD_DEFAULTS:
        table = out.get(row.section)
        if isinstance(table, dict) and row.name not in table:
            out[row.section] = {**table, row.name: _plain(row.old)}
    return out


def omit_old(d: dict[str, Any], config: CampaignConfig) -> dict[str, Any]:
    """``d`` (``config.to_dict()``, trimmed) without the sections of unused searches and the options at their
    old value or idle for ``config.attack.pixels``: the config hash's rule (in place; returns ``d``)."""
    for section, used in SECTIONS_WHEN_USED.items():
        if not used(config):
            d.pop(section, None)
    pixels = tuple(config.attack.pixels)
    for row in OLD_DEFAULTS:
        if row.section in d and row.omitted(getattr(getattr(config, row.section), row.name), pixels):
            d[row.section].pop(row.name, None)
    return d


def carried(search: str, values: Mapping[str, Any], pixels: tuple[int, ...] = ()) -> dict[str, Any]:
    """The options of ``values`` (name -> value) that the search hash ``search`` carries: those whose row
    names that hash and that are neither at their old value nor idle at ``pixels``, JSON-ready."""
    if search not in HASHES:
        raise ValueError(f"no search hash {search!r}; one of {', '.join(HASHES)}")
    out: dict[str, Any] = {}
    for row in OLD_DEFAULTS:
        if search in row.hashes and row.name in values and not row.omitted(values[row.name], pixels):
            out[row.name] = _plain(values[row.name])
    return out


def option_values(config: CampaignConfig, search: str) -> dict[str, Any]:
    """name -> value in ``config`` of every option whose row names the search hash ``search``."""
    return {row.name: getattr(getattr(config, row.section), row.name) for row in OLD_DEFAULTS
            if search in row.hashes}


def _plain(value: Any) -> Any:
    """Tuples as lists (how ``config_json`` and hashes hold them)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
