"""The device package's errors: each says what happened and what to do next, in one line.

All are ``ToolError``s, so the ``trosmart`` entry point prints ``trosmart: <message>`` and
exits non-zero without a traceback (tools/cli.py).
"""

from __future__ import annotations

from ..errors import ToolError


class DeviceError(ToolError):
    """A failure talking to a board."""


class NoPort(DeviceError):
    """The serial port does not exist."""


class PortBusy(DeviceError):
    """Another program holds the port."""


class NotABoard(DeviceError):
    """Something answers on the port, but neither a MicroPython REPL nor an ESP ROM loader."""


class WrongBoard(DeviceError):
    """The board on the port is not the one asked for."""


class NoMicroPython(DeviceError):
    """An ESP chip in its ROM bootloader without MicroPython, and no image to write."""


class BytecodeMismatch(DeviceError):
    """mpy-cross emits a .mpy version the board cannot import."""


class ConfigInvalid(DeviceError):
    """A configuration key or value the node's schema rejects (the key is named)."""


class Unplugged(DeviceError):
    """The board went away in the middle of an operation."""


class SelfTestFailed(DeviceError):
    """The node's self-test reported a failure."""


class RomLoaderError(DeviceError):
    """esptool could not talk to or write the chip."""


class PackageIndexUnreachable(DeviceError):
    """mpremote's mip could not download a package (no network, index unreachable, no such package)."""


class ImageMismatch(DeviceError):
    """The board's image froze another TroSmart firmware version than the one being flashed."""
