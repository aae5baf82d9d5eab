"""benchmarks/replay_sweep.py replays a store's batches and notices a stored row the code no longer gives."""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pixelspace.cli import cli
from tests.campaign.conftest import config_dict, to_toml

ROOT = Path(__file__).resolve().parents[2]


def sweep(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the tiny campaign's model factory lives in tests/
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "replay_sweep.py"), *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)


def _tiny_store(tiny_data: dict[str, Any], tmp_path: Path) -> Path:
    """The tiny campaign (12 attacks in 6 batches of 2), run into a store under ``tmp_path``."""
    store = tmp_path / "store.sqlite"
    toml = tmp_path / "tiny.toml"
    toml.write_text(to_toml(config_dict(tiny_data, store)))
    assert CliRunner().invoke(cli, ["run", str(toml), "--no-progress"]).exit_code == 0
    return store


def test_every_batch_replays_and_a_changed_row_is_caught(tiny_data: dict[str, Any], tmp_path: Path) -> None:
    store = _tiny_store(tiny_data, tmp_path)
    (n,) = sqlite3.connect(store).execute("SELECT count(*) FROM attacks").fetchone()
    assert n == 12
    con = sqlite3.connect(store)  # one stored row the search would not give: one more generation
    key, record = con.execute("SELECT key, record FROM attacks ORDER BY key LIMIT 1").fetchone()
    rec = json.loads(record)
    rec["generations"] = int(rec.get("generations", 0)) + 1
    con.execute("UPDATE attacks SET record = ?, generations = generations + 1 WHERE key = ?", (json.dumps(rec), key))
    con.commit()
    con.close()
    out = sweep(str(store), "--all")
    assert out.returncode == 1, out.stdout + out.stderr  # a row took another path
    assert f"{n - 1} of {n} rows exact, {n - 1} same search path" in out.stdout  # every other row replays exactly
    assert f"of {n // 2} batches with stored rows replayed" in out.stdout  # attacks_per_batch = 2


def test_a_store_from_another_device_is_skipped_unless_asked_and_search_filters_cells(
        tiny_data: dict[str, Any], tmp_path: Path) -> None:
    store = _tiny_store(tiny_data, tmp_path)
    con = sqlite3.connect(store)  # as if made on a GPU
    con.execute("UPDATE meta SET value = 'cuda' WHERE key = 'device'")
    con.commit()
    con.close()
    out = sweep(str(store), "--all")
    assert out.returncode == 0 and "made on cuda; skipped" in out.stdout, out.stdout + out.stderr
    out = sweep(str(store), "--all", "--device", "cpu", "--search", "scan")  # a DE-only store: no scan cell
    assert out.returncode == 0 and "0 of 0 batches with stored rows replayed" in out.stdout, out.stdout + out.stderr
    out = sweep(str(store), "--per-cell", "1", "--device", "cpu", "--search", "de")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "rows exact" in out.stdout and "skipped" not in out.stdout


def test_a_ledger_resumes_a_sweep_without_replaying_a_batch_twice(tiny_data: dict[str, Any], tmp_path: Path) -> None:
    store = _tiny_store(tiny_data, tmp_path)
    ledger = tmp_path / "ledger.jsonl"
    first = sweep(str(store), "--all", "--ledger", str(ledger), "--max-seconds", "0")  # time is up at once
    assert first.returncode == 0 and "time is up after 0 of 6 batches" in first.stdout, first.stdout + first.stderr
    assert not ledger.exists() or ledger.read_text() == ""
    second = sweep(str(store), "--per-cell", "1", "--ledger", str(ledger), "--jobs", "2")
    assert second.returncode == 0, second.stdout + second.stderr
    lines = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert len(lines) >= 1 and all(x["exit"] == 0 and x["exact"] == x["rows"] == 2 for x in lines)
    assert all(x["options"] == {"cpu_capability": "store", "threads": "store", "device": None} for x in lines)
    assert all(x["ran_with"]["threads"] >= 1 for x in lines)
    third = sweep(str(store), "--all", "--ledger", str(ledger), "--jobs", "2")
    assert third.returncode == 0, third.stdout + third.stderr
    assert f"{len(lines)} of 6 batches already in" in third.stdout
    again = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert len(again) == 6 and len({x["key"] for x in again}) == 6  # each batch replayed once over the three runs
    assert "6 of 6 batches with stored rows replayed (1 cells): 12 of 12 rows exact, 12 same search path" in third.stdout
    other = sweep(str(store), "--all", "--ledger", str(ledger), "--threads", "1", "--max-seconds", "0")
    assert "already in" not in other.stdout  # other options: the earlier lines do not count


def test_batches_replayed_in_one_process_agree_and_a_changed_row_is_still_caught(
        tiny_data: dict[str, Any], tmp_path: Path) -> None:
    store = _tiny_store(tiny_data, tmp_path)
    ledger = tmp_path / "ledger.jsonl"
    out = sweep(str(store), "--all", "--per-process", "4", "--jobs", "2", "--ledger", str(ledger))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "6 of 6 batches with stored rows replayed (1 cells): 12 of 12 rows exact, 12 same search path" in out.stdout
    lines = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert len(lines) == 6 and {x["process"] for x in lines} == {"shared"} and all(x["ran_with"] for x in lines)
    con = sqlite3.connect(store)  # the last batch's rows: one that the search would not give
    key, record = con.execute("SELECT key, record FROM attacks ORDER BY rowid DESC LIMIT 1").fetchone()
    rec = json.loads(record)
    rec["queries"] = int(rec["queries"]) + 1
    con.execute("UPDATE attacks SET record = ?, queries = queries + 1 WHERE key = ?", (json.dumps(rec), key))
    con.commit()
    con.close()
    out = sweep(str(store), "--all", "--per-process", "6")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "11 of 12 rows exact, 11 same search path" in out.stdout


def test_a_replay_process_that_cannot_start_fails_the_sweep(tiny_data: dict[str, Any], tmp_path: Path) -> None:
    store = _tiny_store(tiny_data, tmp_path)
    for per_process in ("1", "3"):  # `pixelspace replay` refuses the thread count; the shared process stops at once
        out = sweep(str(store), "--per-cell", "1", "--threads", "bogus", "--per-process", per_process)
        assert out.returncode == 1, (per_process, out.stdout + out.stderr)
        assert "bogus" in out.stdout, (per_process, out.stdout)


def test_batches_made_with_kernels_this_cpu_lacks_are_skipped_unless_asked(
        tiny_data: dict[str, Any], tmp_path: Path) -> None:
    store = _tiny_store(tiny_data, tmp_path)
    con = sqlite3.connect(store)  # as if every row came from an ARM machine's SVE kernels, which no x86 CPU runs
    ((details,),) = con.execute("SELECT details FROM runs").fetchall()
    con.execute("UPDATE runs SET details = ?", (json.dumps({**json.loads(details), "cpu_capability": "SVE256"}),))
    con.commit()
    con.close()
    ledger = tmp_path / "ledger.jsonl"
    out = sweep(str(store), "--all", "--ledger", str(ledger))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "6 batches made with PyTorch's SVE256 CPU kernels, which this CPU cannot run: skipped" in out.stdout
    assert "0 of 6 batches with stored rows replayed" in out.stdout and not ledger.exists()
    out = sweep(str(store), "--all", "--ledger", str(ledger), "--other-level", "--per-process", "3")
    assert out.returncode == 0, out.stdout + out.stderr  # the tiny model's rows: the same at any level
    assert "6 of 6 batches with stored rows replayed (1 cells): 12 of 12 rows exact" in out.stdout
    lines = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert len(lines) == 6 and all(x["options"]["other_level"] is True for x in lines)
    out = sweep(str(store), "--all", "--ledger", str(ledger), "--max-seconds", "0")
    assert "already in" not in out.stdout  # lines replayed at another level do not count for an exact sweep
    out = sweep(str(store), "--all", "--cpu-capability", "sve256")
    assert out.returncode == 1 and "unknown CPU capability" in out.stdout + out.stderr, out.stdout + out.stderr


def test_batches_split_by_the_level_they_were_made_with_and_tables_by_the_level_they_ran_with(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    rs = importlib.import_module("replay_sweep")
    cell = ("de", "m", 1, "untargeted")
    items = [(cell, ["a"]), (cell, ["b", "b2"]), (cell, ["c"]), (cell, ["d"])]
    made = {"a": ("AVX512", "1"), "b": (None, None), "c": ("AVX2", "2"), "d": ("AVX512", None)}
    keep, lacking = rs.split_by_level(items, made, can_run=lambda level: level == "AVX2")
    assert keep == [(cell, ["b", "b2"]), (cell, ["c"])] and lacking == {"AVX512": 2}  # unrecorded: kept
    line = {"rows": 4, "exact": 4, "same_path": 4}
    assert rs.by_level([{**line, "ran_with": {"cpu_capability": "AVX2"}}] * 2) == ""  # one level: nothing added
    mixed = rs.by_level([{**line, "ran_with": {"cpu_capability": "AVX2"}},
                         {**line, "exact": 1, "ran_with": {"cpu_capability": "AVX512"}}, {**line, "ran_with": None}])
    assert mixed == (" (by the level they ran with: AVX2 4 of 4 exact, 4 same path; AVX512 1 of 4 exact, 4 same "
                     "path; unknown 4 of 4 exact, 4 same path)")
