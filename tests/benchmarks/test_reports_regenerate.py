"""benchmarks/reports_regenerate.py rebuilds each committed report with the command that made it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.report.store_factory import make_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def regen(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    return importlib.import_module("reports_regenerate")


def _results(root: Path, name: str, report: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    make_store(folder / "store.sqlite", models=("nin-cifar10",), n_images=1, targeted_images=0)
    (folder / "report.md").write_text(report, encoding="utf-8")
    return folder


def test_a_joined_report_is_regenerated_with_its_joined_store(regen: ModuleType, tmp_path: Path) -> None:
    scan = _results(tmp_path, "cifar10-scan-500", "# pixelspace report: cifar10-scan-500\n")
    sparse = _results(tmp_path, "cifar10-sparse-500", "# title\n\n## What this run shows\n\nThe verdict.\n\n"
                      "Joined with the store of campaign `cifar10-scan-500` (store.sqlite): 500 images ...\n")
    cmd = regen.report_command(sparse, tmp_path / "out")
    assert cmd[:2] == [sys.executable, "-m"] and cmd[-2:] == ["--with", str(scan / "store.sqlite")]
    assert "--with" not in regen.report_command(scan, tmp_path / "out2")
    missing = _results(tmp_path, "lonely", "Joined with the store of campaign `gone` (store.sqlite): 3 images\n")
    with pytest.raises(SystemExit, match="joined with campaign gone, and no store of it"):
        regen.report_command(missing, tmp_path / "out3")
