"""An ESP32's ROM serial bootloader on a pseudo-terminal, so the real esptool flashes in tests.

Built from esptool's serial-protocol documentation (espressif/esptool@bb72741f,
docs/en/advanced-topics/serial-protocol.rst, the ESP32 tables) and the ESP32 constants esptool
uses (esptool/targets/esp32.py: magic register, eFuse and SPI register addresses):

- SLIP framing: 0xC0 ends, 0xDB 0xDC / 0xDB 0xDD escape 0xC0 / 0xDB;
- request: direction 0x00, command, 16-bit size, 32-bit checksum, data; response: direction
  0x01, the same command, size, a 32-bit value (READ_REG's result), data, then the ESP32 ROM's
  four status bytes (status, error, two reserved);
- SYNC (0x08) is answered eight times with a non-zero value (a stub would answer 0);
- READ_REG (0x0A): 0x40001000 holds the ESP32's chip-detect magic 0x00F01D83; eFuse words
  0x3FF5A000.. hold the MAC; the SPI0 command register reads back as done and W0 as the
  JEDEC id of a 4 MB flash after RDID (0x9F), so esptool's flash_id works;
- WRITE_REG (0x09), SPI_ATTACH (0x0D), SPI_SET_PARAMS (0x0B), CHANGE_BAUDRATE (0x0F) are
  accepted;
- FLASH_BEGIN (0x02, four words on the ESP32), FLASH_DATA (0x03, checksum seed 0xEF checked,
  sequence numbers checked), FLASH_END (0x04) write into a flash image in memory;
- SPI_FLASH_MD5 (0x13) answers 32 ASCII hex digits, as the ROM does (the stub sends 16 bytes);
- GET_SECURITY_INFO (0x14) and every stub-only command fail with error 0x05, as on an ESP32.

Differences from a chip: no baud-rate detection (a pty has none) and no DTR/RTS reset (use
``--before no-reset``); no boot log before the loader; no MEM_BEGIN/DATA/END, so the stub
cannot be uploaded (esptool runs here with the ROM loader, as with ``--no-stub``); no
compressed (FLASH_DEFL_*) writes; FLASH_BEGIN erases instantly; eFuses other than the MAC
read as zero (an ESP32-D0WDQ6 revision v0.0 without flash encryption).
"""

from __future__ import annotations

import hashlib
import os
import pty
import select
import struct
import threading
import tty
from collections.abc import Callable
from pathlib import Path

END, ESC, ESC_END, ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD
FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
SYNC, WRITE_REG, READ_REG, SPI_SET_PARAMS, SPI_ATTACH, CHANGE_BAUDRATE = 0x08, 0x09, 0x0A, 0x0B, 0x0D, 0x0F
SPI_FLASH_MD5, GET_SECURITY_INFO = 0x13, 0x14
CHIP_DETECT_MAGIC_REG, ESP32_MAGIC = 0x40001000, 0x00F01D83
EFUSE_RD_REG_BASE = 0x3FF5A000
SPI_REG_BASE = 0x3FF42000  # SPI0 (esptool targets/esp32.py)
SPI_USR2_OFFS, SPI_W0_OFFS = 0x24, 0x80
FLASH_SIZE = 4 * 1024 * 1024
JEDEC_ID = 0x1640EF  # Winbond W25Q32 as W0 reads it after RDID
ERR_INVALID_FORMAT, ERR_CHECKSUM, ERR_INVALID_PARAM = 0x05, 0x07, 0x01


def slip_encode(packet: bytes) -> bytes:
    body = packet.replace(bytes([ESC]), bytes([ESC, ESC_ESC])).replace(bytes([END]), bytes([ESC, ESC_END]))
    return bytes([END]) + body + bytes([END])


class RomLoaderEmulator:
    """An ESP32 waiting in its ROM loader at ``link`` (a symlink to a pty)."""

    def __init__(self, link: str | os.PathLike[str], mac: bytes = bytes.fromhex("246f28a1b2c3"),
                 on_reboot: Callable[[], None] | None = None) -> None:
        self.link = Path(link)
        self.on_reboot = on_reboot  # called (on its own thread) when the host closes the port after a write
        self.mac = mac
        self.flash = bytearray(b"\xff" * FLASH_SIZE)
        self.commands: list[int] = []  # every command received, in order (tests check the sequence)
        self.regs: dict[int, int] = {CHIP_DETECT_MAGIC_REG: ESP32_MAGIC}
        # eFuse BLK0 words 1 and 2 hold the MAC (esptool ESP32ROM.read_mac: words 2, 1 big-endian, bytes 2..8)
        w = struct.pack(">II", 0, 0)[:2] + mac
        hi, lo = struct.unpack(">II", w)
        self.regs[EFUSE_RD_REG_BASE + 4 * 2] = hi
        self.regs[EFUSE_RD_REG_BASE + 4 * 1] = lo
        self._write: tuple[int, int, int, int] | None = None  # offset, size, blocks, block size
        self._seq = 0
        self._master = -1
        self._stop = threading.Event()
        self._connected = False
        self._written = False
        self._name = ""
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        self._master, slave = pty.openpty()
        tty.setraw(slave)
        self._name = os.ttyname(slave)
        os.close(slave)  # only the host holds it open: its close shows here as EIO
        self.link.unlink(missing_ok=True)
        self.link.symlink_to(self._name)
        self._thread = threading.Thread(target=self._serve, name="rom-loader", daemon=True)
        self._thread.start()
        return str(self.link)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._master >= 0:
            os.close(self._master)
        self._master = -1
        if self.link.is_symlink() and os.readlink(self.link) == self._name:
            self.link.unlink()  # only our own link: after a reboot it may be the REPL's

    def image(self, offset: int, size: int) -> bytes:
        return bytes(self.flash[offset:offset + size])

    # --- framing ---------------------------------------------------------------------------
    def _serve(self) -> None:
        buf = bytearray()
        in_packet = False
        escaped = False
        while not self._stop.is_set():
            if not select.select([self._master], [], [], 0.1)[0]:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:  # EIO: no host has the port open
                if self._connected:
                    self._connected = False
                    if self._written and self.on_reboot is not None:
                        self._written = False  # the host reset the chip into its new firmware
                        threading.Thread(target=self.on_reboot, daemon=True).start()
                        return
                self._stop.wait(0.02)  # idle until a host opens the port (a pty signals nothing)
                continue
            self._connected = True
            for b in data:
                if not in_packet:
                    if b == END:
                        in_packet, buf = True, bytearray()
                    continue  # bytes between packets are line noise, as for the ROM
                if escaped:
                    buf.append(END if b == ESC_END else ESC if b == ESC_ESC else b)
                    escaped = False
                elif b == ESC:
                    escaped = True
                elif b == END:
                    if buf:
                        self._packet(bytes(buf))
                        in_packet = False
                    # an empty packet (END END) is the start of the next one
                else:
                    buf.append(b)

    def _reply(self, cmd: int, value: int = 0, data: bytes = b"", error: int = 0) -> None:
        status = bytes([1 if error else 0, error, 0, 0])  # ESP32 ROM: four status bytes
        body = data + status
        packet = struct.pack("<BBHI", 1, cmd, len(body), value) + body
        os.write(self._master, slip_encode(packet))

    # --- commands --------------------------------------------------------------------------
    def _packet(self, p: bytes) -> None:
        if len(p) < 8 or p[0] != 0:
            return  # not a request: the ROM ignores it
        cmd, size, checksum = struct.unpack_from("<BHI", p, 1)
        data = p[8:8 + size]
        self.commands.append(cmd)
        if cmd == SYNC:
            if data != b"\x07\x07\x12\x20" + b"\x55" * 32:
                return
            for _ in range(8):
                self._reply(SYNC, 0x20120707)
        elif cmd == READ_REG and len(data) >= 4:
            (addr,) = struct.unpack_from("<I", data)
            self._reply(cmd, self._read_reg(addr))
        elif cmd == WRITE_REG and len(data) >= 16:
            addr, value, mask, _delay = struct.unpack_from("<IIII", data)
            self.regs[addr] = (self.regs.get(addr, 0) & ~mask) | (value & mask)
            self._reply(cmd)
        elif cmd in (SPI_ATTACH, SPI_SET_PARAMS, CHANGE_BAUDRATE):
            self._reply(cmd)
        elif cmd == FLASH_BEGIN:
            self._flash_begin(data)
        elif cmd == FLASH_DATA:
            self._flash_data(data, checksum)
        elif cmd == FLASH_END:
            self._write = None
            self._reply(cmd)
        elif cmd == SPI_FLASH_MD5 and len(data) >= 16:
            addr, length = struct.unpack_from("<II", data)
            if addr + length > FLASH_SIZE:
                self._reply(cmd, error=ERR_INVALID_PARAM)
            else:
                self._reply(cmd, data=hashlib.md5(self.flash[addr:addr + length]).hexdigest().encode())  # noqa: S324 - the protocol's checksum
        else:  # GET_SECURITY_INFO, MEM_*, FLASH_DEFL_*, stub-only commands: not in an ESP32 ROM
            self._reply(cmd, error=ERR_INVALID_FORMAT)

    def _read_reg(self, addr: int) -> int:
        if addr == SPI_REG_BASE:  # SPI_CMD_REG: the user command has finished
            return 0
        if addr == SPI_REG_BASE + SPI_W0_OFFS:
            last = self.regs.get(SPI_REG_BASE + SPI_USR2_OFFS, 0) & 0xFFFF
            return JEDEC_ID if last == 0x9F else 0
        return self.regs.get(addr, 0)

    def _flash_begin(self, data: bytes) -> None:
        if len(data) != 16:  # the ESP32 ROM takes four words (later chips five)
            self._reply(FLASH_BEGIN, error=ERR_INVALID_FORMAT)
            return
        erase, blocks, block_size, offset = struct.unpack("<IIII", data)
        if offset + erase > FLASH_SIZE:
            self._reply(FLASH_BEGIN, error=ERR_INVALID_PARAM)
            return
        self.flash[offset:offset + erase] = b"\xff" * erase
        self._write = (offset, erase, blocks, block_size)
        self._seq = 0
        self._reply(FLASH_BEGIN)

    def _flash_data(self, data: bytes, checksum: int) -> None:
        if self._write is None or len(data) < 16:
            self._reply(FLASH_DATA, error=ERR_INVALID_FORMAT)
            return
        length, seq, _, _ = struct.unpack_from("<IIII", data)
        payload = data[16:16 + length]
        check = 0xEF
        for b in payload:
            check ^= b
        if len(payload) != length or check != checksum & 0xFF:
            self._reply(FLASH_DATA, error=ERR_CHECKSUM)
            return
        offset, _erase, blocks, block_size = self._write
        if seq != self._seq or seq >= blocks:
            self._reply(FLASH_DATA, error=ERR_INVALID_PARAM)
            return
        at = offset + seq * block_size
        self.flash[at:at + length] = payload
        self._seq += 1
        self._written = True
        self._reply(FLASH_DATA)
