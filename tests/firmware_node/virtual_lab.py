"""Helpers for the end-to-end tests: one virtual node + RAK3172 emulator + network server on a
real mosquitto, and a subscriber that collects the ChirpStack events it publishes."""

from __future__ import annotations

import base64
import json
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import payload_codec
from bridge import chirpstack
from trosmart_tools.broker import Mosquitto
from trosmart_tools.virtual_lab.board_runner import VirtualNode
from trosmart_tools.virtual_lab.network_server import SimNetworkServer
from trosmart_tools.virtual_lab.rak3172_emulator import Rak3172Emulator

DEVEUI = "70b3d57ed0001234"
SECRETS = {"deveui": DEVEUI, "appeui": "0000000000000000", "appkey": "2b7e151628aed2a6abf7158809cf4f3c"}
TIME_SCALE = 0.01  # a virtual second lasts 10 ms while the node sleeps
SAMPLE_RX = r"node: sample (\d+) at (\d+) sent ([0-9a-f]+)"
BATCH_RX = r"node: batch of \d+ at (\d+) sent ([0-9a-f]+)"


class Events:
    """Every ChirpStack event of the application, decoded where it is a TroSmart uplink."""

    def __init__(self, broker: Mosquitto) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self._cond = threading.Condition()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.subscribe("application/+/device/+/event/+", qos=1)
        self._client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        kind = msg.topic.rsplit("/", 1)[1]
        if kind == "up":
            body["decoded"] = payload_codec.decode_uplink(body["fPort"], base64.b64decode(body["data"]))
        with self._cond:
            self.items.append((kind, body))
            self._cond.notify_all()

    def of(self, kind: str, fport: int | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [b for k, b in self.items if k == kind and (fport is None or b["fPort"] == fport)]

    def wait(self, pred: Any, timeout_s: float = 60.0, what: str = "event") -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for k, b in self.items:
                    if pred(k, b):
                        return b
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {what} within {timeout_s} s; got {[k for k, _ in self.items]}")
                self._cond.wait(left)

    def wait_count(self, kind: str, fport: int, n: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The events once at least ``n`` of this kind and fPort arrived (the broker may lag the log)."""
        self.wait(lambda k, b: len(self.of(kind, fport)) >= n, timeout_s, f"{n} {kind} events on fPort {fport}")
        return self.of(kind, fport)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


class Lab:
    def __init__(self, broker: Mosquitto, image: Path, workdir: Path, *, config: dict,
                 scenario: Path | None, heapsize: str | None = None,
                 time_scale: float = TIME_SCALE, rui: str = "4.0.5") -> None:
        self.broker = broker
        self.events = Events(broker)
        self.ns = SimNetworkServer(broker.host, broker.port)
        self.ns.start()
        self.emulator = Rak3172Emulator(network=self.ns, time_scale=time_scale, seed=1, rui=rui)
        # RX2 at DR3 (as TTN): before 4.0.4 the driver waits for RX2 in real time, 2.9 s per send
        self.emulator.nvm["RX2DR"] = 3
        pty = self.emulator.start()
        self.node = VirtualNode(workdir, uart_pty=pty, config=config, secrets=SECRETS,
                                scenario=scenario, time_scale=time_scale, heapsize=heapsize)
        # every test boots the image flashed once through mpremote (see the image fixture)
        shutil.copytree(image, self.node.flash)
        (self.node.flash / "config.json").write_text(json.dumps(self.node.config))

    def start(self) -> Lab:
        self.node.start()
        return self

    def samples(self) -> list[tuple[int, int, bytes]]:
        """(counter, virtual ms, frame) of every measurement the node logged as sent."""
        out = []
        for line in list(self.node.console):
            m = re.search(SAMPLE_RX, line)
            if m:
                out.append((int(m.group(1)), int(m.group(2)), bytes.fromhex(m.group(3))))
        return out

    def batch_samples(self) -> list[tuple[int, dict[str, Any]]]:
        """(virtual ms measured, values) of every sample the node sent in a batch frame (store
        and forward, docs/firmware.md §12): the send time plus the sample's offset."""
        out = []
        for line in list(self.node.console):
            m = re.search(BATCH_RX, line)
            if m:
                d = payload_codec.decode(bytes.fromhex(m.group(2)))
                out.extend((int(m.group(1)) + 1000 * s["offset_s"], s["values"]) for s in d["samples"])
        return out

    def downlink(self, cmd: dict[str, Any]) -> None:
        body = chirpstack.downlink(DEVEUI, payload_codec.encode_downlink(cmd), payload_codec.COMMAND,
                                   confirmed=False)
        c = mqtt.Client(CallbackAPIVersion.VERSION2)
        c.connect(self.broker.host, self.broker.port)
        c.loop_start()
        topic = chirpstack.command_topic(self.ns.application_id, DEVEUI)
        c.publish(topic, json.dumps(body), qos=1).wait_for_publish(10)
        c.loop_stop()
        c.disconnect()

    def close(self) -> None:
        self.node.stop()
        self.emulator.stop()
        self.ns.stop()
        self.events.close()
