"""The portal benchmark's scaled-down run (tests/bench/bench_portal.py, full size behind make
bench): it must keep working; its timings are printed, never asserted."""

from __future__ import annotations

from portal.storage import Storage
from tests.bench import bench_portal


def test_scaled_down_benchmark_runs_on_both_backends(storage: Storage) -> None:
    r = bench_portal.measure(storage, nodes=10, days=2, year_node=False, requests=8, group=24)
    assert r.observations == 10 * 2 * 144 * len(bench_portal.QUANTITIES)
    assert set(r.p95_ms) == {"latest values (map)", "7-day chart", "1-year chart"}
    bench_portal.report([r])
