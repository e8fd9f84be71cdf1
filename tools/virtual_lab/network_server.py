"""A simulated LoRaWAN network server speaking ChirpStack v4's MQTT integration
(docs/references.md §L); the messages are built and read by bridge/chirpstack.py, the one
home of that format.

Emulated modems hand it joins and uplinks; it publishes ``event/join``, ``event/up``,
``event/txack``, ``event/ack`` and ``event/log`` as ChirpStack v4 JSON on a real broker, and
queues the downlinks published to ``application/{app}/device/{devEui}/command/down``.

Differences from ChirpStack (it is a stand-in at the physical edge): one fixed gateway, no
MIC/encryption (payloads arrive in plaintext from the emulator), no ADR, device profile and
tenant are fixed strings, ``object`` (codec output) is never present, a device is known once
it joins or sends, and at most ``QUEUE_MAX`` downlinks wait per device (more are refused
with an ``event/log`` of code ``DOWNLINK_QUEUE_FULL``, a code ChirpStack does not have).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bridge import chirpstack, fields
from bridge.errors import InputError
from payload_codec.airtime import EU868

from ..errors import ToolError

log = logging.getLogger(__name__)

DEFAULT_APPLICATION_ID = "5b5a4d3c-2b1a-4f0e-9d8c-7b6a5f4e3d2c"
TENANT_ID = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"
DEVICE_PROFILE_ID = "e1a5e3b8-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
GATEWAY_ID = "0016c001ff10a235"
QUEUE_MAX = 32
CONNECT_TIMEOUT_S = 10.0


class NetworkServerError(ToolError):
    """The simulated network server cannot reach its broker."""


def rfc3339_now() -> str:
    return fields.rfc3339(time.time_ns())


@dataclass
class QueuedDownlink:
    id: str
    fport: int
    data: bytes
    confirmed: bool


@dataclass
class Device:
    deveui: str
    dev_addr: str = ""
    fcnt_down: int = 0
    queue: deque[QueuedDownlink] = field(default_factory=deque)
    awaiting_ack: QueuedDownlink | None = None


class SimNetworkServer:
    """ChirpStack-v4-shaped MQTT events for emulated devices (paho-mqtt 2.x, VERSION2 callbacks)."""

    def __init__(
        self,
        host: str,
        port: int,
        application_id: str = DEFAULT_APPLICATION_ID,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: dict[str, Any] | bool | None = None,
        qos: int = 0,
        application_name: str = "trosmart-virtual-lab",
    ) -> None:
        self.host = host
        self.port = port
        self.application_id = application_id
        self.application_name = application_name
        self.qos = qos
        self.devices: dict[str, Device] = {}
        self.rejected = 0  # command/down messages refused
        self.published = 0
        self._lock = threading.Lock()
        self._ready = threading.Event()  # set on SUBACK or on a refused CONNECT
        self._refused: str | None = None
        self._uplink_id = 0
        self._downlink_id = 0
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id="trosmart-sim-ns-" + uuid.uuid4().hex[:8],
            protocol=mqtt.MQTTv5,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if tls:
            self._client.tls_set(**(tls if isinstance(tls, dict) else {}))
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    # ---- topics ------------------------------------------------------------------------
    def event_topic(self, deveui: str, event: str) -> str:
        return chirpstack.event_topic(self.application_id, deveui.lower(), event)

    @property
    def command_topic(self) -> str:
        return chirpstack.command_topic(self.application_id, "+")

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        try:
            self._client.connect(self.host, self.port, keepalive=30)
        except OSError as e:
            raise NetworkServerError(f"network server: cannot connect to {self.host}:{self.port}: {e}") from None
        self._client.loop_start()
        if not self._ready.wait(CONNECT_TIMEOUT_S) or self._refused:
            self.stop()
            why = self._refused or f"no subscription within {CONNECT_TIMEOUT_S:.0f} s"
            raise NetworkServerError(f"network server: {self.host}:{self.port}: {why}")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> SimNetworkServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            self._refused = f"broker refused the connection: {rc}"
            self._ready.set()
            return
        client.subscribe(self.command_topic, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any) -> None:
        if all(not rc.is_failure for rc in rcs):
            self._ready.set()

    # ---- events ------------------------------------------------------------------------
    def _device(self, deveui: str) -> Device:
        deveui = deveui.lower()
        dev = self.devices.get(deveui)
        if dev is None:
            dev = self.devices[deveui] = Device(deveui)
        return dev

    def _device_info(self, deveui: str) -> dict[str, Any]:
        return chirpstack.device_info(
            self.application_id, deveui, device_name="node-" + deveui,
            application_name=self.application_name, tenant_id=TENANT_ID, tenant_name="TroSmart",
            device_profile_id=DEVICE_PROFILE_ID, device_profile_name="RAK3172 EU868 Class A")

    def _publish(self, deveui: str, event: str, body: dict[str, Any]) -> None:
        info = self._client.publish(self.event_topic(deveui, event), json.dumps(body), qos=self.qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("network server: publish %s for %s failed: rc=%s", event, deveui, info.rc)
        self.published += 1

    def join(self, deveui: str) -> bool:
        """Accept a Join-Request (a real NS checks the MIC; this one accepts every device)."""
        with self._lock:
            dev = self._device(deveui)
            dev.dev_addr = "%08x" % (0x260B0000 + (uuid.uuid4().int & 0xFFFF))
            dev.fcnt_down = 0
            dev.awaiting_ack = None
            body = chirpstack.join_event(deduplication_id=str(uuid.uuid4()), time=rfc3339_now(),
                                         device_info=self._device_info(dev.deveui),
                                         dev_addr=dev.dev_addr)
        self._publish(dev.deveui, "join", body)
        return True

    def uplink(
        self,
        deveui: str,
        fport: int,
        payload: bytes,
        fcnt: int,
        confirmed: bool,
        dr: int,
        *,
        frequency: int = 868100000,
        rssi: int = -57,
        snr: float = 10.5,
        adr: bool = False,
    ) -> tuple[int, bytes] | None:
        """Publish ``event/up``; returns the next queued downlink (fport, data) or None."""
        sf, bw, _ = EU868[min(dr, 6)]
        now = rfc3339_now()
        with self._lock:
            dev = self._device(deveui)
            self._uplink_id = (self._uplink_id + 1) & 0xFFFFFFFF
            modulation = chirpstack.lora_modulation(bw * 1000, sf)
            dedup, info = str(uuid.uuid4()), self._device_info(dev.deveui)
            up = chirpstack.up_event(
                deduplication_id=dedup, time=now, device_info=info,
                dev_addr=dev.dev_addr, adr=adr, dr=dr, f_cnt=fcnt, f_port=fport, confirmed=confirmed,
                data=payload,
                rx_info=[chirpstack.rx_info(
                    GATEWAY_ID, self._uplink_id, rssi, snr, channel=0, gw_time=now, ns_time=now,
                    context=self._uplink_id.to_bytes(4, "big"),
                    metadata={"region_config_id": "eu868", "region_common_name": "EU868"})],
                tx_info=chirpstack.tx_info(frequency, modulation))
            acked = dev.awaiting_ack  # the ACK bit of this uplink confirms the last downlink
            dev.awaiting_ack = None
            down = dev.queue.popleft() if dev.queue else None
            if down is not None:
                dev.fcnt_down += 1
                self._downlink_id = (self._downlink_id + 1) & 0xFFFFFFFF
                if down.confirmed:
                    dev.awaiting_ack = down
            fcnt_down = dev.fcnt_down
        self._publish(dev.deveui, "up", up)
        if acked is not None:
            self._publish(dev.deveui, "ack", chirpstack.ack_event(
                deduplication_id=dedup, time=now, device_info=info,
                queue_item_id=acked.id, acknowledged=True,
                f_cnt_down=fcnt_down - (1 if down is not None else 0)))
        if down is None:
            return None
        self._publish(dev.deveui, "txack", chirpstack.txack_event(
            downlink_id=self._downlink_id, time=rfc3339_now(), device_info=info,
            queue_item_id=down.id, f_cnt_down=fcnt_down, gateway_id=GATEWAY_ID,
            tx_info=chirpstack.tx_info(frequency, modulation, power=14)))
        return down.fport, down.data

    # ---- downlink commands (docs/references.md §L DownlinkCommand) --------------------------------
    def _refuse(self, deveui: str, code: str, description: str) -> None:
        self.rejected += 1
        log.warning("network server: downlink for %s refused: %s", deveui, description)
        if deveui:
            self._publish(deveui, "log", chirpstack.log_event(
                time=rfc3339_now(), device_info=self._device_info(deveui), level="ERROR", code=code,
                description=description))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        topic_eui = parts[3].lower() if len(parts) == 6 else ""
        try:
            cmd = json.loads(msg.payload)
            if not isinstance(cmd, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            self._refuse(topic_eui, "DOWNLINK_PAYLOAD", f"invalid JSON: {e}")
            return
        try:
            item = self._parse_command(cmd, topic_eui)
        except ValueError as e:
            self._refuse(topic_eui, "DOWNLINK_PAYLOAD", str(e))
            return
        with self._lock:
            dev = self._device(topic_eui)
            full = len(dev.queue) >= QUEUE_MAX
            if not full:
                dev.queue.append(item)
        if full:
            self._refuse(topic_eui, "DOWNLINK_QUEUE_FULL", f"{QUEUE_MAX} downlinks already queued")

    @staticmethod
    def _parse_command(cmd: dict[str, Any], topic_eui: str) -> QueuedDownlink:
        try:
            d = chirpstack.parse_downlink(cmd, topic_eui)
        except InputError as e:
            raise ValueError(e.detail) from None
        if len(d.data) > EU868[0][2]:
            raise ValueError(f"{len(d.data)} bytes exceed the 51-byte limit of every EU868 data rate")
        return QueuedDownlink(d.id or str(uuid.uuid4()), d.f_port, d.data, d.confirmed)

    def queued(self, deveui: str) -> int:
        with self._lock:
            dev = self.devices.get(deveui.lower())
            return len(dev.queue) if dev else 0
