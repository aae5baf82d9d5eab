"""The SQLite store: the documented schema, WAL, refusals, atomic batches, clear errors."""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pixelspace.campaign.store import ATTACK_COLUMNS, SCHEMA_VERSION, AttackRow, Store
from pixelspace.errors import StoreError
from tests.campaign.conftest import REPO


def _open(path: Path, config_hash: str = "h1") -> Store:
    return Store.open_for_campaign(path, '{"x": 1}', config_hash, {"device": "cpu"})


def _row(i: int) -> AttackRow:
    rec = {"success": i % 2 == 0, "generations": i, "queries": 10 * i, "seed": i}
    return AttackRow(f"k{i:04d}", "m", "img", "whole", 1, "untargeted", -1, "s", True, i, rec)


def _documented_columns() -> dict[str, list[str]]:
    """table -> column names, parsed from the table in docs/store-schema.md."""
    out = {}
    for line in (REPO / "docs" / "store-schema.md").read_text().splitlines():
        m = re.match(r"\| `(\w+)` \| `([^|]+)` \|", line)
        if m:
            cols = re.sub(r"PRIMARY KEY \([^)]*\)", "", m.group(2)).split(",")
            out[m.group(1)] = [c.strip().split()[0] for c in cols if c.strip()]
    return out


def test_schema_matches_the_doc(tmp_path: Path) -> None:
    with _open(tmp_path / "s.sqlite") as store:
        documented = _documented_columns()
        assert set(documented) == {"meta", "models", "images", "masks", "predictions", "attacks"}
        for table, cols in documented.items():
            got = [r[1] for r in store.query(f"PRAGMA table_info({table})")]
            assert got == cols, table
        assert list(ATTACK_COLUMNS) == documented["attacks"]
        assert store.query("PRAGMA journal_mode")[0][0] == "wal"
        meta = store.meta()
        assert meta["schema_version"] == str(SCHEMA_VERSION) and meta["config_hash"] == "h1"


def test_reopen_same_config_and_refuse_another(tmp_path: Path) -> None:
    _open(tmp_path / "s.sqlite").close()
    _open(tmp_path / "s.sqlite").close()
    # a store whose first start never finished its setup holds nothing to protect: another config takes it
    with _open(tmp_path / "s.sqlite", "h2") as store:
        assert store.meta()["config_hash"] == "h2"
        with store.transaction() as cur:
            cur.execute("INSERT INTO meta (key, value) VALUES ('setup_done', '1')")
    with pytest.raises(StoreError, match="another campaign config"):
        _open(tmp_path / "s.sqlite", "h3")


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    with _open(tmp_path / "s.sqlite"), pytest.raises(StoreError, match="another process"):
        _open(tmp_path / "s.sqlite")
    _open(tmp_path / "s.sqlite").close()  # released on close


def test_refuse_newer_schema(tmp_path: Path) -> None:
    with _open(tmp_path / "s.sqlite") as store:
        store.set_meta({"schema_version": str(SCHEMA_VERSION + 1)})
    with pytest.raises(StoreError, match="newer"):
        _open(tmp_path / "s.sqlite")
    with pytest.raises(StoreError, match="newer"):
        Store.open_readonly(tmp_path / "s.sqlite")


def test_refuse_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "text.sqlite").write_text("hello, not a database" * 100)
    with pytest.raises(StoreError, match="not an SQLite database|not a database"):
        _open(tmp_path / "text.sqlite")
    conn = sqlite3.connect(tmp_path / "other.sqlite")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a pixelspace store"):
        _open(tmp_path / "other.sqlite")
    with pytest.raises(StoreError, match="does not exist"):
        Store.open_readonly(tmp_path / "missing.sqlite")


def test_write_batch_is_one_transaction_and_ignores_known_keys(tmp_path: Path) -> None:
    with _open(tmp_path / "s.sqlite") as store:
        assert store.write_batch([_row(i) for i in range(5)]) == 5
        assert store.write_batch([_row(i) for i in range(3, 8)]) == 3
        assert store.count_attacks() == 8
        bad = [_row(10), _row(11)]
        bad[1].record.pop("queries")  # the second row fails while the batch is written
        with pytest.raises(KeyError):
            store.write_batch(bad)
        assert store.count_attacks() == 8 and "k0010" not in store.attack_keys()


def test_reader_sees_whole_batches_only(tmp_path: Path) -> None:
    """A reader during a write sees the store as before the batch, without waiting for the writer."""
    path = tmp_path / "s.sqlite"
    with _open(path) as store:
        store.write_batch([_row(i) for i in range(4)])
    half_written, release = threading.Event(), threading.Event()

    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(4, 8):
            yield _row(i).as_tuple()
            if i == 5:
                half_written.set()
                release.wait(10)

    def write() -> None:
        with _open(path) as store, store.transaction() as cur:
            cur.executemany(f"INSERT INTO attacks VALUES ({', '.join('?' * len(ATTACK_COLUMNS))})", rows())

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert half_written.wait(10)
        with Store.open_readonly(path) as reader:
            assert reader.count_attacks() == 4  # two rows of the open batch are written, none visible
    finally:
        release.set()
        writer.join(10)
    with Store.open_readonly(path) as reader:
        assert reader.count_attacks() == 8


def test_full_disk_is_a_clear_error_and_keeps_the_store(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with _open(path) as store:
        store.write_batch([_row(0)])
        pages = store.query("PRAGMA page_count")[0][0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # the disk is "full" one page later
        big = [AttackRow(f"b{i}", "m", "img", "whole", 1, "untargeted", -1, "s", True, i,
                         {"success": False, "generations": 0, "queries": 1, "seed": i, "pad": "x" * 5000})
               for i in range(50)]
        with pytest.raises(StoreError, match=r"disk is full.*s\.sqlite|s\.sqlite.*full"):
            store.write_batch(big)
    with Store.open_readonly(path) as reader:
        assert reader.attack_keys() == {"k0000"}


def test_read_only_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _open(path).close()
    with Store.open_readonly(path) as reader, pytest.raises(StoreError, match="read-only"):
        reader.write_batch([_row(0)])
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    store = Store(path, conn, readonly=False)  # a file the OS will not let us write
    with pytest.raises(StoreError, match=r"readonly.*read-only"):
        store.write_batch([_row(0)])
    store.close()


def test_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the folder"):
        _open(blocker / "sub" / "s.sqlite")


def test_attack_lookup_by_key_and_prefix(tmp_path: Path) -> None:
    with _open(tmp_path / "s.sqlite") as store:
        rows = [_row(i) for i in range(3)]
        rows = [AttackRow(f"abcdef{i:02d}", *r.as_tuple()[1:10], r.record) for i, r in enumerate(rows)]  # type: ignore[arg-type, call-arg]
        store.write_batch(rows)
        assert store.attack("abcdef01")["record"]["seed"] == 1
        assert store.attack("abcdef02")["queries"] == 20
        with pytest.raises(StoreError, match="no attack"):
            store.attack("zzzzzzzz")
        with pytest.raises(StoreError, match="several"):
            store.attack("abcd")
        with pytest.raises(StoreError, match="several"):
            store.attack("abcdef")


def test_any_unique_key_prefix_is_accepted_however_short(tmp_path: Path) -> None:
    # issue 21: docs/campaigns.md says any unique prefix works; prefixes under 6 characters were refused
    with _open(tmp_path / "s.sqlite") as store:
        keys = ["7c0a91", "7c0b22", "e5", "a_b%c"]
        store.write_batch([AttackRow(k, *_row(i).as_tuple()[1:10], _row(i).record)  # type: ignore[arg-type, call-arg]
                           for i, k in enumerate(keys)])
        assert store.attack("e")["key"] == "e5"
        assert store.attack("7c0a")["key"] == "7c0a91"
        assert store.attack("7c0b2")["key"] == "7c0b22"
        assert store.attack("a_")["key"] == "a_b%c"
        with pytest.raises(StoreError, match=r"several attacks .*\(e\.g\. 7c0a91 and 7c0b22\)"):
            store.attack("7c0")
        with pytest.raises(StoreError, match="no attack with key 'a%'.*--keys"):
            store.attack("a%")  # % and _ are characters of the key, not wildcards
        assert store.attack("E")["key"] == "e5"  # keys are lower-case hex: prefixes ignore case (issue 33)
        assert store.attack("7C0A9")["key"] == "7c0a91"
        with pytest.raises(StoreError, match="no attack with key 'F'"):
            store.attack("F")


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="POSIX file locks and symlinks")
def test_one_writer_per_store_whatever_the_path(tmp_path: Path) -> None:
    # issue 21: the lock followed the path as written, so a symlink (or another spelling) let a second writer in
    real = tmp_path / "storeE" / "store.sqlite"
    real.parent.mkdir()
    (tmp_path / "linked.sqlite").symlink_to(real)
    (tmp_path / "dirlink").symlink_to(real.parent, target_is_directory=True)
    with _open(real):
        for other in (tmp_path / "linked.sqlite", tmp_path / "dirlink" / "store.sqlite",
                      tmp_path / "storeE" / ".." / "storeE" / "store.sqlite"):
            with pytest.raises(StoreError, match=re.escape(f"(the file {os.path.realpath(real)}) is being written by "
                                                           "another process")):
                _open(other)
    with _open(tmp_path / "linked.sqlite") as store:  # the first writer is gone: the link opens the same store
        store.write_batch([_row(0)])
    with Store.open_readonly(real) as reader:
        assert reader.count_attacks() == 1


_HOLD_STORE = """
import sys, time
from pixelspace.campaign.store import Store
store = Store.open_for_campaign(sys.argv[1], '{"x": 1}', "h1", {"device": "cpu"})
print("ready", flush=True)
sys.stdin.readline()
store.close()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX hard links and file locks")
def test_a_hard_link_is_no_second_writer(tmp_path: Path) -> None:
    # issue 33: SQLite names its WAL after the path, so a second `run` on a hard link saw an empty database,
    # set it up again in its own WAL and, once both were checkpointed, the store lost its committed rows
    import subprocess

    real = tmp_path / "store.sqlite"
    with _open(real) as store:
        store.write_batch([_row(0), _row(1)])
    writer = subprocess.Popen([sys.executable, "-c", _HOLD_STORE, str(real)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        hard = tmp_path / "hard.sqlite"
        os.link(real, hard)
        with pytest.raises(StoreError, match=r"hard\.sqlite has 2 links.*hard link.*write-ahead log"):
            _open(hard)
    finally:
        writer.communicate("\n", timeout=60)
    assert writer.returncode == 0
    with pytest.raises(StoreError, match="has 2 links"):  # nor through the first name while the link exists
        _open(real)
    os.unlink(tmp_path / "hard.sqlite")
    with Store.open_readonly(real) as reader:
        assert reader.count_attacks() == 2
