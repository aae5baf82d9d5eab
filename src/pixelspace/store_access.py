"""Opening a results store for reading, and the one check every command that reads a store makes.

``pixelspace status``, ``report``, ``replay`` and a resumed ``run`` all open a store through
:func:`connect_readonly` (or the writer's own connection) and call :func:`check_store` on it, so a damaged
store is refused the same way everywhere: the message names the damaged page or row and the way out.
Nothing here imports the campaign or the report, so both can use it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from pixelspace.errors import StoreError, recovery_hint, sqlite_store_error

_SHOWN = 3  # problems named in a message


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to the existing store file ``path`` (autocommit, 30 s busy timeout).

    A store in WAL mode needs its ``-shm`` file; in a read-only folder SQLite cannot make it, so when there is
    no write-ahead log to read (a store whose last writer closed cleanly) the file is opened as immutable,
    which needs no ``-shm``. A read-only folder that still holds a non-empty ``-wal`` is refused with what to do.

    Raises:
        StoreError: the file cannot be opened or read.
    """
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if "unable to open" not in str(exc).lower() or os.access(path.parent, os.W_OK | os.X_OK):
                raise
        wal = Path(f"{path}-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            raise StoreError(
                f"cannot read store {path}: its folder is read-only and it holds a write-ahead log ({wal.name}) "
                "that SQLite can only read with a -shm file beside it; copy the folder somewhere writable "
                "(`cp -r`) and read the copy"
            )
        conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.Error as exc:
        raise sqlite_store_error(path, "open", exc) from exc


def check_store(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a damaged store: SQLite's ``quick_check`` of every page, and every attack record valid JSON.

    Reads the whole file once (0.05 s for a 17.5 MB store whose pages the OS has cached).

    Raises:
        StoreError: naming the damaged pages or attack keys and how to recover.
    """
    try:
        problems = [line.strip() for r in conn.execute("PRAGMA quick_check(10)") for line in str(r[0]).splitlines()
                    if line.strip() and not line.startswith("***")]
    except sqlite3.DatabaseError as exc:
        raise sqlite_store_error(path, "read", exc) from exc
    if problems != ["ok"]:
        shown = "; ".join(problems[:_SHOWN]) + (f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else "")
        raise StoreError(f"store {path} is damaged: SQLite's integrity check reports {shown}. {recovery_hint(path)}")
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "attacks" not in tables:
            return
        try:
            bad = [str(r[0]) for r in conn.execute(
                "SELECT key FROM attacks WHERE CASE WHEN json_valid(record) THEN json_type(record) != 'object' "
                "ELSE 1 END ORDER BY key LIMIT ?",
                (_SHOWN + 1,))]
        except sqlite3.OperationalError as exc:  # an SQLite without json_valid: records are parsed when read
            if "json_valid" in str(exc):
                return
            raise
    except sqlite3.DatabaseError as exc:
        raise sqlite_store_error(path, "read", exc) from exc
    if bad:
        raise damaged_record(path, bad[:_SHOWN], more=len(bad) > _SHOWN)


def damaged_record(path: Path, keys: list[str], more: bool = False, detail: str = "") -> StoreError:
    """The error for attack rows whose record cannot be read, naming the rows and how to rerun them."""
    named = ", ".join(keys) + (" and more" if more else "")
    first = keys[0]
    return StoreError(
        f"store {path} is damaged: the record of attack {named} is not a valid JSON object{detail}. Delete the row(s) and "
        f"run the campaign again to redo them: `sqlite3 {path} \"DELETE FROM attacks WHERE key = '{first}'\"`, "
        "then `pixelspace run CAMPAIGN` (its whole batch is rerun, the other rows are kept); or run the "
        "campaign again into a new store path"
    )


def parse_record(path: Path, key: str, text: Any) -> dict[str, Any]:
    """The stored ``record`` JSON object of attack ``key``.

    Raises:
        StoreError: naming the row and the recovery when it is not a JSON object.
    """
    try:
        rec = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise damaged_record(path, [key], detail=f" ({exc})") from exc
    if not isinstance(rec, dict):
        raise damaged_record(path, [key], detail=f" (a JSON {type(rec).__name__})")
    return rec
