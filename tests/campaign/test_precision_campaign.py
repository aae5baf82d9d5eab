"""`[attack] precision` in campaigns: fp32 keeps every old hash and key, another precision makes new keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pixelspace.campaign import CampaignConfig, run_campaign
from pixelspace.errors import ConfigError
from tests.campaign.conftest import attack_rows, config_dict


def test_fp32_keeps_the_config_hash_and_keys_of_stores_made_before_the_option(
        tiny_data: dict[str, Any], tmp_path: Path) -> None:
    before = CampaignConfig.from_dict(config_dict(tiny_data, tmp_path / "a.sqlite"))
    explicit = CampaignConfig.from_dict(config_dict(tiny_data, tmp_path / "a.sqlite", **{"attack.precision": "fp32"}))
    low = CampaignConfig.from_dict(config_dict(tiny_data, tmp_path / "b.sqlite", **{"attack.precision": "bf16"}))
    assert before.config_hash() == explicit.config_hash() != low.config_hash()
    assert "precision" not in before.result_dict()["attack"]
    run_campaign(explicit, progress=False)
    run_campaign(low, progress=False)
    rows_a, rows_b = attack_rows(Path(explicit.campaign.store)), attack_rows(Path(low.campaign.store))
    assert len(rows_a) == len(rows_b) == 12
    assert not {r[0] for r in rows_a} & {r[0] for r in rows_b}  # bf16 attacks have keys of their own
    assert {(r[2], r[3]) for r in rows_a} == {(r[2], r[3]) for r in rows_b}  # the same images and regions


def test_a_misspelt_precision_is_a_config_error(tiny_data: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="attack.precision"):
        CampaignConfig.from_dict(config_dict(tiny_data, tmp_path / "a.sqlite", **{"attack.precision": "float16"}))
