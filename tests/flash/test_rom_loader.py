"""``trosmart flash --firmware`` through the real esptool against the ROM-loader emulator on a pty
(tools/virtual_lab/rom_emulator.py): the image is written at the ESP32's 0x1000 and verified
with SPI_FLASH_MD5, the chip "reboots" into the virtual board's MicroPython REPL on the same
port, and the flash continues to a passing self-test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trosmart_tools import cli
from trosmart_tools.device import probe
from trosmart_tools.virtual_lab import rom_emulator as rom

from .conftest import Board, Boards


@pytest.fixture
def no_reset_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    # a pty has no DTR/RTS: esptool's own variables select its no-reset sequences
    monkeypatch.setenv("ESPTOOL_BEFORE", "no-reset")
    monkeypatch.setenv("ESPTOOL_AFTER", "no-reset")


def _image(tmp_path: Path) -> tuple[Path, bytes]:
    # an ESP image header (magic 0xE9, one segment, DIO, 4MB/40MHz) and a body
    data = bytes([0xE9, 0x01, 0x02, 0x20]) + bytes(20) + os.urandom(64 * 1024)
    path = tmp_path / "ESP32_GENERIC-v1.29.0.bin"
    path.write_bytes(data)
    return path, data


def _in_bootloader(board: Board, *, reboots: bool) -> rom.RomLoaderEmulator:
    board.usb.unplug()  # the same cable now shows the chip's ROM loader
    emu = rom.RomLoaderEmulator(board.port, on_reboot=board.usb.plug if reboots else None)
    emu.start()
    return emu


def test_flash_firmware_runs_esptool_end_to_end(boards: Boards, node_files: tuple[Path, Path], tmp_path: Path,
                                                no_reset_lines: None, capsys: pytest.CaptureFixture[str]) -> None:
    board = boards.make()
    emu = _in_bootloader(board, reboots=True)
    image, data = _image(tmp_path)
    cfg, sec = node_files
    try:
        rc = cli.main(["flash", "--port", board.port, "--board", "virtual", "--config", str(cfg), "--secrets",
                       str(sec), "--firmware", str(image), "--log", str(tmp_path / "log.jsonl")])
    finally:
        emu.stop()
    out = capsys.readouterr().out
    assert rc == 0, out
    assert emu.image(0x1000, len(data)) == data  # at the ESP32's offset (docs/references.md §Q.A)
    seq = emu.commands
    assert seq[0] == rom.SYNC and rom.READ_REG in seq and rom.SPI_ATTACH in seq
    assert seq.index(rom.FLASH_BEGIN) < seq.index(rom.FLASH_DATA) < seq.index(rom.SPI_FLASH_MD5)
    assert seq.count(rom.FLASH_DATA) >= len(data) // 0x400  # the ROM loader's 1 KiB blocks
    assert "self-test PASS" in out


def test_bootloader_without_micropython_and_no_image(boards: Boards, node_files: tuple[Path, Path],
                                                     tmp_path: Path, no_reset_lines: None,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    board = boards.make()
    emu = _in_bootloader(board, reboots=False)
    monkeypatch.setattr(probe, "TIMEOUT_S", 3.0)  # the REPL probe gives up sooner than a technician would
    try:
        rc = cli.main(["flash", "--port", board.port, "--board", "virtual", "--config", str(node_files[0]),
                       "--log", str(tmp_path / "log.jsonl")])
    finally:
        emu.stop()
    err = capsys.readouterr().err
    assert rc == 2
    assert "ESP32" in err and "in its ROM bootloader without MicroPython: pass --firmware" in err
    assert rom.FLASH_BEGIN not in emu.commands  # nothing was written


def test_esptool_refused_by_the_loader(boards: Boards, node_files: tuple[Path, Path], tmp_path: Path,
                                       no_reset_lines: None, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    board = boards.make()
    emu = _in_bootloader(board, reboots=False)
    monkeypatch.setattr(rom, "FLASH_SIZE", 0x2000)  # a flash too small for the image: FLASH_BEGIN fails
    emu.flash = bytearray(b"\xff" * 0x2000)
    image, _ = _image(tmp_path)
    try:
        rc = cli.main(["flash", "--port", board.port, "--board", "virtual", "--config", str(node_files[0]),
                       "--firmware", str(image), "--log", str(tmp_path / "log.jsonl")])
    finally:
        emu.stop()
    err = capsys.readouterr().err
    assert rc == 2 and "esptool on" in err and "fits its flash" in err and "Traceback" not in err
