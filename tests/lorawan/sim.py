"""In-process rig for MAC scenarios on CPython: a virtual clock, the simulated radio
(tools/virtual_lab/board/lora_sim.py) on the air of the simulated LoRaWAN server, RTC memory
and flash fakes that can lose power at any write."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

from trosmart_tools.lorawan import load
from trosmart_tools.virtual_lab.lorawan_server import LoRaWANServer

BOARD = Path(__file__).resolve().parents[2] / "tools" / "virtual_lab" / "board"
if str(BOARD) not in sys.path:
    sys.path.append(str(BOARD))

import lora_sim  # noqa: E402

mac_mod = load("lorawan_mac")
store_mod = load("lorawan_store")
session_mod = load("lorawan_session")
region = load("lorawan_eu868")

DEV_EUI = bytes.fromhex("70b3d57ed0000001")
JOIN_EUI = bytes.fromhex("0000000000000001")
APP_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")


class PowerCut(Exception):
    """The simulated supply dropped: everything after this point did not happen."""


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000
        self.slept: list[int] = []

    def ticks(self) -> int:
        return self.ms

    def sleep(self, ms: int) -> None:
        assert 0 <= ms <= 3_700_000, ms  # every wait is bounded
        self.slept.append(ms)
        self.ms += ms


class Rtc:
    def __init__(self) -> None:
        self.data = b""

    def memory(self, data: Any = None) -> bytes | None:
        if data is None:
            return self.data
        self.data = bytes(data)
        return None


class Flash:
    """Files as a dict; ``cut_at`` counts down writes and loses power during one (the old
    file stays: writes are atomic by temporary file + rename)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.writes = 0
        self.cut_at = -1

    def read(self, name: str) -> bytes | None:
        return self.files.get(name)

    def write(self, name: str, data: bytes) -> None:
        if self.cut_at == 0:
            self.cut_at = -1
            raise PowerCut("during a flash write")
        if self.cut_at > 0:
            self.cut_at -= 1
        self.writes += 1
        self.files[name] = bytes(data)


class Air:
    """The gateway's side of the link; can lose power between TX and RX."""

    def __init__(self, server: LoRaWANServer) -> None:
        self.server = server
        self.cut_after_tx = False

    def uplink(self, meta: dict[str, Any]) -> list[Any]:
        out = self.server.uplink(meta)
        if self.cut_after_tx:
            self.cut_after_tx = False
            raise PowerCut("between TX and RX")
        return out


class Node:
    """One device: radio + MAC + store on shared fakes; boot() again after a PowerCut."""

    def __init__(self, server: LoRaWANServer, *, seed: int = 1, every: int = 16) -> None:
        self.clock = Clock()
        self.rtc = Rtc()
        self.flash = Flash()
        self.air = Air(server)
        self.server = server
        self.every = every
        self.rng = random.Random(seed)
        self.log: list[str] = []
        self.boot()

    def boot(self, keep_rtc: bool = True) -> str:
        if not keep_rtc:
            self.rtc.data = b""
        self.radio = lora_sim.SimRadio(self.air, ticks_ms=self.clock.ticks, sleep_ms=self.clock.sleep)
        self.store = store_mod.Store(self.rtc, self.flash, every=self.every, log=self.log.append)
        self.mac = mac_mod.Mac(self.radio, region, self.store, self.clock.ticks, self.clock.sleep,
                               ticks_ms=self.clock.ticks, rand=self.rng.randrange, log=self.log.append)
        self.mac.set_otaa(JOIN_EUI, DEV_EUI, APP_KEY)
        return self.mac.restore()

    def join(self, tries: int = 5) -> None:
        for _ in range(tries):
            try:
                self.mac.join(timeout_ms=3_600_000)
                return
            except mac_mod.JoinFailed:
                self.clock.sleep(60_000)
        raise AssertionError("no join")
