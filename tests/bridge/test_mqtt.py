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
from paho.mqtt.properties import MalformedPacket

from bridge.paho_private import BufferedClient, _varlen  # _varlen: checked against paho by the publish_batch test

PROTOCOLS = (paho.MQTTv311, paho.MQTTv5)


def _client(protocol: int, manual_ack: bool = True) -> tuple[BufferedClient, list[Any], list[int]]:
    c = BufferedClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol,
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
        c._in_packet = _in(header, packet)
    assert fast._handle_publish() == paho.Client._handle_publish(ref)
    assert [_view(m) for m in got_fast] == [_view(m) for m in got_ref]
    assert acks_fast == acks_ref == ([] if manual or qos == 0 else [mid])
    if v5 and user_prop:
        assert got_fast[0].properties.UserProperty == [("k", "v")]


def _in(command: int, packet: bytes) -> Any:
    """paho's input state for a packet read whole (the fallbacks read every key)."""
    return {"command": command, "have_remaining": 1, "remaining_count": [], "remaining_mult": 1,
            "remaining_length": len(packet), "packet": bytearray(packet), "to_process": 0, "pos": 0}


def test_qos2_and_malformed_publish_go_to_paho() -> None:
    c, got, _ = _client(paho.MQTTv311)
    header, packet = _publish_packet(b"a/b", b"x", 2, 7, None, False, False)
    c._in_packet = _in(header, packet)
    c._handle_publish()
    assert got == [] and 7 in c._in_messages  # QoS 2 waits for PUBREL, as paho does it
    header, packet = _publish_packet(b"", b"x", 1, 7, None, False, False)  # 3.1.1: topic required
    c._in_packet = _in(header, packet)
    try:
        rc = c._handle_publish()
    except MalformedPacket as e:  # paho 2.2's own protocol error
        assert "topic" in str(e)
    else:
        assert rc == paho.MQTT_ERR_PROTOCOL  # paho 2.1 returns it
    assert got == []


def _puback(rest: bytes, protocol: int) -> tuple[list[tuple[int, bool, int]], int]:
    c = BufferedClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol)
    results: list[tuple[int, bool, int]] = []
    c.on_publish = lambda _c, _u, mid, rc, _p: results.append((mid, rc.is_failure, rc.value))
    mid = c.publish("a/b", b"x", qos=1).mid  # not connected: paho keeps it in _out_messages
    c._in_packet = _in(0x40, struct.pack(">H", mid) + rest)
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
    c = BufferedClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv5)
    seen: list[int] = []
    c.on_publish = lambda _c, _u, mid, _rc, _p: seen.append(mid)
    c._in_packet = _in(0x40, b"\x00\x09")  # a PUBACK for nothing we sent
    c._handle_pubackcomp("PUBACK")
    assert seen == []


def test_a_failed_paho_init_leaves_no_broken_client() -> None:
    """paho's __del__ runs even when its __init__ raised; our socket hooks must cope."""
    unraisable: list[object] = []
    old, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        with pytest.raises(ValueError, match="client id"):
            BufferedClient(CallbackAPIVersion.VERSION2, client_id="", protocol=paho.MQTTv311,
                            clean_session=False)
        gc.collect()
    finally:
        sys.unraisablehook = old
    assert unraisable == []


class _Sock:
    """Stands in for a connected socket: paho only checks that there is one before queuing."""

    def close(self) -> None:
        pass


def _queued(c: BufferedClient) -> list[bytes]:
    out: list[bytes] = []
    c._packet_queue = lambda _cmd, packet, *_a, **_k: (  # type: ignore[method-assign]
        out.append(bytes(packet)) or paho.MQTT_ERR_SUCCESS)
    return out


def _out_view(m: Any) -> tuple[Any, ...]:
    return (m.mid, m._topic, bytes(m.payload), m.qos, bool(m.retain), m.dup, m.state, m.properties)


_TOPIC_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="+#")


@settings(max_examples=200, deadline=None)
@given(msgs=st.lists(st.tuples(st.text(_TOPIC_CHARS, min_size=1, max_size=30),
                               st.binary(max_size=300), st.booleans()), min_size=1, max_size=8),
       v5=st.booleans(), connected=st.booleans(), first_mid=st.integers(0, 65534))
def test_publish_batch_equals_paho_publish(msgs: list[tuple[str, bytes, bool]], v5: bool,
                                           connected: bool, first_mid: int) -> None:
    """Same bytes on the wire and the same ``_out_messages`` (paho resends those after a
    reconnect) as one paho ``publish`` per message; the PUBACK short path finds them."""
    protocol = paho.MQTTv5 if v5 else paho.MQTTv311
    fast, _, _ = _client(protocol)
    ref, _, _ = _client(protocol)
    wire_fast, wire_ref = _queued(fast), _queued(ref)
    for c in (fast, ref):
        c.max_inflight_messages_set(0)
        c._last_mid = first_mid  # packet identifiers wrap from 65535 to 1
        c._sock = _Sock() if connected else None
    mids = fast.publish_batch(msgs)
    ref_mids = [ref.publish(t, p, qos=1, retain=r).mid for t, p, r in msgs]
    assert mids == ref_mids
    assert b"".join(wire_fast) == b"".join(wire_ref)
    assert len(wire_fast) == (1 if connected else 0)  # one queue entry for the batch
    assert [_out_view(m) for m in fast._out_messages.values()] == \
        [_out_view(m) for m in ref._out_messages.values()]
    assert fast._inflight_messages == ref._inflight_messages == (len(msgs) if connected else 0)
    done: list[int] = []
    fast.on_publish = lambda _c, _u, mid, rc, _p: done.append(mid)
    for mid in mids:
        fast._in_packet = _in(0x40, struct.pack(">H", mid))
        fast._handle_pubackcomp("PUBACK")
    assert done == mids and not fast._out_messages


def test_publish_batch_refuses_what_paho_refuses() -> None:
    c, _, _ = _client(paho.MQTTv311)
    c.max_inflight_messages_set(0)
    for bad in ("a/+/b", "a/#", ""):
        with pytest.raises(ValueError, match="topic"):
            c.publish_batch([("ok", b"", False), (bad, b"x", False)])
        assert not c._out_messages  # nothing of a refused batch is kept
    c.max_inflight_messages_set(20)  # paho would hold messages back: not what the drain uses
    with pytest.raises(ValueError, match="in-flight"):
        c.publish_batch([("a", b"x", False)])


class _ChunkSock:
    """A non-blocking socket that delivers a byte stream in the given chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = [c for c in chunks if c]

    def recv(self, n: int) -> bytes:
        if not self.chunks:
            raise BlockingIOError
        head = self.chunks[0]
        self.chunks[0] = head[n:]
        if not self.chunks[0]:
            self.chunks.pop(0)
        return head[:n]

    def close(self) -> None:
        pass


_PUBACK_TAILS = {paho.MQTTv311: [b""], paho.MQTTv5: [b"", b"\x10", b"\x10\x00", b"\x87", b"\x00\x00"]}


@settings(max_examples=150, deadline=None)
@given(data=st.data(), v5=st.booleans(),
       cuts=st.lists(st.integers(1, 400), min_size=1, max_size=40))
def test_buffered_packet_reading_equals_paho(data: st.DataObject, v5: bool, cuts: list[int]) -> None:
    """A stream of PUBLISH and PUBACK packets, cut anywhere: the buffered client (whole packets
    parsed from its buffer, partial ones through paho, the raw message hook) reports the same
    messages and publish results as plain paho reading it."""
    protocol = paho.MQTTv5 if v5 else paho.MQTTv311
    stream = b""
    n_sent = data.draw(st.integers(0, 5))
    for _ in range(data.draw(st.integers(1, 12))):
        if n_sent and data.draw(st.booleans()):
            tail = data.draw(st.sampled_from(_PUBACK_TAILS[protocol]))
            body = struct.pack(">H", data.draw(st.integers(1, n_sent))) + tail
            stream += b"\x40" + _varlen(len(body)) + body
        else:
            qos = data.draw(st.sampled_from([0, 1]))
            header, body = _publish_packet(
                data.draw(st.text(_TOPIC_CHARS, min_size=1, max_size=20)).encode(),
                data.draw(st.binary(max_size=300)), qos, data.draw(st.integers(1, 65535)) if qos else 0,
                b"" if v5 else None, data.draw(st.booleans()), False)
            stream += bytes([header]) + _varlen(len(body)) + body
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(stream[pos:pos + c])
        pos += c
    chunks.append(stream[pos:])
    views: list[list[Any]] = []
    for client_class in (BufferedClient, paho.Client):
        c = client_class(CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol,
                         manual_ack=True)
        got: list[Any] = []
        c.on_message = lambda _c, _u, m, got=got: got.append(
            ("msg", m.topic, bytes(m.payload), m.qos, m.mid, bool(m.retain)))
        if isinstance(c, BufferedClient):
            c.on_raw_message = lambda t, p, q, mid, r, got=got: got.append(
                ("msg", t.decode(), p, q, mid, r))
        c.on_publish = lambda _c, _u, mid, rc, _p, got=got: got.append(("puback", mid, rc.value))
        for i in range(n_sent):
            c.publish(f"out/{i}", b"x", qos=1)  # not connected yet: kept in _out_messages
        c._sock = _ChunkSock(list(chunks))
        for _ in range(len(stream) + 5):
            c.loop_read()
            if not c._sock.chunks and getattr(c, "_rpos", 0) >= len(getattr(c, "_rbuf", b"")):
                break
        views.append(got)
    assert views[0] == views[1]


@settings(max_examples=100, deadline=None)
@given(acks=st.lists(st.tuples(st.integers(1, 65535), st.sampled_from([0, 1, 2])), max_size=30),
       v5=st.booleans(), manual=st.booleans())
def test_ack_batch_sends_what_paho_ack_sends(acks: list[tuple[int, int]], v5: bool,
                                             manual: bool) -> None:
    protocol = paho.MQTTv5 if v5 else paho.MQTTv311
    fast, ref = (BufferedClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol,
                                 manual_ack=manual) for _ in range(2))
    wire_fast, wire_ref = _queued(fast), _queued(ref)
    fast.ack_batch(acks)
    for mid, qos in acks:
        ref.ack(mid, qos)

    def packets(wire: list[bytes]) -> list[bytes]:
        data = b"".join(wire)
        return sorted(data[i:i + 4] for i in range(0, len(data), 4))

    assert packets(wire_fast) == packets(wire_ref)
    assert len(wire_fast) <= 1 + sum(q == 2 for _, q in acks)  # the PUBACKs in one write
