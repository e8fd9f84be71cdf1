"""Host side of the firmware's LoRaWAN MAC: the same modules (firmware/lib/lorawan_*.py) on CPython.

``load()`` puts firmware/lib on sys.path and installs an AES backend with MicroPython
cryptolib's interface (``aes(key, 1).encrypt(in, out)``) built on the ``cryptography``
package, so the CLI, the simulated network server and the tests run the node's own code.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from ..mpy import REPO_ROOT

FIRMWARE_LIB = REPO_ROOT / "firmware" / "lib"


class HostAes:
    """cryptolib.aes on top of cryptography's AES-128 ECB (mode 1 only, as the MAC uses)."""

    def __init__(self, key: bytes, mode: int, iv: bytes | None = None) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        if mode != 1:
            raise ValueError("mode")  # cryptolib's message for an unsupported mode
        if len(key) not in (16, 32):
            raise ValueError("key")
        cipher = Cipher(algorithms.AES(bytes(key)), modes.ECB())  # noqa: S305 - LoRaWAN is defined on ECB
        self._enc = cipher.encryptor()
        self._dec = cipher.decryptor()

    @staticmethod
    def _out(result: bytes, out: Any) -> bytes | None:
        if out is None:
            return result
        out[: len(result)] = result
        return None

    def encrypt(self, data: Any, out: Any = None) -> bytes | None:
        if len(data) % 16:
            raise ValueError("blksize")
        return self._out(self._enc.update(bytes(data)), out)

    def decrypt(self, data: Any, out: Any = None) -> bytes | None:
        if len(data) % 16:
            raise ValueError("blksize")
        return self._out(self._dec.update(bytes(data)), out)


def load(name: str) -> ModuleType:
    """Import firmware module ``name`` (e.g. "lorawan_frames") with the host AES backend."""
    lib = str(FIRMWARE_LIB)
    if lib not in sys.path:
        sys.path.append(lib)
    import importlib

    crypto = importlib.import_module("lorawan_crypto")
    crypto.set_aes(HostAes)
    return importlib.import_module(name)
