"""Ingest from a real mosquitto: fed by the real bridge (ChirpStack uplinks → SenML → portal),
redeliveries stored once, bad messages kept in ``rejects`` without stopping ingest, and a
portal killed with SIGKILL mid-stream and restarted that loses nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import payload_codec
from bridge import chirpstack
from portal import config
from portal.service import Portal
from tests.bridge import harness, lns
from trosmart_tools.broker import Mosquitto, free_port

from .helpers import CITY, MAKER, T0, doc, senml

REPO = Path(__file__).resolve().parents[2]
PREFIX = "trosmart/v1"


def portal_doc(tmp: Path, port: int, http_port: int = 0, client_id: str = "portal-test") -> dict[str, Any]:
    d = doc()
    d["portal"].update(port=http_port, state_dir=str(tmp / "portal-state"), batch_max=200)
    d["mqtt"] = {"port": port, "client_id": client_id, "reconnect_max_s": 2}
    return d


@pytest.fixture
def portal(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Portal]:
    p = Portal(config.parse(portal_doc(tmp_path, mosquitto.port))).start()
    assert p.ingest is not None
    harness.wait_until(lambda: p.ingest is not None and p.ingest.connected, 15, "portal connected")
    try:
        yield p
    finally:
        p.stop()


def stored(p: Portal) -> int:
    return p.storage.counts()["obs"]


def test_bridge_output_becomes_observations(mosquitto: Mosquitto, tmp_path: Path, portal: Portal) -> None:
    bridge = harness.start_bridge(harness.bridge_doc(tmp_path / "bridge", mosquitto.port, mosquitto.port))
    pub = harness.Publisher(mosquitto.port, client_id="lns-ingest")
    try:
        for i in range(20):
            frame = payload_codec.encode({"temperature": 10 + i / 10, "humidity": 50.0, "battery_voltage": 3.7})
            pub.publish(lns.cs_topic(CITY), lns.dumps(lns.cs_up(CITY, i, frame, t=T0 / 1000 + i * 600)))
        pub.wait_all()
        harness.wait_until(lambda: stored(portal) == 60, 30, "60 observations in the portal")
        harness.wait_until(lambda: bool(getattr(portal.storage.node(CITY), "meta", None)), 30,
                           "the bridge's meta in the portal")
    finally:
        pub.close()
        bridge.stop()
    series = {s.quantity: s for s in portal.storage.series(CITY)}
    assert set(series) == {"temperature", "humidity", "battery_voltage"}
    temp = series["temperature"]
    assert temp.unit == "Cel" and temp.last_value() == pytest.approx(11.9) and temp.last_t == T0 + 19 * 600_000
    node = portal.storage.node(CITY)
    assert node is not None and node.meta["dev_eui"] == CITY and node.meta["frames"] == 20
    # and through the API: the live pages read the same store
    with urllib.request.urlopen(f"{portal.url}/api/v1/nodes/{CITY}", timeout=5) as r:
        assert {s["quantity"] for s in json.load(r)["node"]["latest"]} == set(series)


def test_redelivered_pack_is_stored_once_and_bad_messages_are_kept(mosquitto: Mosquitto, portal: Portal) -> None:
    pub = harness.Publisher(mosquitto.port, client_id="city-pub")
    try:
        pack = senml(MAKER, T0, temperature=20.5)
        for _ in range(3):  # at least once: the bridge republishes after a crash
            pub.publish(f"{PREFIX}/{MAKER}/senml", pack)
        pub.publish(f"{PREFIX}/{MAKER}/senml", b"\xff not json")
        pub.publish(f"{PREFIX}/NOT-A-DEVEUI/senml", pack)
        pub.publish(f"{PREFIX}/{CITY}/senml", pack)  # bn names another node
        pub.publish(f"{PREFIX}/{MAKER}/meta", b"[1, 2]")
        pub.publish(f"{PREFIX}/{MAKER}/meta", b"")  # a retained meta cleared: ignored, not an error
        pub.publish(f"{PREFIX}/{MAKER}/senml", senml(MAKER, T0 + 600_000, temperature=21.0))
        pub.wait_all()
        assert portal.ingest is not None
        ing = portal.ingest
        harness.wait_until(lambda: ing.counts["messages"] == 9, 20, "9 messages handled")
    finally:
        pub.close()
    assert stored(portal) == 2 and ing.counts["duplicates"] == 2
    reasons = sorted(r[3] for r in portal.storage.rejects())
    assert reasons == ["bad_meta", "bad_name", "bad_topic", "invalid_json"]
    assert any(r[2] == b"\xff not json" for r in portal.storage.rejects())
    assert ing.fatal is None and portal.status()["ok"]


def _toml(d: dict[str, Any]) -> str:
    out = []
    for table in ("portal", "mqtt"):
        out.append(f"[{table}]")
        out += [f"{k} = {json.dumps(v)}" for k, v in d[table].items()]
    for n in d["node"]:
        out.append("[[node]]")
        out += [f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}" for k, v in n.items()]
    return "\n".join(out) + "\n"


class PortalProcess:
    def __init__(self, tmp: Path, broker_port: int) -> None:
        self.http = free_port()
        self.conf = tmp / "portal.toml"
        self.conf.write_text(_toml(portal_doc(tmp, broker_port, self.http, "portal-killed")))
        self.db = tmp / "portal-state" / "portal.sqlite3"
        self.log = tmp / "portal.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "portal", "--config", str(self.conf)], stdout=log,
                                         stderr=log, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
        harness.wait_until(self.healthy, 30, "portal process healthy")

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"portal exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/health", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stored(self) -> int:
        try:
            with sqlite3.connect(self.db, timeout=10) as c:
                return int(c.execute("SELECT count(*) FROM obs").fetchone()[0])
        except sqlite3.Error:
            return 0

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def test_portal_killed_mid_stream_and_restarted_loses_nothing(mosquitto: Mosquitto, tmp_path: Path) -> None:
    n = 3000
    proc = PortalProcess(tmp_path, mosquitto.port)
    proc.start()  # subscribes: from now on the broker keeps the session's messages
    pub = harness.Publisher(mosquitto.port, client_id="city-stream")
    try:
        for i in range(n // 2):
            pub.publish(f"{PREFIX}/{CITY}/senml", senml(CITY, T0 + i * 1000, temperature=float(i)))
        harness.wait_until(lambda: proc.stored() >= n // 10, 60, "ingest under way")
        proc.kill()  # SIGKILL mid-stream: nothing after its last commit was acknowledged
        for i in range(n // 2, n):  # the stream goes on while the portal is down
            pub.publish(f"{PREFIX}/{CITY}/senml", senml(CITY, T0 + i * 1000, temperature=float(i)))
        pub.wait_all()
        assert proc.stored() < n
        proc.start()
        harness.wait_until(lambda: proc.stored() == n, 90, f"all {n} observations after the restart")
    finally:
        pub.close()
        proc.kill()
    with sqlite3.connect(proc.db) as c:
        assert c.execute("SELECT count(*), min(v), max(v) FROM obs").fetchone() == (n, 0.0, float(n - 1))
        assert c.execute("SELECT sum(n) FROM hourly").fetchone()[0] == n  # rollups counted each once


def test_network_server_tags_and_location_reach_the_map(mosquitto: Mosquitto, tmp_path: Path,
                                                        portal: Portal) -> None:
    """bridge → mosquitto → portal: a node no [[node]] table names is made public by its
    ChirpStack tags and placed by a ChirpStack location event; the map API shows it with its
    tag name and its position coarsened to the ~100 m grid (a private node); a tag that may name
    a person appears nowhere. The configuration still wins for a node it names."""
    from portal.registry import coarsen

    new = "70b3d57ed0de0042"
    bridge = harness.start_bridge(harness.bridge_doc(tmp_path / "bridge", mosquitto.port, mosquitto.port))
    pub = harness.Publisher(mosquitto.port, client_id="lns-tags")
    tags = {"portal_public": "true", "portal_name": "Schul\u202ehof", "owner_email": "erika@example.org"}
    frame = payload_codec.encode({"temperature": 18.5})
    try:
        for dev in (new, CITY):
            up = lns.cs_up(dev, 1, frame, t=T0 / 1000)
            up["deviceInfo"]["tags"] = {**tags, "portal_name": "Fremd"} if dev == CITY else tags
            pub.publish(lns.cs_topic(dev), lns.dumps(up))
            loc = chirpstack.location_event(deduplication_id="5c4b0b2e-8f00-4d5e-9d35-1c9a0b1f7a10",
                                            time=lns.rfc3339(T0 / 1000 + 1), device_info=up["deviceInfo"],
                                            latitude=50.81234, longitude=7.14567, source="GPS")
            pub.publish(lns.cs_topic(dev, "location"), lns.dumps(loc))
        pub.wait_all()

        def located(dev: str) -> bool:
            n = portal.storage.node(dev)
            return n is not None and "location" in n.meta

        harness.wait_until(lambda: located(new) and located(CITY), 30, "both nodes' locations in the portal")
    finally:
        pub.close()
        bridge.stop()
    with urllib.request.urlopen(f"{portal.url}/api/v1/nodes", timeout=5) as r:
        body = r.read()
    nodes = {n["id"]: n for n in json.loads(body)["nodes"]}
    lat, lon = coarsen(50.81234, 7.14567)
    assert nodes[new]["name"] == "Schulhof" and nodes[new]["owner"] == "private"
    assert nodes[new]["position"] == {"lat": lat, "lon": lon, "precision": "grid_100m"}
    assert (nodes[CITY]["name"], nodes[CITY]["position"]["lat"]) == ("Rathaus", 50.8157)  # portal.toml wins
    with urllib.request.urlopen(f"{portal.url}/api/v1/latest?quantity=temperature", timeout=5) as r:
        latest = {n["id"]: n for n in json.load(r)["nodes"]}
    assert latest[new]["position"] == [lat, lon] and latest[new]["value"] == 18.5
    for url in ("/api/v1/nodes", f"/api/v1/nodes/{new}", f"/api/v1/observations.csv?node={new}", "/en/",
                f"/en/node/{new}"):
        with urllib.request.urlopen(f"{portal.url}{url}", timeout=5) as r:
            assert b"erika" not in r.read(), url


def test_tts_registry_location_and_attributes_reach_the_map(mosquitto: Mosquitto, tmp_path: Path,
                                                            portal: Portal) -> None:
    """The same through a TTS source: ``attributes`` with TTS-style keys (``portal-public``) and
    the registry's ``locations.user``; the owner opted in, so the position is exact."""
    new = "70b3d57ed0de0043"
    bridge = harness.start_bridge(harness.bridge_doc(
        tmp_path / "bridge", mosquitto.port, mosquitto.port,
        sources=[{"name": "tts", "lns": "tts", "port": mosquitto.port}]))
    pub = harness.Publisher(mosquitto.port, client_id="lns-tts-attrs")
    try:
        up = lns.tts_up(new, 1, payload_codec.encode({"temperature": 17.25}), t=T0 / 1000)
        up["uplink_message"]["attributes"] = {"portal-public": "true", "portal-name": "Garten Nord",
                                              "portal-exact-position": "true", "contact": "+49 2241 0000"}
        up["uplink_message"]["locations"] = {"user": {"latitude": 50.81234, "longitude": 7.14567, "altitude": 58,
                                                      "source": "SOURCE_REGISTRY"}}
        pub.publish(lns.tts_topic(f"tro-{new[-4:]}"), lns.dumps(up))
        pub.wait_all()

        def located() -> bool:
            n = portal.storage.node(new)
            return n is not None and "location" in n.meta

        harness.wait_until(located, 30, "the TTS node's location in the portal")
    finally:
        pub.close()
        bridge.stop()
    with urllib.request.urlopen(f"{portal.url}/api/v1/nodes/{new}", timeout=5) as r:
        body = r.read()
    node = json.loads(body)["node"]
    assert node["name"] == "Garten Nord"
    assert node["position"] == {"lat": 50.81234, "lon": 7.14567, "precision": "exact"}
    assert b"2241" not in body
