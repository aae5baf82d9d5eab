"""benchmarks/incremental.py: its SparseRandomSearch rows time the routes asked for and compare their decisions."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pixelspace.data.samples import load_cifar10_sample
from pixelspace.models import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    return importlib.import_module("incremental")


def _args(routes: str, regions: str) -> argparse.Namespace:
    return argparse.Namespace(search_attacks=3, search_queries=40, search_pixels="3", search_routes=routes,
                              search_regions=regions, seconds=0.05)


def test_search_rows_time_only_the_routes_and_regions_asked(script: ModuleType) -> None:
    module, sample = load("cnn8-cifar10"), load_cifar10_sample()
    rows = script.search_block(module, "cnn8-cifar10", 16, sample, _args("points,ahead", "30%"), 100.0, 100.0)
    assert [(r["pixels"], r["region"]) for r in rows] == [(3, "30%")]
    row = rows[0]
    assert row["routes"] == ["points", "ahead"] and row["compared_with"] == "points"
    assert "clean" not in row and "clean_cpu" not in row and row["ahead_cpu"] > 0
    assert row["decisions_differing"] == {}  # the look-ahead decides as the points one at a time do


def test_search_rows_with_the_default_route_alone_compare_nothing(script: ModuleType,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rows = script.search_block(load("cnn8-cifar10"), "cnn8-cifar10", 16, load_cifar10_sample(),
                               _args("ahead", "whole"), 100.0, 100.0)
    assert len(rows) == 1 and rows[0]["routes"] == ["ahead"] and rows[0]["region"] == "whole"
    assert rows[0]["compared_with"] == "ahead" and rows[0]["queries"] > 0
    printed = capsys.readouterr().out
    assert "one route: not compared" in printed and "decisions against" not in printed


@pytest.mark.parametrize("flag", [["--search-routes", "clean,points"], ["--search-routes", "ahead,fast"],
                                  ["--search-regions", "centre"]])
def test_a_route_or_region_it_does_not_know_is_refused_before_any_work(flag: list[str]) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "incremental.py"), *flag],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert flag[0] in done.stderr and "torch" not in done.stdout  # refused before the header, no model loaded
