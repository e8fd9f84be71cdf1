"""SQLite backend: one file in WAL mode, so the web threads read while the ingest thread writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StorageError
from .base import Storage

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (dev_eui TEXT PRIMARY KEY, meta TEXT, meta_t INTEGER, last_seen INTEGER);
CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, dev_eui TEXT NOT NULL, quantity TEXT NOT NULL,
    unit TEXT NOT NULL, kind TEXT NOT NULL, last_t INTEGER, last_v REAL, last_vs TEXT, UNIQUE (dev_eui, quantity));
CREATE TABLE IF NOT EXISTS obs (series_id INTEGER NOT NULL, t INTEGER NOT NULL, v REAL, vs TEXT,
    PRIMARY KEY (series_id, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hourly (series_id INTEGER NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,
    sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, PRIMARY KEY (series_id, bucket)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily (series_id INTEGER NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,
    sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, PRIMARY KEY (series_id, bucket)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejects (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, topic TEXT NOT NULL,
    payload BLOB NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL);
"""


class SqliteStorage(Storage):
    name = "sqlite"

    def __init__(self, path: str, *, raw_retention_days: int = 0, synchronous: str = "NORMAL") -> None:
        super().__init__(raw_retention_days)
        if not path:
            raise StorageError("[storage] path is empty")
        self.path = Path(path)
        self.synchronous = synchronous
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            conn.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise StorageError(f"cannot open {self.path}: {e}") from None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")  # a constant: NORMAL survives a process crash
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB per connection (the default 2 MiB thrashes on inserts)
        return conn

    @contextmanager
    def _tx(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _stage(self, conn: sqlite3.Connection, rows: list[tuple[int, int, float | None, str | None]]) -> None:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS stage (series_id INTEGER NOT NULL, t INTEGER NOT NULL, "
                     "v REAL, vs TEXT, PRIMARY KEY (series_id, t)) WITHOUT ROWID")
        conn.execute("DELETE FROM stage")
        conn.executemany("INSERT OR IGNORE INTO stage VALUES (?, ?, ?, ?)", rows)

    def _insert_series(self, conn: sqlite3.Connection, dev_eui: str, quantity: str, unit: str, kind: str) -> int:
        cur = conn.execute("INSERT INTO series(dev_eui, quantity, unit, kind) VALUES (?, ?, ?, ?)",
                           (dev_eui, quantity, unit, kind))
        return int(cur.lastrowid or 0)
