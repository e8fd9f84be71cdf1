"""Durable state in one SQLite database (WAL): the outbox, the dedupe window, devices.

The worker commits an input message's results (outbox rows, its dedupe key, the device
state) in one transaction and acknowledges the input only afterwards, so an accepted
message survives ``kill -9``. The drain deletes an outbox row only on the city broker's
PUBACK. Retained rows carry a ``slot`` (their topic): a newer value replaces an older
one that is still waiting, so a backlog holds one latest value per topic. (The ``due``
column of earlier versions is no longer written: the worker now holds retained topics
back itself, ``Processor.emit_retained``.)
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from . import jsonio
from .device import DeviceState
from .errors import CorruptDatabase, StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL,
    slot TEXT UNIQUE,
    created REAL NOT NULL,
    origin REAL,
    due REAL
);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS seen_at ON seen(at);
CREATE TABLE IF NOT EXISTS devices (dev_eui TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commands (id TEXT PRIMARY KEY, dev_eui TEXT NOT NULL,
                                     city_id TEXT, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS parked (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL,
    created REAL NOT NULL,
    origin REAL,
    reason TEXT NOT NULL,
    parked_at REAL NOT NULL
);
"""


class Parked(NamedTuple):
    """An outbox row the city broker (or the MQTT client) refused, set aside with the reason."""

    id: int
    topic: str
    payload: bytes
    retain: bool
    created: float
    reason: str
    parked_at: float


class OutRow(NamedTuple):  # a tuple: built for every uplink, a frozen dataclass costs 3x
    topic: str
    payload: bytes
    retain: bool = False
    origin: float | None = None  # LNS reception time, for the end-to-end lag metric


class Stored(NamedTuple):
    id: int
    topic: str
    payload: bytes
    retain: bool
    created: float
    origin: float | None


class Store:
    """One connection per thread: the worker's commit thread writes, the worker reads through
    a second one, the drain reads and deletes through a third."""

    def __init__(self, path: str | Path, synchronous: str = "FULL", check: bool = False) -> None:
        self.path = str(path)
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                      check_same_thread=False)
            if check:
                self.quick_check()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise StoreError(f"cannot open state database {self.path}: {e}") from None

    def quick_check(self) -> None:
        """SQLite's ``PRAGMA quick_check``; CorruptDatabase naming the first problems."""
        try:
            found = [r[0] for r in self.db.execute("PRAGMA quick_check(10)")]
        except sqlite3.DatabaseError as e:
            found = [str(e)]
        if found != ["ok"]:
            self.db.close()
            raise CorruptDatabase(f"state database {self.path} is corrupt ({'; '.join(found)[:400]}); "
                                  "see docs/bridge.md §5 'Recovering a corrupt state database'")

    def close(self) -> None:
        self.db.close()

    # --- the worker's transaction -------------------------------------------------
    def commit(
        self,
        rows: Iterable[OutRow],
        seen: Iterable[tuple[str, float]] = (),
        devices: Iterable[tuple[str, str]] = (),
        commands: Iterable[tuple[str, str, str | None]] = (),
    ) -> int:
        """Write one batch atomically; returns the net change in outbox rows."""
        now = time.time()
        n = 0
        try:
            self.db.execute("BEGIN IMMEDIATE")
            # rows keep their order (ids ascend); a retained row replaces its slot's last one
            values: list[tuple[Any, ...]] = []
            slots = []
            for r in rows:
                if r.retain:
                    slots.append((r.topic,))
                    values.append((r.topic, r.payload, 1, r.topic, now, r.origin))
                else:
                    values.append((r.topic, r.payload, 0, None, now, r.origin))
            if slots:
                n -= self.db.executemany("DELETE FROM outbox WHERE slot=?", slots).rowcount
            self.db.executemany(
                "INSERT INTO outbox(topic, payload, retain, slot, created, origin) "
                "VALUES (?,?,?,?,?,?)", values)
            n += len(values)
            self.db.executemany("INSERT OR IGNORE INTO seen(key, at) VALUES (?,?)", seen)
            self.db.executemany("INSERT OR REPLACE INTO devices(dev_eui, state) VALUES (?,?)",
                                devices)
            self.db.executemany("INSERT OR REPLACE INTO commands(id, dev_eui, city_id, at) "
                                "VALUES (?,?,?,?)", [(c[0], c[1], c[2], now) for c in commands])
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise StoreError(f"cannot commit to {self.path}: {e}") from None
        return n

    @staticmethod
    def device_rows(devices: dict[str, DeviceState]) -> list[tuple[str, str]]:
        """Device states as ``commit`` stores them: JSON, encoded by the caller's thread, so
        a commit on another thread holds a snapshot, not states that go on changing."""
        return [(k, jsonio.dumps_sorted(v.to_json()).decode()) for k, v in devices.items()]

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("ROLLBACK")

    def seen(self, key: str) -> bool:
        return bool(self.seen_many([key]))

    def seen_many(self, keys: list[str]) -> set[str]:
        """The keys already in the dedupe window (one query per 500 keys)."""
        out: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            marks = ",".join("?" * len(chunk))
            out.update(r[0] for r in self.db.execute(
                "SELECT key FROM seen WHERE key IN (" + marks + ")", chunk))  # noqa: S608 (only ?)
        return out

    def prune_seen(self, older_than: float) -> int:
        return self.db.execute("DELETE FROM seen WHERE at < ?", (older_than,)).rowcount

    def devices(self) -> dict[str, DeviceState]:
        return {k: DeviceState.from_json(json.loads(v))
                for k, v in self.db.execute("SELECT dev_eui, state FROM devices")}

    def command(self, command_id: str) -> tuple[str, str | None] | None:
        row = self.db.execute("SELECT dev_eui, city_id FROM commands WHERE id=?",
                              (command_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def prune_commands(self, older_than: float) -> None:
        self.db.execute("DELETE FROM commands WHERE at < ?", (older_than,))

    # --- the drain ------------------------------------------------------------------
    def fetch(self, after_id: int, limit: int) -> list[Stored]:
        """Rows in the order they were written (a replaced retained row gets a new id)."""
        cur = self.db.execute(
            "SELECT id, topic, payload, retain != 0, created, origin FROM outbox "
            "WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
        return list(map(Stored._make, cur))  # a BLOB comes back as bytes already

    def delete(self, ids: list[int]) -> None:
        if not ids:
            return
        ranges: list[list[int]] = []  # PUBACKs come mostly in order: runs of consecutive ids, one DELETE each
        for i in sorted(ids):
            if ranges and ranges[-1][1] == i - 1:
                ranges[-1][1] = i
            else:
                ranges.append([i, i])
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("DELETE FROM outbox WHERE id BETWEEN ? AND ?", ranges)
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise StoreError(f"outbox row removal failed: {e}") from None

    def depth(self) -> tuple[int, float | None]:
        """(rows waiting, creation time of the oldest)."""
        n, oldest = self.db.execute("SELECT COUNT(*), MIN(created) FROM outbox").fetchone()
        return int(n), oldest

    # --- parked rows (docs/bridge.md §5) ----------------------------------------------
    def park(self, rows: list[tuple[Stored, str]]) -> None:
        """Move outbox rows the city broker refused to ``parked``, with the reason, in one
        transaction: the drain goes on with the next rows."""
        if not rows:
            return
        now = time.time()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "INSERT INTO parked(topic, payload, retain, created, origin, reason, parked_at) "
                "VALUES (?,?,?,?,?,?,?)",
                [(r.topic, r.payload, int(r.retain), r.created, r.origin, reason, now)
                 for r, reason in rows])
            self.db.executemany("DELETE FROM outbox WHERE id=?", [(r.id,) for r, _ in rows])
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise StoreError(f"cannot park outbox rows: {e}") from None

    def parked(self, ids: list[int] | None = None, limit: int = 1000) -> list[Parked]:
        """Parked rows, oldest first (``ids``: only those)."""
        q = "SELECT id, topic, payload, retain != 0, created, reason, parked_at FROM parked"
        args: list[Any] = []
        if ids is not None:
            q += " WHERE id IN (" + ",".join("?" * len(ids)) + ")"  # only ? marks
            args = list(ids)
        q += " ORDER BY id LIMIT ?"
        return list(map(Parked._make, self.db.execute(q, [*args, limit])))

    def parked_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM parked").fetchone()[0])

    def unpark(self, ids: list[int], replay: bool) -> int:
        """Replay parked rows (back to the outbox's end, in their order) or drop them;
        returns how many were found."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            found = 0
            for i in sorted(set(ids)):
                row = self.db.execute("SELECT topic, payload, retain, created, origin FROM parked "
                                      "WHERE id=?", (i,)).fetchone()
                if row is None:
                    continue
                found += 1
                if replay:
                    slot = row[0] if row[2] else None
                    # a newer value waiting for the same retained topic wins over the replayed one
                    if slot is not None and self.db.execute(
                            "SELECT 1 FROM outbox WHERE slot=?", (slot,)).fetchone():
                        self.db.execute("DELETE FROM parked WHERE id=?", (i,))
                        continue
                    self.db.execute("INSERT INTO outbox(topic, payload, retain, slot, created, origin) "
                                    "VALUES (?,?,?,?,?,?)", (row[0], row[1], row[2], slot, row[3], row[4]))
                self.db.execute("DELETE FROM parked WHERE id=?", (i,))
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise StoreError(f"cannot change parked rows: {e}") from None
        return found
