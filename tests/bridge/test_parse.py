"""Parsers for ChirpStack v4 and TTS v3 messages: every field-presence variant, and
arbitrary input either parses or raises InputError (never anything else)."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import chirpstack, fields, tts
from bridge.errors import InputError
from bridge.model import DeviceEvent, Ignored, Uplink
from tests.bridge import lns

EUI = "70b3d57ed0001234"
FRAME = bytes.fromhex("2101020304")


@pytest.mark.parametrize("variant", ["modern", "old"])
def test_chirpstack_up_variants(variant: str) -> None:
    msg = lns.cs_up(EUI, 7, FRAME, variant=variant, gateways=2)
    up = chirpstack.parse(lns.cs_topic(EUI), lns.dumps(msg))
    assert isinstance(up, Uplink)
    assert up.dev_eui == EUI and up.data == FRAME and up.f_port == 1
    assert up.dedupe_key == "cs:" + msg["deduplicationId"]
    assert up.received_at == pytest.approx(1767225600.5)
    assert up.frequency == 868300000 and up.spreading_factor == 7 and up.coding_rate == "CR_4_5"
    assert up.down_topic == f"application/{lns.APP_ID}/device/{EUI}/command/down"
    best = up.best_reception()
    assert best is not None and best.rssi == -70 and best.snr == 9.5
    if variant == "old":
        assert up.f_cnt is None and up.adr is None and up.confirmed is None
    else:
        assert up.f_cnt == 7 and up.adr is True and up.confirmed is False


def test_chirpstack_nanosecond_time_and_object() -> None:
    msg = lns.cs_up(EUI, 1, FRAME, obj={"temperature": 21.5})
    msg["time"] = "2022-07-18T09:34:15.775023242+00:00"
    up = chirpstack.parse(lns.cs_topic(EUI), lns.dumps(msg))
    assert isinstance(up, Uplink)
    assert up.received_at == pytest.approx(1658136855.775023242)
    assert up.object == {"temperature": 21.5}


def test_chirpstack_nested_defaults_omitted() -> None:
    msg = lns.cs_up(EUI, 1, FRAME)
    msg["rxInfo"] = [{"gatewayId": "0016c001ff10a235"}]  # gw package omits rssi/snr when 0
    msg["txInfo"] = {"frequency": 868100000, "modulation": {"lora": {"bandwidth": 125000}}}
    up = chirpstack.parse(lns.cs_topic(EUI), lns.dumps(msg))
    assert isinstance(up, Uplink)
    assert up.receptions[0].rssi is None and up.spreading_factor is None


@pytest.mark.parametrize(
    ("event", "body", "kind"),
    [
        ("join", {"devAddr": "01020304"}, "join"),
        ("status", {"margin": 7, "batteryLevel": 87.5}, "status"),
        ("ack", {"queueItemId": "q1", "acknowledged": True, "fCntDown": 3}, "acked"),
        ("ack", {"queueItemId": "q1", "acknowledged": False, "fCntDown": 3}, "failed"),
        ("txack", {"downlinkId": 1, "queueItemId": "q1", "fCntDown": 3}, "sent"),
        ("log", {"level": "ERROR", "code": "DOWNLINK_PAYLOAD_SIZE", "description": "too big",
                 "context": {"queue_item_id": "q1"}}, "failed"),
        ("log", {"level": "INFO", "code": "UPLINK_CODEC", "description": "x", "context": {}}, "log"),
    ],
)
def test_chirpstack_events(event: str, body: dict, kind: str) -> None:
    body = {"time": "2026-01-01T00:00:00Z", "deviceInfo": {"devEui": EUI}, **body}
    ev = chirpstack.parse(lns.cs_topic(EUI, event), json.dumps(body).encode())
    assert isinstance(ev, DeviceEvent) and ev.kind == kind and ev.dev_eui == EUI
    if event in ("ack", "txack") or kind == "failed":
        assert ev.command_id == "q1"


def test_chirpstack_unused_event_is_ignored() -> None:
    ev = chirpstack.parse(lns.cs_topic(EUI, "integration"),
                                b'{"deviceInfo": {"devEui": "%s"}}' % EUI.encode())
    assert isinstance(ev, Ignored)


@pytest.mark.parametrize("variant", ["new", "old"])
def test_tts_up_variants(variant: str) -> None:
    msg = lns.tts_up(EUI, 9, FRAME, variant=variant)
    up = tts.parse(lns.tts_topic("tro-1234"), lns.dumps(msg))
    assert isinstance(up, Uplink)
    assert up.dev_eui == EUI and up.f_cnt == 9 and up.f_port == 1 and up.data == FRAME
    assert up.coding_rate == "4/5" and up.frequency == 867700000
    assert up.confirmed is False  # omitted by TTS when false
    assert up.dedupe_key == f"tts:{EUI}:9:AYZ/cI4Kz8Q9cRtHN6WjvA=="
    assert up.down_topic == f"v3/{lns.TTS_APP}/devices/tro-1234/down/push"
    assert up.received_at == pytest.approx(1767225600.5)


def test_tts_zero_fields_omitted() -> None:
    msg = lns.tts_up(EUI, 0, b"", f_port=0)
    assert "f_cnt" not in msg["uplink_message"] and "f_port" not in msg["uplink_message"]
    assert "frm_payload" not in msg["uplink_message"]
    up = tts.parse(lns.tts_topic("tro-1234"), lns.dumps(msg))
    assert isinstance(up, Uplink)
    assert up.f_cnt == 0 and up.f_port == 0 and up.data == b""


@pytest.mark.parametrize(
    ("event", "body", "kind", "reason"),
    [
        ("down/queued", {"downlink_queued": {"correlation_ids": ["trosmart:cmd:c1"]}}, "queued", None),
        ("down/sent", {"downlink_sent": {"correlation_ids": ["trosmart:cmd:c1"]}}, "sent", None),
        ("down/ack", {"downlink_ack": {"correlation_ids": ["x", "trosmart:cmd:c1"]}}, "acked", None),
        ("down/failed", {"downlink_failed": {"downlink": {"correlation_ids": ["trosmart:cmd:c1"]},
                                             "error": {"name": "no_gateway", "message_format":
                                                       "no gateway available"}}},
         "failed", "no gateway available"),
    ],
)
def test_tts_downlink_events(event: str, body: dict, kind: str, reason: str | None) -> None:
    doc = {"end_device_ids": {"device_id": "tro-1234", "dev_eui": EUI.upper()},
           "received_at": "2026-01-01T00:00:00Z", **body}
    ev = tts.parse(lns.tts_topic("tro-1234", event), json.dumps(doc).encode())
    assert isinstance(ev, DeviceEvent)
    assert (ev.kind, ev.command_id, ev.reason) == (kind, "c1", reason)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b'{"deviceInfo": {"devEui": "zz"}}', "missing_field"),
        (b'{"deviceInfo": {"devEui": "70b3d57ed0001234"}, "time": "yesterday"}', "bad_field"),
        (b'{"deviceInfo": {"devEui": "70b3d57ed0001234"}, "deduplicationId": "a", '
         b'"time": "2026-01-01T00:00:00Z", "data": "%%%"}', "bad_base64"),
        (b'{"deviceInfo": {"devEui": "70b3d57ed0001234"}, "deduplicationId": "a", '
         b'"time": "2026-01-01T00:00:00Z", "fPort": "one"}', "bad_field"),
        (b'{"deviceInfo": {"devEui": "70b3d57ed0001234"}}', "missing_field"),
        (b"{}" + b" " * 70000, "oversize"),
    ],
)
def test_chirpstack_bad_input(payload: bytes, reason: str) -> None:
    with pytest.raises(InputError) as e:
        chirpstack.parse(lns.cs_topic(EUI), payload)
    assert e.value.reason == reason


def test_bad_topics() -> None:
    with pytest.raises(InputError, match="bad_topic"):
        chirpstack.parse("application/x/event/up", b"{}")
    with pytest.raises(InputError, match="bad_topic"):
        tts.parse("v2/app/devices/x/up", b"{}")


def test_tts_missing_uplink_message() -> None:
    doc = {"end_device_ids": {"dev_eui": EUI}, "received_at": "2026-01-01T00:00:00Z"}
    with pytest.raises(InputError, match="missing_field"):
        tts.parse(lns.tts_topic("d"), json.dumps(doc).encode())


# --- properties ------------------------------------------------------------------------------
json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4)
                           | st.dictionaries(st.text(max_size=12), c, max_size=4), max_leaves=20)
field_names = st.sampled_from(["deduplicationId", "time", "deviceInfo", "fCnt", "fPort", "data",
                               "rxInfo", "txInfo", "object", "adr", "confirmed", "dr",
                               "uplink_message", "end_device_ids", "received_at", "f_port",
                               "frm_payload", "settings", "rx_metadata", "devEui", "f_cnt"])
messages = st.dictionaries(field_names, json_values, max_size=8)


@settings(max_examples=300, deadline=None)
@given(doc=messages, raw=st.binary(max_size=64), use_raw=st.booleans(),
       event=st.sampled_from(["up", "join", "status", "ack", "txack", "log", "down/failed"]))
def test_any_input_parses_or_raises_input_error(doc: dict, raw: bytes, use_raw: bool, event: str) -> None:
    payload = raw if use_raw else json.dumps(doc, default=str).encode()
    for parse, topic in ((chirpstack.parse, lns.cs_topic(EUI, event.replace("/", "_"))),
                         (tts.parse, lns.tts_topic("d", event))):
        with contextlib.suppress(InputError):
            parse(topic, payload)


@settings(max_examples=200, deadline=None)
@given(f_cnt=st.one_of(st.none(), st.integers(0, 2**32 - 1)), f_port=st.integers(1, 223),
       data=st.binary(max_size=51), drop=st.sets(st.sampled_from(["fCnt", "adr", "confirmed", "dr",
                                                                  "txInfo", "rxInfo", "devAddr"])))
def test_chirpstack_fields_roundtrip(f_cnt: int | None, f_port: int, data: bytes, drop: set) -> None:
    msg = lns.cs_up(EUI, f_cnt, data, f_port=f_port)
    for k in drop:
        msg.pop(k, None)
    up = chirpstack.parse(lns.cs_topic(EUI), lns.dumps(msg))
    assert isinstance(up, Uplink)
    assert up.f_port == f_port and up.data == data
    assert up.f_cnt == (None if "fCnt" in drop else f_cnt)


@settings(max_examples=200, deadline=None)
@given(f_cnt=st.integers(0, 2**32 - 1), f_port=st.integers(0, 223), data=st.binary(max_size=51),
       variant=st.sampled_from(["new", "old"]), confirmed=st.booleans())
def test_tts_fields_roundtrip(f_cnt: int, f_port: int, data: bytes, variant: str, confirmed: bool) -> None:
    msg = lns.tts_up(EUI, f_cnt, data, f_port=f_port, variant=variant, confirmed=confirmed)
    up = tts.parse(lns.tts_topic("tro-1234"), lns.dumps(msg))
    assert isinstance(up, Uplink)
    assert (up.f_cnt, up.f_port, up.data, up.confirmed) == (f_cnt, f_port, data, confirmed)
    assert up.coding_rate == "4/5"


@settings(max_examples=300, deadline=None)
@given(secs=st.integers(0, 4102444799), sep=st.sampled_from("Tt "),
       frac=st.one_of(st.none(), st.text("0123456789", min_size=1, max_size=12)),
       zone=st.sampled_from(["Z", "z", "+00:00", "+02:00", "-05:30", "+0100", "-1200"]))
def test_timestamps_from_the_head_cache_equal_the_full_parse(secs: int, sep: str, frac: str | None,
                                                             zone: str) -> None:
    head = time.strftime(f"%Y-%m-%d{sep}%H:%M:%S", time.gmtime(secs))
    v = head + (f".{frac}" if frac else "") + zone
    off = 0 if zone in "Zz" else (int(zone[1:3]) * 3600 + int(zone[-2:]) * 60) * (1 if zone[0] == "+" else -1)
    expected = secs + (float("0." + frac) if frac else 0.0) - off
    fields._HEADS.clear()
    assert fields.timestamp(v, "t") == expected  # the full check, which caches the head
    assert fields.timestamp(v, "t") == expected  # the head from the cache
    for bad in (head + ".5", head + "Zx", head + ".x+00:00", head + "+0:00", head + ".1234567890123Z"):
        with pytest.raises(InputError, match="RFC 3339"):
            fields.timestamp(bad, "t")  # a cached head does not let a bad tail through


@pytest.mark.parametrize(("lns_name", "topic", "doc", "where"), [
    ("chirpstack", "application/a/device/70b3d57ed0001234/event/up",
     {"deduplicationId": "d", "deviceInfo": {"devEui": "70b3d57ed0001234"}, "fCnt": 1, "fPort": 1,
      "data": "AQ==", "rxInfo": 5}, "rxInfo is not a list"),
    ("tts", "v3/app@ttn/devices/node-1/up",
     {"end_device_ids": {"device_id": "node-1", "dev_eui": "70B3D57ED0001234"},
      "uplink_message": {"f_port": 1, "f_cnt": 1, "frm_payload": "AQ==", "rx_metadata": True,
                         "received_at": "2026-01-01T00:00:00Z"}}, "rx_metadata is not a list"),
])
def test_reception_lists_that_are_not_lists_are_bad_fields(lns_name: str, topic: str, doc: dict[str, Any],
                                                           where: str) -> None:
    # found by the million-message fuzz run: these were TypeErrors (internal_error dead letters)
    parse = {"chirpstack": chirpstack.parse, "tts": tts.parse}[lns_name]
    with pytest.raises(InputError) as e:
        parse(topic, json.dumps(doc).encode())
    assert e.value.reason == "bad_field" and where in e.value.detail
