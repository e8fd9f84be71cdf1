"""Portal benchmark (issue 16): SQLite and PostgreSQL side by side on synthetic data.

Full size (``make bench BENCH_ARGS=portal``): 1,000 nodes × 30 days at 10-minute intervals ×
6 quantities = 25.9 M observations per backend, plus one node with a whole year (315,360
observations) for the one-year chart and CSV. Measured on each backend, in the same run:

* loading: the synthetic history is **bulk-loaded**: the database generates it (one
  ``INSERT … SELECT`` per 50 nodes, values from a daily sine) and the rollups and latest values
  are computed from it with SQL, the same tables and rows ``Storage.ingest`` would write. At the
  ingest rate below, 26 M observations through the ingest path would take over an hour per backend;
* ingest rate: measured separately through the real ingest path (``Storage.ingest``: one
  transaction per 10-minute step of 1,000 packs × 6 observations, rollups and latest values in the
  same transaction; building the batch is not timed) on a sample, the ``sample`` steps after the
  loaded history, into the full database;
* p95 latency through the HTTP app (Starlette, in-process): the map's latest values (25 requests),
  a node's 7-day chart (hourly rollups; random nodes), the 1-year chart of the year node (daily
  rollups, 365 points; random quantity) and, for comparison, the 1-year chart of random 30-day
  nodes (30 points), 100 requests each;
* the time to stream the year node's one-year CSV (all 6 quantities, 315,360 rows).

Goals: chart p95 ≤ 50 ms, one-year CSV ≤ 2 s; the ratios printed are measured / goal.
``BENCH_ARGS="portal small"`` runs 50 nodes × 3 days; ``nodes=``, ``days=``, ``sample=`` (steps,
default 36 = 6 hours) and ``load=ingest`` (everything through ``Storage.ingest``, as before the
bulk loader) change the run. tests/portal/test_bench.py runs a scaled-down one in make test, to
keep the benchmark working, without timing asserts.
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
    csv_bytes: int = 0
    size_mb: float = 0.0
    loaded: int = 0  # bulk-loaded observations
    load_s: float = 0.0

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


VALUE_SQL = {  # the synthetic values, from a daily sine x with a phase per series; rounded as sensors do
    "temperature": "floor((12 + 8 * x) * 100 + 0.5) / 100.0",
    "humidity": "floor((60 - 15 * x) * 10 + 0.5) / 10.0",
    "pressure": "floor((1012 + 3 * x) * 10 + 0.5) / 10.0",
    "pm2_5": "floor((9 + 6 * x * x) * 10 + 0.5) / 10.0",
    "pm10": "floor((15 + 9 * x * x) * 10 + 0.5) / 10.0",
    "battery_voltage": "floor((4.1 - i * 0.00001) * 1000 + 0.5) / 1000.0",
}
# One statement for both backends: a recursive CTE (PostgreSQL has generate_series, SQLite does
# not), the math functions both have (SQLite ≥ 3.35 built with them, as Debian's and Python's are).
BULK_OBS = (
    "INSERT INTO obs(series_id, t, v) SELECT series_id, t, CASE quantity "
    + " ".join(f"WHEN '{q}' THEN {e}" for q, e in VALUE_SQL.items())
    + " END FROM (SELECT s.id AS series_id, s.quantity, k.i, ? + CAST(k.i AS BIGINT) * 600000 AS t, "
    "sin(2 * pi() * CAST(k.i % 144 AS DOUBLE PRECISION) / 144 + CAST(s.id % 100 AS DOUBLE PRECISION) / 16) AS x "
    "FROM series s, (WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < ? - 1) "
    "SELECT i FROM k) k WHERE s.id >= ? AND s.id <= ?) g ORDER BY series_id, t")
BULK_ROLLUP = ("INSERT INTO {table}(series_id, bucket, n, sum, min, max) SELECT series_id, t - t % {w}, "
               "count(*), sum(v), min(v), max(v) FROM obs WHERE series_id >= ? AND series_id <= ? "
               "GROUP BY series_id, t - t % {w}")
BULK_LATEST = ("UPDATE series SET last_t = (SELECT max(t) FROM obs WHERE obs.series_id = series.id), "
               "last_v = (SELECT v FROM obs WHERE obs.series_id = series.id ORDER BY t DESC LIMIT 1) "
               "WHERE id >= ? AND id <= ?")


def bulk_load(storage: Storage, nodes: list[str], start_ms: int, steps: int, progress: str,
              group: int = 50) -> int:
    """The synthetic history of ``nodes`` written straight into the tables (module docstring):
    the rows ``Storage.ingest`` would store, generated by the database. Observations stored."""
    conn = storage._conn()
    total, last = 0, time.monotonic()
    for g in range(0, len(nodes), group):
        ids: list[int] = []
        with storage._tx(conn):
            for d in nodes[g:g + group]:
                conn.execute(storage._sql("INSERT INTO nodes(dev_eui, last_seen) VALUES (?, ?)"),
                             (d, start_ms + (steps - 1) * STEP_MS))
                ids += [storage._insert_series(conn, d, q, u, "n") for q, u in QUANTITIES]
            lo, hi = min(ids), max(ids)
            conn.execute(storage._sql(BULK_OBS), (start_ms, steps, lo, hi))
            for table, w in (("hourly", 3_600_000), ("daily", DAY_MS)):
                conn.execute(storage._sql(BULK_ROLLUP.format(table=table, w=w)), (lo, hi))
            conn.execute(storage._sql(BULK_LATEST), (lo, hi))
        total += len(ids) * steps
        if time.monotonic() - last > 15:
            last = time.monotonic()
            print(f"  {progress}: {g + group}/{len(nodes)} nodes, {total:,} observations", flush=True)
    storage.forget_cache()
    return total


def measure(storage: Storage, nodes: int, days: int, *, year_node: bool = True, requests: int = 100,
            size: Callable[[], float] = lambda: 0.0, group: int = 1, load: str = "bulk",
            sample: int = 36, after_load: Callable[[], None] = lambda: None, year_days: int = 365) -> Result:
    res = Result(storage.name)
    now = int(time.time() * 1000)
    now -= now % STEP_MS
    steps = days * DAY_MS // STEP_MS
    ids = node_ids(nodes)
    start = now - steps * STEP_MS
    if load == "bulk":
        t0 = time.perf_counter()
        res.loaded = bulk_load(storage, ids, start - sample * STEP_MS, steps, f"{storage.name} bulk load")
        if year_node:
            res.loaded += bulk_load(storage, [YEAR_NODE], now - year_days * DAY_MS, year_days * DAY_MS // STEP_MS,
                                    f"{storage.name} year node")
        after_load()
        res.load_s = time.perf_counter() - t0
        print(f"  {storage.name}: bulk-loaded {res.loaded:,} observations in {res.load_s:.0f} s", flush=True)
        n, s = ingest(storage, ids, start + (steps - sample) * STEP_MS, sample, f"{storage.name} ingest sample",
                      group)
    else:
        n, s = ingest(storage, ids, start, steps, f"{storage.name} ingest", group)
        if year_node:
            ingest(storage, [YEAR_NODE], now - year_days * DAY_MS, year_days * DAY_MS // STEP_MS,
                   f"{storage.name} year node", group=144)  # a day per transaction
    res.observations, res.ingest_s = n, s
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
        if year_node:
            res.p95_ms["1-year chart (year node)"] = p95(
                lambda: get(f"/api/v1/nodes/{YEAR_NODE}/series/{rng.choice(QUANTITIES)[0]}?range=1y"), requests)
        res.p95_ms["1-year chart (30-day node)"] = p95(
            lambda: get(f"/api/v1/nodes/{rng.choice(ids)}/series/temperature?range=1y"), requests)
        if year_node:
            t0 = time.perf_counter()
            lines = 0
            with c.stream("GET", f"/api/v1/observations.csv?node={YEAR_NODE}&range=1y") as r:
                for chunk in r.iter_bytes():
                    lines += chunk.count(b"\n")
                    res.csv_bytes += len(chunk)
            res.csv_s = time.perf_counter() - t0
            res.csv_rows = lines - 6  # 5 comment lines and the header
    res.size_mb = size()
    return res


def report(results: list[Result]) -> None:
    print(f"\n{'':34}" + "".join(f"{r.backend:>16}" for r in results))
    if any(r.loaded for r in results):
        print(f"{'bulk-loaded observations':34}" + "".join(f"{r.loaded:>16,}" for r in results))
        print(f"{'  bulk load (s, not ingest)':34}" + "".join(f"{r.load_s:>16,.0f}" for r in results))
    print(f"{'observations through ingest':34}" + "".join(f"{r.observations:>16,}" for r in results))
    print(f"{'ingest rate (obs/s)':34}" + "".join(f"{r.rate:>16,.0f}" for r in results))
    for k in results[0].p95_ms:
        print(f"{'p95 ' + k + ' (ms)':34}" + "".join(f"{r.p95_ms[k]:>16.1f}" for r in results))
    print(f"{'1-year CSV of one node (s)':34}" + "".join(f"{r.csv_s:>16.2f}" for r in results))
    print(f"{'  rows':34}" + "".join(f"{r.csv_rows:>16,}" for r in results))
    print(f"{'  MB':34}" + "".join(f"{r.csv_bytes / 1e6:>16,.1f}" for r in results))
    print(f"{'database size (MB)':34}" + "".join(f"{r.size_mb:>16,.0f}" for r in results))
    for r in results:
        worst = max(v for k, v in r.p95_ms.items() if "chart" in k)
        print(f"{r.backend}: chart p95 {worst:.1f} ms = {worst / CHART_GOAL_MS:.2f} × goal (≤ 1 meets ≤ 50 ms); "
              f"one-year CSV {r.csv_s:.2f} s = {r.csv_s / CSV_GOAL_S:.2f} × goal (≤ 2 s)")
    if any(r.loaded for r in results):
        print("(the history was bulk-loaded by SQL; the ingest rate is measured separately through "
              "Storage.ingest on the sample after it, into the full database)")


def run(args: list[str]) -> None:
    import os

    from tests.portal.pgserver import PgServer

    small = "small" in args
    nodes, days, sample, load = (50, 3, 12, "bulk") if small else (1000, 30, 36, "bulk")
    for a in args:  # e.g. BENCH_ARGS="portal nodes=1000 days=7"
        if a.startswith("nodes="):
            nodes = int(a[6:])
        elif a.startswith("days="):
            days = int(a[5:])
        elif a.startswith("sample="):
            sample = int(a[7:])
        elif a.startswith("load="):
            load = a[5:]
    print(f"{nodes} nodes × {days} days × 10 min × {len(QUANTITIES)} quantities = "
          f"{nodes * days * 144 * len(QUANTITIES):,} observations per backend (+ one node with a year); "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="trosmart-bench-portal-") as tmp:
        path = Path(tmp) / "portal.sqlite3"
        s = open_storage("sqlite", path=str(path))
        try:
            results.append(measure(s, nodes, days, load=load, sample=sample, size=lambda: sum(
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

            def vacuum() -> None:  # what autovacuum does after a bulk load: statistics, visibility map
                s._conn().execute("VACUUM ANALYZE")

            results.append(measure(s, nodes, days, load=load, sample=sample, size=pg_size, after_load=vacuum))
        finally:
            s.close()
    finally:
        pg.stop()
    report(results)
    print(f"load average at the end {os.getloadavg()[0]:.1f} (2 CPUs shared with other work)")
