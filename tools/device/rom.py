"""The ESP ROM bootloader through esptool's v5 Python API (docs/references.md §Q.A), not a shell-out.

``detect`` connects (SYNC, chip detection), reads the chip and MAC; ``write_micropython``
writes an image at the board's offset (0x1000 on an ESP32, §Q.A) and lets esptool verify it
(SPI_FLASH_MD5). esptool's output goes to a logger that feeds the board's Progress and keeps
the rest for the error message; esptool's FatalError becomes a RomLoaderError saying what to
do. ``ESPTOOL_BEFORE`` / ``ESPTOOL_AFTER`` choose the reset sequences (esptool's own variables;
the virtual lab's ROM emulator has no DTR/RTS and uses no-reset).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .boards import BoardProfile
from .errors import NoMicroPython, NotABoard, RomLoaderError, WrongBoard
from .progress import Progress

CONNECT_ATTEMPTS = 3
_current = threading.local()  # the Progress of the board this thread is flashing


_installed = threading.Lock()
_logger_set = False


def _install_logger() -> None:
    """Once per process: esptool's log proxy then points at our logger (which has no set_logger)."""
    global _logger_set
    with _installed:
        if not _logger_set:
            _set_logger()
            _logger_set = True


def _set_logger() -> None:
    from esptool.logger import TemplateLogger, log

    class _ToProgress(TemplateLogger):
        def print(self, *args: Any, **kwargs: Any) -> None:
            pass

        def note(self, message: str) -> None:
            pass

        def warning(self, message: str) -> None:
            pass

        def error(self, message: str) -> None:
            pass

        def stage(self, finish: bool = False) -> None:
            pass

        def progress_bar(self, cur_iter: int, total_iters: int, prefix: str = "", suffix: str = "",
                         bar_length: int = 30) -> None:
            prog = getattr(_current, "progress", None)
            if prog is not None:
                prog._total = total_iters
                prog._done = cur_iter
                prog.advance(0)

        def set_verbosity(self, verbosity: str) -> None:
            pass

    log.set_logger(_ToProgress())


def _connect(port: str) -> Any:
    from esptool import cmds

    before = os.environ.get("ESPTOOL_BEFORE", "default-reset")
    return cmds.detect_chip(port, connect_mode=before, connect_attempts=CONNECT_ATTEMPTS)


def _fatal(port: str, e: Exception) -> RomLoaderError:
    text = " ".join(str(e).split())
    if "could not open" in text.lower():
        return RomLoaderError(f"esptool could not open {port} (busy or gone): close other programs and retry")
    low = text.lower()
    if "failed to connect" in low or "boot mode" in low or "no serial data" in low or "stopped responding" in low:
        return RomLoaderError(f"esptool on {port}: {text[:300]}: hold BOOT, press EN, release BOOT, then retry")
    return RomLoaderError(f"esptool on {port}: {text[:300]}: check that the image is for this chip and fits "
                          "its flash, then retry (the old firmware may be damaged: --firmware is needed)")


@contextlib.contextmanager
def _session(port: str) -> Iterator[Any]:
    """A connected esptool loader; its port closed afterwards, its errors made ours."""
    from esptool.util import FatalError

    _install_logger()
    try:
        esp = _connect(port)
        try:
            yield esp
        finally:
            esp._port.close()
    except FatalError as e:
        raise _fatal(port, e) from None
    except OSError as e:
        raise RomLoaderError(f"esptool on {port}: {e.strerror or e}: check the cable and retry") from None


def detect(port: str) -> tuple[str, str]:
    """(chip description, MAC as 12 hex digits) of a chip in its ROM bootloader."""
    with _session(port) as esp:
        mac = "".join("%02x" % b for b in esp.read_mac("BASE_MAC"))
        return str(esp.get_chip_description()), mac


def write_micropython(port: str, prof: BoardProfile, image: Path, progress: Progress) -> str:
    """Write ``image`` at the profile's offset; returns the chip description."""
    from esptool import cmds

    if prof.chip is None:
        raise RomLoaderError(f"board {prof.name} has no ROM bootloader: leave out --firmware")
    if not image.is_file():
        raise RomLoaderError(f"no MicroPython image at {image}: download ESP32_GENERIC-<version>.bin "
                             "from micropython.org and pass its path")
    data = image.read_bytes()
    if not data or data[0] != 0xE9:  # ESP image header magic (esptool bin_image.py)
        raise RomLoaderError(f"{image} is not an ESP firmware image (no 0xE9 header): pass a MicroPython .bin")
    _current.progress = progress
    progress.step("esptool", 100)
    try:
        with _session(port) as esp:
            desc = str(esp.get_chip_description())
            if not desc.upper().startswith(prof.chip.upper()):
                raise WrongBoard(f"{port} has an {desc}, but board {prof.name} needs an {prof.chip}: "
                                 "pick the right --board")
            cmds.attach_flash(esp)
            cmds.write_flash(esp, [(prof.image_offset, data)], no_compress=True)
            cmds.reset_chip(esp, os.environ.get("ESPTOOL_AFTER", "hard-reset"))
            return desc
    finally:
        _current.progress = None


def explain_no_micropython(port: str, prof: BoardProfile) -> None:
    """No REPL answered: is it an ESP chip in its bootloader (NoMicroPython) or nothing we know?"""
    try:
        desc, _ = detect(port)
    except RomLoaderError:
        raise NotABoard(f"neither a MicroPython REPL nor an ESP ROM bootloader answers on {port}: is it a "
                        "TroSmart node? Check the port name, press EN and retry") from None
    raise NoMicroPython(f"{port} has an {desc} in its ROM bootloader without MicroPython: pass "
                        "--firmware ESP32_GENERIC-<version>.bin (docs/firmware.md §2)")
