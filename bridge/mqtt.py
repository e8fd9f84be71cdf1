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
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .config import Connection
from .errors import BridgeError
from .logs import event

RECONNECT_MIN_S = 1


@dataclass(frozen=True)
class InMessage:
    conn: str
    topic: str
    payload: bytes
    qos: int
    mid: int
    generation: int
    retain: bool = False


class _BufferedClient(paho.Client):
    """paho reads a packet with several ``recv`` calls (1 byte for the type, 1 per length
    byte, then the body) and one packet per ``select`` round; every call releases the GIL,
    which the busy worker then holds for a whole switch interval. This client reads 64 KiB
    at a time, parses every buffered packet before the next ``select``, and wakes the
    network thread once per write round instead of once per queued packet: together about
    twice the throughput (docs/bridge.md §9). Relies on paho 2.x internals ``_sock_recv``,
    ``_sock_close``, ``_packet_queue``, ``_sockpairW``, ``loop_read`` and ``loop_write``
    (pinned: paho-mqtt < 3).
    """

    _RECV_SIZE = 65536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._wake_lock = threading.Lock()
        self._wake_pending = False

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(self._RECV_SIZE)  # BlockingIOError when nothing is there
            if not data:
                return data  # connection closed
            self._rbuf, self._rpos = data, 0
        out = self._rbuf[self._rpos:self._rpos + bufsize]
        self._rpos += len(out)
        return out

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
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.subscriptions = subscriptions
        self._on_message = on_message
        self._on_puback = on_puback
        self._on_state = on_state
        self.generation = 0
        self.connected = threading.Event()
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
        self.client.on_message = self._message
        self.client.on_publish = self._published

    # --- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        s = self.settings
        kwargs: dict[str, Any] = {}
        if s.protocol == "5":
            kwargs["clean_start"] = not self.persistent
            if self.persistent:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = s.session_expiry_s
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

    def ack(self, msg: InMessage) -> None:
        if msg.qos > 0 and msg.generation == self.generation:
            self.client.ack(msg.mid, msg.qos)

    # --- paho callbacks: enqueue only ---------------------------------------------------
    def _connected(self, client: paho.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            event(logging.WARNING, "connect refused", connection=self.name, reason=str(rc))
            return
        self.generation += 1
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
        try:
            topic = m.topic
        except UnicodeDecodeError:
            topic = "<invalid utf-8: %s>" % m._topic.hex()
        self._on_message(InMessage(self.name, topic, bytes(m.payload), m.qos, m.mid,
                                   self.generation, bool(m.retain)))

    def _published(self, _c: paho.Client, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        if self._on_puback:
            self._on_puback(self.name, mid, not rc.is_failure)
