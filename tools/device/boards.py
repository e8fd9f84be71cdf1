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
    # micropython-lib packages the board needs on its flash, installed with mip (packages.py):
    # the `lora` modem API and the radio's driver for a bare SX126x/SX127x (docs/references.md §B)
    packages: tuple[str, ...] = ()


# mip names (docs/references.md §B 1.1): the base package, the synchronous API the MAC uses, a driver
LORA_SX126X = ("lora", "lora-sync", "lora-sx126x")
LORA_SX127X = ("lora", "lora-sync", "lora-sx127x")

BOARDS = {
    "esp32_devkit_rak3172": BoardProfile("esp32_devkit_rak3172", "esp32", "ESP32", 0x1000, "xtensawin"),
    # the virtual board stands for an ESP32: its ROM loader is tools/virtual_lab/rom_emulator.py
    "virtual": BoardProfile("virtual", "linux", "ESP32", 0x1000, None),
    # bare radios on the LoRaWAN MAC (firmware/lib/boards.py, docs/lorawan.md); image offsets of
    # MicroPython's ESP32_GENERIC (0x1000) and ESP32_GENERIC_S3 (0) boards (docs/references.md §Q.A)
    "heltec_v2": BoardProfile("heltec_v2", "esp32", "ESP32", 0x1000, "xtensawin", LORA_SX127X),
    "heltec_v3": BoardProfile("heltec_v3", "esp32", "ESP32-S3", 0x0, "xtensawin", LORA_SX126X),
    "ttgo_lora32": BoardProfile("ttgo_lora32", "esp32", "ESP32", 0x1000, "xtensawin", LORA_SX127X),
    "rak11200_rak13300": BoardProfile("rak11200_rak13300", "esp32", "ESP32", 0x1000, "xtensawin", LORA_SX126X),
    # the simulated SX1262 is part of the virtual board (tools/virtual_lab/board/lora_sim.py): no packages
    "virtual_heltec_v3": BoardProfile("virtual_heltec_v3", "linux", "ESP32", 0x1000, None),
}


def profile(name: str) -> BoardProfile:
    try:
        return BOARDS[name]
    except KeyError:
        raise DeviceError(f"unknown board {name!r}: use one of {', '.join(sorted(BOARDS))}") from None
