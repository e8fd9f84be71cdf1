"""bridge/mqtt.py's short paths for PUBLISH and PUBACK against paho's own decoding of the same
packets (MQTT 5 §3.3, §3.4; MQTT 3.1.1 §3.3, §3.4): same message, same callbacks."""

from __future__ import annotations

import gc
import struct
import sys
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.exception import MalformedPacket

from bridge.mqtt import _BufferedClient

PROTOCOLS = (paho.MQTTv311, paho.MQTTv5)


def _client(protocol: int, manual_ack: bool = True) -> tuple[_BufferedClient, list[Any], list[int]]:
    c = _BufferedClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol,
                        manual_ack=manual_ack)
    got: list[Any] = []
    pubacks: list[int] = []
    c.on_message = lambda _c, _u, m: got.append(m)
    c._send_puback = lambda mid: pubacks.append(mid) or paho.MQTT_ERR_SUCCESS  # type: ignore[method-assign]
    return c, got, pubacks


def _publish_packet(topic: bytes, payload: bytes, qos: int, mid: int, props: bytes | None,
                    retain: bool, dup: bool) -> tuple[int, bytes]:
    body = struct.pack(">H", len(topic)) + topic
    if qos:
        body += struct.pack(">H", mid)
    if props is not None:  # MQTT 5: property length (one byte here) then the properties
        body += bytes([len(props)]) + props
    return 0x30 | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0), body + payload


def _view(m: Any) -> tuple[Any, ...]:
    return (m.topic, bytes(m.payload), m.qos, m.mid, bool(m.retain), bool(m.dup))


@settings(max_examples=300, deadline=None)
@given(topic=st.text(min_size=1, max_size=40).map(str.encode), payload=st.binary(max_size=200),
       qos=st.sampled_from([0, 1]), mid=st.integers(1, 65535), retain=st.booleans(),
       dup=st.booleans(), v5=st.booleans(), manual=st.booleans(),
       user_prop=st.booleans())
def test_short_publish_path_equals_paho(topic: bytes, payload: bytes, qos: int, mid: int, retain: bool,
                                        dup: bool, v5: bool, manual: bool, user_prop: bool) -> None:
    protocol = paho.MQTTv5 if v5 else paho.MQTTv311
    # a user property (0x26, "k"="v") sends MQTT 5 messages down paho's own path
    props = (b"\x26\x00\x01k\x00\x01v" if user_prop else b"") if v5 else None
    header, packet = _publish_packet(topic, payload, qos, mid if qos else 0, props, retain, dup)
    fast, got_fast, acks_fast = _client(protocol, manual)
    ref, got_ref, acks_ref = _client(protocol, manual)
    for c in (fast, ref):
        c._in_packet = {"command": header, "packet": packet}
    assert fast._handle_publish() == paho.Client._handle_publish(ref)
    assert [_view(m) for m in got_fast] == [_view(m) for m in got_ref]
    assert acks_fast == acks_ref == ([] if manual or qos == 0 else [mid])
    if v5 and user_prop:
        assert got_fast[0].properties.UserProperty == [("k", "v")]


def test_qos2_and_malformed_publish_go_to_paho() -> None:
    c, got, _ = _client(paho.MQTTv311)
    header, packet = _publish_packet(b"a/b", b"x", 2, 7, None, False, False)
    c._in_packet = {"command": header, "packet": packet}
    c._handle_publish()
    assert got == [] and 7 in c._in_messages  # QoS 2 waits for PUBREL, as paho does it
    header, packet = _publish_packet(b"", b"x", 1, 7, None, False, False)  # 3.1.1: topic required
    c._in_packet = {"command": header, "packet": packet}
    with pytest.raises(MalformedPacket, match="topic"):  # paho's own protocol error
        c._handle_publish()
    assert got == []


def _puback(rest: bytes, protocol: int) -> tuple[list[tuple[int, bool, int]], int]:
    c = _BufferedClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol)
    results: list[tuple[int, bool, int]] = []
    c.on_publish = lambda _c, _u, mid, rc, _p: results.append((mid, rc.is_failure, rc.value))
    mid = c.publish("a/b", b"x", qos=1).mid  # not connected: paho keeps it in _out_messages
    c._in_packet = {"command": 0x40, "packet": struct.pack(">H", mid) + rest}
    c._handle_pubackcomp("PUBACK")
    return results, mid


def test_puback_short_path_and_reason_codes() -> None:
    for protocol in PROTOCOLS:
        results, mid = _puback(b"", protocol)
        assert results == [(mid, False, 0)]  # 2 bytes: success (MQTT 5 §3.4.2.1)
    results, mid = _puback(b"\x10\x00", paho.MQTTv5)  # no matching subscribers: still success
    assert results == [(mid, False, 0x10)]
    results, mid = _puback(b"\x87\x00", paho.MQTTv5)  # not authorized
    assert results == [(mid, True, 0x87)]
    c = _BufferedClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv5)
    seen: list[int] = []
    c.on_publish = lambda _c, _u, mid, _rc, _p: seen.append(mid)
    c._in_packet = {"command": 0x40, "packet": b"\x00\x09"}  # a PUBACK for nothing we sent
    c._handle_pubackcomp("PUBACK")
    assert seen == []


def test_a_failed_paho_init_leaves_no_broken_client() -> None:
    """paho's __del__ runs even when its __init__ raised; our socket hooks must cope."""
    unraisable: list[object] = []
    old, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        with pytest.raises(ValueError, match="client id"):
            _BufferedClient(CallbackAPIVersion.VERSION2, client_id="", protocol=paho.MQTTv311,
                            clean_session=False)
        gc.collect()
    finally:
        sys.unraisablehook = old
    assert unraisable == []
