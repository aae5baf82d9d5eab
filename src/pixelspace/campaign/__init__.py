"""Campaigns: a TOML file expands into attack keys, run in batches and stored kill-safe in SQLite.

Examples:
    >>> from pixelspace.campaign import load_config, run_campaign  # doctest: +SKIP
    >>> summary = run_campaign(load_config("campaigns/demo.toml"))  # doctest: +SKIP

See DESIGN.md §5 and ``docs/store-schema.md``.
"""

from pixelspace.campaign.config import CampaignConfig, load_config
from pixelspace.campaign.keys import KeyFields, attack_key, attack_seed, search_hash
from pixelspace.campaign.runner import CampaignSummary, run_campaign
from pixelspace.campaign.status import (
    CampaignStatus,
    ReplayResult,
    campaign_status,
    format_status,
    replay_attack,
)
from pixelspace.campaign.store import SCHEMA_VERSION, Store

__all__ = [
    "SCHEMA_VERSION",
    "CampaignConfig",
    "CampaignStatus",
    "CampaignSummary",
    "KeyFields",
    "ReplayResult",
    "Store",
    "attack_key",
    "attack_seed",
    "campaign_status",
    "format_status",
    "load_config",
    "replay_attack",
    "run_campaign",
    "search_hash",
]
