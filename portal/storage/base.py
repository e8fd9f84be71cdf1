"""The storage interface and the ingest/query logic both backends share.

Tables (the same on SQLite and PostgreSQL; docs/portal.md §Storage):

* ``nodes``: one row per DevEUI seen on the city topics: the latest ``meta`` document and
  ``last_seen`` (ms).
* ``series``: one row per node and quantity, with its unit, its kind (``n`` number, ``b``
  boolean, ``s`` string) and the latest value, so the map's latest-values query reads one row
  per series.
* ``obs``: raw observations, primary key (series, time in ms): storing a redelivered pack
  again changes nothing (idempotent ingest).
* ``hourly``, ``daily``: rollups (count, sum, min, max of numbers; booleans count as 0/1) per
  UTC hour and day. They are added to only for observations that were new in ``obs``, so they
  count every observation once, and they outlive the raw retention window.
* ``rejects``: city-topic messages the portal could not use, with their raw bytes and reason.

Every statement uses placeholders; no value is ever put into SQL text.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from ..senml import Observation

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
RESOLUTIONS = ("raw", "hour", "day")
CHUNK_ROWS = 20_000  # rows per keyset page of a download: PostgreSQL still plans an ordered index scan


def _rollup(table: str, width_ms: int) -> str:
    """Add the staged observations to a rollup table (CASE instead of min()/least(): the same
    text on SQLite and PostgreSQL). Only this module's constants go into the text."""
    return (
        f"INSERT INTO {table}(series_id, bucket, n, sum, min, max) "  # noqa: S608 - constants only
        f"SELECT series_id, t - t % {width_ms:d}, count(*), sum(v), min(v), max(v) FROM stage "
        f"WHERE v IS NOT NULL GROUP BY series_id, t - t % {width_ms:d} "
        f"ON CONFLICT(series_id, bucket) DO UPDATE SET n = {table}.n + excluded.n, "
        f"sum = {table}.sum + excluded.sum, "
        f"min = CASE WHEN excluded.min < {table}.min THEN excluded.min ELSE {table}.min END, "
        f"max = CASE WHEN excluded.max > {table}.max THEN excluded.max ELSE {table}.max END")


ROLLUP_HOURLY = _rollup("hourly", HOUR_MS)
ROLLUP_DAILY = _rollup("daily", DAY_MS)
ROLLUP_POINTS = {
    "hour": "SELECT bucket, sum, min, max, n FROM hourly WHERE series_id = ? AND bucket >= ? AND bucket < ? "
            "ORDER BY bucket",
    "day": "SELECT bucket, sum, min, max, n FROM daily WHERE series_id = ? AND bucket >= ? AND bucket < ? "
           "ORDER BY bucket",
}
COUNTS = {k: "SELECT count(*) FROM " + k for k in  # noqa: S608 - constant table names
           ("nodes", "series", "obs", "hourly", "daily", "rejects")}


@dataclass(frozen=True)
class Pack:
    """One SenML pack's observations for one node (see portal.senml.parse_pack)."""

    dev_eui: str
    observations: Sequence[Observation]


@dataclass
class IngestResult:
    packs: int = 0
    stored: int = 0  # observations new in the database
    duplicates: int = 0  # observations already stored (a redelivered pack)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (pack index, reason, detail)


@dataclass(frozen=True)
class NodeRecord:
    dev_eui: str
    meta: dict[str, Any]
    last_seen_ms: int | None


@dataclass(frozen=True)
class SeriesInfo:
    id: int
    dev_eui: str
    quantity: str
    unit: str
    kind: str  # "n" number, "b" boolean, "s" string
    last_t: int | None
    last_v: float | None
    last_vs: str | None

    def last_value(self) -> float | bool | str | None:
        return _value(self.kind, self.last_v, self.last_vs)




@dataclass(frozen=True)
class Point:
    """A chart point: the mean, min and max of ``n`` observations from ``t_ms`` on."""

    t_ms: int
    mean: float
    min: float
    max: float
    n: int


Row = tuple[int, Any, Any]  # (t_ms, v, vs) as stored


def _value(kind: str, v: float | None, vs: str | None) -> float | bool | str | None:
    if vs is not None:
        return vs
    if v is None:
        return None
    return bool(v) if kind == "b" else v


def value_of(kind: str, row: Row) -> float | bool | str | None:
    return _value(kind, row[1], row[2])


def _kind(o: Observation) -> str:
    return "b" if o.vb is not None else ("s" if o.vs is not None and o.vs != "invalid" else "n")


class Storage(ABC):
    """Both backends: one writer (the ingest thread), any number of reader threads.

    Each thread gets its own connection (``_conn``)."""

    name = "storage"

    def __init__(self, raw_retention_days: int = 0) -> None:
        self.raw_retention_days = raw_retention_days
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], tuple[int, str, str]] = {}

    # ---- backend primitives ----------------------------------------------------------------
    @abstractmethod
    def _connect(self) -> Any: ...

    @abstractmethod
    def _tx(self, conn: Any) -> AbstractContextManager[Any]: ...

    @abstractmethod
    def _stage(self, conn: Any, rows: list[tuple[int, int, float | None, str | None]]) -> None:
        """Fill the empty temporary table ``stage`` (series_id, t, v, vs), first row per key kept."""

    @abstractmethod
    def _insert_series(self, conn: Any, dev_eui: str, quantity: str, unit: str, kind: str) -> int: ...

    def _sql(self, sql: str) -> str:
        return sql

    def _many(self, conn: Any, sql: str, seq: list[Any]) -> None:
        conn.executemany(sql, seq)

    def _conn(self) -> Any:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._connect()
            self._local.conn = c
            with self._lock:
                self._all.append(c)
        return c

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        cur = self._conn().execute(self._sql(sql), params)
        return list(cur.fetchall())

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            with contextlib.suppress(Exception):  # closing what another thread may have closed
                c.close()
        self._local = threading.local()

    # ---- for other parts of the portal (the fleet view's tables, portal/fleet/store.py) ----
    def add_schema(self, ddl: str) -> None:
        """Create more tables (``CREATE TABLE IF NOT EXISTS`` statements, ``;``-separated): the
        schema grows the way the core tables do, at open, on both backends."""
        conn = self._conn()
        with self._tx(conn):
            self._schema_lock(conn)
            for stmt in ddl.split(";"):
                if stmt.strip():
                    conn.execute(stmt)

    def _schema_lock(self, conn: Any) -> None:  # noqa: B027 - a hook: nothing to do on SQLite
        """Serialise schema creation between processes (PostgreSQL: an advisory lock)."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one read statement (``?`` placeholders on both backends)."""
        return self._q(sql, params)

    def write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        """Run write statements in one transaction; the rows each one changed."""
        conn = self._conn()
        counts: list[int] = []
        with self._tx(conn):
            for sql, params in statements:
                cur = conn.execute(self._sql(sql), params)
                counts.append(max(0, cur.rowcount))
        return counts

    # ---- write side ----------------------------------------------------------------------
    def ingest(self, packs: Sequence[Pack], now_ms: int | None = None) -> IngestResult:
        """Store packs in one transaction; rows already stored are left as they are."""
        res = IngestResult(packs=len(packs))
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        cutoff = now_ms - self.raw_retention_days * DAY_MS if self.raw_retention_days else None
        try:
            self._ingest(packs, res, cutoff)
        except Exception:
            self.forget_cache()  # series created in the rolled-back transaction do not exist
            raise
        return res

    def _ingest(self, packs: Sequence[Pack], res: IngestResult, cutoff: int | None) -> None:
        conn = self._conn()
        with self._tx(conn):
            rows: dict[tuple[int, int], tuple[int, int, float | None, str | None]] = {}
            newest: dict[int, tuple[int, int, float | None, str | None]] = {}
            seen: dict[str, int] = {}
            for i, pack in enumerate(packs):
                try:
                    pack_rows = self._rows_of(conn, pack, cutoff)
                except _Reject as r:
                    res.rejected.append((i, r.reason, r.detail))
                    continue
                for key, row in pack_rows.items():
                    if key in rows:
                        res.duplicates += 1
                    else:
                        rows[key] = row
                        cur = newest.get(row[0])
                        if cur is None or row[1] > cur[1]:
                            newest[row[0]] = row
                if pack.observations:
                    t = max(o.t_ms for o in pack.observations)
                    seen[pack.dev_eui] = max(t, seen.get(pack.dev_eui, t))
            if seen:
                self._many(conn, self._sql(
                    "INSERT INTO nodes(dev_eui, last_seen) VALUES (?, ?) ON CONFLICT(dev_eui) DO UPDATE "
                    "SET last_seen = CASE WHEN nodes.last_seen > excluded.last_seen THEN nodes.last_seen "
                    "ELSE excluded.last_seen END"), list(seen.items()))
            if rows:
                self._stage(conn, list(rows.values()))
                conn.execute("DELETE FROM stage WHERE EXISTS "
                             "(SELECT 1 FROM obs o WHERE o.series_id = stage.series_id AND o.t = stage.t)")
                new = int(conn.execute("SELECT count(*) FROM stage").fetchone()[0])
                res.stored = new
                res.duplicates += len(rows) - new
                if new:
                    self._apply_stage(conn)
                    self._update_latest(conn, list(newest.values()))

    def _update_latest(self, conn: Any, newest: list[tuple[int, int, float | None, str | None]]) -> None:
        """Latest value per series from the batch's newest row per series (a row that was
        already stored is never newer than the series' last_t, so it changes nothing)."""
        self._many(conn, self._sql("UPDATE series SET last_t = ?, last_v = ?, last_vs = ? WHERE id = ? "
                                   "AND (last_t IS NULL OR last_t < ?)"),
                   [(t, v, vs, sid, t) for sid, t, v, vs in newest])

    def _rows_of(self, conn: Any, pack: Pack,
                 cutoff: int | None) -> dict[tuple[int, int], tuple[int, int, float | None, str | None]]:
        out: dict[tuple[int, int], tuple[int, int, float | None, str | None]] = {}
        for o in pack.observations:
            if cutoff is not None and o.t_ms < cutoff:
                raise _Reject("too_old", f"{o.quantity} at {o.t_ms} ms is older than the raw retention window")
            sid, unit, kind = self._series_id(conn, pack.dev_eui, o)
            okind = _kind(o)
            if o.vs == "invalid":  # the codec's failed-sensor marker fits every kind
                okind = kind
            if unit != o.unit or kind != okind:
                raise _Reject("series_changed", f"{o.quantity}: unit {o.unit!r}/kind {okind} but the series "
                              f"has {unit!r}/{kind}")
            v = (1.0 if o.vb else 0.0) if o.vb is not None else o.v
            out.setdefault((sid, o.t_ms), (sid, o.t_ms, v, o.vs))
        return out

    def _series_id(self, conn: Any, dev_eui: str, o: Observation) -> tuple[int, str, str]:
        key = (dev_eui, o.quantity)
        hit = self._series.get(key)
        if hit is None:
            r = conn.execute(self._sql("SELECT id, unit, kind FROM series WHERE dev_eui = ? AND quantity = ?"),
                             key).fetchone()
            if r is None:
                kind = _kind(o) if o.vs != "invalid" else "n"
                hit = (self._insert_series(conn, dev_eui, o.quantity, o.unit, kind), o.unit, kind)
            else:
                hit = (int(r[0]), str(r[1]), str(r[2]))
            self._series[key] = hit
        return hit

    def _apply_stage(self, conn: Any) -> None:
        conn.execute("INSERT INTO obs(series_id, t, v, vs) SELECT series_id, t, v, vs FROM stage")
        conn.execute(ROLLUP_HOURLY)
        conn.execute(ROLLUP_DAILY)

    def forget_cache(self) -> None:
        """Drop the series-id cache (after a transaction that created series was rolled back)."""
        self._series.clear()

    def put_meta(self, dev_eui: str, meta: dict[str, Any], at_ms: int) -> None:
        conn = self._conn()
        with self._tx(conn):
            conn.execute(self._sql(
                "INSERT INTO nodes(dev_eui, meta, meta_t) VALUES (?, ?, ?) ON CONFLICT(dev_eui) DO UPDATE "
                "SET meta = excluded.meta, meta_t = excluded.meta_t"),
                (dev_eui, json.dumps(meta, separators=(",", ":")), at_ms))

    def reject(self, topic: str, payload: bytes, reason: str, detail: str, at_ms: int) -> None:
        conn = self._conn()
        with self._tx(conn):
            conn.execute(self._sql("INSERT INTO rejects(at, topic, payload, reason, detail) VALUES (?, ?, ?, ?, ?)"),
                         (at_ms, topic[:512], payload, reason, detail[:1000]))

    def apply_retention(self, now_ms: int | None = None) -> int:
        """Delete raw observations older than the retention window; rollups stay. Rows deleted."""
        if not self.raw_retention_days:
            return 0
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        cutoff = now_ms - self.raw_retention_days * DAY_MS
        deleted = 0
        for (sid,) in self._q("SELECT id FROM series"):
            conn = self._conn()
            with self._tx(conn):
                cur = conn.execute(self._sql("DELETE FROM obs WHERE series_id = ? AND t < ?"), (sid, cutoff))
                deleted += max(0, cur.rowcount)
        return deleted

    # ---- read side -----------------------------------------------------------------------
    def nodes(self) -> list[NodeRecord]:
        return [NodeRecord(d, json.loads(m) if m else {}, ls)
                for d, m, ls in self._q("SELECT dev_eui, meta, last_seen FROM nodes ORDER BY dev_eui")]

    def node(self, dev_eui: str) -> NodeRecord | None:
        r = self._q("SELECT dev_eui, meta, last_seen FROM nodes WHERE dev_eui = ?", (dev_eui,))
        return NodeRecord(r[0][0], json.loads(r[0][1]) if r[0][1] else {}, r[0][2]) if r else None

    def series(self, dev_eui: str | None = None) -> list[SeriesInfo]:
        if dev_eui is None:
            rows = self._q("SELECT id, dev_eui, quantity, unit, kind, last_t, last_v, last_vs FROM series "
                           "ORDER BY dev_eui, quantity")
        else:
            rows = self._q("SELECT id, dev_eui, quantity, unit, kind, last_t, last_v, last_vs FROM series "
                           "WHERE dev_eui = ? ORDER BY quantity", (dev_eui,))
        return [SeriesInfo(*r) for r in rows]

    def series_of_quantity(self, quantity: str) -> list[SeriesInfo]:
        """Every node's series of one quantity (the map's latest values)."""
        return [SeriesInfo(*r) for r in self._q(
            "SELECT id, dev_eui, quantity, unit, kind, last_t, last_v, last_vs FROM series WHERE quantity = ?",
            (quantity,))]

    def points(self, series_id: int, start_ms: int, end_ms: int, resolution: str) -> list[Point]:
        """Chart points in [start, end): raw observations or hourly/daily rollups."""
        if resolution == "raw":
            rows = self._q("SELECT t, v FROM obs WHERE series_id = ? AND t >= ? AND t < ? AND v IS NOT NULL "
                           "ORDER BY t", (series_id, start_ms, end_ms))
            return [Point(t, v, v, v, 1) for t, v in rows]
        rows = self._q(ROLLUP_POINTS[resolution], (series_id, start_ms, end_ms))
        return [Point(b, s / n, lo, hi, n) for b, s, lo, hi, n in rows]

    def rows(self, series_id: int, start_ms: int, end_ms: int, chunk: int = CHUNK_ROWS) -> Iterator[list[Row]]:
        """Raw observations in [start, end) in time order, ``chunk`` rows at a time (keyset paging:
        no transaction or cursor stays open between chunks, so a slow download holds nothing)."""
        after = start_ms - 1
        while True:
            rows = self._q("SELECT t, v, vs FROM obs WHERE series_id = ? AND t > ? AND t < ? ORDER BY t LIMIT ?",
                           (series_id, after, end_ms, chunk))
            if not rows:
                return
            yield rows
            if len(rows) < chunk:
                return
            after = rows[-1][0]

    def select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only statement that code composed (the SensorThings queries,
        portal/sta/sql.py): request values only ever arrive in ``params``."""
        return self._q(sql, params)

    def first_time(self) -> int | None:
        """Start of the oldest day with data (from the daily rollups, which outlive raw data)."""
        r = self._q("SELECT min(bucket) FROM daily")
        return None if not r or r[0][0] is None else int(r[0][0])

    def counts(self) -> dict[str, int]:
        return {k: int(self._q(sql)[0][0]) for k, sql in COUNTS.items()}

    def rejects(self, limit: int = 100) -> list[tuple[int, str, bytes, str, str]]:
        return [(a, t, bytes(p), r, d) for a, t, p, r, d in
                self._q("SELECT at, topic, payload, reason, detail FROM rejects ORDER BY id DESC LIMIT ?", (limit,))]


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
