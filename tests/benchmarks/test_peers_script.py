"""benchmarks/peers.py runs end to end on a tiny budget and records what it measured (no timing asserted)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

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
        # every attack queries at least its initial population of 40; at most the clean image, 40 x (1 + 2
        # generations) and one confirmation: 122 (docs/engine.md's bound 2 + P x (generations + 1))
        assert 3 * 40 <= t["queries"] <= 3 * (2 + 40 * 3)
    assert record["failed"] == []
    assert "faster per attack" not in proc.stdout  # no peer ran, so no speed-up is claimed


def test_peers_names_an_unknown_tool() -> None:
    proc = run_peers("--tools", "raw,foolbox")
    assert proc.returncode == 2
    assert "unknown tool(s) ['foolbox']" in proc.stderr


def test_a_failing_tool_is_reported_and_the_rest_still_run(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    peers = importlib.import_module("peers")

    def broken() -> object:
        raise RuntimeError("peer library missing")

    fine = peers.Outcome("fine", np.array([True, False]), 10, 0.5)
    snapshots: list[tuple[list[str], list[str]]] = []
    outcomes, failed = peers.run_tools([("broken", broken), ("fine", lambda: fine)], 2,
                                       lambda o, f: snapshots.append(([x.tool for x in o], list(f))))
    assert [o.tool for o in outcomes] == ["fine"] and failed == ["broken"]
    # saved before the first tool and after each one, so a run cut short keeps what it measured
    assert snapshots == [([], []), ([], ["broken"]), (["fine"], ["broken"])]
    out = capsys.readouterr()
    assert "FAILED: broken" in out.out and "peer library missing" in out.err
    assert "done: fine: 1/2 fooled" in out.out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA; the test checks the refusal without it")
def test_cuda_without_a_gpu_is_refused() -> None:
    proc = run_peers("--device", "cuda", "--tools", "raw")
    assert proc.returncode == 2
    assert "PyTorch sees no CUDA device here" in proc.stderr
