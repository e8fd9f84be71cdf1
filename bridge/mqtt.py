"""The one module that touches paho (style.md §4/§10): callbacks only enqueue.

Input sessions survive restarts: MQTT 5 ``clean_start=False`` with a SessionExpiryInterval,
MQTT 3.1.1 ``clean_session=False`` (facts.md §L0.4). Input is acknowledged by hand
(``manual_ack``) after the caller committed its result (§L0.3). paho reconnects with
back-off on its own; ``on_connect`` restores the subscriptions every time. A message
received before a reconnect is not acknowledged afterwards (``generation``): the broker
redelivers it and the dedupe window drops the copy.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
from paho.mqtt.client import MalformedPacket
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .config import Connection
from .errors import BridgeError
from .logs import event
from .model import InMessage

if TYPE_CHECKING:
    from paho.mqtt.client import _InPacket

RECONNECT_MIN_S = 1
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


class _BufferedClient(paho.Client):
    """paho reads a packet with several ``recv`` calls (1 byte for the type, 1 per length
    byte, then the body) and one packet per ``select`` round; every call releases the GIL,
    which the busy worker then holds for a whole switch interval. This client reads 64 KiB
    at a time, parses every buffered packet before the next ``select``, and wakes the
    network thread once per write round instead of once per queued packet: together about
    twice the throughput (docs/bridge.md §9). Relies on paho 2.x internals ``_sock_recv``,
    ``_sock_close``, ``_packet_read``, ``_packet_handle``, ``_packet_queue``, ``_sockpairW``,
    ``loop_read``, ``loop_write``, ``_handle_publish``, ``_handle_pubackcomp``,
    ``_send_pubcomp``, ``_in_packet``, ``_msgtime_mutex``, ``_last_bytes_received``,
    ``_out_messages``, ``_out_message_mutex``, ``_do_on_publish``, ``_last_mid``,
    ``_mid_generate_mutex``, ``_inflight_messages``, ``_manual_ack`` and the slots of
    ``MQTTMessage`` and ``MQTTMessageInfo`` (pinned: paho-mqtt < 3; tests/bridge/test_mqtt.py
    checks each short path against paho's own).
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
            self._last_bytes_received = paho.time_func()
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


class MqttConnection:
    def __init__(
        self,
        settings: Connection,
        *,
        subscriptions: list[tuple[str, int]],
        on_message: Callable[[InMessage], None],
        on_puback: Callable[[str, int, bool], None] | None = None,
        on_state: Callable[[str, bool], None] | None = None,
        persistent: bool = True,
        max_inflight: int = 100,
        max_packet_bytes: int = 0,
        payload_limit: int = 0,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.subscriptions = subscriptions
        self._on_message = on_message
        self._on_puback = on_puback
        self._on_state = on_state
        self.generation = 0
        self.connected = threading.Event()
        self.max_packet_bytes = max_packet_bytes  # MQTT 5: asked for in CONNECT (0: no limit)
        self.server_max_packet: int | None = None  # MQTT 5: the broker's, from its CONNACK
        self.refused: dict[int, str] = {}  # mid -> reason code of a failed PUBACK (read once)
        v5 = settings.protocol == "5"
        self.persistent = persistent
        self.client = _BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else not persistent,
            manual_ack=True,
        )
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            self.client.tls_set(
                ca_certs=settings.ca_file, certfile=settings.cert_file, keyfile=settings.key_file,
                cert_reqs=ssl.CERT_NONE if settings.tls_insecure else ssl.CERT_REQUIRED,
            )
            if settings.tls_insecure:
                self.client.tls_insecure_set(True)
        self.client.reconnect_delay_set(RECONNECT_MIN_S, max(RECONNECT_MIN_S, settings.reconnect_max_s))
        self.client.max_inflight_messages_set(max_inflight)
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        self.client.on_message = self._message  # what paho decodes itself (MQTT 5 properties)
        self.client.on_raw_message = self._raw_message
        self.client.payload_limit = payload_limit
        self.client.on_publish = self._published

    # --- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        s = self.settings
        kwargs: dict[str, Any] = {}
        if s.protocol == "5":
            kwargs["clean_start"] = not self.persistent
            props = Properties(PacketTypes.CONNECT)
            if self.persistent:
                props.SessionExpiryInterval = s.session_expiry_s
            if self.max_packet_bytes:  # the broker discards larger messages for us (§3.1.2.11.4)
                props.MaximumPacketSize = self.max_packet_bytes
            if self.persistent or self.max_packet_bytes:
                kwargs["properties"] = props
        event(logging.INFO, "connecting", connection=self.name, host=s.host, port=s.port,
              protocol=s.protocol, tls=s.tls, user=s.username or None)
        try:
            self.client.connect_async(s.host, s.port, s.keepalive_s, **kwargs)
        except (OSError, ValueError) as e:
            raise BridgeError(f"{self.name}: cannot connect to {s.host}:{s.port}: {e}") from None
        self.client.loop_start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Disconnect after the queued packets (acks) went out."""
        deadline = time.monotonic() + timeout_s
        while self.client.want_write() and time.monotonic() < deadline:
            time.sleep(0.01)  # paho offers no event for "output drained"
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    # --- operations -----------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise BridgeError(f"{self.name}: publish to {topic} failed: {paho.error_string(info.rc)}")
        return int(info.mid)  # NO_CONN: paho keeps a QoS 1 message and sends it on reconnect

    def publish_batch(self, messages: list[tuple[str, bytes, bool]]) -> list[int]:
        """Several QoS 1 messages in one write; their packet identifiers, in order."""
        try:
            return self.client.publish_batch(messages)
        except ValueError as e:
            raise BridgeError(f"{self.name}: {e}") from None

    def forget(self, mids: list[int]) -> None:
        """Messages not to resend after a reconnect (see ``_BufferedClient.forget``)."""
        self.client.forget(mids)

    def ack(self, acks: list[tuple[int, int, int]]) -> None:
        """Acknowledge messages ``(mid, qos, generation)``; one received in an earlier
        connection is not acknowledged: the broker redelivers it instead."""
        gen = self.generation
        self.client.ack_batch([(mid, qos) for mid, qos, g in acks if qos and g == gen])

    # --- paho callbacks: enqueue only ---------------------------------------------------
    def _connected(self, client: paho.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            event(logging.WARNING, "connect refused", connection=self.name, reason=str(rc))
            return
        self.generation += 1
        self.server_max_packet = getattr(_p, "MaximumPacketSize", None)  # MQTT 5 §3.2.2.3.6
        if self.subscriptions:
            client.subscribe(self.subscriptions)
        self.connected.set()
        event(logging.INFO, "connected", connection=self.name,
              session_present=bool(getattr(flags, "session_present", False)),
              subscriptions=[t for t, _ in self.subscriptions])
        if self._on_state:
            self._on_state(self.name, True)

    def _disconnected(self, _c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connected.clear()
        event(logging.WARNING, "disconnected", connection=self.name, reason=str(rc))
        if self._on_state:
            self._on_state(self.name, False)

    def _message(self, _c: paho.Client, _u: Any, m: paho.MQTTMessage) -> None:
        limit = self.client.payload_limit
        if limit and len(m.payload) > limit:
            self._raw_message(m._topic, bytes(m.payload[:self.client.oversize_keep]), m.qos, m.mid,
                              bool(m.retain), len(m.payload))
        else:
            self._raw_message(m._topic, bytes(m.payload), m.qos, m.mid, bool(m.retain))

    def _raw_message(self, topic: bytes, payload: bytes, qos: int, mid: int, retain: bool,
                     size: int | None = None) -> None:
        try:
            text = topic.decode()
        except UnicodeDecodeError:
            text = "<invalid utf-8: %s>" % topic.hex()
        self._on_message(InMessage(self.name, text, payload, qos, mid, self.generation, retain,
                                   size))

    def _published(self, _c: paho.Client, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self.refused[mid] = str(rc)
        if self._on_puback:
            self._on_puback(self.name, mid, not rc.is_failure)
