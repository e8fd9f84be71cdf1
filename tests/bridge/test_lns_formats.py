"""bridge/chirpstack.py and bridge/tts.py, the one home of each network server's format:
what the builders make parses back to the same fields (hypothesis), TTS uplink times and
their ``time_source``, and the TTS identity cross-check in the pipeline."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import payload_codec
from bridge import chirpstack, commands, config, fields, tts
from bridge.errors import InputError
from bridge.metrics import PipelineMetrics
from bridge.model import DeviceEvent, InMessage, Uplink
from bridge.pipeline import Batch, Processor

from . import lns

euis = st.binary(min_size=8, max_size=8).map(bytes.hex)
ids = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
# 1970 .. 9999-12-31: what RFC 3339 can say
stamps_ns = st.integers(0, 253402300799 * 1_000_000_000 + 999_999_999)
rssis = st.integers(-150, 0)
snrs = st.integers(-80, 60).map(lambda q: q / 4)
bandwidths = st.sampled_from([125000, 250000, 500000])


@given(stamps_ns)
def test_rfc3339_round_trips(ns: int) -> None:
    text = fields.rfc3339(ns)
    assert fields.timestamp(text, "t") == pytest.approx(ns / 1e9, abs=1e-6)


# --- ChirpStack --------------------------------------------------------------------------------
@st.composite
def cs_uplinks(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """(builder arguments, the event)."""
    eui, app = draw(euis), draw(st.uuids().map(str))
    gateways = draw(st.lists(st.tuples(euis, rssis, snrs), max_size=3))
    a: dict[str, Any] = {
        "app": app, "eui": eui, "ns": draw(stamps_ns), "dedup": str(draw(st.uuids())),
        "name": draw(ids), "adr": draw(st.none() | st.booleans()), "dr": draw(st.integers(0, 15)),
        "f_cnt": draw(st.none() | st.integers(0, 2**32 - 1)), "f_port": draw(st.integers(0, 255)),
        "confirmed": draw(st.none() | st.booleans()), "data": draw(st.binary(max_size=242)),
        "gateways": gateways, "frequency": draw(st.integers(100_000_000, 999_999_999)),
        "sf": draw(st.integers(5, 12)), "bw": draw(bandwidths),
        # integers within 64 bits: beyond, the bridge's JSON reader gives floats (bridge/jsonio.py)
        "object": draw(st.none() | st.dictionaries(st.text(max_size=8), st.integers(-2**63, 2**64 - 1),
                                                   max_size=3)),
    }
    info = chirpstack.device_info(app, eui, device_name=a["name"], application_name="air",
                                  tenant_id="t", tenant_name="Troisdorf", device_profile_id="p",
                                  device_profile_name="trosmart")
    msg = chirpstack.up_event(
        deduplication_id=a["dedup"], time=fields.rfc3339(a["ns"]), device_info=info, dev_addr="01fa2b3c",
        adr=a["adr"], dr=a["dr"], f_cnt=a["f_cnt"], f_port=a["f_port"], confirmed=a["confirmed"],
        data=a["data"],
        rx_info=[chirpstack.rx_info(g, i, r, s, channel=i, context=b"ctx") for i, (g, r, s) in enumerate(gateways)],
        tx_info=chirpstack.tx_info(a["frequency"], chirpstack.lora_modulation(a["bw"], a["sf"])),
        object=a["object"])
    return a, msg


@settings(max_examples=200, deadline=None)
@given(cs_uplinks())
def test_chirpstack_uplink_round_trips(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    a, msg = case
    topic = chirpstack.event_topic(a["app"], a["eui"])
    up = chirpstack.parse(topic, json.dumps(msg).encode(), 1 << 20)
    assert isinstance(up, Uplink)
    assert (up.dev_eui, up.dedupe_key, up.device_name, up.application_id) == (
        a["eui"], "cs:" + a["dedup"], a["name"], a["app"])
    assert (up.f_port, up.f_cnt, up.data, up.confirmed, up.adr, up.dr) == (
        a["f_port"], a["f_cnt"], a["data"], a["confirmed"], a["adr"], a["dr"])
    assert (up.frequency, up.spreading_factor, up.bandwidth, up.coding_rate) == (
        a["frequency"], a["sf"], a["bw"], "CR_4_5")
    assert [(r.gateway, r.rssi, r.snr) for r in up.receptions] == list(a["gateways"])
    assert up.received_at == pytest.approx(a["ns"] / 1e9, abs=1e-6)
    assert up.time_source == "network_server" and up.object == a["object"]
    assert up.down_topic == chirpstack.command_topic(a["app"], a["eui"])


@settings(max_examples=100, deadline=None)
@given(eui=euis, ns=stamps_ns, qid=st.uuids().map(str), acked=st.booleans(), level=st.sampled_from(
    ["INFO", "WARNING", "ERROR"]), battery=st.integers(0, 254).map(float))
def test_chirpstack_events_round_trip(eui: str, ns: int, qid: str, acked: bool, level: str,
                                      battery: float) -> None:
    t = fields.rfc3339(ns)
    info = {"devEui": eui}

    def parse(event: str, doc: dict[str, Any]) -> DeviceEvent:
        ev = chirpstack.parse(chirpstack.event_topic("app", eui, event), json.dumps(doc).encode())
        assert isinstance(ev, DeviceEvent) and ev.dev_eui == eui
        assert ev.received_at == pytest.approx(ns / 1e9, abs=1e-6)
        return ev

    assert parse("join", chirpstack.join_event(deduplication_id="d", time=t, device_info=info,
                                               dev_addr="01020304")).kind == "join"
    ev = parse("ack", chirpstack.ack_event(deduplication_id="d", time=t, device_info=info,
                                           queue_item_id=qid, acknowledged=acked, f_cnt_down=1))
    assert (ev.kind, ev.command_id) == ("acked" if acked else "failed", qid)
    ev = parse("txack", chirpstack.txack_event(
        downlink_id=1, time=t, device_info=info, queue_item_id=qid, f_cnt_down=1, gateway_id="aa",
        tx_info=chirpstack.tx_info(868100000, chirpstack.lora_modulation(125000, 7), power=14)))
    assert (ev.kind, ev.command_id) == ("sent", qid)
    ev = parse("log", chirpstack.log_event(time=t, device_info=info, level=level, code="F_CNT_DOWN",
                                           description="why", context={"queue_item_id": qid}))
    assert ev.kind == ("failed" if level == "ERROR" else "log") and ev.reason == "F_CNT_DOWN: why"
    ev = parse("status", chirpstack.status_event(time=t, device_info=info, margin=7,
                                                 battery_level=battery))
    assert (ev.kind, ev.battery_level) == ("status", battery)


@settings(max_examples=200, deadline=None)
@given(eui=euis, frame=st.binary(max_size=242), f_port=st.integers(1, 223), confirmed=st.booleans(),
       cid=st.none() | st.uuids().map(str))
def test_chirpstack_downlink_round_trips(eui: str, frame: bytes, f_port: int, confirmed: bool,
                                         cid: str | None) -> None:
    msg = json.loads(json.dumps(chirpstack.downlink(eui, frame, f_port, confirmed, cid)))
    assert chirpstack.parse_downlink(msg, eui) == chirpstack.Downlink(eui, f_port, frame, confirmed, cid)


@pytest.mark.parametrize(("doc", "why"), [
    ({"devEui": "0011223344556677", "fPort": 10, "data": ""}, "does not match"),
    ({"fPort": 0, "data": ""}, "fPort must be 1..223"),
    ({"fPort": 10, "object": {"a": 1}}, "no 'data'"),
    ({"fPort": 10, "data": "%%"}, "not base64"),
    ({"fPort": 10, "data": "", "confirmed": 1}, "'confirmed'"),
])
def test_chirpstack_downlink_faults(doc: dict[str, Any], why: str) -> None:
    with pytest.raises(InputError, match=why):
        chirpstack.parse_downlink(doc, "70b3d57ed0001234")


# --- The Things Stack ----------------------------------------------------------------------------
@st.composite
def tts_uplinks(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    eui, device_id, app = draw(euis), draw(ids), draw(ids)
    a: dict[str, Any] = {
        "eui": eui, "device_id": device_id, "app": app + "@ttn", "skey": draw(st.text(
            "ABCDEFabcdef0123456789+/=", max_size=24)),
        "f_port": draw(st.integers(0, 223)), "f_cnt": draw(st.integers(0, 2**32 - 1)),
        "data": draw(st.binary(max_size=222)), "confirmed": draw(st.booleans()),
        "sf": draw(st.integers(7, 12)), "bw": draw(bandwidths),
        "frequency": draw(st.integers(100_000_000, 999_999_999)),
        "rssi": draw(rssis), "snr": draw(snrs), "old_settings": draw(st.booleans()),
        # which clocks the message carries: application server, network server, gateway
        "as_ns": draw(st.none() | stamps_ns), "ns_ns": draw(st.none() | stamps_ns),
        "gw_ns": draw(st.none() | stamps_ns),
        "decoded": draw(st.none() | st.dictionaries(st.text(max_size=8), st.integers(), max_size=3)),
    }

    def stamp(k: str) -> str | None:
        return None if a[k] is None else fields.rfc3339(a[k])

    up = tts.uplink_message(
        session_key_id=a["skey"], f_port=a["f_port"], f_cnt=a["f_cnt"], frm_payload=a["data"],
        rx_metadata=[tts.rx_metadata("gw", "B827EBFFFE7A1C2D", time=stamp("gw_ns"), received_at=None,
                                     timestamp=1, rssi=a["rssi"], snr=a["snr"], uplink_token="x")],
        settings=tts.settings(bandwidth=a["bw"], spreading_factor=a["sf"], coding_rate="4/5",
                              frequency=a["frequency"], timestamp=1, time="2026-01-01T00:00:00Z",
                              coding_rate_in_settings=a["old_settings"]),
        received_at=stamp("ns_ns"), confirmed=a["confirmed"], consumed_airtime="0.06s",
        network_ids={"net_id": "000013"}, decoded_payload=a["decoded"])
    msg = tts.up_message(device_id=device_id, application_id=app, dev_eui=eui, join_eui="00" * 8,
                         dev_addr="260B1234", correlation_ids=["as:up:1"], received_at=stamp("as_ns"),
                         uplink_message=up)
    return a, msg


@settings(max_examples=200, deadline=None)
@given(tts_uplinks())
def test_tts_uplink_round_trips(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    a, msg = case
    before = time.time()
    up = tts.parse(tts.topic(a["app"], a["device_id"]), json.dumps(msg).encode(), 1 << 20)
    assert isinstance(up, Uplink)
    assert (up.dev_eui, up.device_name, up.session_key_id) == (a["eui"], a["device_id"], a["skey"] or None)
    assert up.dedupe_key == f"tts:{a['eui']}:{a['f_cnt']}:{a['skey']}"
    assert (up.f_port, up.f_cnt, up.data, up.confirmed) == (a["f_port"], a["f_cnt"], a["data"], a["confirmed"])
    assert (up.frequency, up.spreading_factor, up.bandwidth, up.coding_rate) == (
        a["frequency"], a["sf"], a["bw"], "4/5")
    assert [(r.gateway, r.rssi, r.snr) for r in up.receptions] == [("gw", a["rssi"], a["snr"])]
    assert up.object == a["decoded"]
    assert up.down_topic == tts.down_topic(tts.topic(a["app"], a["device_id"]))
    # the network server's reception time, else the application server's, else a gateway's,
    # else the bridge's own
    for key, source in (("ns_ns", "network_server"), ("as_ns", "network_server"), ("gw_ns", "gateway")):
        if a[key] is not None:
            assert up.time_source == source
            assert up.received_at == pytest.approx(a[key] / 1e9, abs=1e-6)
            break
    else:
        assert up.time_source == "bridge" and before <= up.received_at <= time.time()


@settings(max_examples=100, deadline=None)
@given(eui=euis, device_id=ids, ns=stamps_ns, cid=st.uuids().map(str),
       event=st.sampled_from(["down/queued", "down/sent", "down/ack", "down/nack", "down/failed"]))
def test_tts_downlink_events_round_trip(eui: str, device_id: str, ns: int, cid: str, event: str) -> None:
    doc = tts.downlink_event(event, device_id=device_id, dev_eui=eui, received_at=fields.rfc3339(ns),
                             command_id=cid, error={"message_format": "no gateway"})
    ev = tts.parse(tts.topic("a@ttn", device_id, event), json.dumps(doc).encode())
    assert isinstance(ev, DeviceEvent)
    kinds = {"down/queued": "queued", "down/sent": "sent", "down/ack": "acked"}
    assert (ev.kind, ev.dev_eui, ev.command_id) == (kinds.get(event, "failed"), eui, cid)
    assert ev.received_at == pytest.approx(ns / 1e9, abs=1e-6)
    assert ev.reason == {"down/failed": "no gateway", "down/nack": "not acknowledged by the device"}.get(event)


@given(frame=st.binary(max_size=222), f_port=st.integers(1, 223), confirmed=st.booleans(),
       cid=st.uuids().map(str))
def test_tts_downlink_correlation_comes_back(frame: bytes, f_port: int, confirmed: bool, cid: str) -> None:
    """The id the bridge puts on ``down/push`` is the one it reads from ``down/failed``, which
    carries the downlink as it was pushed."""
    (item,) = tts.downlink(frame, f_port, confirmed, cid)["downlinks"]
    doc = {"end_device_ids": {"dev_eui": "70B3D57ED0001234"},
           "downlink_failed": {"downlink": item, "error": {"name": "x"}}}
    ev = tts.parse(tts.topic("a@ttn", "d", "down/failed"), json.dumps(doc).encode())
    assert isinstance(ev, DeviceEvent) and ev.command_id == cid
    assert (item["f_port"], item["confirmed"]) == (f_port, confirmed)


def test_tts_documentation_example_without_received_at_is_delivered() -> None:
    """TTS's own MQTT example has no ``received_at`` (docs/references.md §M): not a dead letter;
    ``meta`` says whose clock was used."""
    eui = "70b3d57ed0005678"
    doc = lns.tts_up(eui, 3, payload_codec.encode({"temperature": 20.5}), t=1767225700.5)
    del doc["received_at"], doc["uplink_message"]["received_at"]
    p, b = _processor({"tts": "tts"}), Batch()
    p.handle_batch([_msg("tts", lns.tts_topic("tro-5678"), lns.dumps(doc))], b)
    p.emit_retained(b, float("inf"))
    rows = {r.topic.split("/", 2)[2]: json.loads(r.payload) for r in b.all_rows()}
    assert "_deadletter" not in rows
    assert rows[f"{eui}/meta"]["time_source"] == "gateway"
    assert rows[f"{eui}/senml"][0]["bt"] == pytest.approx(1767225700.5)


# --- identity cross-check ------------------------------------------------------------------------
def _processor(sources: dict[str, str]) -> Processor:
    cfg = config.parse({"bridge": {"state_dir": "/nonexistent", "prefix": "city/v1"},
                        "city": {"port": 1883},
                        "source": [{"name": n, "lns": lns_, "port": 1883, "topics": ["#"]}
                                   for n, lns_ in sources.items()]})
    return Processor(cfg, PipelineMetrics(), {}, lambda keys: set(), lambda cid: None, sources)


_mids = iter(range(1, 1 << 30))


def _msg(conn: str, topic: str, payload: bytes) -> InMessage:
    return InMessage(conn, topic, payload, 1, next(_mids), 1)


def test_tts_uplink_claiming_a_known_deveui_under_another_device_id_is_dead_lettered() -> None:
    eui = "70b3d57ed0005678"
    frame = payload_codec.encode({"temperature": 20.5})
    p, b = _processor({"tts": "tts"}), Batch()
    p.handle_batch([_msg("tts", lns.tts_topic("tro-5678"), lns.dumps(lns.tts_up(eui, 1, frame)))], b)
    # another TTS device (a clone, a typo at registration) sends with the same DevEUI
    forged = lns.dumps(lns.tts_up(eui, 2, frame, session_key_id="other"))
    p.handle_batch([_msg("tts", lns.tts_topic("intruder"), forged)], b)
    dead = [json.loads(r.payload) for r in b.rows if r.topic.endswith("/_deadletter")]
    assert [(d["reason"], d["dev_eui"], d["topic"]) for d in dead] == [
        ("identity_mismatch", eui, lns.tts_topic("intruder"))]
    assert "tro-5678" in dead[0]["detail"] and "intruder" in dead[0]["detail"]
    assert sum(r.topic.endswith("/senml") for r in b.rows) == 1
    # the device's downlinks still go to the device id it was learned under
    p.handle_batch([_msg("city", f"city/v1/{eui}/command", b'{"request_status": true}')], b)
    (down,) = b.downlinks
    assert down.topic == f"v3/{lns.TTS_APP}/devices/tro-5678/down/push"
    # and the device itself keeps delivering
    p.handle_batch([_msg("tts", lns.tts_topic("tro-5678"), lns.dumps(lns.tts_up(eui, 3, frame)))], b)
    assert sum(r.topic.endswith("/senml") for r in b.rows) == 2


def test_the_same_device_id_on_another_source_is_a_mismatch_too() -> None:
    eui = "70b3d57ed0005678"
    p, b = _processor({"tts": "tts", "tts2": "tts"}), Batch()
    msg = lns.dumps(lns.tts_up(eui, 1, b""))
    p.handle_batch([_msg("tts", lns.tts_topic("tro-5678"), msg), _msg("tts2", lns.tts_topic("tro-5678"), msg)], b)
    (dead,) = [json.loads(r.payload) for r in b.rows if r.topic.endswith("/_deadletter")]
    assert dead["reason"] == "identity_mismatch" and dead["source"] == "tts2"


def test_lns_message_uses_the_format_modules() -> None:
    frame = bytes.fromhex("0a01")
    cs = json.loads(commands.lns_message("chirpstack", "70b3d57ed0001234", frame, "q1", False))
    assert chirpstack.parse_downlink(cs, "70b3d57ed0001234") == chirpstack.Downlink(
        "70b3d57ed0001234", 10, frame, False, "q1")
    assert json.loads(commands.lns_message("tts", "70b3d57ed0001234", frame, "q1", True)) == tts.downlink(
        frame, 10, True, "q1")
