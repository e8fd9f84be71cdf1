"""One MQTT subscriber that feeds the demo state: LNS events (ChirpStack v4 JSON, read by
bridge/chirpstack.py) and the bridge's city topics (``{prefix}/{device}/senml``,
``{prefix}/_deadletter``)."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import payload_codec
from bridge import chirpstack
from bridge.errors import InputError
from bridge.model import DeviceEvent, Event, Uplink

from ..errors import ToolError
from .state import DemoState

READY_TIMEOUT_S = 10.0


class Watcher:
    def __init__(self, host: str, port: int, state: DemoState) -> None:
        self.state = state
        self.host, self.port = host, port
        self._ready = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="trosmart-demo-view-" + uuid.uuid4().hex[:6],
                                   protocol=mqtt.MQTTv5)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def start(self) -> Watcher:
        try:
            self._client.connect(self.host, self.port, keepalive=30)
        except OSError as e:
            raise ToolError(f"demo: cannot reach the broker {self.host}:{self.port}: {e}") from None
        self._client.loop_start()
        if not self._ready.wait(READY_TIMEOUT_S):
            self.stop()
            raise ToolError(f"demo: no subscription on {self.host}:{self.port} within {READY_TIMEOUT_S:.0f} s")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        p = self.state.prefix
        client.subscribe([(chirpstack.event_topic("+", "+", "up"), 1), (chirpstack.event_topic("+", "+", "join"), 1),
                          (f"{p}/+/senml", 1), (f"{p}/_deadletter", 1)])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any) -> None:
        if all(not rc.is_failure for rc in rcs):
            self._ready.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.startswith("application/"):
            try:
                ev = chirpstack.parse(msg.topic, bytes(msg.payload), len(msg.payload))
            except InputError:
                return
            with self.state.lock:
                self._lns(ev)
            return
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        parts = msg.topic.split("/")
        with self.state.lock:
            if msg.topic == f"{self.state.prefix}/_deadletter":
                self.state.on_deadletter(str(body.get("reason", "?")) if isinstance(body, dict) else "?")
            elif parts[-1] == "senml" and isinstance(body, list):
                self.state.on_senml(parts[-2], body)

    def _lns(self, ev: Event) -> None:
        if isinstance(ev, DeviceEvent) and ev.kind == "join" and ev.dev_eui:
            self.state.on_join(ev.dev_eui)
        if not isinstance(ev, Uplink):
            return
        f_port = ev.f_port or 0
        try:
            decoded = payload_codec.decode_uplink(f_port, ev.data)
        except (ValueError, TypeError) as e:  # CodecError is a ValueError
            decoded = {"kind": f"undecodable: {e}"}
        self.state.on_uplink(ev.dev_eui, f_port, ev.f_cnt, decoded)
