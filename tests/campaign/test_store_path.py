"""A relative ``store`` in a campaign file is taken from the campaign file's folder (issue 33), and every run
says where its store is."""

from __future__ import annotations

import contextlib
import glob
import os
import sqlite3
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pixelspace.campaign import CampaignConfig, load_config
from pixelspace.cli import cli
from tests.campaign.conftest import REPO, config_dict, to_toml


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def test_a_relative_store_is_taken_from_the_campaign_files_folder(tiny_data: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    c1 = tmp_path / "c1"
    c1.mkdir()
    d = config_dict(tiny_data, Path("store.sqlite"))
    (c1 / "small.toml").write_text(to_toml(d))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runner = CliRunner()
    with _cwd(c1):
        out = runner.invoke(cli, ["run", "small.toml", "--no-progress"])
        assert out.exit_code == 0, out.output
    assert (c1 / "store.sqlite").is_file()
    assert f"store {c1.resolve() / 'store.sqlite'}" in out.output  # said before the work starts
    with _cwd(elsewhere):  # issue 33: from another folder this silently started ./store.sqlite
        out = runner.invoke(cli, ["run", "../c1/small.toml", "--no-progress"])
        assert out.exit_code == 0, out.output
    assert not (elsewhere / "store.sqlite").exists()
    assert "12/12 attacks stored (0 now" in out.output, out.output
    assert f"store {c1.resolve() / 'store.sqlite'}" in out.output
    with _cwd(elsewhere):
        assert load_config("../c1/small.toml").campaign.store == str(c1.resolve() / "store.sqlite")
    # an absolute store stays as written; a config built in code keeps a relative path relative to the cwd
    d["campaign"]["store"] = str(tmp_path / "abs.sqlite")
    (c1 / "abs.toml").write_text(to_toml(d))
    assert load_config(c1 / "abs.toml").campaign.store == str(tmp_path / "abs.sqlite")
    assert CampaignConfig.from_dict(config_dict(tiny_data, Path("x.sqlite"))).campaign.store == "x.sqlite"


@pytest.mark.parametrize("path", sorted(glob.glob(str(REPO / "campaigns" / "*.toml"))), ids=os.path.basename)
def test_the_store_line_changes_no_config_hash(path: str) -> None:
    # the store path is not part of the config hash (nor of any attack key): resolving it changes no hash
    written = CampaignConfig.from_dict(tomllib.loads(Path(path).read_text()), path)
    loaded = load_config(path)
    assert loaded.config_hash() == written.config_hash()
    assert loaded.replace(store="anything.sqlite").config_hash() == loaded.config_hash()


@pytest.mark.parametrize("name", ["cifar10-best1bin", "cifar10-de-calibration", "cifar10-scan-500"])
def test_committed_stores_still_match_their_campaign_files(name: str) -> None:
    store = REPO / "results" / name / "store.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as con:
        stored = con.execute("SELECT value FROM meta WHERE key = 'config_hash'").fetchone()[0]
    config = load_config(REPO / "campaigns" / f"{name}.toml")
    assert config.config_hash() == stored
    assert Path(config.campaign.store) == REPO / "stores" / f"{name}.sqlite"  # where the Makefile and docs say
