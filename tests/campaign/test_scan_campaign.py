"""Campaigns with ``search = "scan"`` / ``"scan-first"``: rows, maps, keys, resume, status and replay."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from pixelspace.attack.scan import PixelScan, region_stats
from pixelspace.campaign import run_campaign
from pixelspace.campaign.scan_batches import map_from_npz
from pixelspace.campaign.status import campaign_status, format_status, replay_attack
from pixelspace.errors import ConfigError
from tests.campaign.conftest import attack_rows
from tests.campaign.tinynet import tiny_cnn


def _rows(store: Path) -> list[dict[str, Any]]:
    import json

    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        cur = conn.execute("SELECT key, image_id, region, mode, target, search_hash, success, queries, record "
                           "FROM attacks")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r, strict=True)) | {"record": json.loads(r[-1])} for r in cur.fetchall()]


def _maps(store: Path) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT model, image_id, search_hash, queries, npz FROM scans").fetchall()


def test_scan_rows_agree_with_a_direct_scan(make_config: Any, tiny_data: dict[str, Any]) -> None:
    cfg = make_config(**{"attack.search": ["de", "scan"]})
    run_campaign(cfg, progress=False)
    rows = _rows(Path(cfg.campaign.store))
    scan_rows = [r for r in rows if r["record"].get("search") == "scan"]
    de_rows = [r for r in rows if "search" not in r["record"]]
    assert len(de_rows) == len(scan_rows) == 4 * 3  # 4 images x 3 regions, once per search
    assert {r["search_hash"] for r in scan_rows}.isdisjoint({r["search_hash"] for r in de_rows})
    maps = _maps(Path(cfg.campaign.store))
    assert len(maps) == 4  # one map per image: the whole image covers every region
    ids = list(tiny_data["ids"])
    net = tiny_cnn().eval()
    for _model, image_id, _, queries, npz in maps:
        vmap = map_from_npz(npz)
        assert queries == 8 * 8 * 8 + 1 == vmap.queries
        i = ids.index(image_id)
        direct = PixelScan(batch_size=16)(net, tiny_data["images"][i][None])[0]
        np.testing.assert_array_equal(direct.predicted, vmap.predicted)
        fg = tiny_data["fg"][i]
        for region, mask in (("whole", np.ones_like(fg)), ("foreground", fg), ("background", ~fg)):
            row = next(r for r in scan_rows if r["image_id"] == image_id and r["region"] == region)
            st = region_stats(direct, mask)
            assert row["success"] == st.success
            assert row["record"]["flipping_pixels"] == st.flipping_pixels
            assert row["queries"] == int(mask.sum()) * 8 + 1
            assert row["record"]["reachable_classes"] == direct.reachable_classes(mask).tolist()
            if st.success:  # the recorded pixel and colour flip the net
                (r, c), colour = row["record"]["pixels"][0], row["record"]["colors"][0]
                adv = tiny_data["images"][i].copy()
                adv[r, c] = colour
                with torch.inference_mode():
                    pred = int(net(torch.from_numpy(adv).permute(2, 0, 1)[None].float() / 255).argmax())
                assert pred != row["record"]["label"] and mask[r, c]


def test_scan_first_rows_are_keyed_and_reproducible(make_config: Any, tiny_data: dict[str, Any]) -> None:
    settings = {"attack.search": "scan-first", "attack.modes": ["untargeted", "targeted"], "images.count": 2,
                "scan.per_round": 128, "execution.attacks_per_batch": 8, "execution.batch_size": 512}
    cfg = make_config(**settings)
    run_campaign(cfg, progress=False)
    store = Path(cfg.campaign.store)
    rows = _rows(store)
    assert len(rows) == 2 * 3 * (1 + 9)
    assert all(r["record"]["search"] == "scan-first" for r in rows)
    for r in rows:
        rec = r["record"]
        if r["success"]:
            assert rec["first_hit"] >= 1 and rec["queries"] >= rec["first_hit"] + 1
            hit = rec["predicted"] == rec["target"] if r["mode"] == "targeted" else rec["predicted"] != rec["label"]
            assert hit
    rep = replay_attack(store, rows[0]["key"])
    assert rep.identical, rep.differences
    # the same campaign in another store: identical rows
    again = make_config("again.sqlite", **settings)
    run_campaign(again, progress=False)
    assert attack_rows(store) == attack_rows(Path(again.campaign.store))


def test_scan_campaign_resumes_without_duplicates(make_config: Any) -> None:
    cfg = make_config(**{"attack.search": ["scan"], "execution.attacks_per_batch": 1})
    full = make_config("full.sqlite", **{"attack.search": ["scan"]})
    run_campaign(full, progress=False)
    store = Path(cfg.campaign.store)
    run_campaign(cfg, progress=False)
    with contextlib.closing(sqlite3.connect(store)) as conn:  # lose the last image's rows and map
        image = conn.execute("SELECT image_id FROM scans ORDER BY image_id DESC LIMIT 1").fetchone()[0]
        conn.execute("DELETE FROM attacks WHERE image_id = ?", (image,))
        conn.execute("DELETE FROM scans WHERE image_id = ?", (image,))
        conn.commit()
    summary = run_campaign(cfg, progress=False)
    assert summary.attacks_run == 3 and summary.complete
    assert attack_rows(store) == attack_rows(Path(full.campaign.store))
    assert len(_maps(store)) == 4
    status = campaign_status(store)
    assert {r.search for r in status.rows} == {"scan"} and status.done == status.total == 12
    assert " scan " in format_status(status)


def test_de_only_config_hash_is_unchanged_by_scan_settings(make_config: Any) -> None:
    a = make_config()
    b = make_config(**{"scan.stride": 2})
    assert a.config_hash() == b.config_hash()  # [scan] only matters when a scan runs
    c = make_config(**{"attack.search": ["de", "scan"]})
    d = make_config(**{"attack.search": ["de", "scan"], "scan.stride": 2})
    assert len({a.config_hash(), c.config_hash(), d.config_hash()}) == 3


def test_scan_stride_scans_a_grid(make_config: Any) -> None:
    cfg = make_config(**{"attack.search": "scan", "scan.stride": 2})
    run_campaign(cfg, progress=False)
    for *_, queries, npz in _maps(Path(cfg.campaign.store)):
        vmap = map_from_npz(npz)
        assert vmap.scanned.sum() == 16 and queries == 16 * 8 + 1
        assert vmap.scanned[::2, ::2].all()


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"attack.search": "sacn"}, "attack.search"),
        ({"attack.search": ["scan", "scan"]}, "once each"),
        ({"attack.search": "scan", "attack.pixels": [3]}, "add 1 to attack.pixels"),
        ({"scan.stride": 0}, "scan.stride"),
        ({"scan.colour": "grid"}, "did you mean 'colors'"),
    ],
)
def test_bad_scan_settings_are_named(make_config: Any, updates: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_config(**updates)


def test_report_has_the_scan_section(make_config: Any, tmp_path: Path) -> None:
    from pixelspace.report import write_report
    from pixelspace.report.stored import load_store

    cfg = make_config(**{"attack.search": ["de", "scan", "scan-first"], "execution.batch_size": 512})
    run_campaign(cfg, progress=False)
    store = load_store(cfg.campaign.store)
    assert len(store.scan_rows) == len(store.scan_first_rows) == len(store.results) == 12
    assert len(store.scans) == 4
    paths = write_report(cfg.campaign.store, tmp_path / "report")
    md = paths.markdown.read_text()
    assert "## Pixel vulnerability maps (scan)" in md
    for needle in ("The scan beside Table II", "signed distance to the foreground outline",
                   "| tiny | eroded 2 px |", "| tiny | dilated 1 px |", "The scan as an attack", "scan_maps.png", "fig3_scan_reachable_classes"):
        assert needle in md, needle
    table2 = md.split("## Table II")[1].split("\n## ")[0]
    assert "/4)" in table2 and "/8)" not in table2  # DE rows only: 4 images per region, scans not mixed in
    assert {p.name for p in paths.figures} >= {"scan_maps.png", "fig3_scan_reachable_classes.png"}


def test_the_replay_command_reports_a_scan_row(make_config: Any) -> None:
    """A scan row has no ``confidence`` (it records the region's lowest probability of the class instead):
    ``pixelspace replay`` prints what the row holds."""
    from click.testing import CliRunner

    from pixelspace.cli import cli

    cfg = make_config(**{"attack.search": ["scan"], "images.count": 1})
    run_campaign(cfg, progress=False)
    row = next(r for r in _rows(Path(cfg.campaign.store)) if r["region"] == "whole")
    assert "confidence" not in row["record"]
    out = CliRunner().invoke(cli, ["replay", str(cfg.campaign.store), row["key"]])
    assert out.exit_code == 0, out.output
    assert f"success {row['record']['success']}, predicted {row['record']['predicted']}, generations 0" in out.output
    assert "reproduces the stored row exactly" in out.output
