"""The SensorThings API read by a client no one here wrote: Fraunhofer IOSB's
``frost_sta_client`` (PyPI ``frost-sta-client``, made for FROST-Server) over real HTTP
(uvicorn on 127.0.0.1): Things, Datastreams, a filtered and paged Observations query, the same
answers as the portal's own CSV download for the same range; and the ingest path end to end
(real mosquitto → portal → SensorThings) on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import frost_sta_client as fsc
import pytest
import uvicorn

from portal import config
from portal.app import create_app
from portal.catalog import Catalog, rounded
from portal.live import Hub
from portal.service import Portal
from portal.storage import Storage
from tests.bridge import harness
from trosmart_tools.broker import Mosquitto, free_port

from .helpers import CITY, HIDDEN, MAKER, OPTED, T0, cfg, senml
from .sta_data import fill
from .test_ingest import portal_doc

PREFIX = "trosmart/v1"


class Server:
    """The portal's app on a real socket (uvicorn in a thread), 127.0.0.1 and a free port."""

    def __init__(self, storage: Storage) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(Catalog(cfg(base_url=self.url), storage), Hub())
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        harness.wait_until(lambda: self.server.started or not self.thread.is_alive(), 20, "uvicorn started")
        assert self.server.started
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def server(storage: Storage) -> Iterator[Server]:
    fill(storage)
    with Server(storage) as s:
        yield s


def csv_rows(url: str) -> list[tuple[str, str]]:
    with urllib.request.urlopen(url, timeout=30) as r:
        text = r.read().decode()
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    return [(row["time"], row["value"]) for row in csv.DictReader(io.StringIO("\n".join(lines)), delimiter=";")]


def csv_value(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if text == "invalid":
        return None  # a failed sensor: a null result in SensorThings
    try:
        return rounded(float(text))
    except ValueError:
        return text


def test_client_reads_things_datastreams_and_paged_filtered_observations(server: Server) -> None:
    service = fsc.SensorThingsService(f"{server.url}/v1.1")
    things = list(service.things().query().list())
    assert sorted(t.id for t in things) == sorted([CITY, MAKER, OPTED])
    assert {t.name for t in things} >= {"Rathaus", "Parkplatz"}
    streams = list(service.datastreams().query().expand("Thing,ObservedProperty").list())
    assert all(d.thing.id != HIDDEN for d in streams)
    by = {(d.thing.id, d.observed_property.name): d for d in streams}
    temp = by[(CITY, "temperature")]
    assert temp.unit_of_measurement.symbol == "Cel" and temp.observation_type.endswith("OM_Measurement")
    assert by[(OPTED, "occupancy")].observation_type.endswith("OM_TruthObservation")
    one = service.datastreams().find(temp.id)
    assert one.name == temp.name
    # a filtered query, paged at 7 (the client follows @iot.nextLink)
    start, end = "2026-01-01T01:00:00Z", "2026-01-01T05:00:00Z"
    q = (service.observations().query()
         .filter(f"Datastream/@iot.id eq {temp.id} and phenomenonTime ge {start} and phenomenonTime lt {end}")
         .orderby("phenomenonTime", "ASC").top(7))
    got = [(o.phenomenon_time, o.result) for o in q.list()]
    assert len(got) == 24  # 4 h at 10 min
    # the portal's own CSV for the same node, quantity and range
    want = csv_rows(f"{server.url}/api/v1/observations.csv?node={CITY}&quantity=temperature&from={start}&to={end}")
    assert [(t, csv_value(v)) for t, v in want] == got
    # through the Datastream's navigation, another quantity, and a failed sensor's null
    maker = by[(MAKER, "temperature")]
    nav = [(o.phenomenon_time, o.result) for o in maker.get_observations().query().top(9).list()]
    want = csv_rows(f"{server.url}/api/v1/observations.csv?node={MAKER}&quantity=temperature")
    assert nav == [(t, csv_value(v)) for t, v in want] and None in {r for _, r in nav}
    city = service.things().find(CITY)  # a string id: the client quotes it, Things('…')
    assert city.name == "Rathaus"
    assert sorted(d.id for d in city.get_datastreams().query().list()) == sorted(
        d.id for d in streams if d.thing.id == CITY)
    locs = list(service.locations().query().list())
    assert {loc.id for loc in locs} == {CITY, MAKER, OPTED}


@pytest.fixture
def live_portal(mosquitto: Mosquitto, tmp_path: Path, backend: str, request: pytest.FixtureRequest,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Portal]:
    d = portal_doc(tmp_path, mosquitto.port, free_port(), client_id="portal-sta")
    if backend == "postgresql":
        monkeypatch.setenv("TROSMART_TEST_DSN", request.getfixturevalue("pg_dsn"))
        d["storage"] = {"backend": "postgresql", "dsn_env": "TROSMART_TEST_DSN"}
    p = Portal(config.parse(d)).start()
    try:
        harness.wait_until(lambda: p.ingest is not None and p.ingest.connected, 15, "portal connected")
        yield p
    finally:
        p.stop()


def test_ingest_to_sensorthings_end_to_end(mosquitto: Mosquitto, live_portal: Portal) -> None:
    pub = harness.Publisher(mosquitto.port, client_id="city-sta")
    try:
        for i in range(30):
            pub.publish(f"{PREFIX}/{CITY}/senml", senml(CITY, T0 + i * 600_000, temperature=10 + i / 4,
                                                        humidity=50.0))
            pub.publish(f"{PREFIX}/{HIDDEN}/senml", senml(HIDDEN, T0 + i * 600_000, temperature=99.0))
        pub.wait_all()
        harness.wait_until(lambda: live_portal.storage.counts()["obs"] == 90, 30, "90 observations stored")
    finally:
        pub.close()
    service = fsc.SensorThingsService(f"{live_portal.url}/v1.1")
    assert [t.id for t in service.things().query().list()] == [CITY]
    (ds,) = [d for d in service.datastreams().query().filter("properties/quantity eq 'temperature'").list()]
    obs = list(ds.get_observations().query().filter("result ge 15").orderby("phenomenonTime", "DESC").top(4)
               .list())
    assert [o.result for o in obs] == [10 + i / 4 for i in range(29, 19, -1)]
