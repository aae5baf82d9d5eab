"""benchmarks/peers.py runs end to end on a tiny budget and records what it measured (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_peers(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "peers.py"), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_peers_saves_per_image_results(tmp_path: Path) -> None:
    out = tmp_path / "peers.json"
    proc = run_peers("--model", "cnn8-cifar10", "--images", "3", "--population", "40", "--generations", "2",
                     "--seconds", "0.05", "--tools", "raw,pixelspace-peer,pixelspace-nomemo", "--save", str(out))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["args"]["images"] == 3 and len(record["sample_indices"]) == 3
    assert record["raw_images_per_s"] > 0
    tools = record["tools"]
    assert [t["tool"] for t in tools] == ["pixelspace (best1bin, check best)", "pixelspace (defaults, no memo)"]
    for t in tools:
        assert len(t["success"]) == 3
        # every attack queries at least its initial population of 40, at most 40 x (1 + 2 generations)
        assert 3 * 40 <= t["queries"] <= 3 * 40 * 3
    assert "faster per attack" not in proc.stdout  # no peer ran, so no speed-up is claimed


def test_peers_names_an_unknown_tool() -> None:
    proc = run_peers("--tools", "raw,foolbox")
    assert proc.returncode == 2
    assert "unknown tool(s) ['foolbox']" in proc.stderr
