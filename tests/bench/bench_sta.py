"""SensorThings API benchmark (issue 17), SQLite and PostgreSQL in the same run.

Baselines are the portal's own endpoints for the same data, measured in the same run:

* one node's day of raw temperature: ``/v1.1/Observations`` with
  ``$filter=Datastream/@iot.id eq N and phenomenonTime ge … and phenomenonTime lt …`` (144 rows)
  against ``/api/v1/nodes/{id}/series/temperature?resolution=raw`` for the same day (p95);
* a deep page of all Observations: ``$skip`` (OFFSET) against the ``$skiptoken`` of the
  server's own ``@iot.nextLink`` (keyset), at the same position;
* reading one Datastream whole through ``@iot.nextLink`` pages of 1,000 against the CSV
  download of the same node and quantity.

``BENCH_ARGS="sta"`` runs 50 nodes × 7 days (302,400 observations per backend);
``BENCH_ARGS="sta nodes=200 days=7"`` for more. Nothing is asserted; the ratios are printed.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from portal import config
from portal.app import create_app
from portal.catalog import Catalog
from portal.live import Hub
from portal.storage import Storage, open_storage
from portal.timefmt import iso_ms
from tests.bench.bench_portal import DAY_MS, QUANTITIES, STEP_MS, ingest, node_ids, p95


def measure(storage: Storage, nodes: int, days: int, requests: int = 40) -> dict[str, Any]:
    now = int(time.time() * 1000)
    now -= now % STEP_MS
    steps = days * DAY_MS // STEP_MS
    start = now - steps * STEP_MS
    ids = node_ids(nodes)
    total, _ = ingest(storage, ids, start, steps, f"{storage.name} ingest", group=36)
    doc = {"portal": {"unlisted_public": True, "base_url": "http://testserver"}, "mqtt": {}}
    app = create_app(Catalog(config.parse(doc), storage), Hub())
    sid = {s.dev_eui: s.id for s in storage.series() if s.quantity == "temperature"}
    rng = random.Random(5)
    out: dict[str, Any] = {"backend": storage.name, "observations": total}
    with TestClient(app) as c:
        def get(url: str, params: dict[str, str] | None = None) -> Any:
            r = c.get(url, params=params) if params else c.get(url)
            assert r.status_code == 200, (url, r.text[:200])
            return r

        def day() -> tuple[str, str, str]:
            node = rng.choice(ids)
            d0 = start + rng.randrange(days - 1) * DAY_MS
            return node, iso_ms(d0).replace(".000", ""), iso_ms(d0 + DAY_MS).replace(".000", "")

        def sta_day() -> None:
            node, a, b = day()
            r = get("/v1.1/Observations", {"$filter": f"Datastream/@iot.id eq {sid[node]} and phenomenonTime ge {a} "
                                                      f"and phenomenonTime lt {b}", "$top": "200"})
            assert len(r.json()["value"]) == 144

        def api_day() -> None:
            node, a, b = day()
            r = get(f"/api/v1/nodes/{node}/series/temperature", {"from": a, "to": b, "resolution": "raw"})
            assert len(r.json()["points"]) == 144

        out["p95 one day, STA (ms)"] = p95(sta_day, requests)
        out["p95 one day, /api/v1 (ms)"] = p95(api_day, requests)
        deep = min(total - 1000, 200_000)
        t0 = time.perf_counter()
        by_skip = get("/v1.1/Observations", {"$top": "1000", "$skip": str(deep)}).json()["value"]
        out["deep page by $skip (ms)"] = (time.perf_counter() - t0) * 1000
        prev = get("/v1.1/Observations", {"$top": "1000", "$skip": str(deep - 1000)}).json()
        link = prev["@iot.nextLink"]
        assert "%24skiptoken=" in link
        t0 = time.perf_counter()
        by_token = get(link).json()["value"]
        out["deep page by $skiptoken (ms)"] = (time.perf_counter() - t0) * 1000
        assert [o["@iot.id"] for o in by_token] == [o["@iot.id"] for o in by_skip]
        node = ids[0]
        t0 = time.perf_counter()
        doc2 = get(f"/v1.1/Datastreams({sid[node]})/Observations", {"$top": "1000"}).json()
        n = len(doc2["value"])
        while "@iot.nextLink" in doc2:
            doc2 = get(doc2["@iot.nextLink"]).json()
            n += len(doc2["value"])
        out["one datastream via nextLink (s)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        lines = get(f"/api/v1/observations.csv?node={node}&quantity=temperature").text.count("\n") - 6
        out["same as CSV (s)"] = time.perf_counter() - t0
        assert n == lines == steps, (n, lines, steps)
    return out


def run(args: list[str]) -> None:
    from tests.portal.pgserver import PgServer

    nodes, days = 50, 7
    for a in args:
        if a.startswith("nodes="):
            nodes = int(a[6:])
        elif a.startswith("days="):
            days = int(a[5:])
    print(f"{nodes} nodes × {days} days × 10 min × {len(QUANTITIES)} quantities = "
          f"{nodes * days * 144 * len(QUANTITIES):,} observations per backend")
    results = []
    with tempfile.TemporaryDirectory(prefix="trosmart-bench-sta-") as tmp:
        s = open_storage("sqlite", path=str(Path(tmp) / "portal.sqlite3"))
        try:
            results.append(measure(s, nodes, days))
        finally:
            s.close()
    pg = PgServer(fast=False).start()
    try:
        s = open_storage("postgresql", dsn=pg.create_database("bench"))
        try:
            results.append(measure(s, nodes, days))
        finally:
            s.close()
    finally:
        pg.stop()
    keys = [k for k in results[0] if k != "backend"]
    print(f"\n{'':34}" + "".join(f"{r['backend']:>14}" for r in results))
    for k in keys:
        print(f"{k:34}" + "".join(f"{r[k]:>14,.3f}" if isinstance(r[k], float) else f"{r[k]:>14,}"
                                   for r in results))
    for r in results:
        print(f"{r['backend']}: one day STA/api = {r['p95 one day, STA (ms)'] / r['p95 one day, /api/v1 (ms)']:.2f} ×; "
              f"deep page $skip/$skiptoken = {r['deep page by $skip (ms)'] / r['deep page by $skiptoken (ms)']:.1f} ×; "
              f"datastream via STA/CSV = {r['one datastream via nextLink (s)'] / r['same as CSV (s)']:.1f} ×")
