"""Nodes on the MAC seen through the simulated LNS on a real mosquitto: ChirpStack v4 events that
the bridge's ChirpStack parser takes exactly as it takes RAK3172 nodes' events, and a
command/down delivered in RX1 through the MAC."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

import payload_codec
from bridge import chirpstack
from tests.firmware_driver.test_network_server import APP, DEVEUI, Listener, wait_queued
from trosmart_tools.broker import Mosquitto
from trosmart_tools.virtual_lab import SimNetworkServer

from .sim import APP_KEY, DEV_EUI, JOIN_EUI, LoRaWANServer, Node

EUI = DEV_EUI.hex()
assert EUI == DEVEUI


@pytest.fixture
def lns(mosquitto: Mosquitto) -> Iterator[LoRaWANServer]:
    events = SimNetworkServer(mosquitto.host, mosquitto.port, APP)
    events.start()
    server = LoRaWANServer(rx_delay_s=5, events=events)
    server.register(DEV_EUI, JOIN_EUI, APP_KEY)
    yield server
    events.stop()


@pytest.fixture
def listener(mosquitto: Mosquitto) -> Iterator[Listener]:
    c = Listener(mosquitto)
    yield c
    c.close()


def test_join_and_uplink_events_parse_like_a_rak3172_node(lns: LoRaWANServer, listener: Listener) -> None:
    n = Node(lns)
    n.join()
    join = listener.next("join")
    assert join["devAddr"] == "%08x" % n.mac.s.dev_addr  # the address the join server handed out
    frame = payload_codec.encode({"temperature": 21.5, "humidity": 40.0})
    n.clock.sleep(600_000)
    n.mac.send(payload_codec.MEASUREMENT, frame)
    up = listener.next("up")
    assert (up["fCnt"], up["fPort"], base64.b64decode(up["data"])) == (0, payload_codec.MEASUREMENT, frame)
    topic = f"application/{APP}/device/{EUI}/event/up"
    ev = chirpstack.parse(topic, json.dumps(up).encode())
    assert type(ev).__name__ == "Uplink" and ev.dev_eui == EUI
    jev = chirpstack.parse(f"application/{APP}/device/{EUI}/event/join", json.dumps(join).encode())
    assert jev.kind == "join"


def test_command_down_arrives_in_rx1(lns: LoRaWANServer, listener: Listener) -> None:
    n = Node(lns)
    n.join()
    listener.next("join")
    listener.command({"devEui": EUI, "confirmed": False, "fPort": 10, "data": base64.b64encode(b"\x05\x06").decode()})
    assert lns.events is not None
    wait_queued(lns.events, 1)  # DEV_EUI is that module's DEVEUI
    n.clock.sleep(600_000)
    got = n.mac.send(payload_codec.MEASUREMENT, b"\x2d\x00")
    assert [(d.slot, d.port, d.data) for d in got] == [(1, 10, b"\x05\x06")]
    assert listener.next("txack")["fCntDown"] == 1
