"""The SQLite results store (``docs/store-schema.md``): WAL mode, a schema version, one transaction per batch.

Only the campaign runner writes a store. Each finished batch of attacks is committed in one transaction, so a
reader (``pixelspace status``, the report) sees whole batches only, and a process killed at any moment leaves
the last committed state behind. A store refuses a newer schema version and a config whose hash differs from
the one it was created with (results of different configs are never mixed).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pixelspace.errors import DataError, StoreError, sqlite_store_error
from pixelspace.outcomes import ATTACK_COLUMNS, AttackRow
from pixelspace.store_access import check_store, connect_readonly, parse_record

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2 added the ``scans`` table (vulnerability maps); a version-1 store gains it when needed

_SCANS_TABLE = (
    "CREATE TABLE IF NOT EXISTS scans (model TEXT, image_id TEXT, search_hash TEXT, queries INTEGER, npz BLOB, "
    "PRIMARY KEY (model, image_id, search_hash))"
)
#: One row per ``pixelspace run`` call that ran batches: when, where and with what it computed, and the range
#: of ``attacks`` rowids it wrote (rowids only grow: attacks are never deleted), so each stored row can be
#: traced to the run that made it (``Store.run_of``). Stores made before it have no such table.
_RUNS_TABLE = (
    "CREATE TABLE IF NOT EXISTS runs (run INTEGER PRIMARY KEY, started_utc TEXT, ended_utc TEXT NULL, "
    "first_rowid INTEGER, last_rowid INTEGER NULL, rows INTEGER, details TEXT)"
)
_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS models (model TEXT PRIMARY KEY, weights_hash TEXT, test_accuracy REAL NULL, "
    "test_count INTEGER NULL, pool_accuracy REAL NULL, pool_count INTEGER NULL)",
    "CREATE TABLE IF NOT EXISTS images (image_id TEXT PRIMARY KEY, source_id TEXT, label INTEGER, png BLOB, "
    "pool_index INTEGER, status TEXT, reason TEXT NULL)",
    "CREATE TABLE IF NOT EXISTS masks (image_id TEXT, region TEXT, mask_hash TEXT, png BLOB, "
    "PRIMARY KEY (image_id, region))",
    "CREATE TABLE IF NOT EXISTS predictions (image_id TEXT, model TEXT, predicted INTEGER, confidence REAL, "
    "PRIMARY KEY (image_id, model))",
    "CREATE TABLE IF NOT EXISTS attacks (key TEXT PRIMARY KEY, model TEXT, image_id TEXT, region TEXT, "
    "pixels INTEGER, mode TEXT, target INTEGER, search_hash TEXT, early_stop INTEGER, seed INTEGER, "
    "success INTEGER, generations INTEGER, queries INTEGER, record TEXT)",
    _SCANS_TABLE,
)


@dataclass(frozen=True)
class ScanRow:
    """One row of the ``scans`` table: a vulnerability map (``VulnerabilityMap.to_npz`` bytes) of one model
    and image, and the queries its scan spent."""

    model: str
    image_id: str
    search_hash: str
    queries: int
    npz: bytes


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def encode_mask_png(mask: np.ndarray) -> bytes:
    """PNG bytes (8-bit grey, 0/255) of a bool mask (H, W)."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(mask, dtype=bool).astype(np.uint8) * 255)
    if not ok:
        raise DataError("PNG encoding of a mask failed")
    return bytes(buf)


def decode_mask_png(data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_mask_png`: bool (H, W), True where the PNG is >= 128."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if arr is None:
        raise DataError("cannot decode mask PNG bytes")
    return arr >= 128


@contextlib.contextmanager
def _sqlite_errors(path: Path, action: str) -> Iterator[None]:
    """Re-raise SQLite failures as :class:`StoreError` naming the store and the likely cause."""
    try:
        yield
    except sqlite3.Error as exc:
        raise sqlite_store_error(path, action, exc) from exc


def store_file(path: str | Path) -> Path:
    """The store file that ``path`` names: ``path`` itself, or ``path/store.sqlite`` when ``path`` is a folder.

    Raises:
        StoreError: ``path`` is a folder with no ``store.sqlite`` in it.
    """
    p = Path(path)
    if p.is_dir():
        if not (p / "store.sqlite").is_file():
            raise StoreError(f"{p} is a folder with no store.sqlite in it; give the store file's path")
        return p / "store.sqlite"
    return p


class Store:
    """A results store. Open it with :meth:`open_for_campaign` (the runner) or :meth:`open_readonly`."""

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path = path
        self.conn = conn
        self.readonly = readonly
        self._lock: Any = None

    def _take_writer_lock(self) -> None:
        """Hold ``<store>.lock`` (an OS file lock, released even on SIGKILL) so that one campaign writes a store.

        The lock sits next to the resolved file (symlinks followed, ``..`` removed), so two paths that name the
        same store take the same lock. A hard link is a second name the lock cannot see, and SQLite keeps the
        write-ahead log beside the name it was opened by, so two writers through two links each see their own
        database and checkpointing both loses committed rows: a store file with more than one link is refused
        (checked with the lock held, so a link made later is refused to the next writer through either name).
        """
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return
        real = Path(os.path.realpath(self.path))
        lock_path = real.parent / (real.name + ".lock")
        try:
            lock = lock_path.open("a")
        except OSError as exc:
            raise StoreError(
                f"cannot write store {self.path}: its lock file {lock_path} cannot be made ({exc.strerror}); "
                "`pixelspace run` needs a writable folder for the store (`status` and `report` read a store in a "
                "read-only folder): copy the store somewhere writable, or set `store` to a writable path"
            ) from None
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            same = "" if real == self.path.absolute() else f" (the file {real})"
            raise StoreError(
                f"store {self.path}{same} is being written by another process (a second `pixelspace run` of the "
                "same campaign?); wait for it or stop it first"
            ) from None
        try:
            links = os.stat(real).st_nlink
        except OSError:
            links = 1
        if links > 1:
            lock.close()
            raise StoreError(
                f"store {self.path} has {links} links (hard links name one file by several paths): SQLite keeps "
                "a store's write-ahead log beside the path it is opened by, so writers or readers through two "
                "links see different data and committed rows can be lost; remove the other links (`find / "
                f"-samefile {real}` lists them) or make an independent copy (`cp`), and run again"
            )
        self._lock = lock

    # -- opening ------------------------------------------------------------------------------------------
    @classmethod
    def open_readonly(cls, path: str | Path, check: bool = True) -> Store:
        """Open an existing store for reading (never blocks the writer; sees committed batches only).

        ``path`` may also be a folder holding ``store.sqlite`` (as the demo's ``./pixelspace-demo/`` does).
        ``check``: refuse a damaged store (:func:`~pixelspace.store_access.check_store`, which reads the whole
        file); only for a caller that checks it later itself.

        Raises:
            StoreError: no such file, not a pixelspace store, or a newer schema version.
        """
        p = store_file(path)
        if not p.is_file():
            raise StoreError(f"store {p} does not exist")
        store = cls(p, connect_readonly(p), readonly=True)
        try:
            if check:
                check_store(store.conn, p)
            store._check_schema()
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open_for_campaign(cls, path: str | Path, config_json: str, config_hash: str, meta: dict[str, str]) -> Store:
        """Open (creating when absent) the store a campaign writes.

        A new store gets its tables and the ``meta`` rows (``config_json``, ``config_hash``, ``schema_version``
        and ``meta``) in one transaction. An existing one must have a schema version this package reads and the
        same config hash.

        Raises:
            StoreError: a newer schema version, another config, not a pixelspace store, or an unwritable path.
        """
        p = Path(path)
        if p.exists() and not p.is_file():
            raise StoreError(f"store path {p} exists and is not a file")
        if not p.parent.exists():
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of store {p}: {exc}") from exc
        with _sqlite_errors(p, "open"):
            conn = sqlite3.connect(str(p), timeout=30, isolation_level=None)
        store = cls(p, conn, readonly=False)
        try:
            store._take_writer_lock()
            with _sqlite_errors(p, "open"):
                conn.execute("PRAGMA busy_timeout = 30000")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"store {p}: cannot switch to WAL mode (got {mode}); is the file on a network share?")
                conn.execute("PRAGMA synchronous = FULL")
            if store._has_table("meta"):
                check_store(conn, p)
                store._check_schema()
                stored = store.meta().get("config_hash")
                if stored is None:
                    log.info("store %s has tables but no config yet; initialising it", p)
                    store._initialise(config_json, config_hash, meta)
                elif (stored != config_hash and store.meta().get("setup_done") != "1"
                      and not (store._has_table("attacks") and store.query("SELECT 1 FROM attacks LIMIT 1"))):
                    # a first start that failed before its setup was written: no result to protect
                    log.info("store %s holds no setup and no attack; re-initialising it for this config", p)
                    with store.transaction() as cur:
                        cur.execute("DELETE FROM meta")
                    store._initialise(config_json, config_hash, meta)
                elif stored != config_hash:
                    raise StoreError(
                        f"store {p} was written by another campaign config (config hash {stored[:12]}…, this "
                        f"config {config_hash[:12]}…); results of different configs are not mixed: use another "
                        "store path, or the config the store was made with (`pixelspace status` shows it)"
                    )
            elif store._table_names():
                raise StoreError(f"{p} is an SQLite database but not a pixelspace store (no meta table)")
            else:
                store._initialise(config_json, config_hash, meta)
        except BaseException:
            store.close()
            raise
        return store

    def _table_names(self) -> list[str]:
        with _sqlite_errors(self.path, "read"):
            return [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def _has_table(self, name: str) -> bool:
        return name in self._table_names()

    def _check_schema(self) -> None:
        if not self._has_table("meta"):
            raise StoreError(f"{self.path} is not a pixelspace store (no meta table)")
        version = self.meta().get("schema_version")
        if version is None:
            return
        try:
            v = int(version)
        except ValueError:
            raise StoreError(f"store {self.path} has an unreadable schema_version {version!r}") from None
        if v > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has schema version {v}, newer than this pixelspace reads ({SCHEMA_VERSION}); "
                "upgrade pixelspace to read or extend it"
            )

    def _initialise(self, config_json: str, config_hash: str, meta: dict[str, str]) -> None:
        rows = {**meta, "schema_version": str(SCHEMA_VERSION), "config_json": config_json, "config_hash": config_hash}
        with self.transaction() as cur:
            for sql in _TABLES:
                cur.execute(sql)
            cur.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", rows.items())

    # -- writing ------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``); rolled back on any error."""
        if self.readonly:
            raise StoreError(f"store {self.path} was opened read-only")
        with _sqlite_errors(self.path, "write"):
            cur = self.conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def set_meta(self, items: dict[str, str]) -> None:
        """Insert or replace ``meta`` rows in one transaction."""
        with self.transaction() as cur:
            cur.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", items.items())

    def write_setup(
        self,
        models: Sequence[tuple[Any, ...]],
        images: Sequence[tuple[Any, ...]],
        masks: Sequence[tuple[Any, ...]],
        predictions: Sequence[tuple[Any, ...]],
        meta: dict[str, str],
    ) -> None:
        """Write the per-campaign data (models, images, masks, clean predictions, meta) in one transaction.

        Rows are tuples in the column order of ``docs/store-schema.md``; existing rows are replaced.
        """
        with self.transaction() as cur:
            cur.executemany("INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?, ?, ?)", models)
            cur.executemany("INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?, ?, ?)", images)
            cur.executemany("INSERT OR REPLACE INTO masks VALUES (?, ?, ?, ?)", masks)
            cur.executemany("INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?)", predictions)
            cur.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())

    def begin_run(self, details: Mapping[str, Any]) -> int:
        """Record the start of a run that is about to write attack rows; returns its id for :meth:`write_batch`.

        Args:
            details: JSON-ready facts about how this run computes (versions, device, backend, the CPU kernel
                level and thread count where it runs on the CPU), stored as they are.
        """
        with self.transaction() as cur:
            cur.execute(_RUNS_TABLE)
            first = int(cur.execute("SELECT COALESCE(MAX(rowid), 0) + 1 FROM attacks").fetchone()[0])
            cur.execute("INSERT INTO runs (started_utc, first_rowid, rows, details) VALUES (?, ?, 0, ?)",
                        (_now(), first, json.dumps(dict(details), sort_keys=True)))
            return int(cur.lastrowid or 0)

    def add_run_details(self, run: int, details: Mapping[str, Any]) -> None:
        """Merge ``details`` (JSON-ready) into the recorded run ``run``'s details (a key given again is replaced, a
        key given as None removed): facts known only once the run is under way, such as how a backend's workers
        compute."""
        with self.transaction() as cur:
            row = cur.execute("SELECT details FROM runs WHERE run = ?", (run,)).fetchone()
            if row is None:
                raise StoreError(f"{self.path}: no run {run} recorded")
            merged = {k: v for k, v in {**json.loads(row[0] or "{}"), **details}.items() if v is not None}
            cur.execute("UPDATE runs SET details = ? WHERE run = ?", (json.dumps(merged, sort_keys=True), run))

    def runs(self) -> list[dict[str, Any]]:
        """Every recorded run, oldest first (``details`` parsed); empty for a store made before runs were
        recorded."""
        if not self._has_table("runs"):
            return []
        cols = ("run", "started_utc", "ended_utc", "first_rowid", "last_rowid", "rows", "details")
        out = [dict(zip(cols, r, strict=True)) for r in self.query(f"SELECT {', '.join(cols)} FROM runs ORDER BY run")]
        for r in out:
            r["details"] = json.loads(r["details"] or "{}")
        return out

    def run_of(self, key: str) -> dict[str, Any] | None:
        """The recorded run that wrote the attack ``key`` (a full key), as :meth:`runs` gives it, or None (a row
        written before runs were recorded)."""
        if not self._has_table("runs"):
            return None
        found = self.query("SELECT r.run FROM runs r JOIN attacks a ON a.rowid BETWEEN r.first_rowid AND r.last_rowid "
                           "WHERE a.key = ?", (key,))
        if not found:
            return None
        return next(r for r in self.runs() if r["run"] == found[0][0])

    def write_batch(self, rows: Iterable[AttackRow], scans: Sequence[ScanRow] = (), run: int | None = None) -> int:
        """Commit a finished batch of attacks (and the maps of a scan batch) in one transaction; returns the
        attack rows added. With ``run`` (from :meth:`begin_run`) the run's row range and end time move with it.

        A key already present is left as it is (a batch handed out twice is never written twice).
        """
        with self.transaction() as cur:
            if scans:
                cur.execute(_SCANS_TABLE)
                cur.executemany(
                    "INSERT OR IGNORE INTO scans VALUES (?, ?, ?, ?, ?)",
                    ((m.model, m.image_id, m.search_hash, int(m.queries), m.npz) for m in scans),
                )
            before = self.conn.total_changes
            cur.executemany(
                f"INSERT OR IGNORE INTO attacks ({', '.join(ATTACK_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(ATTACK_COLUMNS))})",
                (r.as_tuple() for r in rows),
            )
            added = self.conn.total_changes - before
            if run is not None and added:
                cur.execute("UPDATE runs SET last_rowid = (SELECT MAX(rowid) FROM attacks), rows = rows + ?, "
                            "ended_utc = ? WHERE run = ?", (added, _now(), run))
            return added

    # -- reading ------------------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query in one snapshot and return all rows."""
        with _sqlite_errors(self.path, "read"):
            return self.conn.execute(sql, params).fetchall()

    def meta(self) -> dict[str, str]:
        """All ``meta`` rows as a dict."""
        return dict(self.query("SELECT key, value FROM meta"))

    def attack_keys(self) -> set[str]:
        """Keys of every stored attack."""
        if not self._has_table("attacks"):
            return set()
        return {r[0] for r in self.query("SELECT key FROM attacks")}

    def count_attacks(self) -> int:
        """Stored attacks."""
        return int(self.query("SELECT COUNT(*) FROM attacks")[0][0]) if self._has_table("attacks") else 0

    def attack(self, key: str) -> dict[str, Any]:
        """One stored attack as a dict of its columns (``record`` parsed).

        Raises:
            StoreError: no attack has this key, or ``key`` is a prefix of several keys (any prefix that
                names one attack is accepted, however short, in either case: keys are lower-case hex).
        """
        columns = ", ".join(ATTACK_COLUMNS)
        given = key
        if key != key.lower() and not self.query("SELECT 1 FROM attacks WHERE key = ? LIMIT 1", (key,)):
            key = key.lower()  # keys are lower-case hex: a key or prefix typed in capitals names the same attack
        rows = self.query(f"SELECT {columns} FROM attacks WHERE key = ?", (key,)) if key else []
        if not rows and key:  # an exact prefix match (LIKE would read % and _ as wildcards and ignore case)
            rows = self.query(f"SELECT {columns} FROM attacks WHERE substr(key, 1, ?) = ? ORDER BY key LIMIT 2",
                              (len(key), key))
            if len(rows) > 1:
                raise StoreError(f"key prefix {given!r} matches several attacks in {self.path} (e.g. {rows[0][0]} and "
                                 f"{rows[1][0]}); give more characters")
        if not rows:
            raise StoreError(f"store {self.path} has no attack with key {given!r} (nor one whose key starts with it); "
                             "`pixelspace status STORE --keys N` lists the stored keys")
        out = dict(zip(ATTACK_COLUMNS, rows[0], strict=True))
        out["record"] = parse_record(self.path, out["key"], out["record"])
        return out

    def discard(self) -> None:
        """Close the store and delete its file (and SQLite's ``-wal``/``-shm`` files) while still holding the
        writer's lock: for a store this process has just made whose setup failed. The ``.lock`` file stays."""
        if self.readonly:
            raise StoreError(f"store {self.path} was opened read-only; it cannot be discarded")
        self.conn.close()
        real = Path(os.path.realpath(self.path))  # a symlink's target (the link itself stays)
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                (real.parent / (real.name + suffix)).unlink()
        self.close()

    def close(self) -> None:
        """Close the connection (and release the writer's lock)."""
        self.conn.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
