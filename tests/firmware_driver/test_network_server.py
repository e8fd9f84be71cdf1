"""The simulated network server on a real mosquitto: ChirpStack v4 JSON out, command/down in."""

from __future__ import annotations

import base64
import json
import queue
import re
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import payload_codec
from trosmart_tools.broker import Mosquitto
from trosmart_tools.virtual_lab import SimNetworkServer
from trosmart_tools.virtual_lab.network_server import NetworkServerError

DEVEUI = "70b3d57ed0000001"
APP = "0e6a6b8c-1111-4222-8333-944445555666"
RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\+00:00$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Listener:
    """A paho client that collects every event of the application (subscribed before use)."""

    def __init__(self, broker: Mosquitto, **auth: str) -> None:
        self.messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if auth:
            self.client.username_pw_set(auth["username"], auth["password"])
        subscribed = queue.Queue[bool]()
        self.client.on_connect = lambda c, *_: c.subscribe(f"application/{APP}/device/+/event/+")
        self.client.on_subscribe = lambda *_: subscribed.put(True)
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, json.loads(m.payload)))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert subscribed.get(timeout=10)

    def next(self, event: str, timeout: float = 5.0, deveui: str = DEVEUI) -> dict[str, Any]:
        """The next message of ``event`` type (others in between are skipped)."""
        while True:
            topic, body = self.messages.get(timeout=timeout)
            if topic.endswith("/event/" + event):
                assert topic == f"application/{APP}/device/{deveui}/event/{event}"
                return body

    def command(self, body: dict[str, Any] | bytes, deveui: str = DEVEUI) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.client.publish(f"application/{APP}/device/{deveui}/command/down", raw, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def ns(mosquitto: Mosquitto) -> Iterator[SimNetworkServer]:
    server = SimNetworkServer(mosquitto.host, mosquitto.port, APP)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def listener(mosquitto: Mosquitto) -> Iterator[Listener]:
    c = Listener(mosquitto)
    yield c
    c.close()


def test_join_event(ns: SimNetworkServer, listener: Listener) -> None:
    assert ns.join(DEVEUI) is True
    body = listener.next("join")
    assert UUID.match(body["deduplicationId"]) and RFC3339_NS.match(body["time"])
    assert body["deviceInfo"]["devEui"] == DEVEUI and body["deviceInfo"]["applicationId"] == APP
    assert re.fullmatch(r"[0-9a-f]{8}", body["devAddr"])


def test_uplink_is_chirpstack_v4_json(ns: SimNetworkServer, listener: Listener) -> None:
    ns.join(DEVEUI)
    frame = payload_codec.encode({"temperature": 21.5, "humidity": 40.0})
    assert ns.uplink(DEVEUI, payload_codec.MEASUREMENT, frame, 7, False, 5, frequency=867300000) is None
    up = listener.next("up")
    assert set(up) >= {"deduplicationId", "time", "deviceInfo", "devAddr", "adr", "dr", "fCnt", "fPort",
                       "confirmed", "data", "rxInfo", "txInfo"}
    assert UUID.match(up["deduplicationId"]) and RFC3339_NS.match(up["time"])
    assert set(up["deviceInfo"]) >= {"tenantId", "tenantName", "applicationId", "applicationName",
                                     "deviceProfileId", "deviceProfileName", "deviceName", "devEui",
                                     "deviceClassEnabled", "tags"}
    assert (up["dr"], up["fCnt"], up["fPort"], up["confirmed"], up["adr"]) == (5, 7, 1, False, False)
    assert up["devAddr"] == listener_join_addr(ns)
    assert base64.b64decode(up["data"]) == frame
    decoded = payload_codec.decode_uplink(up["fPort"], base64.b64decode(up["data"]))
    assert decoded["kind"] == "measurement"
    rx = up["rxInfo"]
    assert len(rx) == 1 and isinstance(rx[0]["rssi"], int) and isinstance(rx[0]["snr"], float)
    assert re.fullmatch(r"[0-9a-f]{16}", rx[0]["gatewayId"]) and rx[0]["crcStatus"] == "CRC_OK"
    assert up["txInfo"] == {
        "frequency": 867300000,
        "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}},
    }


def listener_join_addr(ns: SimNetworkServer) -> str:
    return ns.devices[DEVEUI].dev_addr


def test_command_down_becomes_downlink_with_txack_and_ack(ns: SimNetworkServer, listener: Listener) -> None:
    ns.join(DEVEUI)
    first = str(uuid.uuid4())
    listener.command({"id": first, "devEui": DEVEUI, "confirmed": True, "fPort": 10,
                      "data": base64.b64encode(b"\x01\x02\x03").decode()})
    listener.command({"devEui": DEVEUI, "confirmed": False, "fPort": 11, "data": "qg=="})
    wait_queued(ns, 2)
    assert ns.uplink(DEVEUI, 1, b"\x00", 0, False, 5) == (10, b"\x01\x02\x03")
    txack = listener.next("txack")
    assert txack["queueItemId"] == first and txack["fCntDown"] == 1
    assert ns.uplink(DEVEUI, 1, b"\x00", 1, False, 5) == (11, b"\xaa")
    ack = listener.next("ack")  # the uplink after a confirmed downlink carries the ACK
    assert (ack["queueItemId"], ack["acknowledged"], ack["fCntDown"]) == (first, True, 1)
    assert listener.next("txack")["fCntDown"] == 2
    assert ns.uplink(DEVEUI, 1, b"\x00", 2, False, 5) is None


def wait_queued(ns: SimNetworkServer, n: int, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while ns.queued(DEVEUI) < n:
        assert time.monotonic() < deadline, f"{ns.queued(DEVEUI)} of {n} downlinks queued"
        time.sleep(0.01)  # polling a counter another thread increments


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "invalid JSON"),
        (b"[1]", "invalid JSON"),
        ({"devEui": "0000000000000000", "fPort": 10, "data": "AA=="}, "does not match"),
        ({"devEui": DEVEUI, "fPort": 0, "data": "AA=="}, "fPort"),
        ({"devEui": DEVEUI, "fPort": 224, "data": "AA=="}, "fPort"),
        ({"devEui": DEVEUI, "fPort": 10, "data": "!!"}, "base64"),
        ({"devEui": DEVEUI, "fPort": 10, "object": {"a": 1}}, "codec"),
        ({"devEui": DEVEUI, "fPort": 10, "data": base64.b64encode(bytes(52)).decode()}, "51-byte"),
        ({"devEui": DEVEUI, "fPort": 10, "data": "AA==", "confirmed": "yes"}, "confirmed"),
    ],
)
def test_bad_commands_are_refused_with_a_log_event(
    ns: SimNetworkServer, listener: Listener, body: dict[str, Any] | bytes, why: str
) -> None:
    listener.command(body)
    event = listener.next("log")
    assert event["level"] == "ERROR" and why in event["description"]
    assert ns.rejected == 1 and ns.queued(DEVEUI) == 0


def test_username_password() -> None:
    with Mosquitto(username="ns", password="s3cret") as broker:
        good = SimNetworkServer(broker.host, broker.port, APP, username="ns", password="s3cret")
        good.start()
        good.stop()
        bad = SimNetworkServer(broker.host, broker.port, APP, username="ns", password="wrong")
        with pytest.raises(NetworkServerError, match="refused the connection: Not authorized"):
            bad.start()


def test_unreachable_broker_is_a_clear_error() -> None:
    from trosmart_tools.broker import free_port

    with pytest.raises(NetworkServerError, match="cannot connect"):
        SimNetworkServer("127.0.0.1", free_port(), APP).start()
