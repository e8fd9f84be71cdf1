"""The portal benchmark's scaled-down run (tests/bench/bench_portal.py, full size behind make
bench): it must keep working, and its bulk loader must write what ``Storage.ingest`` writes
(rollups that count every observation once, latest values); timings are printed, never asserted."""

from __future__ import annotations

from portal.storage import Storage
from tests.bench import bench_portal


def _one(storage: Storage, sql: str) -> int:
    return int(storage._q(sql)[0][0] or 0)


def test_scaled_down_benchmark_runs_on_both_backends(storage: Storage) -> None:
    nodes, days, sample, year_days = 10, 2, 6, 20
    r = bench_portal.measure(storage, nodes=nodes, days=days, requests=8, sample=sample, year_days=year_days)
    q = len(bench_portal.QUANTITIES)
    assert r.loaded == (nodes * days + year_days) * 144 * q
    assert r.observations == nodes * sample * q  # the sample through Storage.ingest
    assert set(r.p95_ms) == {"latest values (map)", "7-day chart", "1-year chart (year node)",
                             "1-year chart (30-day node)"}
    assert r.csv_rows == year_days * 144 * q  # range=1y holds the whole 20 days
    obs = storage.counts()["obs"]
    assert obs == r.loaded + r.observations
    assert _one(storage, "SELECT sum(n) FROM hourly") == obs == _one(storage, "SELECT sum(n) FROM daily")
    assert _one(storage, "SELECT count(*) FROM series WHERE last_t IS NULL OR last_v IS NULL") == 0
    assert _one(storage, "SELECT count(*) FROM series s WHERE last_t <> "
                         "(SELECT max(t) FROM obs WHERE obs.series_id = s.id)") == 0
    bench_portal.report([r])


def test_everything_through_ingest_still_runs(storage: Storage) -> None:
    r = bench_portal.measure(storage, nodes=3, days=1, requests=4, group=24, load="ingest", year_days=2)
    assert r.loaded == 0 and r.observations == 3 * 144 * len(bench_portal.QUANTITIES)
