"""The bridge in-process against real mosquitto: LNS messages in every documented variant ->
the right SenML and retained topics; bad input dead-lettered with a reason; commands to
downlinks and results; dedupe across restarts; metrics, health, Home Assistant discovery."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import payload_codec
from bridge.service import Bridge
from tests.bridge import harness, lns
from trosmart_tools.broker import Mosquitto

EUI = "70b3d57ed0001234"
FRAME = payload_codec.encode({"temperature": 21.4, "humidity": 48.5, "pressure": 1013.2,
                              "battery_voltage": 3.71})


class Rig:
    """One broker playing both the LNS broker and the city broker (topics do not overlap)."""

    def __init__(self, broker: Mosquitto, tmp: Path, **bridge: Any) -> None:
        self.broker = broker
        self.tmp = tmp
        self.col = harness.Collector(broker.port, client_id="col-" + tmp.name[-20:])
        self.lns_col = harness.Collector(broker.port, topic="application/+/device/+/command/down",
                                         client_id="lnscol-" + tmp.name[-20:])
        self.tts_col = harness.Collector(broker.port, topic="v3/+/devices/+/down/push",
                                         client_id="ttscol-" + tmp.name[-20:])
        self.bridge_kw = bridge
        self.bridge = self.start()
        self.pub = harness.Publisher(broker.port, client_id="lns-" + tmp.name[-20:])

    def start(self) -> Bridge:
        kw = dict(self.bridge_kw)
        kw.setdefault("sources", [{"name": "cs", "lns": "chirpstack", "port": self.broker.port},
                                  {"name": "tts", "lns": "tts", "port": self.broker.port}])
        self.bridge = harness.start_bridge(harness.bridge_doc(self.tmp / "state", self.broker.port,
                                                              self.broker.port, **kw))
        return self.bridge

    def up(self, doc: dict[str, Any], eui: str = EUI, event: str = "up") -> None:
        self.pub.publish(lns.cs_topic(eui, event), lns.dumps(doc))

    def raw(self, topic: str, payload: bytes) -> None:
        self.pub.publish(topic, payload)

    def command(self, eui: str, body: bytes) -> None:
        self.pub.publish(f"{harness.PREFIX}/{eui}/command", body)

    def close(self) -> None:
        self.bridge.stop()
        for c in (self.col, self.lns_col, self.tts_col, self.pub):
            c.close()


@pytest.fixture
def rig(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(mosquitto, tmp_path)
    try:
        yield r
    finally:
        r.close()


def _expected(frame: bytes, eui: str, bt: float, port: int = 1, layouts: Any = None) -> list:
    return payload_codec.to_senml(payload_codec.decode_uplink(port, frame, layouts),
                                  f"urn:dev:mac:{eui}:", bt)


@pytest.mark.parametrize("variant", ["modern", "old"])
def test_chirpstack_uplink_to_senml_values_and_meta(rig: Rig, variant: str) -> None:
    rig.up(lns.cs_up(EUI, 41, FRAME, t=1767225600.25, variant=variant, gateways=3))
    (pack,) = rig.col.wait_for(f"{EUI}/senml")
    assert pack == _expected(FRAME, EUI, 1767225600.25)
    assert pack[0]["bn"] == f"urn:dev:mac:{EUI}:" and pack[0]["bt"] == 1767225600.25
    (meta,) = rig.col.wait_for(f"{EUI}/meta")
    assert meta["rssi"] == -70 and meta["snr"] == 9.5 and meta["gateways"] == 3
    assert meta["last_seen"] == 1767225600.25 and meta["frames"] == 1
    assert meta.get("f_cnt") == (41 if variant == "modern" else None)
    (temp,) = rig.col.wait_for(f"{EUI}/temperature")
    assert temp == {"v": 21.4, "u": "Cel", "t": 1767225600.25}
    late = harness.Collector(rig.broker.port, persistent=False, client_id="late")  # dashboard
    late.wait_for(f"{EUI}/meta")
    late.close()
    retained = {t.rsplit("/", 1)[1] for t, _, r in late.messages if r}
    assert {"temperature", "humidity", "pressure", "battery_voltage", "meta"} <= retained
    assert "senml" not in retained


@pytest.mark.parametrize("variant", ["new", "old"])
def test_tts_uplink_to_senml(rig: Rig, variant: str) -> None:
    eui = "70b3d57ed0005678"
    rig.raw(lns.tts_topic("tro-5678"), lns.dumps(lns.tts_up(eui, 3, FRAME, t=1767225700.5,
                                                             variant=variant)))
    (pack,) = rig.col.wait_for(f"{eui}/senml")
    assert pack == _expected(FRAME, eui, 1767225700.5)
    (meta,) = rig.col.wait_for(f"{eui}/meta")
    assert meta["frequency"] == 867700000 and meta["rssi"] == -93 and meta["lns"] == "tts"


def test_packet_loss_and_firmware_in_meta(rig: Rig) -> None:
    for n, f_cnt in enumerate((1, 2, 5)):
        rig.up(lns.cs_up(EUI, f_cnt, FRAME, t=1767225600 + n))
    status = payload_codec.encode_status({"firmware": "1.4.2", "uptime_s": 10})
    rig.up(lns.cs_up(EUI, 6, status, f_port=2, t=1767225610))
    rig.col.wait_for(f"{EUI}/senml", 4)
    metas = rig.col.wait_for(f"{EUI}/meta", 1)
    harness.wait_until(lambda: rig.col.on(f"{EUI}/meta")[-1].get("firmware") == "1.4.2", 10,
                       "firmware in meta", rig.col.cond)
    last = rig.col.on(f"{EUI}/meta")[-1]
    assert (last["frames"], last["lost"], last["f_cnt"]) == (4, 2, 6)
    assert metas


def test_layout_request_then_decode(rig: Rig) -> None:
    layout = (9, ["temperature", "co2"])
    frame = payload_codec.encode({"temperature": 19.5, "co2": 800}, layout=layout)
    rig.up(lns.cs_up(EUI, 1, frame, t=1767225600))
    (dl,) = rig.col.wait_for("/_deadletter")
    assert dl["reason"] == "unknown_layout" and dl["frame_hex"] == frame.hex()
    (down,) = rig.lns_col.wait_for("/command/down")
    assert down["fPort"] == payload_codec.fports.COMMAND and down["devEui"] == EUI
    assert payload_codec.decode_downlink(base64.b64decode(down["data"])) == {"announce_layout": True}
    rig.up(lns.cs_up(EUI, 2, payload_codec.encode_layout(*layout), f_port=3, t=1767225601))
    rig.up(lns.cs_up(EUI, 3, frame, t=1767225602))
    packs = rig.col.wait_for(f"{EUI}/senml", 2)
    assert packs[-1] == _expected(frame, EUI, 1767225602, layouts={9: layout[1]})
    # the layout is persisted: a new bridge process decodes without asking again
    rig.bridge.stop()
    rig.start()
    rig.up(lns.cs_up(EUI, 4, frame, t=1767225603))
    assert rig.col.wait_for(f"{EUI}/senml", 3)[-1][0]["bt"] == 1767225603


def test_passthrough_device(mosquitto: Mosquitto, tmp_path: Path) -> None:
    r = Rig(mosquitto, tmp_path, decode={"devices": {EUI: "passthrough"}})
    try:
        r.up(lns.cs_up(EUI, 1, b"\x01\x02", t=1767225600, obj={"temperature": 20.5, "door": True}))
        (pack,) = r.col.wait_for(f"{EUI}/senml")
        assert pack == [{"n": "door", "vb": True, "bn": f"urn:dev:mac:{EUI}:", "bt": 1767225600},
                        {"n": "temperature", "v": 20.5}]
        assert r.col.wait_for(f"{EUI}/door")[0]["vb"] is True
    finally:
        r.close()


def test_lpp_device(mosquitto: Mosquitto, tmp_path: Path) -> None:
    eui = "70b3d57ed000aaaa"
    r = Rig(mosquitto, tmp_path, decode={"devices": {eui: "lpp"}})
    try:
        frame = bytes.fromhex("016700EB026864037327100402015E")  # docs/references.md §P reference frame
        r.up(lns.cs_up(eui, 1, frame, t=1767225600), eui=eui)
        (pack,) = r.col.wait_for(f"{eui}/senml")
        assert pack[0]["bn"] == f"urn:dev:mac:{eui}:" and pack[0]["bt"] == 1767225600
        assert {x["n"]: x["v"] for x in pack}["temperature/1"] == 23.5
        assert r.col.wait_for(f"{eui}/temperature_1")[0]["v"] == 23.5
    finally:
        r.close()


BAD = [
    ("invalid_json", lns.cs_topic(EUI), b"{nope"),
    ("missing_field", lns.cs_topic(EUI), b'{"time": "2026-01-01T00:00:00Z"}'),
    ("bad_base64", lns.cs_topic(EUI), json.dumps({**lns.cs_up(EUI, 1, b""), "data": "!!"}).encode()),
    ("oversize", lns.cs_topic(EUI), b"{" + b" " * 70000 + b"}"),
    ("unknown_port", lns.cs_topic(EUI), lns.dumps(lns.cs_up(EUI, 1, FRAME, f_port=77))),
    ("corrupt_frame", lns.cs_topic(EUI), lns.dumps(lns.cs_up(EUI, 2, b"\x21" + b"\xff" * 20))),
    ("truncated_frame", lns.cs_topic(EUI), lns.dumps(lns.cs_up(EUI, 3, b"\x21\x01"))),
    ("missing_field", lns.tts_topic("d"), b'{"end_device_ids": {"dev_eui": "70b3d57ed0001234"}, '
                                          b'"received_at": "2026-01-01T00:00:00Z"}'),
]


def test_bad_input_is_dead_lettered_and_the_bridge_keeps_running(rig: Rig) -> None:
    for _, topic, payload in BAD:
        rig.raw(topic, payload)
    rig.up(lns.cs_up(EUI, 10, FRAME, t=1767225600))
    dls = rig.col.wait_for("/_deadletter", len(BAD))
    assert sorted(d["reason"] for d in dls) == sorted(r for r, _, _ in BAD)
    by_reason = {d["reason"]: d for d in dls}
    assert base64.b64decode(by_reason["invalid_json"]["message_b64"]) == b"{nope"
    assert by_reason["oversize"]["message_truncated"] and by_reason["oversize"]["message_bytes"] == 70002
    assert by_reason["corrupt_frame"]["dev_eui"] == EUI and by_reason["corrupt_frame"]["f_port"] == 1
    assert all(d["detail"] and d["topic"] for d in dls)
    rig.col.wait_for(f"{EUI}/senml")
    assert rig.bridge.health()[0]


def test_commands_to_chirpstack_and_results(rig: Rig) -> None:
    rig.up(lns.cs_up(EUI, 1, FRAME))
    rig.col.wait_for(f"{EUI}/senml")
    rig.command(EUI, b'{"set_interval_s": 600, "id": "city-1"}')
    (down,) = rig.lns_col.wait_for("/command/down")
    assert down["fPort"] == 10 and payload_codec.decode_downlink(
        base64.b64decode(down["data"])) == {"set_interval_s": 600}
    (queued,) = rig.col.wait_for(f"{EUI}/command/result")
    assert queued["status"] == "queued" and queued["id"] == "city-1"
    qid = down["id"]
    assert queued["command_id"] == qid
    t = "2026-01-01T00:00:00Z"
    rig.up({"time": t, "deviceInfo": {"devEui": EUI}, "downlinkId": 7, "queueItemId": qid,
            "fCntDown": 1, "gatewayId": "aa"}, event="txack")
    rig.up({"time": t, "deviceInfo": {"devEui": EUI}, "queueItemId": qid, "acknowledged": True,
            "fCntDown": 1}, event="ack")
    results = rig.col.wait_for(f"{EUI}/command/result", 3)
    assert [r["status"] for r in results] == ["queued", "sent", "acked"]
    assert all(r["id"] == "city-1" for r in results)


def test_commands_to_tts_and_failure(rig: Rig) -> None:
    eui = "70b3d57ed0005678"
    rig.raw(lns.tts_topic("tro-5678"), lns.dumps(lns.tts_up(eui, 3, FRAME)))
    rig.col.wait_for(f"{eui}/senml")
    rig.command(eui, b'{"request_status": true}')
    (push,) = rig.tts_col.wait_for("/down/push")
    dl = push["downlinks"][0]
    assert dl["f_port"] == 10 and dl["correlation_ids"][0].startswith("trosmart:cmd:")
    assert rig.tts_col.messages[0][0] == f"v3/{lns.TTS_APP}/devices/tro-5678/down/push"
    assert rig.col.wait_for(f"{eui}/command/result")[0]["status"] == "queued"
    failed = {"end_device_ids": {"device_id": "tro-5678", "dev_eui": eui.upper()},
              "received_at": "2026-01-01T00:00:00Z",
              "downlink_failed": {"downlink": dl, "error": {"name": "no_gateway",
                                                            "message_format": "no gateway"}}}
    rig.raw(lns.tts_topic("tro-5678", "down/failed"), json.dumps(failed).encode())
    results = rig.col.wait_for(f"{eui}/command/result", 2)
    assert [r["status"] for r in results] == ["queued", "failed"]
    assert results[1]["reason"] == "no gateway"


def test_invalid_commands_are_rejected_with_reasons(mosquitto: Mosquitto, tmp_path: Path) -> None:
    r = Rig(mosquitto, tmp_path, downlink_min_interval_s=3600)
    try:
        r.up(lns.cs_up(EUI, 1, FRAME))
        r.col.wait_for(f"{EUI}/senml")
        for body in (b"{bad", b"[1]", b'{"set_interval_s": 5}', b'{"launch": true}',
                     b'{"enable": ["unobtainium"]}'):
            r.command(EUI, body)
        r.command("ffffffffffffffff", b'{"reboot": true}')
        r.command(EUI, b'{"reboot": true}')
        r.command(EUI, b'{"reboot": true}')  # second within the interval
        res = r.col.wait_for("/command/result", 8)
        statuses = [(x["status"], x.get("reason", "").split(":")[0]) for x in res]
        assert statuses.count(("rejected", "invalid_json")) == 1
        assert statuses.count(("rejected", "invalid_command")) == 4
        assert ("rejected", "unknown_device") in statuses
        assert ("rejected", "rate_limited") in statuses and ("queued", "") in statuses
        assert len(r.lns_col.messages) == 1
    finally:
        r.close()


def test_partitioned_instances_ignore_commands_for_devices_they_do_not_serve(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    r = Rig(mosquitto, tmp_path, unknown_device_commands="ignore")
    try:
        r.up(lns.cs_up(EUI, 1, FRAME))
        r.col.wait_for(f"{EUI}/senml")
        r.command("ffffffffffffffff", b'{"reboot": true}')  # another instance's device
        r.command(EUI, b'{"reboot": true}')
        (res,) = r.col.wait_for("/command/result")
        assert res["status"] == "queued" and r.col.count("ffffffffffffffff/command/result") == 0
    finally:
        r.close()


def test_dedupe_survives_a_restart(rig: Rig) -> None:
    msg = lns.cs_up(EUI, 1, FRAME)
    rig.up(msg)
    rig.col.wait_for(f"{EUI}/senml")
    rig.bridge.stop()
    b = rig.start()
    rig.up(msg)  # the LNS (or a broker) redelivers the same uplink
    rig.up(lns.cs_up(EUI, 2, FRAME, t=1767225999))
    packs = rig.col.wait_for(f"{EUI}/senml", 2)
    harness.wait_until(lambda: b.metric("duplicates", source="cs") == 1, 10, "dup counted")
    assert [p[0]["bt"] for p in packs] == [1767225600.5, 1767225999]
    assert rig.col.count(f"{EUI}/senml") == 2


def test_metrics_health_and_home_assistant(mosquitto: Mosquitto, tmp_path: Path) -> None:
    r = Rig(mosquitto, tmp_path, home_assistant=True)
    try:
        r.up(lns.cs_up(EUI, 1, FRAME))
        r.col.wait_for(f"{EUI}/senml")
        ha = harness.Collector(mosquitto.port, topic="homeassistant/#", client_id="ha")
        (temp,) = ha.wait_for("/temperature/config")
        ha.close()
        assert temp["state_topic"] == f"{harness.PREFIX}/{EUI}/temperature"
        assert temp["unit_of_measurement"] == "°C" and temp["device"]["identifiers"]
        port = r.bridge.http.port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as h:
            doc = json.load(h)
        assert doc["ok"] and doc["connections"] == {"city": True, "cs": True, "tts": True}

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as m:
                return str(m.read().decode())

        # the worker process's counters reach the endpoint with its next status report
        harness.wait_until(lambda: 'trosmart_bridge_uplinks_in_total{source="cs"} 1.0' in scrape(), 5,
                           "the worker's uplink counter on /metrics")
        assert "trosmart_bridge_end_to_end_lag_seconds_bucket" in scrape()
    finally:
        r.close()


def test_outbox_full_pauses_input_and_loses_nothing(mosquitto: Mosquitto, tmp_path: Path) -> None:
    city = Mosquitto().start()
    try:
        col = harness.Collector(city.port, topic=harness.PREFIX + "/+/senml")
        b = harness.start_bridge(harness.bridge_doc(tmp_path / "s", mosquitto.port, city.port,
                                                    outbox_max_rows=20, retained_values=False))
        city.stop()
        pub = harness.Publisher(mosquitto.port)
        for i in range(60):
            pub.publish(lns.cs_topic(EUI), lns.dumps(lns.cs_up(EUI, i, FRAME, t=1767225600 + i)))
        harness.wait_until(lambda: b.metric("outbox_full") == 1, 20, "outbox full")
        assert b.health()[1]["outbox_full"]
        depth = sqlite3.connect(b.db_path).execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        assert 20 <= depth < 60
        city.start()
        harness.wait_until(lambda: len({p[0]["bt"] for p in col.on("/senml")}) == 60, 60,
                           "all 60 uplinks after the pause", col.cond)
        assert b.metric("outbox_full_pauses") >= 1
        b.stop()
        col.close()
        pub.close()
    finally:
        city.close()


def test_stop_with_a_full_outbox_is_prompt_and_loses_nothing(mosquitto: Mosquitto,
                                                             tmp_path: Path) -> None:
    city = Mosquitto().start()
    doc = harness.bridge_doc(tmp_path / "s", mosquitto.port, city.port, outbox_max_rows=20,
                             retained_values=False, drain_timeout_s=1)
    pub = harness.Publisher(mosquitto.port)
    col: harness.Collector | None = None
    try:
        b = harness.start_bridge(doc)
        city.stop()
        for i in range(60):
            pub.publish(lns.cs_topic(EUI), lns.dumps(lns.cs_up(EUI, i, FRAME, t=1767225600 + i)))
        harness.wait_until(lambda: b.metric("outbox_full") == 1, 20, "outbox full")
        t0 = time.monotonic()
        b.stop()
        # docs/bridge.md §1 tells operators to allow drain_timeout_s + 5 s for a stop
        assert time.monotonic() - t0 < doc["bridge"]["drain_timeout_s"] + 5
        assert b.link.proc is not None and b.link.proc.returncode == -9  # it held no acked input
        city.start()  # a fresh broker: the collector subscribes before the bridge drains
        col = harness.Collector(city.port, topic=harness.PREFIX + "/+/senml")
        b = harness.start_bridge(doc)
        harness.wait_until(lambda: len({p[0]["bt"] for p in col.on("/senml")}) == 60, 60,
                           "all 60 uplinks after the restart", col.cond)
        b.stop()
    finally:
        if col is not None:
            col.close()
        pub.close()
        city.close()


def test_worker_ends_with_a_killed_bridge_even_while_the_outbox_is_full(mosquitto: Mosquitto,
                                                                        tmp_path: Path) -> None:
    city = Mosquitto().start()
    doc = harness.bridge_doc(tmp_path / "s", mosquitto.port, city.port, outbox_max_rows=20,
                             retained_values=False)
    bp = harness.BridgeProcess(doc, tmp_path)
    pub = harness.Publisher(mosquitto.port)
    try:
        bp.start()
        city.stop()
        for i in range(60):
            pub.publish(lns.cs_topic(EUI), lns.dumps(lns.cs_up(EUI, i, FRAME, t=1767225600 + i)))
        harness.wait_until(lambda: "trosmart_bridge_outbox_full 1.0" in bp.metrics(), 20,
                           "outbox full")
        worker = bp.worker_pid()
        bp.kill()  # a full worker reads no input; its next status report finds the pair closed
        harness.wait_until(lambda: not harness.process_alive(worker), 10,
                           "the worker process ends with the killed bridge")
    finally:
        bp.close()
        pub.close()
        city.close()


def test_sigterm_keeps_the_outbox(mosquitto: Mosquitto, tmp_path: Path) -> None:
    city = Mosquitto().start()
    doc = harness.bridge_doc(tmp_path / "s", mosquitto.port, city.port, drain_timeout_s=1)
    bp = harness.BridgeProcess(doc, tmp_path)
    try:
        bp.start()
        city.stop()
        pub = harness.Publisher(mosquitto.port)
        for i in range(5):
            pub.publish(lns.cs_topic(EUI), lns.dumps(lns.cs_up(EUI, i, FRAME, t=1767225600 + i)))
        pub.wait_all()
        db = tmp_path / "s" / "bridge.sqlite3"

        def senml_rows() -> int:
            with sqlite3.connect(db) as c:
                return int(c.execute("SELECT COUNT(*) FROM outbox WHERE topic LIKE '%/senml'")
                           .fetchone()[0])

        harness.wait_until(lambda: senml_rows() == 5, 20, "5 uplinks in the outbox")
        assert bp.terminate() == 0
        assert senml_rows() == 5
        city.start()
        col = harness.Collector(city.port, topic=harness.PREFIX + "/+/senml")
        bp.start()
        assert len(col.wait_for("/senml", 5)) == 5
        assert bp.terminate(with_worker=True) == 0
        # the worker ignored the signal and left when the bridge told it to
        assert '"worker_exit": 0' in bp.log.read_text().splitlines()[-1]
        col.close()
        pub.close()
    finally:
        bp.close()
        city.close()


def test_bridge_is_a_context_manager(mosquitto: Mosquitto, tmp_path: Path) -> None:
    doc = harness.bridge_doc(tmp_path / "s", mosquitto.port, mosquitto.port)
    with Bridge(harness.config.parse(doc)) as b:
        harness.wait_until(lambda: b.health()[0], 15, "connections up")
        col = harness.Collector(mosquitto.port, topic=harness.PREFIX + "/+/senml")
        pub = harness.Publisher(mosquitto.port)
        pub.publish(lns.cs_topic(EUI), lns.dumps(lns.cs_up(EUI, 1, FRAME)))
        col.wait_for("/senml")
        col.close()
        pub.close()
    assert not b.health()[0]  # stopped: connections closed


def test_a_broken_database_stops_the_bridge_visibly(mosquitto: Mosquitto, tmp_path: Path) -> None:
    b = harness.start_bridge(harness.bridge_doc(tmp_path / "s", mosquitto.port, mosquitto.port))
    try:
        with sqlite3.connect(b.db_path) as db:
            db.execute("DROP TABLE outbox")
        pub = harness.Publisher(mosquitto.port)
        pub.publish(lns.cs_topic(EUI), lns.dumps(lns.cs_up(EUI, 1, FRAME)))
        assert b.fatal_event.wait(20)
        # whichever touches the table first (the worker's commit or the drain's poll) stops it
        assert b.fatal is not None and "no such table: outbox" in b.fatal
        assert b.fatal.startswith(("worker: StoreError", "drain: OperationalError"))
        ok, doc = b.health()
        assert not ok and doc["fatal"] == b.fatal
        pub.close()
    finally:
        b.stop()


def test_a_dead_worker_process_stops_the_bridge_visibly(mosquitto: Mosquitto, tmp_path: Path) -> None:
    b = harness.start_bridge(harness.bridge_doc(tmp_path / "s", mosquitto.port, mosquitto.port))
    try:
        assert b.link.proc is not None and b.health()[1]["worker_alive"]
        b.link.proc.kill()
        assert b.fatal_event.wait(20)
        assert b.fatal is not None and b.fatal.startswith("worker process exited (code -9)")
        ok, doc = b.health()
        assert not ok and not doc["worker_alive"] and doc["fatal"] == b.fatal
    finally:
        b.stop()


def test_retained_topics_coalesce_for_a_chatty_device(mosquitto: Mosquitto, tmp_path: Path) -> None:
    r = Rig(mosquitto, tmp_path, retained_delay_s=1.0)
    try:
        for i in range(20):
            r.up(lns.cs_up(EUI, i, FRAME, t=1767225600 + i))
        assert len(r.col.wait_for(f"{EUI}/senml", 20)) == 20  # SenML is never coalesced
        harness.wait_until(lambda: any(m["frames"] == 20 for m in r.col.on(f"{EUI}/meta")), 10,
                           "meta with all 20 frames", r.col.cond)
        metas = r.col.on(f"{EUI}/meta")
        print(f"\n[coalescing] 20 uplinks -> {len(metas)} meta and "
              f"{r.col.count(f'{EUI}/temperature')} temperature publications")
        assert len(metas) < 20 and r.col.on(f"{EUI}/temperature")[-1]["t"] == 1767225619
    finally:
        r.close()


def test_retained_topics_held_back_at_a_kill_go_out_after_the_restart(mosquitto: Mosquitto,
                                                                       tmp_path: Path) -> None:
    """The pipeline holds retained topics for ``retained_delay_s``; the marks are part of the
    committed device state, so ``kill -9`` in that window loses nothing."""
    doc = harness.bridge_doc(tmp_path / "s", mosquitto.port, mosquitto.port, retained_delay_s=3600)
    bp = harness.BridgeProcess(doc, tmp_path)
    pub = harness.Publisher(mosquitto.port)
    col = harness.Collector(mosquitto.port)
    try:
        bp.start()
        for i in range(3):
            pub.publish(lns.cs_topic(EUI), lns.dumps(lns.cs_up(EUI, i, FRAME, t=1767225600 + i)))
        col.wait_for(f"{EUI}/senml", 3)
        assert col.count(f"{EUI}/meta") == 0 and col.count(f"{EUI}/temperature") == 0
        bp.kill()
        bp.start()  # same hour-long delay: only the saved marks make these due
        (meta,) = col.wait_for(f"{EUI}/meta")
        assert meta["frames"] == 3 and col.wait_for(f"{EUI}/temperature")[0]["t"] == 1767225602
    finally:
        bp.close()
        pub.close()
        col.close()
