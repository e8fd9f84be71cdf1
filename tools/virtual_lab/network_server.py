"""A simulated LoRaWAN network server speaking ChirpStack v4's MQTT integration (docs/references.md §L).

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

import base64
import binascii
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
    """UTC time with nanoseconds and '+00:00', as ChirpStack prints it (docs/references.md §L)."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%09d+00:00" % frac


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
        return f"application/{self.application_id}/device/{deveui.lower()}/event/{event}"

    @property
    def command_topic(self) -> str:
        return f"application/{self.application_id}/device/+/command/down"

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
        return {
            "tenantId": TENANT_ID,
            "tenantName": "TroSmart",
            "applicationId": self.application_id,
            "applicationName": self.application_name,
            "deviceProfileId": DEVICE_PROFILE_ID,
            "deviceProfileName": "RAK3172 EU868 Class A",
            "deviceName": "node-" + deveui,
            "devEui": deveui,
            "deviceClassEnabled": "CLASS_A",
            "tags": {},
        }

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
            body = {
                "deduplicationId": str(uuid.uuid4()),
                "time": rfc3339_now(),
                "deviceInfo": self._device_info(dev.deveui),
                "devAddr": dev.dev_addr,
            }
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
            tx_info = {
                "frequency": frequency,
                "modulation": {"lora": {"bandwidth": bw * 1000, "spreadingFactor": sf, "codeRate": "CR_4_5"}},
            }
            up = {
                "deduplicationId": str(uuid.uuid4()),
                "time": now,
                "deviceInfo": self._device_info(dev.deveui),
                "devAddr": dev.dev_addr,
                "adr": adr,
                "dr": dr,
                "fCnt": fcnt,
                "fPort": fport,
                "confirmed": confirmed,
                "data": base64.b64encode(payload).decode(),
                "rxInfo": [
                    {
                        "gatewayId": GATEWAY_ID,
                        "uplinkId": self._uplink_id,
                        "gwTime": now,
                        "nsTime": now,
                        "rssi": rssi,
                        "snr": snr,
                        "channel": 0,
                        "location": {},
                        "context": base64.b64encode(self._uplink_id.to_bytes(4, "big")).decode(),
                        "metadata": {"region_config_id": "eu868", "region_common_name": "EU868"},
                        "crcStatus": "CRC_OK",
                    }
                ],
                "txInfo": tx_info,
            }
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
            self._publish(dev.deveui, "ack", {
                "deduplicationId": up["deduplicationId"],
                "time": now,
                "deviceInfo": up["deviceInfo"],
                "queueItemId": acked.id,
                "acknowledged": True,
                "fCntDown": fcnt_down - (1 if down is not None else 0),
            })
        if down is None:
            return None
        self._publish(dev.deveui, "txack", {
            "downlinkId": self._downlink_id,
            "time": rfc3339_now(),
            "deviceInfo": up["deviceInfo"],
            "queueItemId": down.id,
            "fCntDown": fcnt_down,
            "gatewayId": GATEWAY_ID,
            "txInfo": {"frequency": frequency, "power": 14, "modulation": tx_info["modulation"]},
        })
        return down.fport, down.data

    # ---- downlink commands (docs/references.md §L DownlinkCommand) --------------------------------
    def _refuse(self, deveui: str, code: str, description: str) -> None:
        self.rejected += 1
        log.warning("network server: downlink for %s refused: %s", deveui, description)
        if deveui:
            self._publish(deveui, "log", {
                "time": rfc3339_now(),
                "deviceInfo": self._device_info(deveui),
                "level": "ERROR",
                "code": code,
                "description": description,
                "context": {},
            })

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
        eui = str(cmd.get("devEui", topic_eui)).lower()
        if eui != topic_eui or len(eui) != 16:
            raise ValueError(f"devEui {eui!r} does not match the topic's {topic_eui!r}")
        fport = cmd.get("fPort")
        if not isinstance(fport, int) or isinstance(fport, bool) or not 1 <= fport <= 223:
            raise ValueError(f"fPort must be 1..223, got {fport!r}")
        if "data" not in cmd:
            raise ValueError("no 'data' (an 'object' needs a device-profile codec, which this NS has not)")
        try:
            data = base64.b64decode(str(cmd["data"]), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("'data' is not base64") from None
        if len(data) > EU868[0][2]:
            raise ValueError(f"{len(data)} bytes exceed the 51-byte limit of every EU868 data rate")
        confirmed = cmd.get("confirmed", False)
        if not isinstance(confirmed, bool):
            raise ValueError("'confirmed' must be true or false")
        return QueuedDownlink(str(cmd.get("id") or uuid.uuid4()), fport, data, confirmed)

    def queued(self, deveui: str) -> int:
        with self._lock:
            dev = self.devices.get(deveui.lower())
            return len(dev.queue) if dev else 0
