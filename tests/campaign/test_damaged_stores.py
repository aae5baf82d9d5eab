"""Read-only and damaged stores (issue 33): every command that reads a store opens it read-only and refuses a
damaged one the same way, naming the damaged page or row and the recovery."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pixelspace.cli import cli
from tests.campaign.conftest import attack_rows, config_dict, to_toml


@pytest.fixture
def finished(tiny_data: dict[str, Any], tmp_path: Path) -> tuple[Path, Path]:
    """(campaign file, store) of the tiny campaign, run to the end."""
    toml = tmp_path / "tiny.toml"
    toml.write_text(to_toml(config_dict(tiny_data, tmp_path / "c" / "store.sqlite")))
    out = CliRunner().invoke(cli, ["run", str(toml), "--no-progress"])
    assert out.exit_code == 0, out.output
    return toml, tmp_path / "c" / "store.sqlite"


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[None]:
    """Make ``folder`` read-only for this process (root ignores modes, so there the immutable flag too)."""
    folder.chmod(0o555)
    immutable = False
    try:
        if os.geteuid() == 0:
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        probe = folder / ".probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip("cannot make a read-only folder here (root without chattr)")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_status_and_report_read_a_store_in_a_read_only_folder(finished: tuple[Path, Path], tmp_path: Path) -> None:
    toml, store = finished
    (store.parent / "store.sqlite.lock").unlink()  # a store copied from elsewhere: no lock file yet
    key = attack_rows(store)[0][0]
    for suffix in ("-wal", "-shm"):  # as the last writer leaves it (a reader's -shm stays behind)
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    runner = CliRunner()
    with read_only_folder(store.parent):
        out = runner.invoke(cli, ["status", str(store)])
        assert out.exit_code == 0, out.output
        assert "attacks 12/12" in out.output
        out = runner.invoke(cli, ["status", str(store), "--keys", "1"])
        assert out.exit_code == 0, out.output
        out = runner.invoke(cli, ["report", str(store), "--out", str(tmp_path / "report")])
        assert out.exit_code == 0, out.output
        out = runner.invoke(cli, ["replay", str(store), key[:8]])
        assert out.exit_code == 0, out.output
        out = runner.invoke(cli, ["run", str(toml), "--no-progress"])
        assert out.exit_code == 1, out.output
        assert "Traceback" not in out.output
        assert "lock file" in out.output and "needs a writable folder" in out.output, out.output
    assert (tmp_path / "report" / "report.html").is_file()


def _break_record(store: Path, key: str) -> None:
    with contextlib.closing(sqlite3.connect(store)) as con, con:
        con.execute("UPDATE attacks SET record = ? WHERE key = ?", ('{"success": tru', key))


def test_a_broken_record_is_named_by_every_command(finished: tuple[Path, Path], tmp_path: Path) -> None:
    toml, store = finished
    key = attack_rows(store)[3][0]
    _break_record(store, key)
    runner = CliRunner()
    for args in (["replay", str(store), key[:8]], ["replay", str(store), attack_rows(store)[0][0]],
                 ["status", str(store)], ["report", str(store), "--out", str(tmp_path / "r")],
                 ["run", str(toml), "--no-progress"]):
        out = runner.invoke(cli, args)
        assert out.exit_code == 1, (args, out.output)
        assert not isinstance(out.exception, ValueError), (args, out.exception)
        assert f"the record of attack {key} is not a valid JSON object" in out.output, (args, out.output)
        assert f"DELETE FROM attacks WHERE key = '{key}'" in out.output, out.output
    # the recovery the message gives works: delete the row, run again, the row is back
    with contextlib.closing(sqlite3.connect(store)) as con, con:
        con.execute("DELETE FROM attacks WHERE key = ?", (key,))
    out = runner.invoke(cli, ["run", str(toml), "--no-progress"])
    assert out.exit_code == 0 and "12/12 attacks stored (1 now" in out.output, out.output


def test_bytes_overwritten_mid_file_are_refused_with_the_page_and_the_recovery(finished: tuple[Path, Path],
                                                                               tmp_path: Path) -> None:
    toml, store = finished
    with contextlib.closing(sqlite3.connect(store)) as con:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert pages > 8
    original = store.read_bytes()
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    runner = CliRunner()
    for page in (pages // 2, pages // 3, 2 * pages // 3):  # a page of each region of the file
        shutil.copy(store, damaged / "store.sqlite")
        data = bytearray(original)
        data[page * page_size : page * page_size + 100] = bytes(range(7, 107))  # one page's header and cells
        (damaged / "store.sqlite").write_bytes(bytes(data))
        for args in (["status", str(damaged)], ["report", str(damaged), "--out", str(tmp_path / "r")],
                     ["replay", str(damaged), attack_rows(store)[0][0]]):
            out = runner.invoke(cli, args)
            assert out.exit_code == 1, (page, args, out.output)
            assert f"store {damaged / 'store.sqlite'} is damaged" in out.output or "malformed" in out.output, out.output
            assert "page" in out.output.lower() or "malformed" in out.output, out.output
            assert f"`sqlite3 {damaged / 'store.sqlite'} .recover | sqlite3 recovered.sqlite`" in out.output, out.output
            assert "Traceback" not in out.output
