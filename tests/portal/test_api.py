"""The HTTP API on both backends (Starlette's test client, no server): documents, licence,
headers, validation (400 with a reason, never 500), downloads, identical answers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from portal.app import create_app
from portal.catalog import Catalog
from portal.live import Hub
from portal.storage import Storage

from .helpers import CITY, HIDDEN, MAKER, OPTED, T0, cfg, pack

NOW = T0 + 2 * 86_400_000


def fill(storage: Storage) -> None:
    packs = []
    for i in range(288):  # two days at 10 minutes
        t = T0 + i * 600_000
        packs.append(pack(CITY, t, temperature=10 + (i % 24) / 4, humidity=60.0 + i % 7))
        packs.append(pack(MAKER, t, temperature=12.5 + (i % 10) / 10))
        packs.append(pack(OPTED, t, occupancy=i % 3 == 0))
        packs.append(pack(HIDDEN, t, temperature=99.0))
    storage.ingest(packs, now_ms=NOW)
    storage.ingest([pack(MAKER, T0 + 288 * 600_000, temperature="invalid")], now_ms=NOW)


@pytest.fixture
def client(storage: Storage) -> Iterator[TestClient]:
    fill(storage)
    app = create_app(Catalog(cfg(), storage), Hub())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_nodes_show_public_nodes_only_with_privacy(client: TestClient) -> None:
    r = client.get("/api/v1/nodes")
    assert r.status_code == 200
    doc = r.json()
    ids = sorted(n["id"] for n in doc["nodes"])
    assert ids == sorted([CITY, MAKER, OPTED])
    by = {n["id"]: n for n in doc["nodes"]}
    assert by[CITY]["position"] == {"lat": 50.8157, "lon": 7.1558, "precision": "exact"}
    assert by[CITY]["owner_name"] == "Stadtwerke Troisdorf"
    maker = by[MAKER]
    assert maker["owner_name"] is None and "Erika" not in r.text
    assert maker["position"]["precision"] == "grid_100m"
    assert abs(maker["position"]["lat"] - 50.81234) < 0.0009 and maker["position"]["lat"] != 50.81234
    assert by[OPTED]["position"]["lat"] == 50.8201
    assert doc["licence"]["id"] == "dl-de/by-2-0"
    assert "Datenlizenz Deutschland" in doc["licence"]["name"]
    assert r.headers["link"] == '<https://www.govdata.de/dl-de/by-2-0>; rel="license"'


def test_security_headers_and_read_only(client: TestClient) -> None:
    r = client.get("/de/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert "<script>" not in r.text and " style=" not in r.text and " onclick" not in r.text
    p = client.post("/api/v1/nodes", content=b"x")
    assert p.status_code == 405 and p.headers["x-frame-options"] == "DENY"


def test_series_by_range_and_resolution(client: TestClient) -> None:
    r = client.get(f"/api/v1/nodes/{CITY}/series/temperature", params={"from": "2026-01-01", "to": "2026-01-02"})
    doc = r.json()
    assert r.status_code == 200 and doc["resolution"] == "raw" and len(doc["points"]) == 144
    h = client.get(f"/api/v1/nodes/{CITY}/series/temperature",
                   params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z", "resolution": "hour"}).json()
    assert len(h["points"]) == 48 and all(p[4] == 6 for p in h["points"])
    d = client.get(f"/api/v1/nodes/{CITY}/series/humidity",
                   params={"from": 1767225600, "to": 1767225600 + 90 * 86400}).json()
    assert d["resolution"] == "day" and [p[4] for p in d["points"]] == [144, 144]


@pytest.fixture(scope="module")
def sqlite_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """Validation does not depend on the backend: the property test runs on SQLite only."""
    from portal.storage import open_storage

    s = open_storage("sqlite", path=str(tmp_path_factory.mktemp("q") / "p.sqlite3"))
    fill(s)
    with TestClient(create_app(Catalog(cfg(), s), Hub()), raise_server_exceptions=False) as c:
        yield c
    s.close()


@pytest.mark.parametrize(("path", "params", "status", "reason"), [
    (f"/api/v1/nodes/{CITY}/series/temperature", {"from": "2026-01-02", "to": "2026-01-01"}, 400, "empty"),
    (f"/api/v1/nodes/{CITY}/series/temperature", {"from": "yesterday"}, 400, "from must be"),
    (f"/api/v1/nodes/{CITY}/series/temperature", {"range": "2w"}, 400, "range must be"),
    (f"/api/v1/nodes/{CITY}/series/temperature", {"from": "1900-01-01"}, 400, "between 1970"),
    (f"/api/v1/nodes/{CITY}/series/temperature", {"from": "2025-01-01", "resolution": "raw"}, 400, "31 days"),
    (f"/api/v1/nodes/{CITY}/series/temperature", {"limit": "5"}, 400, "unknown parameter"),
    (f"/api/v1/nodes/{HIDDEN}/series/temperature", {}, 404, "unknown node"),
    ("/api/v1/nodes/zz/series/temperature", {}, 400, "16 hex"),
    ("/api/v1/observations.csv", {"node": HIDDEN}, 400, "unknown node"),
    ("/api/v1/observations.csv", {"node": "0000000000000000"}, 400, "unknown node"),
    ("/api/v1/observations.csv", {"quantity": "nope"}, 400, "unknown quantity"),
    ("/api/v1/observations.csv", {"quantity": "temp'; DROP TABLE obs;--"}, 400, "SenML name"),
    ("/api/v1/latest", {"quantity": "x" * 300}, 400, "too long"),
])
def test_bad_queries_give_400_with_reason(sqlite_client: TestClient, path: str, params: dict[str, str],
                                          status: int, reason: str) -> None:
    r = sqlite_client.get(path, params=params)
    assert r.status_code == status, r.text
    assert reason in r.json()["error"]


def test_csv_download_rows_and_licence(client: TestClient) -> None:
    r = client.get("/api/v1/observations.csv", params={"node": MAKER, "quantity": "temperature"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv; charset=utf-8")
    lines = r.text.splitlines()
    comments = [ln for ln in lines if ln.startswith("#")]
    assert any("Datenlizenz Deutschland – Namensnennung – Version 2.0" in c for c in comments)
    rows = list(csv.reader(io.StringIO("\n".join(ln for ln in lines if not ln.startswith("#"))), delimiter=";"))
    assert rows[0] == ["node", "name", "lat", "lon", "quantity", "unit", "time", "value"]
    assert len(rows) == 1 + 289
    assert rows[1][:2] == [MAKER, 'Garten; "Süd"'] and rows[1][6] == "2026-01-01T00:00:00.000Z"
    assert rows[1][7] == "12.5" and rows[-1][7] == "invalid"
    assert float(rows[1][2]) != 50.81234  # coarsened in downloads too
    assert "Erika" not in r.text


def test_download_all_public_nodes_and_ranges(client: TestClient) -> None:
    r = client.get("/api/v1/observations.csv")
    body = [ln for ln in r.text.splitlines() if not ln.startswith("#")][1:]
    assert len(body) == 288 * 2 + 289 + 288  # city (2 quantities), maker, opted; never the hidden node
    assert HIDDEN not in r.text
    part = client.get("/api/v1/observations.csv", params={"node": CITY, "quantity": "humidity",
                                                          "from": "2026-01-01T01:00:00Z", "to": "2026-01-01T02:00Z"})
    assert len([ln for ln in part.text.splitlines() if not ln.startswith("#")]) == 1 + 6


def test_senml_download(client: TestClient) -> None:
    r = client.get("/api/v1/observations.senml.json", params={"node": OPTED})
    assert r.headers["content-type"] == "application/senml+json"
    recs = orjson.loads(r.content)
    assert len(recs) == 288 and recs[0]["bn"] == f"urn:dev:mac:{OPTED}:" and recs[0]["n"] == "occupancy"
    assert recs[0]["vb"] is True and recs[1]["vb"] is False and recs[0]["t"] == T0 / 1000
    allr = orjson.loads(client.get("/api/v1/observations.senml.json").content)
    assert "bver" not in allr[0]  # Cel, %RH and booleans are primary units (RFC 8428)
    assert sum(1 for x in allr if "bn" in x) == 4


def test_latest_and_node(client: TestClient) -> None:
    lat = client.get("/api/v1/latest", params={"quantity": "temperature"}).json()
    by = {n["id"]: n for n in lat["nodes"]}
    assert by[CITY]["value"] == 10 + (287 % 24) / 4 and by[MAKER]["value"] == "invalid" and by[OPTED]["value"] is None
    node = client.get(f"/api/v1/nodes/{CITY}").json()["node"]
    assert node["last_seen"] == "2026-01-02T23:50:00.000Z"
    assert {s["quantity"] for s in node["latest"]} == {"temperature", "humidity"}


def test_dataset_description(client: TestClient) -> None:
    r = client.get("/api/v1/dataset")
    doc = r.json()
    assert r.headers["content-type"] == "application/ld+json"
    for k in ("dcterms:title", "dcterms:description", "dcterms:publisher", "dcat:distribution"):
        assert doc[k]
    for d in doc["dcat:distribution"]:
        assert d["dcat:accessURL"]["@id"] and d["dcterms:license"]["@id"] == "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
        assert "dl-de/by-2-0" in d["dcatde:licenseAttributionByText"]
    assert doc["dcterms:temporal"]["dcat:startDate"]["@value"] == "2026-01-01T00:00:00.000Z"


def test_pages_render_in_both_languages(client: TestClient) -> None:
    de = client.get("/de/?quantity=temperature")
    en = client.get("/en/?quantity=temperature")
    assert de.status_code == en.status_code == 200
    assert 'lang="de"' in de.text and "Messgröße" in de.text and "Quantity" in en.text
    assert "Garten; &quot;Süd&quot;" in de.text and "Versuch" not in de.text
    node = client.get(f"/en/node/{CITY}?range=7d")
    assert node.status_code == 200 and 'data-expected="' in node.text and "Values as a table" in node.text
    assert client.get("/fr/").status_code == 404
    assert client.get("/", headers={"accept-language": "en-GB,en;q=0.8"}, follow_redirects=False).headers[
        "location"] == "/en/"


def test_static_vendor_files_are_served(client: TestClient) -> None:
    assert client.get("/static/vendor/leaflet/leaflet.js").status_code == 200
    assert client.get("/static/vendor/uplot/uPlot.iife.min.js").status_code == 200
    assert client.get("/static/map.js").headers["content-type"].startswith("text/javascript")


text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
param_names = st.sampled_from(["from", "to", "range", "resolution", "node", "quantity", "x"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from([f"/api/v1/nodes/{CITY}/series/temperature", "/api/v1/observations.csv",
                             "/api/v1/observations.senml.json", "/api/v1/latest", f"/de/node/{CITY}", "/en/",
                             "/api/v1/nodes"]),
       params=st.dictionaries(param_names, st.one_of(text, st.sampled_from(
           ["2026-01-01", "1767225600", "24h", "7d", "hour", "raw", CITY, "temperature", "-1", "9" * 14]))),
       node=st.one_of(st.just(CITY), text))
def test_any_query_is_answered_never_500(sqlite_client: TestClient, path: str, params: dict[str, str],
                                         node: str) -> None:
    path = path.replace(CITY, quote(node, safe="")) if node else path
    r = sqlite_client.get(path, params=params)
    assert r.status_code in (200, 400, 404), (path, params, r.status_code, r.text[:300])
    if r.status_code != 200:
        assert r.json()["error"]


def test_same_answers_on_sqlite_and_postgresql(tmp_path: Path, pg_dsn: str) -> None:
    from portal.storage import open_storage

    answers = []
    for s in (open_storage("sqlite", path=str(tmp_path / "a.sqlite3")), open_storage("postgresql", dsn=pg_dsn)):
        try:
            fill(s)
            with TestClient(create_app(Catalog(cfg(), s), Hub())) as c:
                got = []
                for path, params in [("/api/v1/nodes", {}), (f"/api/v1/nodes/{CITY}", {}),
                                     (f"/api/v1/nodes/{CITY}/series/temperature", {"from": "2026-01-01",
                                                                                  "to": "2026-01-02"}),
                                     (f"/api/v1/nodes/{CITY}/series/temperature", {"from": "2026-01-01",
                                                                                  "to": "2026-02-01"}),
                                     (f"/api/v1/nodes/{MAKER}/series/temperature", {"from": "2025-06-01",
                                                                                  "to": "2026-06-01"}),
                                     ("/api/v1/latest", {"quantity": "occupancy"}),
                                     ("/api/v1/observations.csv", {}), ("/api/v1/observations.senml.json", {}),
                                     ("/api/v1/dataset", {})]:
                    r = c.get(path, params=params)
                    assert r.status_code == 200
                    got.append(r.content)
                answers.append(got)
        finally:
            s.close()
    assert answers[0] == answers[1]
