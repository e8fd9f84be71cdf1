"""Where the suite watches the network: an LNS MQTT integration (ChirpStack v4 or The Things Stack v3).

``--uplinks mqtt[s]://host:port[/chirpstack|/tts]`` names the broker; the path picks the LNS
dialect (ChirpStack by default). Credentials come from TROSMART_MQTT_USERNAME and
TROSMART_MQTT_PASSWORD, never from the command line. Every uplink is decoded with
``payload_codec.decode_uplink`` and stamped with the target's virtual clock at the event's own
LNS timestamp, so timing assertions read the same on a real board (time scale 1) and the
virtual one.
Downlinks go back through the same integration: ChirpStack ``command/down``, The Things
Stack ``down/push``. Both formats are read and built by the bridge's modules
(bridge/chirpstack.py, bridge/tts.py), their one home.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import payload_codec
from bridge import chirpstack, tts
from bridge.errors import InputError
from bridge.model import DeviceEvent, Uplink

CONNECT_TIMEOUT_S = 15.0
DIALECTS = ("chirpstack", "tts")
MAX_EVENT_BYTES = 1 << 20  # the suite watches; the bridge enforces its own limit


class UplinkUrlError(ValueError):
    """A --uplinks value that cannot be used."""


@dataclass(frozen=True)
class UplinkSource:
    host: str
    port: int
    tls: bool
    dialect: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_url(url: str, env: dict[str, str] | None = None) -> UplinkSource:
    env = dict(os.environ) if env is None else env
    u = urlsplit(url)
    if u.scheme not in ("mqtt", "mqtts"):
        raise UplinkUrlError(f"--uplinks {url!r}: scheme must be mqtt:// or mqtts://")
    if not u.hostname:
        raise UplinkUrlError(f"--uplinks {url!r}: no host")
    if u.username or u.password:
        raise UplinkUrlError("--uplinks: put credentials in TROSMART_MQTT_USERNAME/PASSWORD, not in the URL")
    dialect = u.path.strip("/") or "chirpstack"
    if dialect not in DIALECTS:
        raise UplinkUrlError(f"--uplinks {url!r}: path must be /chirpstack or /tts, not /{dialect}")
    tls = u.scheme == "mqtts"
    return UplinkSource(u.hostname, u.port or (8883 if tls else 1883), tls, dialect,
                        env.get("TROSMART_MQTT_USERNAME") or None, env.get("TROSMART_MQTT_PASSWORD") or None)


@dataclass
class Event:
    """One network event, LNS-independent."""

    kind: str  # "up" | "join"
    deveui: str
    vt: float  # the node's virtual clock (s) at the event's LNS timestamp
    fport: int = 0
    fcnt: int | None = None
    frame: bytes = b""
    dr: int | None = None
    decoded: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.decoded.get("status", {}))

    @property
    def values(self) -> dict[str, Any]:
        """The first sample's values of a measurement uplink."""
        return dict(self.decoded["samples"][0]["values"])


def _parse(dialect: str, topic: str, payload: bytes) -> tuple[str, str, dict[str, Any]] | None:
    """(kind, DevEUI, Event fields) of an ``up`` or ``join``; None for other events."""
    ev = (tts if dialect == "tts" else chirpstack).parse(topic, payload, MAX_EVENT_BYTES)
    if isinstance(ev, Uplink):
        dr = ev.dr
        if dr is None and ev.spreading_factor is not None:
            dr = 12 - ev.spreading_factor  # TTS reports the spreading factor (EU868 DR0..5)
        return "up", ev.dev_eui, {"fport": ev.f_port or 0, "fcnt": ev.f_cnt, "dr": dr,
                                  "frame": ev.data, "vt": ev.received_at}
    if isinstance(ev, DeviceEvent) and ev.kind == "join" and ev.dev_eui:
        return "join", ev.dev_eui, {"vt": ev.received_at}
    return None


class UplinkObserver:
    """Subscribes to the integration; collects events of one DevEUI; sends downlinks."""

    def __init__(self, source: UplinkSource, clock: Callable[[float], float] = lambda wall: wall) -> None:
        self.source = source
        self.clock = clock
        self.deveui = ""
        self.events: list[Event] = []
        self.errors: list[str] = []
        self._down_topic: dict[str, str] = {}
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="trosmart-hil-" + uuid.uuid4().hex[:8],
                                   protocol=mqtt.MQTTv311)
        if source.username:
            self._client.username_pw_set(source.username, source.password)
        if source.tls:
            self._client.tls_set()
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    @property
    def filters(self) -> list[str]:
        if self.source.dialect == "tts":
            return [tts.topic("+", "+", "up"), tts.topic("+", "+", "join")]
        return [chirpstack.event_topic("+", "+", "up"), chirpstack.event_topic("+", "+", "join")]

    def start(self) -> UplinkObserver:
        try:
            self._client.connect(self.source.host, self.source.port, keepalive=30)
        except OSError as e:
            raise ConnectionError(f"uplinks: cannot reach {self.source.host}:{self.source.port}: {e}") from None
        self._client.loop_start()
        if not self._ready.wait(CONNECT_TIMEOUT_S):
            self.stop()
            raise ConnectionError(f"uplinks: no subscription on {self.source.host}:{self.source.port} "
                                  f"within {CONNECT_TIMEOUT_S:.0f} s (credentials?)")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def watch(self, deveui: str) -> None:
        """Collect only this device's events from now on (one node per test)."""
        with self._cond:
            self.deveui = deveui.lower()
            self.events = []
            self.errors = []

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            return
        client.subscribe([(f, 1) for f in self.filters])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any) -> None:
        if all(not rc.is_failure for rc in rcs):
            self._ready.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            parsed = _parse(self.source.dialect, msg.topic, msg.payload)
            if parsed is None:
                return
            kind, eui, f = parsed
            if eui != self.deveui:
                return
            f["vt"] = self.clock(f["vt"])
            ev = Event(kind, eui, raw=json.loads(msg.payload), **f)
        except InputError as e:  # an LNS message of an unexpected shape
            with self._cond:
                self.errors.append(f"{msg.topic}: {e}")
            return
        if kind == "up":
            try:
                ev.decoded = payload_codec.decode_uplink(ev.fport, ev.frame)
            except (ValueError, TypeError) as e:  # CodecError: the firmware sent what the codec refuses
                self.errors.append(f"fPort {ev.fport} frame {ev.frame.hex()}: {e}")
                ev.decoded = {"kind": "undecodable", "error": str(e)}
        with self._cond:
            self._down_topic[eui] = self._downlink_topic(msg.topic)
            self.events.append(ev)
            self._cond.notify_all()

    def _downlink_topic(self, topic: str) -> str:
        return (tts if self.source.dialect == "tts" else chirpstack).down_topic(topic)

    # ---- queries -------------------------------------------------------------------------
    def of(self, kind: str = "up", fport: int | None = None) -> list[Event]:
        with self._cond:
            return [e for e in self.events if e.kind == kind and (fport is None or e.fport == fport)]

    def measurements(self) -> list[Event]:
        return self.of("up", payload_codec.MEASUREMENT)

    def statuses(self) -> list[Event]:
        return self.of("up", payload_codec.STATUS)

    def wait(self, pred: Callable[[Event], bool], timeout_s: float, what: str, count: int = 1) -> list[Event]:
        """The first ``count`` events matching ``pred``; AssertionError naming ``what`` at the deadline."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                hits = [e for e in self.events if pred(e)]
                if len(hits) >= count:
                    return hits[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = ", ".join(f"{e.kind}:{e.fport}" for e in self.events[-12:])
                    raise AssertionError(f"{len(hits)} of {count} {what} within {timeout_s:.0f} s "
                                         f"(last events: {seen or 'none'}; decode errors: {self.errors})")
                self._cond.wait(left)

    def downlink(self, command: dict[str, Any]) -> None:
        """Queue a command frame (payload_codec.encode_downlink) for the watched device."""
        data = payload_codec.encode_downlink(command)
        with self._cond:
            topic = self._down_topic.get(self.deveui)
        if topic is None:
            raise AssertionError("no uplink seen yet: the downlink topic is learned from the first event")
        if self.source.dialect == "tts":
            body = tts.downlink(data, payload_codec.COMMAND, confirmed=False)
        else:
            body = chirpstack.downlink(self.deveui, data, payload_codec.COMMAND, confirmed=False)
        self._client.publish(topic, json.dumps(body), qos=1).wait_for_publish(CONNECT_TIMEOUT_S)
