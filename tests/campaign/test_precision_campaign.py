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


def test_a_reduced_precision_beside_sparse_rs_is_refused_when_the_file_loads_and_before_a_run(
        tiny_data: dict[str, Any], tmp_path: Path) -> None:
    from pixelspace.campaign import load_config
    from tests.campaign.conftest import to_toml

    store = tmp_path / "a.sqlite"
    d = config_dict(tiny_data, store, **{"attack.search": ["de", "sparse-rs"], "attack.precision": "bf16"})
    toml = tmp_path / "a.toml"
    toml.write_text(to_toml(d))
    with pytest.raises(ConfigError, match="attack.precision = 'bf16'.*'sparse-rs'"):
        load_config(toml)  # once silently run at fp32
    with pytest.raises(ConfigError, match="sparse-rs"):  # a config built otherwise (or run --precision)
        run_campaign(CampaignConfig.from_dict(d), progress=False)
    assert not store.exists()  # refused before the store is touched
    assert CampaignConfig.from_stored(d).attack.precision == "bf16"  # a store written so still reads
    fp32 = config_dict(tiny_data, store, **{"attack.search": ["de", "sparse-rs"]})
    toml.write_text(to_toml(fp32))
    load_config(toml)  # at fp32 it loads as before


def test_scan_first_beside_a_reduced_precision_runs_at_fp32_and_says_so(
        tiny_data: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    d = config_dict(tiny_data, tmp_path / "a.sqlite", **{"attack.search": ["scan-first"], "images.count": 1,
                                                         "attack.precision": "bf16"})
    with caplog.at_level("WARNING", logger="pixelspace.campaign.runner"):
        run_campaign(CampaignConfig.from_dict(d), progress=False)
    assert "scan-first runs at fp32" in caplog.text and "'bf16'" in caplog.text


def test_run_precision_overrides_the_campaign_and_an_existing_store_refuses_another(
        tiny_data: dict[str, Any], tmp_path: Path) -> None:
    import json
    import sqlite3

    from click.testing import CliRunner

    from pixelspace.cli import cli
    from tests.campaign.conftest import to_toml

    toml = tmp_path / "tiny.toml"
    store = tmp_path / "store.sqlite"
    toml.write_text(to_toml(config_dict(tiny_data, store, **{"images.count": 1})))
    runner = CliRunner()
    out = runner.invoke(cli, ["run", str(toml), "--no-progress", "--precision", "bf16"])
    assert out.exit_code == 0, out.output
    with sqlite3.connect(store) as con:
        cfg = json.loads(con.execute("SELECT value FROM meta WHERE key = 'config_json'").fetchone()[0])
    assert cfg["attack"]["precision"] == "bf16"
    # the file says fp32: resuming this bf16 store without --precision bf16 is refused by its config hash
    out = runner.invoke(cli, ["run", str(toml), "--no-progress"])
    assert out.exit_code != 0 and "another campaign config" in out.output and "attack.precision" in out.output
    out = runner.invoke(cli, ["run", str(toml), "--no-progress", "--precision", "fp16"])
    assert out.exit_code != 0 and "attack.precision" in out.output, out.output
    assert runner.invoke(cli, ["run", str(toml), "--no-progress", "--precision", "bf16"]).exit_code == 0
    out = runner.invoke(cli, ["run", str(toml), "--precision", "half"])
    assert out.exit_code != 0 and "half" in out.output
