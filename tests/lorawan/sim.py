"""The CPython side of the MAC test rig: rig.py (shared with the MicroPython Unix port) with the
firmware modules on sys.path and the simulated LoRaWAN server in-process."""

from __future__ import annotations

import sys
from pathlib import Path

from trosmart_tools.lorawan import load
from trosmart_tools.virtual_lab.lorawan_server import LoRaWANServer

BOARD = Path(__file__).resolve().parents[2] / "tools" / "virtual_lab" / "board"
if str(BOARD) not in sys.path:
    sys.path.append(str(BOARD))

mac_mod = load("lorawan_mac")
session_mod = load("lorawan_session")
net_mod = load("lorawan_network")
region = load("lorawan_eu868")

from rig import APP_KEY, DEV_EUI, JOIN_EUI, Device, PowerCut, power_cuts  # noqa: E402

__all__ = ["APP_KEY", "DEV_EUI", "JOIN_EUI", "Device", "LoRaWANServer", "Node", "PowerCut", "mac_mod",
           "net_mod", "power_cuts", "region", "session_mod"]


class Node(Device):
    """A Device on the in-process server (its ``uplink`` is the air)."""

    def __init__(self, server: LoRaWANServer, *, every: int = 16) -> None:
        self.server = server
        self.logs: list[str] = []
        super().__init__(server, every=every, log=self.logs.append)
