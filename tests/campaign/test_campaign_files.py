"""Every committed campaign file keeps its config hash, its recorded config and its search hashes.

``fixtures/campaign_files.json`` (``fixtures/pin_campaign_files.py``) was made from ``campaigns/*.toml`` with
the code before the ``[de]`` section got its own type: a campaign file must resume the store it made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.campaign.fixtures.pin_campaign_files import pin

REPO = Path(__file__).resolve().parents[2]
PINNED: dict[str, Any] = json.loads((Path(__file__).resolve().parent / "fixtures" / "campaign_files.json").read_text())


def test_every_committed_campaign_file_is_pinned() -> None:
    assert sorted(PINNED) == sorted(p.name for p in (REPO / "campaigns").glob("*.toml"))
    # the files that write the [de] section's attack settings are among them
    assert sum(v["config_json"]["de"]["success_check"] == "best" for v in PINNED.values()) >= 8


@pytest.mark.parametrize("name", sorted(PINNED))
def test_a_committed_campaign_file_keeps_its_hashes(name: str) -> None:
    now = pin(REPO / "campaigns" / name)
    assert now["config_hash"] == PINNED[name]["config_hash"]
    assert now["search_hashes"] == PINNED[name]["search_hashes"]
    assert now["config_json"] == PINNED[name]["config_json"]
    assert now["de_keys"] == PINNED[name]["de_keys"]  # the [de] table's fields in their order
