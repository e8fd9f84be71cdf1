"""AES-CMAC (RFC 4493) over a caller-supplied AES-128 block cipher.

The cipher is an object with ``encrypt(block16) -> bytes`` for one 16-byte block in
ECB mode: ``cryptolib.aes(key, 1)`` on MicroPython, ``bridge.aes.Aes128`` on CPython
(PyPI ``cryptography``). payload_codec imports neither, so the same source runs on
both runtimes (docs/p2p.md §2).
"""

_BLOCK = 16
_RB = 0x87  # RFC 4493 §2.3: const_Rb for 128-bit blocks


def _double(block):
    """Left shift by one bit of a 16-byte string, xor Rb on carry (RFC 4493 §2.3)."""
    out = bytearray(_BLOCK)
    carry = 0
    for i in range(_BLOCK - 1, -1, -1):
        b = block[i]
        out[i] = ((b << 1) & 0xFF) | carry
        carry = b >> 7
    if carry:
        out[_BLOCK - 1] ^= _RB
    return out


def subkeys(aes):
    """(K1, K2) of RFC 4493 §2.3."""
    k1 = _double(aes.encrypt(bytes(_BLOCK)))
    return k1, _double(k1)


def cmac(aes, message, keys=None):
    """The full 16-byte AES-CMAC of ``message`` (RFC 4493 §2.4).

    ``keys`` may carry the (K1, K2) pair from subkeys() to save one block encryption
    per call when one key signs many messages.
    """
    k1, k2 = keys if keys is not None else subkeys(aes)
    n = len(message)
    full = n > 0 and n % _BLOCK == 0
    blocks = (n + _BLOCK - 1) // _BLOCK if n else 1
    x = bytearray(_BLOCK)
    for i in range(blocks - 1):
        off = i * _BLOCK
        for j in range(_BLOCK):
            x[j] ^= message[off + j]
        x = bytearray(aes.encrypt(bytes(x)))
    off = (blocks - 1) * _BLOCK
    last = bytearray(_BLOCK)
    tail = message[off:]
    last[: len(tail)] = tail
    if full:
        sub = k1
    else:
        last[len(tail)] = 0x80
        sub = k2
    for j in range(_BLOCK):
        x[j] ^= last[j] ^ sub[j]
    return bytes(aes.encrypt(bytes(x)))
