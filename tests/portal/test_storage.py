"""Storage on both backends (parametrized): idempotent ingest, rollups, latest values, retention,
keyset-paged rows, rejects; and the same answers from SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.senml import Observation
from portal.storage import Pack, Storage, open_storage

from .conftest import make_storage
from .pgserver import PgServer

_eq_ids = itertools.count()

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
DEV = "70b3d57ed0001234"


def pack(t_ms: int, temp: float, dev: str = DEV, occupied: bool | None = None) -> Pack:
    obs = [Observation("temperature", "Cel", t_ms, v=temp)]
    if occupied is not None:
        obs.append(Observation("occupancy", "", t_ms, vb=occupied))
    return Pack(dev, obs)


def test_redelivered_pack_is_stored_once(storage: Storage) -> None:
    first = storage.ingest([pack(T0, 21.5)])
    again = storage.ingest([pack(T0, 21.5), pack(T0, 21.5)])
    assert (first.stored, first.duplicates) == (1, 0)
    assert (again.stored, again.duplicates) == (0, 2)
    assert storage.counts()["obs"] == 1
    (s,) = storage.series(DEV)
    pts = storage.points(s.id, T0, T0 + 3_600_000, "hour")
    assert [(p.n, p.mean) for p in pts] == [(1, 21.5)]


def test_rollups_hourly_daily_and_latest(storage: Storage) -> None:
    packs = [pack(T0 + i * 600_000, float(i), occupied=i % 2 == 0) for i in range(12)]  # two hours
    res = storage.ingest(packs[:7])
    res2 = storage.ingest(packs[5:])  # overlapping redelivery across batches
    assert res.stored + res2.stored == 24 and res2.duplicates == 4
    temp = next(s for s in storage.series(DEV) if s.quantity == "temperature")
    occ = next(s for s in storage.series(DEV) if s.quantity == "occupancy")
    hours = storage.points(temp.id, T0, T0 + 86_400_000, "hour")
    assert [(p.t_ms, p.n, p.mean, p.min, p.max) for p in hours] == [
        (T0, 6, 2.5, 0.0, 5.0), (T0 + 3_600_000, 6, 8.5, 6.0, 11.0)]
    (day,) = storage.points(temp.id, T0, T0 + 86_400_000, "day")
    assert (day.n, day.mean, day.min, day.max) == (12, 5.5, 0.0, 11.0)
    assert (temp.last_t, temp.last_value()) == (T0 + 11 * 600_000, 11.0)
    assert occ.kind == "b" and occ.last_value() is False
    (occ_day,) = storage.points(occ.id, T0, T0 + 86_400_000, "day")
    assert occ_day.mean == 0.5  # booleans roll up as the share of true
    raw = storage.points(temp.id, T0, T0 + 3_600_000, "raw")
    assert [p.mean for p in raw] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    (node,) = storage.nodes()
    assert node.last_seen_ms == T0 + 11 * 600_000


def test_older_pack_does_not_replace_latest(storage: Storage) -> None:
    storage.ingest([pack(T0 + 600_000, 2.0)])
    storage.ingest([pack(T0, 1.0)])
    (s,) = storage.series(DEV)
    assert s.last_value() == 2.0
    assert storage.nodes()[0].last_seen_ms == T0 + 600_000


def test_unit_change_rejects_the_pack_and_keeps_the_rest(storage: Storage) -> None:
    bad = Pack(DEV, [Observation("temperature", "K", T0 + 1, v=290.0)])
    res = storage.ingest([pack(T0, 20.0), bad, pack(T0 + 2, 21.0)])
    assert [r[1] for r in res.rejected] == ["series_changed"]
    assert res.stored == 2


def test_invalid_marker_is_kept_without_breaking_the_series(storage: Storage) -> None:
    storage.ingest([pack(T0, 20.0), Pack(DEV, [Observation("temperature", "Cel", T0 + 1000, vs="invalid")])])
    (s,) = storage.series(DEV)
    assert s.kind == "n" and s.last_value() == "invalid"
    rows = [r for chunk in storage.rows(s.id, T0, T0 + 10_000) for r in chunk]
    assert [(r[1], r[2]) for r in rows] == [(20.0, None), (None, "invalid")]
    assert storage.points(s.id, T0, T0 + 3_600_000, "hour")[0].n == 1  # the marker is no number


def test_rows_are_paged_by_key_in_order(storage: Storage) -> None:
    storage.ingest([pack(T0 + i * 1000, float(i)) for i in range(25)])
    (s,) = storage.series(DEV)
    chunks = list(storage.rows(s.id, T0 + 3000, T0 + 23_000, chunk=7))
    assert [len(c) for c in chunks] == [7, 7, 6]
    assert [r[0] for c in chunks for r in c] == [T0 + i * 1000 for i in range(3, 23)]


def test_retention_deletes_raw_rows_and_keeps_rollups(backend: str, tmp_path: Path,
                                                       request: pytest.FixtureRequest) -> None:
    s = make_storage(backend, tmp_path, request, raw_retention_days=2)
    try:
        now = T0 + 3 * 86_400_000
        s.ingest([pack(T0 + 86_400_000 + 5, 1.0), pack(now - 1000, 2.0)], now_ms=now)
        res = s.ingest([pack(T0, 0.5)], now_ms=now)  # older than the window: refused, not half-stored
        assert [r[1] for r in res.rejected] == ["too_old"]
        assert s.apply_retention(now_ms=now + 86_400_000) == 1
        (ser,) = s.series(DEV)
        assert [p.mean for p in s.points(ser.id, T0, now, "raw")] == [2.0]
        assert [p.n for p in s.points(ser.id, T0, now + 86_400_000, "day")] == [1, 1]
    finally:
        s.close()


def test_rejects_keep_raw_bytes(storage: Storage) -> None:
    storage.reject("trosmart/v1/x/senml", b"\xff\x00not json", "invalid_json", "bad", T0)
    ((at, topic, payload, reason, _),) = storage.rejects()
    assert (at, topic, payload, reason) == (T0, "trosmart/v1/x/senml", b"\xff\x00not json", "invalid_json")


def test_meta_is_replaced_and_survives_reopen(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    s = make_storage(backend, tmp_path, request)
    s.put_meta(DEV, {"rssi": -100}, T0)
    s.put_meta(DEV, {"rssi": -90, "name": "x"}, T0 + 1)
    s.ingest([pack(T0, 1.0)])
    s.close()
    s2 = make_storage(backend, tmp_path, request) if backend == "sqlite" else s
    try:
        (n,) = s2.nodes()
        assert n.meta == {"rssi": -90, "name": "x"} and n.last_seen_ms == T0
    finally:
        s2.close()


values = st.lists(st.tuples(st.integers(0, 2000), st.floats(-1e6, 1e6, allow_nan=False),
                            st.sampled_from([DEV, "70b3d57ed0000002"])), min_size=1, max_size=60)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(values, min_size=1, max_size=4))
def test_sqlite_and_postgresql_store_the_same(batches: list[list[tuple[int, float, str]]], tmp_path_factory:
                                              pytest.TempPathFactory, pg_server: PgServer) -> None:
    """Any batches, with repeats across and within them: both backends hold the same rows, rollups
    and latest values (rollup sums compared to 9 significant digits)."""
    tmp = tmp_path_factory.mktemp("eq")
    a = open_storage("sqlite", path=str(tmp / "p.sqlite3"))
    b = open_storage("postgresql", dsn=pg_server.create_database(f"eq{next(_eq_ids)}"))
    try:
        for batch in batches:
            packs = [pack(T0 + k * 60_000, v, dev) for k, v, dev in batch]
            ra, rb = a.ingest(packs), b.ingest(packs)
            assert (ra.stored, ra.duplicates) == (rb.stored, rb.duplicates)
        assert _snapshot(a) == _snapshot(b)
    finally:
        a.close()
        b.close()


def _snapshot(s: Storage) -> object:
    out = []
    for ser in s.series():
        rows = [r for c in s.rows(ser.id, 0, 2**62) for r in c]
        rolls = [(res, [(p.t_ms, p.n, float(f"{p.mean:.9g}"), p.min, p.max)
                        for p in s.points(ser.id, 0, 2**62, res)]) for res in ("hour", "day")]
        out.append((ser.dev_eui, ser.quantity, ser.last_t, ser.last_value(), rows, rolls))
    return out
