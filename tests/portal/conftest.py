"""Portal fixtures: one PostgreSQL server per session (a fresh database per test) and a
``storage`` fixture parametrized over both backends, so every storage test runs on both."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.storage import Storage, open_storage
from tests.conftest import _missing

from .pgserver import PgServer

_db_ids = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        server = PgServer().start()
    except (RuntimeError, OSError) as e:
        _missing("PostgreSQL", e)
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> str:
    return pg_server.create_database(f"t{next(_db_ids)}")


def make_storage(backend: str, tmp_path: Path, request: pytest.FixtureRequest,
                 raw_retention_days: int = 0) -> Storage:
    if backend == "sqlite":
        return open_storage("sqlite", path=str(tmp_path / "portal.sqlite3"), raw_retention_days=raw_retention_days)
    dsn = request.getfixturevalue("pg_dsn")
    return open_storage("postgresql", dsn=dsn, raw_retention_days=raw_retention_days)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def storage(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Storage]:
    s = make_storage(backend, tmp_path, request)
    try:
        yield s
    finally:
        s.close()
