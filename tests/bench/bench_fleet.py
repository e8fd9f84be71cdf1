"""Fleet view benchmark (issue 17): the fleet overview for many nodes, on SQLite and PostgreSQL.

``make bench BENCH_ARGS=fleet`` (``fleet nodes=1000``): N nodes with a day of history at
10-minute intervals (a measurement pack with the battery voltage and a ``meta`` per uplink,
i.e. 144 history rows and 144 battery observations per node). Timed, median of 5: building
the overview (``Fleet.overview``: every node assessed) and one node's page data. The baseline
is the first implementation's way of reading, measured in the same run: one rollup query per
node and every ``meta`` row of the last day; the ratio printed is baseline / now.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from portal import config
from portal.fleet.health import assess, ordered
from portal.fleet.ingest import FleetIngest
from portal.fleet.store import FleetStore
from portal.fleet.view import DAY_MS, HOUR_MS, Fleet
from portal.storage import Storage, open_storage
from tests.portal.fleet_helpers import meta
from tests.portal.helpers import doc, pack


def fill(s: Storage, nodes: int, now: int) -> FleetStore:
    store = FleetStore(s)
    ing = FleetIngest(store, 90)
    devs = [f"{i:016x}" for i in range(nodes)]
    for k in range(144):
        t = now - (144 - k) * 600_000
        packs = [pack(d, t, temperature=20.0, battery_voltage=3.9 - k * 0.001) for d in devs]
        metas = [(d, meta(d, t, k, frames=k + 1, lost=k // 30)) for d in devs]
        s.ingest(packs, now_ms=now)
        for d, m in metas:
            s.put_meta(d, m, now)
        ing.handle(metas, packs, now)
    return store


def baseline(f: Fleet, now: int) -> list[Any]:
    """The first version: a rollup query per node, every meta row of the day."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for d, doc_ in ((d, json_doc) for d, _t, json_doc in _all_meta(f, now - DAY_MS)):
        rows.setdefault(d, []).append(doc_)
    ids = {s.dev_eui: s.id for s in f.storage.series() if s.quantity == "battery_voltage"}
    fleet = f.store.nodes()
    out = []
    for rec in f.storage.nodes():
        sid = ids.get(rec.dev_eui)
        bat = [(p.t_ms, p.mean) for p in f.storage.points(sid, now - 72 * HOUR_MS, now + HOUR_MS, "hour")] \
            if sid else []
        samples, st_t, st = fleet.get(rec.dev_eui) or (None, None, None)
        out.append(assess(f.cfg.fleet, dev_eui=rec.dev_eui, name=rec.dev_eui, public=False,
                          last_seen_ms=rec.last_seen_ms, meta=rec.meta, status=st, status_t=st_t, samples=samples,
                          battery=bat, meta_rows=rows.get(rec.dev_eui, []), invalid=[], now_ms=now))
    return ordered(out)


def _all_meta(f: Fleet, since: int) -> list[tuple[str, int, dict[str, Any]]]:
    import json

    return [(d, int(t), json.loads(x)) for d, t, x in f.storage.query(
        "SELECT dev_eui, t, doc FROM fleet_history WHERE source = 'meta' AND t >= ? ORDER BY dev_eui, t", (since,))]


def median_s(fn: Callable[[], Any], n: int = 5) -> float:
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def measure(name: str, s: Storage, nodes: int) -> None:
    now = int(time.time() * 1000)
    t0 = time.perf_counter()
    store = fill(s, nodes, now)
    fill_s = time.perf_counter() - t0
    f = Fleet(config.parse(doc()), s, store)
    new = median_s(lambda: f.overview(now))
    old = median_s(lambda: baseline(f, now))
    one = median_s(lambda: f.node(f"{0:016x}", now))
    assert [n.dev_eui for n in f.overview(now)] == [n.dev_eui for n in baseline(f, now)]
    print(f"{name}: {nodes} nodes, fill {fill_s:.1f} s; overview {new * 1000:.0f} ms, baseline "
          f"{old * 1000:.0f} ms: {old / new:.1f} × faster; one node's page {one * 1000:.1f} ms", flush=True)


def run(args: list[str]) -> None:
    from tests.portal.pgserver import PgServer

    nodes = 1000
    for a in args:
        if a.startswith("nodes="):
            nodes = int(a[6:])
    with tempfile.TemporaryDirectory(prefix="trosmart-bench-fleet-") as tmp:
        s = open_storage("sqlite", path=str(Path(tmp) / "portal.sqlite3"))
        try:
            measure("sqlite", s, nodes)
        finally:
            s.close()
    pg = PgServer(fast=False).start()
    try:
        s = open_storage("postgresql", dsn=pg.create_database("benchfleet"))
        try:
            measure("postgresql", s, nodes)
        finally:
            s.close()
    finally:
        pg.stop()
