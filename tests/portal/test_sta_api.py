"""The SensorThings API on both backends (Starlette's test client): entities and links,
privacy, paging, query options, error bodies, and attacks through the query string and the
path (400/404/501 with the OData error body, never a 500)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from portal.app import create_app
from portal.catalog import Catalog
from portal.live import Hub
from portal.sta.routes import MAX_TOP, Options
from portal.storage import Storage

from .helpers import CITY, HIDDEN, MAKER, OPTED, cfg
from .sta_data import TEXTS, fill

BASE = "http://testserver/v1.1"
LICENCE_LINK = '<https://www.govdata.de/dl-de/by-2-0>; rel="license"'


@pytest.fixture
def client(storage: Storage) -> Iterator[TestClient]:
    fill(storage)
    app = create_app(Catalog(cfg(base_url="http://testserver"), storage), Hub())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def get(client: TestClient, path: str, status: int = 200, **params: Any) -> dict[str, Any]:
    url = path if path.startswith("http") else f"/v1.1/{path}"
    r = client.get(url, params=params) if params else client.get(url)  # params={} would drop a link's query
    assert r.status_code == status, (path, params, r.text[:500])
    assert r.headers["link"] == LICENCE_LINK
    doc: dict[str, Any] = r.json()
    assert doc["licence"]["id"] == "dl-de/by-2-0"
    if status >= 400:
        assert set(doc["error"]) >= {"code", "message"} and doc["error"]["code"] == str(status)
    return doc


def all_pages(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    doc = get(client, path, **params)
    out = list(doc["value"])
    while "@iot.nextLink" in doc:
        doc = get(client, doc["@iot.nextLink"])
        out += doc["value"]
    return out


def hidden_sid(client: TestClient, storage: Storage) -> int:
    return next(s.id for s in storage.series(HIDDEN))


def test_root_lists_collections_and_conformance(client: TestClient) -> None:
    doc = get(client, "")
    assert [v["name"] for v in doc["value"]] == ["Things", "Locations", "Datastreams", "Sensors",
                                                 "ObservedProperties", "Observations", "FeaturesOfInterest"]
    assert doc["value"][0]["url"] == f"{BASE}/Things"
    conf = doc["serverSettings"]["conformance"]
    assert "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel/thing" in conf
    assert not any("create-update-delete" in c or "mqtt" in c or "historical" in c for c in conf)


def test_things_are_public_nodes_with_links_and_privacy(client: TestClient) -> None:
    things = get(client, "Things", **{"$expand": "Locations,Datastreams"})["value"]
    assert [t["@iot.id"] for t in things] == sorted([CITY, MAKER, OPTED])
    by = {t["@iot.id"]: t for t in things}
    city = by[CITY]
    assert city["@iot.selfLink"] == f"{BASE}/Things('{CITY}')"
    assert city["Datastreams@iot.navigationLink"] == f"{BASE}/Things('{CITY}')/Datastreams"
    assert city["properties"]["operator"] == "Stadtwerke Troisdorf"
    assert city["Locations"][0]["location"] == {"type": "Point", "coordinates": [7.1558, 50.8157]}
    maker = by[MAKER]
    lon, lat = maker["Locations"][0]["location"]["coordinates"]
    assert abs(lat - 50.81234) < 0.0009 and lat != 50.81234 and abs(lon - 7.14567) < 0.0015 and lon != 7.14567
    assert maker["properties"]["position_precision"] == "grid_100m" and "operator" not in maker["properties"]
    assert by[OPTED]["Locations"][0]["location"]["coordinates"] == [7.1602, 50.8201]
    for coll in ("Things", "Locations", "Sensors", "FeaturesOfInterest", "Datastreams", "ObservedProperties"):
        r = client.get(f"/v1.1/{coll}")
        assert r.status_code == 200 and "Erika" not in r.text and HIDDEN not in r.text and "50.81234" not in r.text


def test_datastreams_units_and_navigation(client: TestClient) -> None:
    streams = get(client, f"Things('{CITY}')/Datastreams")["value"]
    by = {d["properties"]["quantity"]: d for d in streams}
    assert set(by) == {"temperature", "humidity"}
    t = by["temperature"]
    assert t["unitOfMeasurement"]["symbol"] == "Cel" and t["unitOfMeasurement"]["name"] == "degree Celsius"
    assert t["observationType"].endswith("OM_Measurement")
    occ = get(client, f"Things('{OPTED}')/Datastreams", **{"$filter": "properties/quantity eq 'occupancy'"})
    (o,) = occ["value"]
    assert o["observationType"].endswith("OM_TruthObservation") and o["unitOfMeasurement"]["symbol"] is None
    sid = t["@iot.id"]
    assert get(client, f"Datastreams({sid})/Thing")["@iot.id"] == CITY
    assert get(client, f"Datastreams({sid})/ObservedProperty")["name"] == "temperature"
    assert get(client, f"Datastreams({sid})/Sensor")["@iot.id"] == CITY
    ds = [d["@iot.id"] for d in get(client, "ObservedProperties('temperature')/Datastreams")["value"]]
    assert sid in ds and len(ds) == 2  # CITY and MAKER; the hidden node's is not there
    assert get(client, f"Datastreams({sid})/name") == {"name": "Rathaus: temperature", "licence": get(client, "")
                                                       ["licence"]}
    r = client.get(f"/v1.1/Datastreams({sid})/Thing/name/$value")
    assert r.status_code == 200 and r.text == "Rathaus"


def test_observations_paging_count_order_select(client: TestClient) -> None:
    sid = get(client, f"Things('{CITY}')/Datastreams", **{"$filter": "name eq 'Rathaus: temperature'"})[
        "value"][0]["@iot.id"]
    doc = get(client, f"Datastreams({sid})/Observations", **{"$top": "7", "$count": "true",
                                                             "$orderby": "phenomenonTime desc"})
    assert doc["@iot.count"] == 60 and len(doc["value"]) == 7
    assert doc["@iot.nextLink"].startswith(f"{BASE}/Datastreams({sid})/Observations?")
    obs = all_pages(client, f"Datastreams({sid})/Observations", **{"$top": "7", "$orderby": "phenomenonTime desc"})
    times = [o["phenomenonTime"] for o in obs]
    assert len(obs) == 60 and times == sorted(times, reverse=True) and len(set(times)) == 60
    first = obs[-1]
    assert first["result"] == -5.0 and first["resultTime"] == first["phenomenonTime"]
    assert get(client, first["@iot.selfLink"])["result"] == -5.0
    assert get(client, f"{first['@iot.selfLink']}/Datastream")["@iot.id"] == sid
    assert get(client, f"{first['@iot.selfLink']}/FeatureOfInterest")["@iot.id"] == CITY
    sel = get(client, f"Datastreams({sid})/Observations", **{"$select": "result,id", "$top": "2"})["value"]
    assert sel == [{"result": -5.0, "@iot.id": f"{sid}-{obs[-1]['@iot.id'].split('-')[1]}"},
                   {"result": -4.63, "@iot.id": obs[-2]["@iot.id"]}]
    big = get(client, "Observations", **{"$top": "100000"})
    assert len(big["value"]) == 300 and "@iot.nextLink" not in big  # 5 public series of 60
    assert Options({"$top": "100000"}).top == MAX_TOP  # a larger $top is capped at the page size


def test_failed_sensor_is_a_null_result(client: TestClient) -> None:
    doc = get(client, "Observations", **{"$filter": f"result eq null and Datastream/Thing/@iot.id eq '{MAKER}'",
                                         "$count": "true"})
    assert doc["@iot.count"] == 5 and all(o["result"] is None for o in doc["value"])
    assert doc["value"][0]["resultQuality"].startswith("invalid")


def test_expand_observations_on_a_datastream(client: TestClient) -> None:
    d = get(client, "Datastreams", **{"$filter": f"Thing/@iot.id eq '{OPTED}' and properties/quantity eq "
                                                 "'occupancy'", "$expand": "Observations,Thing"})["value"][0]
    assert len(d["Observations"]) == 60 and d["Thing"]["@iot.id"] == OPTED
    assert {o["result"] for o in d["Observations"]} == {True, False}


def test_hidden_node_is_nowhere(client: TestClient, storage: Storage) -> None:
    sid = hidden_sid(client, storage)
    get(client, f"Things('{HIDDEN}')", 404)
    get(client, f"Datastreams({sid})", 404)
    get(client, f"Datastreams({sid})/Observations", 404)
    get(client, f"Observations('{sid}-1767225600000')", 404)
    assert get(client, "Observations", **{"$filter": f"Datastream/@iot.id eq {sid}"})["value"] == []
    assert get(client, "Observations", **{"$filter": "result ge 99", "$count": "true"})["@iot.count"] == 0
    assert get(client, f"Things('{CITY}')/Datastreams({sid})", 404)


ATTACKS = [
    ("$filter", "(" * 500 + "result eq 1" + ")" * 500, 400),
    ("$filter", "not " * 500 + "result eq 1", 400),
    ("$filter", " or ".join(["result eq 1"] * 100), 400),
    ("$filter", "result eq '" + "x" * 5000 + "'", 400),
    ("$filter", "Datastream/@iot.id eq 1; DROP TABLE obs", 400),
    ("$filter", "result eq 1 --", 400),
    ("$filter", "result eq '\x00'", 400),
    ("$filter", "result gt １２", 400),  # fullwidth digits
    ("$filter", "result\u200b eq 1", 400),
    ("$filter", "substringof('a', name)", 400),
    ("$filter", "geo.distance(location, geography'POINT(7 50)') lt 1", 400),
    ("$filter", "result add 1 gt 2", 400),
    ("$filter", "result eq 1e999", 400),
    ("$filter", "result eq 99999999999999999999999999999999999999999999", 400),
    ("$filter", "Datastream/@iot.id eq 99999999999999999999", 400),
    ("$filter", "phenomenonTime gt 2026-02-30T00:00:00Z", 400),
    ("$filter", "phenomenonTime gt 12", 400),
    ("$filter", "result eq result", 400),
    ("$filter", "1 eq 1", 400),
    ("$filter", "", 400),
    ("$filter", "result eq", 400),
    ("$filter", "result eq 'unterminated", 400),
    ("$filter", "secret eq 1", 400),
    ("$filter", "@iot.id eq '1 OR 1=1'", 400),
    ("$top", "9" * 40, 400),
    ("$top", "-1", 400),
    ("$top", "1e3", 400),
    ("$skip", "10000001", 400),
    ("$count", "yes", 400),
    ("$orderby", "result; DROP TABLE obs", 400),
    ("$orderby", "nope desc", 400),
    ("$orderby", ",".join(["result"] * 9), 400),
    ("$select", "password", 400),
    ("$expand", "Datastreams/Observations", 501),
    ("$expand", "Observations($expand=Datastream)", 501),
    ("$expand", "Observations($top=1", 400),
    ("$expand", "Observations($top)", 400),
    ("$expand", "Observations($top=x)", 400),
    ("$expand", "Observations($foo=1)", 400),
    ("$expand", "Datastream($filter=secret eq 1)", 400),
    ("$expand", "Datastream,", 400),
    ("$expand", "Owner", 400),
    ("$resultFormat", "dataArray", 501),
    ("$foo", "1", 400),
    ("top", "1", 400),
]


@pytest.mark.parametrize(("option", "value", "status"), ATTACKS)
def test_attacks_through_query_options(client: TestClient, storage: Storage, option: str, value: str,
                                       status: int) -> None:
    before = storage.counts()["obs"]
    doc = get(client, "Observations", status, **{option: value})
    assert len(doc["error"]["message"]) < 400
    assert storage.counts()["obs"] == before


def test_sql_metacharacters_in_a_string_are_only_data(client: TestClient, storage: Storage) -> None:
    before = storage.counts()["obs"]
    for text in ("1' OR '1'='1", "x');DROP TABLE obs;--", "%", "_", "\\", '"', "Süd", "O'Brien",
                 "; DROP TABLE obs; --", "a%b_c", "invalid"):
        quoted = text.replace("'", "''")
        doc = get(client, "Observations", **{"$filter": f"result eq '{quoted}'", "$count": "true"})
        want = sum(1 for i in range(60) if i % 9 and TEXTS[i % 9] == text and text != "invalid")
        assert doc["@iot.count"] == want, text
        assert all(o["result"] == text for o in doc["value"])
    assert get(client, "Observations", **{"$filter": "result eq 'Süd'", "$count": "true"})["@iot.count"] == 7
    assert storage.counts()["obs"] == before


PATHS = ["Things('", "Things('x'' OR ''1''=''1')", "Things(1 OR 1=1)", "Things(-1)", "Nodes", "Things/Things",
         "Things('70b3d57ed0de0001')/Secrets", "Things('70b3d57ed0de0001')/name/extra", "Observations(1)",
         "Observations('1-')", "Observations('a-b')", "Datastreams(999999999999999999999)", "Things()",
         "Things('70b3d57ed0de0001')//Datastreams", "Things('70b3d57ed0de0001')/$ref/x",
         "Datastreams(1)/Observations('9-1')", "Things('70b3d57ed0de0001')/@iot.id", "%00", "Th\u00efngs"]


@pytest.mark.parametrize("path", PATHS)
def test_bad_paths_are_404(client: TestClient, path: str) -> None:
    get(client, quote(path, safe="/()'$"), 404)


def test_read_only(client: TestClient) -> None:
    r = client.post("/v1.1/Things", json={"name": "x"})
    assert r.status_code == 405 and r.headers["link"] == LICENCE_LINK
    assert client.delete(f"/v1.1/Things('{CITY}')").status_code == 405


OPTION_NAMES = st.sampled_from(["$filter", "$top", "$skip", "$count", "$orderby", "$select", "$expand", "$x", "q",
                                "$skiptoken", "$resultFormat"])
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
FRAGMENTS = st.lists(st.sampled_from(["result", "phenomenonTime", "eq", "ne", "gt", "and", "or", "not", "(",
                                      ")", "'a'", "'", "1", "-1.5e3", "null", "true", "2026-01-01T00:00:00Z",
                                      "@iot.id", "Datastream/@iot.id", "name", "/", ",", " desc", "Thing"]),
                     max_size=12).map(" ".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["Things", "Datastreams", "Observations", "Locations", "Sensors", "ObservedProperties",
                             "FeaturesOfInterest", f"Things('{CITY}')/Datastreams", "Datastreams(1)/Observations"]),
       params=st.dictionaries(OPTION_NAMES, st.one_of(TEXT, FRAGMENTS), max_size=3))
def test_random_query_options_never_fail_the_server(client: TestClient, path: str, params: dict[str, str]) -> None:
    r = client.get(f"/v1.1/{path}", params=params)
    assert r.status_code in (200, 400, 404, 501), (path, params, r.text[:300])
    doc = r.json()
    assert ("error" in doc) == (r.status_code != 200)


def test_id_order_pages_by_keyset_and_refs_page_too(client: TestClient) -> None:
    first = get(client, "Observations", **{"$top": "50", "$filter": "result ne null"})
    link = first["@iot.nextLink"]
    assert "%24skiptoken=" in link and "%24skip=" not in link
    ids = [o["@iot.id"] for o in all_pages(client, "Observations", **{"$top": "50", "$filter": "result ne null"})]
    every = [o["@iot.id"] for o in get(client, "Observations", **{"$top": "1000", "$filter": "result ne null"})[
        "value"]]
    assert ids == every and len(ids) == 289
    get(client, "Observations", 400, **{"$skiptoken": "1-1", "$orderby": "result"})
    get(client, "Things", 400, **{"$skiptoken": "1-1"})
    get(client, "Observations", 400, **{"$skiptoken": "drop table"})
    refs = all_pages(client, "Observations/$ref", **{"$top": "100"})
    assert [r["@iot.selfLink"] for r in refs] == [f"{BASE}/Observations('{i}')" for i in
                                                   [o["@iot.id"] for o in all_pages(client, "Observations")]]


def test_service_root_variants_and_head(client: TestClient) -> None:
    r = client.get("/v1.1", follow_redirects=False)
    assert r.status_code in (200, 307) and (r.status_code == 200 or r.headers["location"].endswith("/v1.1/"))
    h = client.head(f"/v1.1/Things('{CITY}')")
    assert h.status_code == 200 and h.headers["link"] == LICENCE_LINK


def test_small_collections_check_names_even_when_empty(client: TestClient) -> None:
    get(client, "Things", 400, **{"$filter": "secret eq 1"})
    get(client, "Things", 400, **{"$filter": "name eq 'none' and secret eq 1"})  # nothing to evaluate it on
    get(client, f"Things('{CITY}')/Locations", 400, **{"$orderby": "secret"})
    assert get(client, "Things", **{"$filter": "name eq 'nobody'", "$orderby": "name desc"})["value"] == []
    names = [t["name"] for t in get(client, "Things", **{"$orderby": "name desc"})["value"]]
    assert names == sorted(names, reverse=True)
    page = get(client, "Datastreams", **{"$expand": "Observations", "$top": "1000"})
    assert len(page["value"]) == 5 and all(len(d["Observations"]) == 60 for d in page["value"])


def test_top_zero_is_a_count_without_a_next_page(client: TestClient) -> None:
    for coll in ("Observations", "Things"):
        doc = get(client, coll, **{"$top": "0", "$count": "true"})
        assert doc["value"] == [] and doc["@iot.count"] > 0 and "@iot.nextLink" not in doc


def test_expand_with_options_gives_the_latest_value(client: TestClient) -> None:
    """The city platforms' 'latest value per Datastream' query, one level deep."""
    doc = get(client, f"Things('{CITY}')/Datastreams", **{
        "$expand": "Observations($top=1;$orderby=phenomenonTime desc;$select=result,phenomenonTime;$count=true),"
                   "ObservedProperty($select=name)"})
    by = {d["ObservedProperty"]["name"]: d for d in doc["value"]}
    temp = by["temperature"]
    assert temp["Observations"] == [{"result": round(-5 + 59 * 0.37, 2), "phenomenonTime": "2026-01-01T09:50:00.014Z"}]
    assert temp["Observations@iot.count"] == 60 and by["humidity"]["ObservedProperty"] == {"name": "humidity"}
    nxt = temp["Observations@iot.nextLink"]
    assert nxt.startswith(f"{BASE}/Datastreams({temp['@iot.id']})/Observations?")
    assert get(client, nxt)["value"][0]["phenomenonTime"] == "2026-01-01T09:40:00.007Z"
    f = get(client, "Observations", **{"$top": "1", "$expand": "Datastream($select=name),FeatureOfInterest"})
    assert f["value"][0]["Datastream"] == {"name": "Rathaus: temperature"}
    assert f["value"][0]["FeatureOfInterest"]["feature"]["type"] == "Point"
    filt = get(client, "Datastreams", **{"$expand": "Observations($filter=result eq null)"})["value"]
    assert sum(len(d["Observations"]) for d in filt) == 5 + 6  # the failed sensor, the note's 'invalid' (i % 9 == 8)
