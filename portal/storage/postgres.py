"""PostgreSQL backend (psycopg 3): the same tables and statements as SQLite, for a city that
outgrows one file (docs/portal.md §Storage). Each thread has its own autocommit connection;
writes run in explicit transactions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg

from ..errors import StorageError
from .base import Storage

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (dev_eui TEXT PRIMARY KEY, meta TEXT, meta_t BIGINT, last_seen BIGINT);
CREATE TABLE IF NOT EXISTS series (id BIGSERIAL PRIMARY KEY, dev_eui TEXT NOT NULL, quantity TEXT NOT NULL,
    unit TEXT NOT NULL, kind TEXT NOT NULL, last_t BIGINT, last_v DOUBLE PRECISION, last_vs TEXT,
    UNIQUE (dev_eui, quantity));
CREATE TABLE IF NOT EXISTS obs (series_id BIGINT NOT NULL, t BIGINT NOT NULL, v DOUBLE PRECISION, vs TEXT,
    PRIMARY KEY (series_id, t));
CREATE TABLE IF NOT EXISTS hourly (series_id BIGINT NOT NULL, bucket BIGINT NOT NULL, n BIGINT NOT NULL,
    sum DOUBLE PRECISION NOT NULL, min DOUBLE PRECISION NOT NULL, max DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (series_id, bucket));
CREATE TABLE IF NOT EXISTS daily (series_id BIGINT NOT NULL, bucket BIGINT NOT NULL, n BIGINT NOT NULL,
    sum DOUBLE PRECISION NOT NULL, min DOUBLE PRECISION NOT NULL, max DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (series_id, bucket));
CREATE TABLE IF NOT EXISTS rejects (id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, topic TEXT NOT NULL,
    payload BYTEA NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL);
"""


@lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresStorage(Storage):
    name = "postgresql"

    def __init__(self, dsn: str, *, raw_retention_days: int = 0) -> None:
        super().__init__(raw_retention_days)
        if not dsn:
            raise StorageError("[storage] dsn is empty")
        self.dsn = dsn
        conn = self._conn()
        with self._tx(conn):
            conn.execute("SELECT pg_advisory_xact_lock(5571)")  # two portals creating the schema at once
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)

    def _schema_lock(self, conn: Any) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(5571)")

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.dsn, autocommit=True)
        except psycopg.Error as e:
            raise StorageError(f"cannot connect to PostgreSQL: {e}") from None

    def _sql(self, sql: str) -> str:
        return _pg(sql)

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Reads in binary format: no number is printed by the server and parsed back by the
        client (half the time of a one-year download's fetch; the Python values are the same)."""
        with self._conn().cursor(binary=True) as cur:
            cur.execute(self._sql(sql), params)
            return list(cur.fetchall())

    def _many(self, conn: Any, sql: str, seq: list[Any]) -> None:
        with conn.cursor() as cur:
            cur.executemany(sql, seq)

    @contextmanager
    def _tx(self, conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
        with conn.transaction():
            yield conn

    def _stage(self, conn: psycopg.Connection[Any], rows: list[tuple[int, int, float | None, str | None]]) -> None:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS stage (series_id BIGINT NOT NULL, t BIGINT NOT NULL, "
                     "v DOUBLE PRECISION, vs TEXT, PRIMARY KEY (series_id, t)) ON COMMIT DELETE ROWS")
        with conn.cursor() as cur, cur.copy("COPY stage (series_id, t, v, vs) FROM STDIN") as cp:
            for r in rows:  # keys are unique: Storage.ingest keeps the first row per key
                cp.write_row(r)

    def _update_latest(self, conn: Any, newest: list[tuple[int, int, float | None, str | None]]) -> None:
        """One statement from the staged (new) rows instead of a round trip per series."""
        conn.execute("UPDATE series SET last_t = st.t, last_v = st.v, last_vs = st.vs FROM "
                     "(SELECT DISTINCT ON (series_id) series_id, t, v, vs FROM stage ORDER BY series_id, t DESC) st "
                     "WHERE series.id = st.series_id AND (series.last_t IS NULL OR series.last_t < st.t)")

    def _insert_series(self, conn: psycopg.Connection[Any], dev_eui: str, quantity: str, unit: str,
                       kind: str) -> int:
        r = conn.execute("INSERT INTO series(dev_eui, quantity, unit, kind) VALUES (%s, %s, %s, %s) RETURNING id",
                         (dev_eui, quantity, unit, kind)).fetchone()
        assert r is not None
        return int(r[0])
