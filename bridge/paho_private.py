"""Every use of paho-mqtt's private names, in one adapter (docs/bridge.md §9).

``BufferedClient`` subclasses ``paho.mqtt.client.Client`` for throughput and so relies on
paho internals that paho may rename in any release, even within the ``paho-mqtt>=2.1,<3``
pin. The names are listed below, the only place the bridge may use them (a test scans the
other modules), and ``check`` verifies at bridge start that each still exists with the
shape this module expects, failing with one line that names the installed paho version
instead of misbehaving. ``make test`` runs the bridge tests on the lowest release the pin
allows (``PAHO_LOWEST`` in the Makefile) and on the newest (the venv's).
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import MalformedPacket, Properties  # (2.1 defines it there; 2.2 re-exports)
from paho.mqtt.reasoncodes import ReasonCode

from .errors import BridgeError

if TYPE_CHECKING:
    from paho.mqtt.client import _InPacket

TESTED = ("2.1.0", "2.2.0")  # the lowest and newest release of the pin (make test runs both)

# --- the private names, with the parameters this module passes (after self) ---------------------
CLIENT_METHODS: dict[str, tuple[str, ...]] = {
    "_sock_recv": ("bufsize",),  # overridden: reads 64 KiB at a time
    "_sock_close": (),  # overridden: drops the read buffer
    "_packet_read": (),  # overridden: cuts whole packets out of the buffer
    "_packet_handle": (),  # called for each packet cut out
    "_packet_queue": ("command", "packet", "mid", "qos"),  # overridden (one wake-up) and called
    "_handle_publish": (),  # overridden: the short PUBLISH path
    "_handle_pubackcomp": ("cmd",),  # overridden: the short PUBACK path
    "_send_puback": ("mid",),
    "_send_pubcomp": ("mid",),
    "_do_on_publish": ("mid", "reason_code", "properties"),
}
CLIENT_ATTRIBUTES = (  # instance attributes paho's __init__ sets
    "_in_packet", "_sock", "_sockpairW", "_protocol", "_manual_ack", "_userdata",
    "_in_callback_mutex", "_msgtime_mutex", "_out_messages",
    "_out_message_mutex", "_last_mid", "_mid_generate_mutex", "_inflight_messages",
    "_max_inflight_messages", "_max_queued_messages", "_thread",
)
# the keep-alive's time of the last input, set under _msgtime_mutex: one of them, by release
RECEIVE_TIME = ("_last_bytes_received", "_last_msg_in")  # 2.2, 2.1
IN_PACKET_KEYS = frozenset(("command", "have_remaining", "remaining_count", "remaining_mult",
                            "remaining_length", "packet", "to_process", "pos"))
MESSAGE_SLOTS = ("_topic", "mid", "info", "timestamp", "payload", "qos", "retain", "dup",
                 "properties", "state")  # MQTTMessage, built here without __init__
INFO_SLOTS = ("mid", "_published", "_condition", "rc", "_iterpos")  # MQTTMessageInfo
INFO_METHODS = ("_set_as_published",)
MODULE_NAMES = ("time_func", "mqtt_ms_publish", "mqtt_ms_wait_for_puback")  # paho.mqtt.client
# our own underscore names on BufferedClient (not paho's; the scan in the tests needs them)
OWN_NAMES = ("_rbuf", "_rpos", "_wake_lock", "_wake_pending", "_RECV_SIZE", "_receive_time")


def paho_version() -> str:
    try:
        return importlib.metadata.version("paho-mqtt")
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(paho, "__version__", "unknown"))


def missing() -> list[str]:
    """The private names (or shapes) this module relies on that the installed paho lacks."""
    out = []
    for name, params in CLIENT_METHODS.items():
        fn = getattr(paho.Client, name, None)
        if not callable(fn):
            out.append(f"Client.{name}()")
        elif tuple(inspect.signature(fn).parameters)[1:1 + len(params)] != params:
            out.append(f"Client.{name}({', '.join(params)})")
    client = paho.Client(CallbackAPIVersion.VERSION2)
    out += [f"Client.{a}" for a in CLIENT_ATTRIBUTES if not hasattr(client, a)]
    if not any(hasattr(client, a) for a in RECEIVE_TIME):
        out.append(f"Client.{' or '.join(RECEIVE_TIME)}")
    in_packet = getattr(client, "_in_packet", None)
    if isinstance(in_packet, dict) and set(in_packet) != IN_PACKET_KEYS:
        out.append("Client._in_packet keys")
    slots = set(getattr(paho.MQTTMessage, "__slots__", ()))
    out += [f"MQTTMessage.{s}" for s in MESSAGE_SLOTS if s not in slots]
    slots = set(getattr(paho.MQTTMessageInfo, "__slots__", ()))
    out += [f"MQTTMessageInfo.{s}" for s in INFO_SLOTS if s not in slots]
    out += [f"MQTTMessageInfo.{m}()" for m in INFO_METHODS if not callable(getattr(paho.MQTTMessageInfo, m, None))]
    out += [f"paho.mqtt.client.{n}" for n in MODULE_NAMES if not hasattr(paho, n)]
    return out


class PahoIncompatible(BridgeError):
    """The installed paho-mqtt lacks internals ``BufferedClient`` relies on."""


@functools.cache
def check() -> str:
    """The paho version, or PahoIncompatible in one line naming it and what is missing."""
    gone = missing()
    if gone:
        raise PahoIncompatible(
            f"paho-mqtt {paho_version()} lacks internals the bridge relies on ({', '.join(gone)}; "
            f"see bridge/paho_private.py); the bridge was tested with paho-mqtt "
            f"{' and '.join(TESTED)}: pip install 'paho-mqtt=={TESTED[-1]}'")
    return paho_version()


def message_topic(m: paho.MQTTMessage) -> bytes:
    """A received message's topic as bytes, undecoded (``MQTTMessage.topic`` raises on
    invalid UTF-8)."""
    return m._topic


_PUBACK_SUCCESS = ReasonCode(PacketTypes.PUBACK)  # shared by every successful PUBACK; read-only
# MQTT 5 §3.4.2.1: 0x10 "No matching subscribers" is a success too (a retained value nobody
# subscribed to yet); its PUBACK carries the reason code and maybe an empty property length
_PUBACK_NO_SUBSCRIBERS = ReasonCode(PacketTypes.PUBACK, identifier=0x10)
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)
_SHARED_CONDITION = threading.Condition()  # nobody waits on a batch-published message's info


class _BatchInfo(paho.MQTTMessageInfo):
    """paho's per-message info without its own ``threading.Condition`` (a lock and a deque
    each): the drain never calls ``wait_for_publish``."""

    __slots__ = ()

    def __init__(self, mid: int) -> None:
        self.mid = mid
        self._published = False
        self._condition = _SHARED_CONDITION
        self.rc = paho.MQTT_ERR_SUCCESS
        self._iterpos = 0

    def _set_as_published(self) -> None:
        self._published = True  # no waiter to notify (paho takes the Condition for each)


def _fresh_in_packet() -> _InPacket:
    """paho's empty input state (``Client._packet_read`` resets to exactly this)."""
    return {"command": 0, "have_remaining": 0, "remaining_count": [], "remaining_mult": 1,
            "remaining_length": 0, "packet": bytearray(b""), "to_process": 0, "pos": 0}


def _varlen(n: int) -> bytes:
    """MQTT Remaining Length (MQTT 5 §1.5.5; 3.1.1 §2.2.3)."""
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


class BufferedClient(paho.Client):
    """paho reads a packet with several ``recv`` calls (1 byte for the type, 1 per length
    byte, then the body) and one packet per ``select`` round; every call releases the GIL,
    which the busy worker then holds for a whole switch interval. This client reads 64 KiB
    at a time, parses every buffered packet before the next ``select``, and wakes the
    network thread once per write round instead of once per queued packet: together about
    twice the throughput (docs/bridge.md §9). The paho internals it uses are listed at the
    top of this module and checked by ``check``; tests/bridge/test_mqtt.py checks each short
    path against paho's own.
    """

    _RECV_SIZE = 65536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # set before paho's __init__, whose failure still runs __del__ -> _sock_close
        self._rbuf = b""
        self._rpos = 0
        # re-entrant: without a network thread paho's _packet_queue calls loop_write inline
        self._wake_lock = threading.RLock()
        self._wake_pending = False
        # the short PUBLISH path hands (topic bytes, payload, qos, mid, retain) here when set,
        # without building a paho MQTTMessage (and its Condition) first
        self.on_raw_message: Callable[..., None] | None = None
        # payloads above this many bytes are not copied: on_raw_message gets their first
        # ``oversize_keep`` bytes and, as a sixth argument, their size (0: no limit)
        self.payload_limit = 0
        self.oversize_keep = 4096
        super().__init__(*args, **kwargs)
        self._receive_time = next((a for a in RECEIVE_TIME if hasattr(self, a)), RECEIVE_TIME[0])

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(self._RECV_SIZE)  # BlockingIOError when nothing is there
            if not data:
                return data  # connection closed
            self._rbuf, self._rpos = data, 0
        out = self._rbuf[self._rpos:self._rpos + bufsize]
        self._rpos += len(out)
        return out

    def _packet_read(self) -> paho.MQTTErrorCode:
        """A packet that is wholly in the read buffer is cut out here (fixed header, MQTT 5
        §2.1.1 and §1.5.5) and handled; anything else goes through paho's byte-wise state
        machine, which reads the rest of a partial packet."""
        buf, pos = self._rbuf, self._rpos
        n = len(buf)
        if self._in_packet["command"] or n - pos < 2:
            return super()._packet_read()
        length = 0
        i = pos + 1
        for shift in (0, 7, 14, 21):
            if i >= n:
                return super()._packet_read()  # the length continues in the next read
            b = buf[i]
            i += 1
            length |= (b & 0x7F) << shift
            if not b & 0x80:
                break
        else:
            return super()._packet_read()  # a fifth length byte: paho reports the error
        end = i + length
        if end > n:
            return super()._packet_read()
        self._rpos = end
        self._in_packet = {"command": buf[pos], "have_remaining": 1, "remaining_count": [],
                           "remaining_mult": 1, "remaining_length": length,
                           "packet": bytearray(buf[i:end]), "to_process": 0, "pos": 0}
        try:
            rc = self._packet_handle()
        except MalformedPacket:
            rc = paho.MQTT_ERR_PROTOCOL
        self._in_packet = _fresh_in_packet()
        with self._msgtime_mutex:
            setattr(self, self._receive_time, paho.time_func())
        return rc

    def _sock_close(self) -> None:
        self._rbuf, self._rpos = b"", 0
        with self._wake_lock:
            self._wake_pending = False
        super()._sock_close()

    # paho wakes its network thread with one socketpair write per queued packet (another
    # GIL hand-over each); one pending wake-up is enough until the thread writes again.
    def _packet_queue(self, *args: Any, **kwargs: Any) -> paho.MQTTErrorCode:
        with self._wake_lock:
            if not self._wake_pending:
                self._wake_pending = True
                return super()._packet_queue(*args, **kwargs)
            wake, self._sockpairW = self._sockpairW, None
            try:
                return super()._packet_queue(*args, **kwargs)
            finally:
                self._sockpairW = wake

    def loop_write(self) -> paho.MQTTErrorCode:
        with self._wake_lock:
            self._wake_pending = False  # packets queued from now on wake the thread again
        return super().loop_write()

    # paho decodes every PUBLISH and PUBACK into ReasonCode and Properties objects, builds a
    # topic matcher walk per message, and for MQTT 5 parses an empty property list: a third
    # of the network thread's time at a few thousand messages/s. The common packets take a
    # short path decoded here from the spec; anything else goes to paho unchanged.
    def _handle_publish(self) -> paho.MQTTErrorCode:
        """QoS 0/1 PUBLISH without MQTT 5 properties (MQTT 5 §3.3.2; 3.1.1 §3.3.2)."""
        header = self._in_packet["command"]
        packet = self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        if qos > 1 or len(packet) < 2 or self.on_message is None:  # (message_callback_add unused)
            return super()._handle_publish()
        pos = 2 + ((packet[0] << 8) | packet[1])
        topic = bytes(packet[2:pos])
        mid = 0
        if qos:
            if len(packet) < pos + 2:
                return super()._handle_publish()
            mid = (packet[pos] << 8) | packet[pos + 1]
            pos += 2
        if self._protocol == paho.MQTTv5:
            if len(packet) <= pos or packet[pos] != 0:
                return super()._handle_publish()  # properties (topic alias, user properties...)
            pos += 1
        elif not topic or len(packet) < pos:
            return super()._handle_publish()  # malformed: paho raises the protocol error
        if self.on_raw_message is not None:
            size = len(packet) - pos
            if self.payload_limit and size > self.payload_limit:  # the head only, no copy
                with self._in_callback_mutex:
                    self.on_raw_message(topic, bytes(memoryview(packet)[pos:pos + self.oversize_keep]),
                                        qos, mid, bool(header & 0x01), size)
            else:
                with self._in_callback_mutex:
                    self.on_raw_message(topic, bytes(packet[pos:]), qos, mid, bool(header & 0x01))
            if qos == 1 and not self._manual_ack:
                return self._send_puback(mid)
            return paho.MQTT_ERR_SUCCESS
        msg = paho.MQTTMessage(mid=mid, topic=topic)
        msg.dup = bool(header & 0x08)
        msg.qos = qos
        msg.retain = bool(header & 0x01)
        msg.payload = bytes(packet[pos:])
        with self._in_callback_mutex:
            self.on_message(self, self._userdata, msg)
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return paho.MQTT_ERR_SUCCESS

    def _handle_pubackcomp(self, cmd: Any) -> paho.MQTTErrorCode:
        """A PUBACK of 2 bytes (success without properties, MQTT 5 §3.4.2.1; 3.1.1 §3.4), or
        MQTT 5's "no matching subscribers" without properties."""
        packet = self._in_packet["packet"]
        if cmd != "PUBACK" or not 2 <= len(packet) <= 4:
            return super()._handle_pubackcomp(cmd)
        if len(packet) == 2:
            rc = _PUBACK_SUCCESS
        elif (packet[2] == 0x10 and self._protocol == paho.MQTTv5
              and (len(packet) == 3 or packet[3] == 0)):
            rc = _PUBACK_NO_SUBSCRIBERS
        else:
            return super()._handle_pubackcomp(cmd)  # failures and properties: paho decodes
        mid = (packet[0] << 8) | packet[1]
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, rc, _NO_PROPERTIES)
        return paho.MQTT_ERR_SUCCESS

    def publish_batch(self, messages: list[tuple[str, bytes, bool]]) -> list[int]:
        """QoS 1 PUBLISHes without properties, queued as one write: what ``publish`` does for
        each (an entry in ``_out_messages``, so paho resends it after a reconnect and our
        PUBACK path finds it), minus a Condition, a topic check and a packet queue entry per
        message. Returns the packet identifiers; ValueError for a topic with a wildcard."""
        if self._max_inflight_messages or self._max_queued_messages:
            raise ValueError("publish_batch needs unlimited in-flight and queued messages")
        topics = [t.encode() for t, _, _ in messages]
        for t in topics:  # all checked before any is taken
            if not t or b"+" in t or b"#" in t or len(t) > 65535:
                raise ValueError(f"cannot publish to topic {t!r}")
        v5 = self._protocol == paho.MQTTv5
        now = paho.time_func()
        packets: list[bytes] = []
        with self._out_message_mutex:
            sock = self._sock
            with self._mid_generate_mutex:
                first = self._last_mid
                # the identifiers _mid_generate would give: 1..65535, never 0
                mids = [(first + k) % 65535 + 1 for k in range(len(messages))]
                if any(mid in self._out_messages for mid in mids):
                    raise ValueError("a packet identifier is still in use: too many messages "
                                     "await a PUBACK")
                if mids:
                    self._last_mid = mids[-1]
            for mid, t, (_, payload, retain) in zip(mids, topics, messages, strict=True):
                m = paho.MQTTMessage.__new__(paho.MQTTMessage)  # slots set below: __init__
                # would build an MQTTMessageInfo with a Condition of its own
                m.mid = mid
                m._topic = t
                m.info = _BatchInfo(mid)
                m.timestamp = now
                m.payload = payload
                m.qos = 1
                m.retain = retain
                m.dup = False
                m.properties = None
                self._out_messages[mid] = m
                if sock is None:
                    m.state = paho.mqtt_ms_publish  # sent by paho after the CONNACK
                    continue
                m.state = paho.mqtt_ms_wait_for_puback
                self._inflight_messages += 1
                # fixed header, topic, packet identifier, [empty properties], payload (§3.3)
                n = 2 + len(t) + 2 + v5 + len(payload)
                packets.append(b"%c%s%c%c%s%c%c%s%s" % (
                    0x32 | retain, _varlen(n), len(t) >> 8, len(t) & 0xFF, t, mid >> 8,
                    mid & 0xFF, b"\x00" if v5 else b"", payload))
            if packets:
                # one queue entry: paho writes it out and, for QoS 1, calls nothing when done
                self._packet_queue(paho.PUBLISH, b"".join(packets), 0, 1)
        return mids

    def ack_batch(self, acks: list[tuple[int, int]]) -> None:
        """Manual acknowledgements ``(mid, qos)`` as ``ack`` sends them, the PUBACKs of QoS 1
        messages in one queued write (MQTT 5 §3.4: 2 bytes without reason code or
        properties is success; 3.1.1 §3.4 the same bytes)."""
        if not self._manual_ack:
            return
        pubacks = []
        for mid, qos in acks:
            if qos == 1:
                pubacks.append(b"\x40\x02%c%c" % (mid >> 8, mid & 0xFF))
            elif qos == 2:
                self._send_pubcomp(mid)
        if pubacks:
            self._packet_queue(paho.PUBACK, b"".join(pubacks), 0, 1)

    def network_thread_alive(self) -> bool:
        """False once paho's network thread (``loop_start``) has ended while the client was not
        stopped: a bug inside paho then leaves a connection that looks up but reads nothing."""
        t = self._thread  # paho sets it to None when the thread ends, however it ends
        return t is not None and t.is_alive()

    def forget(self, mids: list[int]) -> None:
        """Drop QoS 1 messages awaiting a PUBACK (``_out_messages``, ``_inflight_messages``)
        so that a reconnect does not resend them: the caller sends them again or parks them."""
        with self._out_message_mutex:
            for mid in mids:
                m = self._out_messages.pop(mid, None)
                if m is not None and m.state == paho.mqtt_ms_wait_for_puback:
                    self._inflight_messages -= 1

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == paho.MQTT_ERR_SUCCESS and self._rpos < len(self._rbuf):
            rc = super().loop_read(1)  # packets already buffered: select would not see them
        return rc
