"""Campaigns with ``search = ["de", "sparse-rs"]``: rows, keys, hashes, replay and the report section."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pixelspace.campaign import run_campaign
from pixelspace.campaign.config import CampaignConfig
from pixelspace.campaign.keys import sparse_rs_hash, sparse_rs_settings
from pixelspace.campaign.status import replay_attack
from pixelspace.errors import ConfigError
from pixelspace.report.render import write_report
from tests.campaign.conftest import attack_rows


def _rows(store: Path) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        cur = conn.execute("SELECT key, image_id, region, pixels, mode, search_hash, success, queries, record "
                           "FROM attacks")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r, strict=True)) | {"record": json.loads(r[-1])} for r in cur.fetchall()]


def test_sparse_rs_rows_beside_de_replay_and_report(make_config: Any, tiny_data: dict[str, Any],
                                                    tmp_path: Path) -> None:
    settings = {"attack.search": ["de", "sparse-rs"], "attack.pixels": [1, 2], "images.count": 2,
                "sparse_rs.max_queries": 60}
    cfg = make_config(**settings)
    run_campaign(cfg, progress=False)
    store = Path(cfg.campaign.store)
    rows = _rows(store)
    sparse = [r for r in rows if r["record"].get("search") == "sparse-rs"]
    de = [r for r in rows if "search" not in r["record"]]
    assert len(sparse) == len(de) == 2 * 3 * 2  # 2 images x 3 regions x 2 pixel counts, once per search
    assert {r["search_hash"] for r in sparse}.isdisjoint({r["search_hash"] for r in de})
    assert {r["key"] for r in sparse}.isdisjoint({r["key"] for r in de})
    masks = {(i, reg): m for i, reg, m in _masks(tiny_data)}
    for r in sparse:
        assert r["queries"] <= 60
        assert np.array(r["record"]["pixels"]).shape == (r["pixels"], 2)
        mask = masks[(r["image_id"], r["region"])]
        # every pixel is placed inside the image and the region (a restored pixel would read (-1, -1))
        assert all(0 <= rr < mask.shape[0] and 0 <= cc < mask.shape[1] and mask[rr, cc]
                   for rr, cc in r["record"]["pixels"]), r["record"]["pixels"]
    for k in (1, 2):  # one pixel enumerates (pixel, corner) pairs, two run the random search
        rep = replay_attack(store, next(r["key"] for r in sparse if r["pixels"] == k))
        assert rep.identical, rep.differences
    assert len({r["search_hash"] for r in sparse if r["pixels"] == 1}
               | {r["search_hash"] for r in sparse if r["pixels"] == 2}) == 2  # single_pixel hashes at k = 1 only
    # the same campaign in another store: identical rows
    again = make_config("again.sqlite", **settings)
    run_campaign(again, progress=False)
    assert attack_rows(store) == attack_rows(Path(again.campaign.store))
    md = write_report(store, tmp_path / "report").markdown.read_text()
    assert "Sparse random search beside DE" in md
    section = md.split("Sparse random search beside DE", 1)[1]
    assert "at most 60 queries per attack" in section


def _masks(tiny_data: dict[str, Any]) -> list[tuple[str, str, np.ndarray]]:
    out = []
    for i, image_id in enumerate(tiny_data["ids"]):
        fg = tiny_data["fg"][i]
        out += [(image_id, "whole", np.ones_like(fg)), (image_id, "foreground", fg), (image_id, "background", ~fg)]
    return out


def test_sparse_rs_settings_enter_the_hash_only_when_searched(make_config: Any) -> None:
    de_only = make_config()
    assert "sparse_rs" not in de_only.result_dict()
    assert make_config(**{"sparse_rs.max_queries": 99}).config_hash() == de_only.config_hash()
    with_rs = make_config(**{"attack.search": ["de", "sparse-rs"]})
    assert 1 in with_rs.attack.pixels  # the fixture's grid has one-pixel rows, so single_pixel is hashed
    assert with_rs.result_dict()["sparse_rs"] == {"max_queries": 10_000, "p_init": 0.3, "first_color": "opposite",
                                                  "single_pixel": "enumerate"}
    three = make_config(**{"attack.search": ["de", "sparse-rs"], "attack.pixels": [3]})
    assert "single_pixel" not in three.result_dict()["sparse_rs"]  # no effect above one pixel: not hashed
    changed = make_config(**{"attack.search": ["de", "sparse-rs"], "sparse_rs.p_init": 0.8})
    assert changed.config_hash() != with_rs.config_hash()


def test_a_store_written_before_first_color_reads_as_random_and_keeps_its_hashes(make_config: Any) -> None:
    cfg = make_config(**{"attack.search": ["de", "sparse-rs"]})
    random_cfg = cfg.replace(**{"sparse_rs.first_color": "random", "sparse_rs.single_pixel": "random"})
    # the settings the older code hashed: no first_color or single_pixel key at all
    assert random_cfg.result_dict()["sparse_rs"] == {"max_queries": 10_000, "p_init": 0.3}
    for k in (1, 3):
        settings = sparse_rs_settings(random_cfg.sparse_rs, "restrict", True, pixels=k)
        assert "first_color" not in settings and "single_pixel" not in settings
        assert (sparse_rs_hash(random_cfg.sparse_rs, "restrict", True, pixels=k)
                != sparse_rs_hash(cfg.sparse_rs, "restrict", True, pixels=k))
    # single_pixel changes the hash of one-pixel rows only
    enum_only = cfg.replace(**{"sparse_rs.first_color": "random"})
    assert (sparse_rs_hash(enum_only.sparse_rs, "restrict", True, pixels=3)
            == sparse_rs_hash(random_cfg.sparse_rs, "restrict", True, pixels=3))
    assert (sparse_rs_hash(enum_only.sparse_rs, "restrict", True, pixels=1)
            != sparse_rs_hash(random_cfg.sparse_rs, "restrict", True, pixels=1))
    old = cfg.to_dict()
    del old["sparse_rs"]["first_color"], old["sparse_rs"]["single_pixel"]  # a config stored before the options
    stored = CampaignConfig.from_stored(old)
    assert stored.sparse_rs.first_color == stored.sparse_rs.single_pixel == "random"
    assert stored.config_hash() == random_cfg.config_hash() != cfg.config_hash()
    with pytest.raises(ConfigError, match="sparse_rs.first_color"):
        make_config(**{"sparse_rs.first_color": "opposit"})
    with pytest.raises(ConfigError, match="sparse_rs.single_pixel"):
        make_config(**{"sparse_rs.single_pixel": "enumerated"})


def test_sparse_rs_settings_are_checked(make_config: Any) -> None:
    with pytest.raises(ConfigError, match="sparse_rs.max_queries"):
        make_config(**{"sparse_rs.max_queries": 2})
    with pytest.raises(ConfigError, match="sparse_rs.p_init"):
        make_config(**{"sparse_rs.p_init": 1.5})
    # unlike the scans, the random search needs no 1-pixel attacks
    make_config(**{"attack.search": ["sparse-rs"], "attack.pixels": [3]})
