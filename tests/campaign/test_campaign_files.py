"""Every committed campaign file keeps its config hash, its recorded config and its search hashes.

``fixtures/campaign_files.json`` (``fixtures/pin_campaign_files.py``) was made from ``campaigns/*.toml`` with
the code before the ``[de]`` section got its own type: a campaign file must resume the store it made. The four
files whose stores predate the incremental pass were re-pinned when they got ``incremental = false`` (their
stores' hashes; no search hash changed), which the last test checks against every committed store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pixelspace.campaign.legacy import fill_stored
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
    # an option added since the pin is absent from it and reads as its old value (campaign/legacy.py's table)
    assert now["config_json"] == fill_stored(PINNED[name]["config_json"])
    assert now["de_keys"] == PINNED[name]["de_keys"]  # the [de] table's fields in their order


STORES = sorted(p.parent.name for p in (REPO / "results").glob("*/store.sqlite"))


@pytest.mark.parametrize("name", STORES)
def test_a_committed_store_resumes_with_its_campaign_file(name: str) -> None:
    """``pixelspace run campaigns/<its name>.toml`` accepts the committed store: the same config hash."""
    import contextlib
    import sqlite3

    from pixelspace.campaign.config import CampaignConfig

    store = REPO / "results" / name / "store.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('config_json', 'config_hash')"))
    campaign = json.loads(meta["config_json"])["campaign"]["name"]
    path = REPO / "campaigns" / f"{campaign}.toml"
    assert path.is_file(), f"results/{name} was made by campaign {campaign!r}, which has no file in campaigns/"
    assert CampaignConfig.load(path).config_hash() == meta["config_hash"]
