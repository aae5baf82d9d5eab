"""Compact store records: float32-exact short floats, histories only where a figure draws them, replay intact."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from pixelspace.campaign import replay_attack, run_campaign
from pixelspace.campaign.records import COMPACT, compact_record


def _full_record(generations: int = 100) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    p = [float(np.float32(v)) for v in rng.random(5)]
    return {"success": False, "pixels": [[3, 4]], "colors": [[1, 2, 3]], "changed": 1, "predicted": 7,
            "confidence": p[0], "target_probability": p[1], "clean_probability": p[2], "label": 7, "target": 2,
            "clean_top5_classes": [7, 4, 5, 1, 9], "clean_top5_probs": p, "adv_top5_classes": [7, 4, 5, 1, 9],
            "adv_top5_probs": p, "adv_probs_of_clean_top5": p, "generations": generations, "queries": 40401,
            "fitness_history": [float(np.float32(v)) for v in np.sort(rng.random(generations + 1))[::-1]],
            "seed": 6058612926114100529, "region_size": 1024, "mode": "targeted", "region_mode": "restrict",
            "_map": {"npz": b""}}


def test_compact_record_keeps_every_float32_and_drops_what_no_reader_needs() -> None:
    full = _full_record()
    targeted = compact_record(full, early_stop=True, pixels=3, mode="targeted")
    assert "seed" not in targeted and "fitness_history" not in targeted and "_map" not in targeted
    for key in ("confidence", "target_probability", "clean_probability"):
        assert np.float32(targeted[key]) == np.float32(full[key])  # the same float32, fewer digits
        assert len(repr(targeted[key])) <= 14
    assert [np.float32(v) for v in targeted["adv_top5_probs"]] == [np.float32(v) for v in full["adv_top5_probs"]]
    # a failed 100-generation targeted attack, the grid's commonest row, fits well under 1 KB
    assert len(json.dumps(targeted, separators=(",", ":"))) < 650 < len(json.dumps({k: v for k, v in full.items() if k != "_map"}))
    curve = compact_record(full, early_stop=False, pixels=3, mode="targeted")
    assert [np.float32(v) for v in curve["fitness_history"]] == [np.float32(v) for v in full["fitness_history"]]
    assert "fitness_history" in compact_record(full, early_stop=True, pixels=1, mode="untargeted")


def test_a_new_store_is_compact_and_its_rows_still_replay(make_config: Any) -> None:
    cfg = make_config(**{"attack.modes": ["untargeted", "targeted"], "fitness_curves.images": 1})
    run_campaign(cfg, progress=False)
    path = Path(cfg.campaign.store)
    with sqlite3.connect(path) as conn:
        assert dict(conn.execute("SELECT key, value FROM meta"))["record_format"] == COMPACT
        rows = conn.execute("SELECT key, mode, early_stop, record FROM attacks").fetchall()
    assert {r[1] for r in rows} == {"untargeted", "targeted"}
    for _key, mode, early_stop, record in rows:
        rec = json.loads(record)
        assert "seed" not in rec
        assert ("fitness_history" in rec) == (mode == "untargeted" or not early_stop)
    targeted_key = next(r[0] for r in rows if r[1] == "targeted")
    for key in (targeted_key, rows[0][0]):
        res = replay_attack(path, key)
        assert res.identical, res.differences


def test_a_store_made_before_compact_records_keeps_full_records(make_config: Any) -> None:
    cfg = make_config()
    path = Path(cfg.campaign.store)
    from tests.campaign.test_runner import FailingBackend

    try:
        run_campaign(cfg, progress=False, backend=FailingBackend(after=1))
    except RuntimeError:
        pass
    with sqlite3.connect(path) as conn:  # make it look like a store written before the compact form
        conn.execute("DELETE FROM meta WHERE key = 'record_format'")
        conn.execute("DELETE FROM attacks")
    run_campaign(cfg, progress=False)
    with sqlite3.connect(path) as conn:
        records = [json.loads(r[0]) for r in conn.execute("SELECT record FROM attacks")]
    assert records and all("seed" in r and "fitness_history" in r for r in records)
