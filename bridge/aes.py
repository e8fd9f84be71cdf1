"""AES-128 in ECB mode for one block, shaped like MicroPython's ``cryptolib.aes(key, 1)``.

payload_codec.cmac takes the cipher as an argument; this is the CPython one, on the
PyPI ``cryptography`` package.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class Aes128:
    """``Aes128(key).encrypt(block16)``; the key is 16 bytes."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("an AES-128 key has 16 bytes, not %d" % len(key))
        self._enc = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()  # noqa: S305 (one block, CMAC)

    def encrypt(self, block: bytes) -> bytes:
        if len(block) != 16:
            raise ValueError("AES encrypts 16-byte blocks, not %d" % len(block))
        return self._enc.update(bytes(block))
