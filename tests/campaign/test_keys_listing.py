"""Issue 33 item 8: `status --keys` names the search (DE or sparse-rs), and key prefixes ignore case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pixelspace.cli import cli
from tests.campaign.conftest import attack_rows, config_dict, to_toml


@pytest.fixture
def two_search_store(tiny_data: dict[str, Any], tmp_path: Path) -> Path:
    toml = tmp_path / "c.toml"
    toml.write_text(to_toml(config_dict(tiny_data, tmp_path / "store.sqlite", **{
        "attack.search": ["de", "sparse-rs"], "images.count": 2, "sparse_rs.max_queries": 30,
        "regions.names": ["whole"]})))
    out = CliRunner().invoke(cli, ["run", str(toml), "--no-progress"])
    assert out.exit_code == 0, out.output
    return tmp_path / "store.sqlite"


def test_status_keys_names_the_search_and_prefixes_ignore_case(two_search_store: Path) -> None:
    out = CliRunner().invoke(cli, ["status", str(two_search_store), "--keys", "50"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("key "))
    assert lines[header].split()[:3] == ["key", "search", "model"]
    listed = {line.split()[0]: line.split()[1] for line in lines[header + 1:] if line.strip()}
    assert set(listed.values()) == {"de", "sparse-rs"}, out.output
    assert set(listed) == {r[0] for r in attack_rows(two_search_store)}
    key = next(k for k, s in listed.items() if s == "sparse-rs")
    from pixelspace.campaign.store import Store

    with Store.open_readonly(two_search_store) as store:
        assert store.attack(key[:6].upper())["key"] == key
        assert store.attack(key.upper())["key"] == key
    out = CliRunner().invoke(cli, ["replay", str(two_search_store), key[:8].upper(), "--alone"])
    assert out.exit_code == 0, out.output
    assert f"attack {key}" in out.output
