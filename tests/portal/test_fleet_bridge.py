"""The fleet view end to end on both backends: real mosquitto, the real bridge, the portal's
own HTTP server. ChirpStack uplinks (measurements and a status frame) reach the fleet page
through the bridge's SenML and ``meta``; a command sent from the node's page goes out on the
bridge's command topic, the bridge turns it into a ChirpStack downlink and reports
``queued``; ChirpStack's ``txack`` and ``ack`` events (the network server, the only part
played) move it to ``sent`` and ``acked``; a command the bridge refuses shows as rejected."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import payload_codec
from bridge import chirpstack
from portal import config
from portal.service import Portal
from tests.bridge import harness, lns
from trosmart_tools.broker import Mosquitto

from .fleet_helpers import csrf_of, login
from .fleet_site import site_doc
from .helpers import CITY, MAKER

PREFIX = "trosmart/v1"


@pytest.fixture
def portal(mosquitto: Mosquitto, tmp_path: Path, backend: str, request: pytest.FixtureRequest,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Portal]:
    dsn_env = None
    if backend == "postgresql":
        monkeypatch.setenv("PORTAL_TEST_DSN", request.getfixturevalue("pg_dsn"))
        dsn_env = "PORTAL_TEST_DSN"
    p = Portal(config.parse(site_doc(tmp_path, mosquitto.port, backend, dsn_env))).start()
    try:
        harness.wait_until(lambda: p.ingest is not None and p.ingest.connected, 15, "portal connected")
        yield p
    finally:
        p.stop()


def command_of(http: httpx.Client, cid: str) -> dict[str, Any]:
    r = http.get(f"/api/v1/fleet/commands/{cid}")
    assert r.status_code == 200
    return dict(r.json()["command"])


def test_uplinks_status_frames_and_a_command_through_the_real_bridge(mosquitto: Mosquitto, tmp_path: Path,
                                                                     portal: Portal) -> None:
    bridge = harness.start_bridge(harness.bridge_doc(tmp_path / "bridge", mosquitto.port, mosquitto.port))
    lns_pub = harness.Publisher(mosquitto.port, client_id="lns-fleet")
    downlinks = harness.Collector(mosquitto.port, topic="application/+/device/+/command/down",
                                  client_id="lns-down", persistent=False)
    now = time.time()
    info = lns.cs_up(CITY, 0, b"\x00")["deviceInfo"]  # the same device as the uplinks
    try:
        for i in range(6):
            frame = payload_codec.encode({"temperature": 20.0, "battery_voltage": 3.8})
            lns_pub.publish(lns.cs_topic(CITY), lns.dumps(lns.cs_up(CITY, i * 2, frame, t=now - 3000 + i * 300)))
        status = payload_codec.encode_status({"firmware": "1.5.0", "interval_s": 300, "config_errors": ["lora_dr"],
                                              "failed_sensors": ["bme280"], "battery_voltage": 3.79})
        lns_pub.publish(lns.cs_topic(CITY), lns.dumps(lns.cs_up(CITY, 11, status, f_port=2, t=now - 60)))
        lns_pub.wait_all()
        fleet = portal.fleet_store
        harness.wait_until(lambda: CITY in fleet.nodes() and fleet.nodes()[CITY][2] is not None, 30,
                           "the status frame in the fleet tables")
        harness.wait_until(lambda: getattr(portal.storage.node(CITY), "meta", {}).get("firmware") == "1.5.0", 30,
                           "the bridge's meta with the firmware")
        with httpx.Client(base_url=portal.url, timeout=10) as http:
            assert login(http).status_code == 303
            doc = http.get("/api/v1/fleet/nodes").json()["nodes"]
            node = next(n for n in doc if n["dev_eui"] == CITY)
            assert node["firmware"] == "1.5.0" and node["interval_s"] == 300
            assert node["config_errors"] == ["lora_dr"] and node["failed_sensors"] == ["bme280"]
            assert node["rssi"] == -70 and node["snr"] == 9.5 and node["gateway"] == "0016c001ff10a230"
            assert node["lost"] == 5 and node["frames"] == 7  # counters 0,2,…,10 then 11: five gaps
            assert not node["silent"] and node["period_s"] == 300
            assert http.get(f"/api/v1/fleet/nodes/{CITY}").json()["history"]

            page = http.get(f"/en/fleet/node/{CITY}")
            r = http.post(f"/en/fleet/node/{CITY}/command", data={"csrf": csrf_of(page.text),
                                                                  "command": "set_interval_s", "value": "900"},
                          follow_redirects=True)
            assert r.status_code == 200 and "command-status" in r.text  # followed the 303 to the node page
            cmds = http.get(f"/api/v1/fleet/nodes/{CITY}").json()["commands"]
            assert len(cmds) == 1
            cid = cmds[0]["id"]
            harness.wait_until(lambda: command_of(http, cid)["status"] == "queued", 30, "queued")
            down = downlinks.wait_for("/command/down", 1, 20)[0]
            assert payload_codec.decode_downlink(base64.b64decode(down["data"])) == {"set_interval_s": 900}
            assert down["fPort"] == 10
            t = lns.rfc3339(time.time())
            lns_pub.publish(lns.cs_topic(CITY, "txack"), json.dumps(chirpstack.txack_event(
                downlink_id=1, time=t, device_info=info, queue_item_id=down["id"], f_cnt_down=1,
                gateway_id="0016c001ff10a230", tx_info=chirpstack.tx_info(869525000, chirpstack.lora_modulation(
                    125000, 9)))).encode())
            harness.wait_until(lambda: command_of(http, cid)["status"] == "sent", 30, "sent")
            lns_pub.publish(lns.cs_topic(CITY, "ack"), json.dumps(chirpstack.ack_event(
                deduplication_id="00000000-0000-4000-8000-000000000099", time=t, device_info=info,
                queue_item_id=down["id"], acknowledged=True, f_cnt_down=1)).encode())
            harness.wait_until(lambda: command_of(http, cid)["final"], 30, "acked")
            c = command_of(http, cid)
            assert c["status"] == "acked" and [x["status"] for x in c["results"]] == ["queued", "sent", "acked"]
            assert "acknowledged" in http.get(f"/en/fleet/node/{CITY}").text

            # a node the portal knows but the bridge has never seen: the bridge answers rejected
            city = harness.Publisher(mosquitto.port, client_id="other-city-app")
            city.publish(f"{PREFIX}/{MAKER}/meta", json.dumps({"dev_eui": MAKER, "last_seen": now}).encode())
            city.wait_all()
            city.close()
            harness.wait_until(lambda: portal.storage.node(MAKER) is not None, 20, "MAKER known to the portal")
            page = http.get(f"/en/fleet/node/{MAKER}")
            http.post(f"/en/fleet/node/{MAKER}/command", data={"csrf": csrf_of(page.text), "command": "reboot"})
            rid = http.get(f"/api/v1/fleet/nodes/{MAKER}").json()["commands"][0]["id"]
            harness.wait_until(lambda: command_of(http, rid)["final"], 30, "the bridge's rejection")
            c = command_of(http, rid)
            assert c["status"] == "rejected" and c["reason"].startswith("unknown_device")
    finally:
        downlinks.close()
        lns_pub.close()
        bridge.stop()
