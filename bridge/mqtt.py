"""The one module that touches paho (style.md §4/§10), through its public API; the client
subclass that needs paho's private names lives in bridge/paho_private.py. Callbacks only
enqueue.

Input sessions survive restarts: MQTT 5 ``clean_start=False`` with a SessionExpiryInterval,
MQTT 3.1.1 ``clean_session=False`` (docs/references.md §L0.4). Input is acknowledged by hand
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
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from . import paho_private
from .config import Connection
from .errors import BridgeError
from .logs import event
from .model import InMessage

RECONNECT_MIN_S = 1


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
        self._running = False  # between start() and stop(): paho's network thread must live
        self.max_packet_bytes = max_packet_bytes  # MQTT 5: asked for in CONNECT (0: no limit)
        self.server_max_packet: int | None = None  # MQTT 5: the broker's, from its CONNACK
        self.refused: dict[int, str] = {}  # mid -> reason code of a failed PUBACK (read once)
        v5 = settings.protocol == "5"
        self.persistent = persistent
        paho_private.check()  # once per process: PahoIncompatible names the version
        self.client = paho_private.BufferedClient(
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
        self.client.on_publish = self._puback

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
        self._running = True

    def stop(self, timeout_s: float = 5.0) -> None:
        """Disconnect after the queued packets (acks) went out."""
        deadline = time.monotonic() + timeout_s
        while self.client.want_write() and time.monotonic() < deadline:
            time.sleep(0.01)  # paho offers no event for "output drained"
        self._running = False  # disconnect() ends paho's network thread: not a death
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

    def network_alive(self) -> bool:
        """paho's network thread still runs (or was never started, or was stopped by us)."""
        return not self._running or self.client.network_thread_alive()

    def forget(self, mids: list[int]) -> None:
        """Messages not to resend after a reconnect (see ``BufferedClient.forget``)."""
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
        topic = paho_private.message_topic(m)
        limit = self.client.payload_limit
        if limit and len(m.payload) > limit:
            self._raw_message(topic, bytes(m.payload[:self.client.oversize_keep]), m.qos, m.mid,
                              bool(m.retain), len(m.payload))
        else:
            self._raw_message(topic, bytes(m.payload), m.qos, m.mid, bool(m.retain))

    def _raw_message(self, topic: bytes, payload: bytes, qos: int, mid: int, retain: bool,
                     size: int | None = None) -> None:
        try:
            text = topic.decode()
        except UnicodeDecodeError:
            text = "<invalid utf-8: %s>" % topic.hex()
        self._on_message(InMessage(self.name, text, payload, qos, mid, self.generation, retain,
                                   size))

    def _puback(self, _c: paho.Client, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self.refused[mid] = str(rc)
        if self._on_puback:
            self._on_puback(self.name, mid, not rc.is_failure)
