"""Host-side board profiles: what ``trosmart flash --board NAME`` expects on the port.

The firmware's own profiles (pins, buses) are firmware/lib/boards.py; these add what the host
needs to flash one: the MicroPython platform the REPL reports, the chip esptool must find and
where the MicroPython image goes (docs/references.md §Q.A), the -march for mpy-cross (§Q.C).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import DeviceError


@dataclass(frozen=True)
class BoardProfile:
    name: str
    platform: str  # sys.platform on the board
    chip: str | None  # esptool chip name (None: no ROM loader, e.g. the virtual board)
    image_offset: int  # where micropython.bin is written
    march: str | None  # mpy-cross -march (None: bytecode only, no native code)


BOARDS = {
    "esp32_devkit_rak3172": BoardProfile("esp32_devkit_rak3172", "esp32", "ESP32", 0x1000, "xtensawin"),
    # the virtual board stands for an ESP32: its ROM loader is tools/virtual_lab/rom_emulator.py
    "virtual": BoardProfile("virtual", "linux", "ESP32", 0x1000, None),
}


def profile(name: str) -> BoardProfile:
    try:
        return BOARDS[name]
    except KeyError:
        raise DeviceError(f"unknown board {name!r}: use one of {', '.join(sorted(BOARDS))}") from None
