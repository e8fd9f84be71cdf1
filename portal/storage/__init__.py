"""Time-series storage behind one interface (:class:`Storage`): SQLite (WAL, the default) or
PostgreSQL, chosen by ``[storage] backend`` (docs/portal.md §Storage)."""

from __future__ import annotations

from .base import (
    RESOLUTIONS,
    IngestResult,
    NodeRecord,
    Pack,
    Point,
    Row,
    SeriesInfo,
    Storage,
)


def open_storage(backend: str, *, path: str = "", dsn: str = "", raw_retention_days: int = 0) -> Storage:
    """A ready storage (schema created); ``raw_retention_days`` 0 keeps raw data for ever."""
    if backend == "sqlite":
        from .sqlite import SqliteStorage

        return SqliteStorage(path, raw_retention_days=raw_retention_days)
    if backend == "postgresql":
        from .postgres import PostgresStorage

        return PostgresStorage(dsn, raw_retention_days=raw_retention_days)
    raise ValueError(f"unknown storage backend {backend!r}")


__all__ = ["RESOLUTIONS", "IngestResult", "NodeRecord", "Pack", "Point", "Row", "SeriesInfo",
           "Storage", "open_storage"]
