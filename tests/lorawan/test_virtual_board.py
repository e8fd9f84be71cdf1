"""The real firmware (main.py, node.py) on the virtual board with the ``virtual_heltec_v3`` profile:
deployed with mpremote, the MAC on a simulated SX1262 (lora_sim.py) talking over loopback UDP to
the simulated gateway/network/join server, whose ChirpStack events land on a real mosquitto.
Deep-sleep cycles and a power loss: no rejoin, no counter used twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import payload_codec
from tests.firmware_node.virtual_lab import Events
from trosmart_tools.broker import Mosquitto
from trosmart_tools.virtual_lab import SimNetworkServer
from trosmart_tools.virtual_lab.board_runner import VirtualNode

from .sim import APP_KEY, DEV_EUI, JOIN_EUI, LoRaWANServer

SECRETS = {"deveui": DEV_EUI.hex(), "appeui": JOIN_EUI.hex(), "appkey": APP_KEY.hex()}


@pytest.fixture
def lns(mosquitto: Mosquitto) -> Iterator[LoRaWANServer]:
    events = SimNetworkServer(mosquitto.host, mosquitto.port)
    events.start()
    server = LoRaWANServer(rx_delay_s=5, rx2_dr=3, events=events)
    server.register(DEV_EUI, JOIN_EUI, APP_KEY)
    server.serve_udp()
    yield server
    server.close()
    events.stop()


def test_firmware_on_the_mac_deep_sleeps_and_survives_power_loss(
        micropython: str, mosquitto: Mosquitto, lns: LoRaWANServer, tmp_path: Path) -> None:
    gw = ["127.0.0.1", lns.udp_port]
    events = Events(mosquitto)
    node = VirtualNode(tmp_path / "heltec", uart_pty="/dev/null", secrets=SECRETS, time_scale=1 / 120,
                       config={"board": "virtual_heltec_v3", "interval_s": 60, "data_rate": 5},
                       board_extra={"lora_gateway": gw})
    try:
        node.flash_firmware()
        assert (node.flash / "lib" / "lorawan_mac.mpy").exists()
        node.start()
        node.wait_for(r"node: sample \d+ at \d+ sent", count=3, timeout_s=120, fail_on="Traceback")
        ups = events.wait_count("up", payload_codec.MEASUREMENT, 3, timeout_s=30)
        assert all(u["decoded"]["kind"] == "measurement" for u in ups)
        before = len(lns.uplinks)
        node.power_loss()
        mark = len(node.console)
        node.wait_for(r"node: sample \d+ at \d+ sent", count=2, start=mark, timeout_s=120, fail_on="Traceback")
    finally:
        node.stop()
        events.close()
    assert len(lns.joins) == 1 and lns.rejected == []  # the session came back from flash
    fcnts = [u["fcnt"] for u in lns.uplinks]
    assert fcnts == sorted(set(fcnts)) and len(lns.uplinks) > before
    assert any(b == 4 for b in node.boots)  # DEEPSLEEP_RESET wakes in between
