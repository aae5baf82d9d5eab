"""benchmarks/colour_set.py on a tiny 27-colour scan campaign: its counts agree with the maps."""

from __future__ import annotations

import importlib.util
import io
import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from pixelspace.campaign import run_campaign
from pixelspace.outcomes import VulnerabilityMap

ROOT = Path(__file__).resolve().parents[2]


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("colour_set", ROOT / "benchmarks" / "colour_set.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_colour_set_counts_corner_and_non_corner_fools(make_config: Any, tmp_path: Path) -> None:
    cfg = make_config(**{"attack.search": ["scan"], "scan.colors": "grid", "scan.levels": 3})
    run_campaign(cfg, progress=False)
    out = tmp_path / "colour_set.txt"
    assert _script().main([str(cfg.campaign.store), "--out", str(out)]) == 0
    rows = [ln for ln in out.read_text().splitlines() if ln.startswith("tiny ")]
    assert [ln.split()[1] for ln in rows] == ["whole", "foreground", "background"]
    with sqlite3.connect(cfg.campaign.store) as conn:
        maps = [VulnerabilityMap.from_npz(io.BytesIO(b)) for (b,) in conn.execute("SELECT npz FROM scans")]
    corner = np.all((maps[0].colors == 0) | (maps[0].colors == 255), axis=1)
    assert len(maps[0].colors) == 27 and corner.sum() == 8
    flips = [(m.predicted != m.label) & (m.predicted >= 0) for m in maps]
    any_colour = sum(bool(f.any()) for f in flips)
    by_corner = sum(bool(f[..., corner].any()) for f in flips)
    images = int(rows[0].split()[2])
    counts = [int(k) for k in re.findall(r"(\d+) \(", rows[0])]  # any colour, corners, non-corner only
    assert images == len(maps) and counts[:2] == [any_colour, by_corner]
    assert counts[2] == any_colour - by_corner  # the corners are a subset: "only" = any - corners
