"""Portal benchmark (issue 16): SQLite and PostgreSQL side by side on synthetic data.

Full size (``make bench BENCH_ARGS=portal``): 1,000 nodes × 30 days at 10-minute intervals ×
6 quantities = 25.9 M observations, plus one node with a whole year (315,360 observations) for
the one-year CSV. Measured on each backend, in the same run:

* ingest rate: observations stored per second through ``Storage.ingest`` (one batch per
  10-minute step, i.e. 1,000 packs of 6 observations; building the batch is not timed), with
  the rollups and latest values updated in the same transaction;
* p95 latency through the HTTP app (Starlette, in-process): the map's latest values, a node's
  7-day chart (hourly rollups) and 1-year chart (daily rollups), 100 requests each, random nodes;
* the time to stream the year node's one-year CSV (all 6 quantities).

Goals: chart p95 ≤ 50 ms, one-year CSV ≤ 2 s; the ratios printed are measured / goal.
``BENCH_ARGS="portal small"`` runs 50 nodes × 3 days (what tests/portal/test_bench.py runs in
make test, to keep the benchmark working, without timing asserts).
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from portal import config
from portal.app import create_app
from portal.catalog import Catalog
from portal.live import Hub
from portal.senml import Observation
from portal.storage import Pack, Storage, open_storage

QUANTITIES = (("temperature", "Cel"), ("humidity", "%RH"), ("pressure", "hPa"), ("pm2_5", "ug/m3"),
              ("pm10", "ug/m3"), ("battery_voltage", "V"))
STEP_MS = 600_000
DAY_MS = 86_400_000
YEAR_NODE = "ffffffffffffffff"
CHART_GOAL_MS = 50.0
CSV_GOAL_S = 2.0


@dataclass
class Result:
    backend: str
    observations: int = 0
    ingest_s: float = 0.0
    p95_ms: dict[str, float] = field(default_factory=dict)
    csv_s: float = 0.0
    csv_rows: int = 0
    size_mb: float = 0.0

    @property
    def rate(self) -> float:
        return self.observations / self.ingest_s if self.ingest_s else 0.0


def node_ids(n: int) -> list[str]:
    return [f"70b3d57e{i:08x}" for i in range(n)]


def batches(nodes: list[str], start_ms: int, steps: int, group: int = 1) -> Iterator[list[Pack]]:
    """One batch per ``group`` 10-minute steps (a pack per node and step)."""
    rng = random.Random(7)
    phase = {d: rng.uniform(0, 6.28) for d in nodes}
    packs: list[Pack] = []
    for k in range(steps):
        t = start_ms + k * STEP_MS
        day = 2 * math.pi * (t % DAY_MS) / DAY_MS
        for d in nodes:
            s = math.sin(day + phase[d])
            vals = (round(12 + 8 * s, 2), round(60 - 15 * s, 1), round(1012 + 3 * s, 1), round(9 + 6 * s * s, 1),
                    round(15 + 9 * s * s, 1), round(4.1 - k * 1e-5, 3))
            packs.append(Pack(d, [Observation(q, u, t, v=v) for (q, u), v in zip(QUANTITIES, vals)]))
        if (k + 1) % group == 0 or k == steps - 1:
            yield packs
            packs = []


def ingest(storage: Storage, nodes: list[str], start_ms: int, steps: int, progress: str,
           group: int = 1) -> tuple[int, float]:
    total, spent = 0, 0.0
    last = time.monotonic()
    for i, b in enumerate(batches(nodes, start_ms, steps, group)):
        t0 = time.perf_counter()
        res = storage.ingest(b, now_ms=start_ms + steps * STEP_MS)
        spent += time.perf_counter() - t0
        total += res.stored
        if time.monotonic() - last > 15:
            last = time.monotonic()
            print(f"  {progress}: {(i + 1) * group}/{steps} steps, {total:,} observations, {total / spent:,.0f}/s",
                  flush=True)
    return total, spent


def p95(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)]


def measure(storage: Storage, nodes: int, days: int, *, year_node: bool = True, requests: int = 100,
            size: Callable[[], float] = lambda: 0.0, group: int = 1) -> Result:
    res = Result(storage.name)
    now = int(time.time() * 1000)
    now -= now % STEP_MS
    steps = days * DAY_MS // STEP_MS
    ids = node_ids(nodes)
    n, s = ingest(storage, ids, now - steps * STEP_MS, steps, f"{storage.name} ingest", group)
    res.observations, res.ingest_s = n, s
    if year_node:
        ingest(storage, [YEAR_NODE], now - 365 * DAY_MS, 365 * DAY_MS // STEP_MS, f"{storage.name} year node",
               group=144)  # a day per transaction
    doc = {"portal": {"unlisted_public": True}, "mqtt": {}}
    app = create_app(Catalog(config.parse(doc), storage), Hub())
    rng = random.Random(3)
    with TestClient(app) as c:
        def get(url: str) -> None:
            r = c.get(url)
            assert r.status_code == 200, (url, r.status_code, r.text[:200])

        res.p95_ms["latest values (map)"] = p95(lambda: get("/api/v1/latest?quantity=temperature"), requests // 4)
        res.p95_ms["7-day chart"] = p95(
            lambda: get(f"/api/v1/nodes/{rng.choice(ids)}/series/temperature?range=7d"), requests)
        res.p95_ms["1-year chart"] = p95(
            lambda: get(f"/api/v1/nodes/{rng.choice(ids)}/series/temperature?range=1y"), requests)
        if year_node:
            t0 = time.perf_counter()
            lines = 0
            with c.stream("GET", f"/api/v1/observations.csv?node={YEAR_NODE}&range=1y") as r:
                for chunk in r.iter_bytes():
                    lines += chunk.count(b"\n")
            res.csv_s = time.perf_counter() - t0
            res.csv_rows = lines - 6  # 5 comment lines and the header
    res.size_mb = size()
    return res


def report(results: list[Result]) -> None:
    print(f"\n{'':28}" + "".join(f"{r.backend:>16}" for r in results))
    print(f"{'observations':28}" + "".join(f"{r.observations:>16,}" for r in results))
    print(f"{'ingest rate (obs/s)':28}" + "".join(f"{r.rate:>16,.0f}" for r in results))
    for k in results[0].p95_ms:
        print(f"{'p95 ' + k + ' (ms)':28}" + "".join(f"{r.p95_ms[k]:>16.1f}" for r in results))
    print(f"{'1-year CSV of one node (s)':28}" + "".join(f"{r.csv_s:>16.2f}" for r in results))
    print(f"{'  rows':28}" + "".join(f"{r.csv_rows:>16,}" for r in results))
    print(f"{'database size (MB)':28}" + "".join(f"{r.size_mb:>16,.0f}" for r in results))
    for r in results:
        worst = max(r.p95_ms["7-day chart"], r.p95_ms["1-year chart"])
        print(f"{r.backend}: chart p95 {worst:.1f} ms = {worst / CHART_GOAL_MS:.2f} × goal (≤ 1 meets ≤ 50 ms); "
              f"one-year CSV {r.csv_s:.2f} s = {r.csv_s / CSV_GOAL_S:.2f} × goal (≤ 2 s)")


def run(args: list[str]) -> None:
    from tests.portal.pgserver import PgServer

    small = "small" in args
    nodes, days = (50, 3) if small else (1000, 30)
    for a in args:  # e.g. BENCH_ARGS="portal nodes=1000 days=7"
        if a.startswith("nodes="):
            nodes = int(a[6:])
        elif a.startswith("days="):
            days = int(a[5:])
    print(f"{nodes} nodes × {days} days × 10 min × {len(QUANTITIES)} quantities = "
          f"{nodes * days * 144 * len(QUANTITIES):,} observations per backend (+ one node with a year)")
    results = []
    with tempfile.TemporaryDirectory(prefix="trosmart-bench-portal-") as tmp:
        path = Path(tmp) / "portal.sqlite3"
        s = open_storage("sqlite", path=str(path))
        try:
            results.append(measure(s, nodes, days, size=lambda: sum(
                p.stat().st_size for p in Path(tmp).glob("portal.sqlite3*")) / 1e6))
        finally:
            s.close()
    pg = PgServer(fast=False).start()  # fsync on: a durable server, as a city would run it
    try:
        dsn = pg.create_database("bench")
        s = open_storage("postgresql", dsn=dsn)
        try:
            def pg_size() -> float:
                return float(s._q("SELECT pg_database_size(current_database())")[0][0]) / 1e6

            results.append(measure(s, nodes, days, size=pg_size))
        finally:
            s.close()
    finally:
        pg.stop()
    report(results)
