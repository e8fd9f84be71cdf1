# LoRaWAN 1.0.4 cryptography on AES-128 ECB (MicroPython cryptolib, docs/references.md §A):
# AES-CMAC (RFC 4493) written on top of ECB, FRMPayload encryption (LoRaWAN 1.0.4 §4.3.3),
# data-frame MIC with block B0 (§4.4); Join-Accept decryption and session keys: lorawan_join.py.
# One Cmac/Cipher per key, created once: no allocation per block (preallocated buffers).
# On CPython, set_aes() installs a backend with cryptolib's interface (aes(key, 1).encrypt).

try:
    from micropython import const
except ImportError:  # CPython (trosmart lorawan, host tests)

    def const(x):
        return x


try:
    from cryptolib import aes as _aes
except ImportError:  # CPython: the host tool installs a backend with set_aes()
    _aes = None

_ECB = const(1)  # cryptolib mode 1 = ECB (docs/references.md §A)
_RB = const(0x87)  # RFC 4493 constant for 128-bit blocks


class CryptoError(Exception):
    """A key of the wrong length, or no AES backend installed."""


def set_aes(factory):
    """Install an AES backend with cryptolib's interface: factory(key, 1).encrypt(in, out)."""
    global _aes
    _aes = factory


def ecb(key):
    """An AES-128 ECB encryptor for a 16-byte key."""
    if len(key) != 16:
        raise CryptoError("AES-128 key must be 16 bytes, got %d" % len(key))
    if _aes is None:
        raise CryptoError("no AES backend (cryptolib missing)")
    return _aes(bytes(key), _ECB)


def _shift_left(src, dst):
    # dst = src << 1 (128-bit big-endian); returns the bit shifted out
    carry = 0
    for i in range(15, -1, -1):
        b = src[i]
        dst[i] = ((b << 1) | carry) & 0xFF
        carry = b >> 7
    return carry


class Cmac:
    """AES-CMAC (RFC 4493) with one key; digest() reuses the same three blocks."""

    def __init__(self, key):
        self.aes = ecb(key)
        self._k1 = bytearray(16)
        self._k2 = bytearray(16)
        self._x = bytearray(16)
        self._blk = bytearray(16)
        l = bytearray(16)
        self.aes.encrypt(bytes(16), l)
        if _shift_left(l, self._k1):
            self._k1[15] ^= _RB
        if _shift_left(self._k1, self._k2):
            self._k2[15] ^= _RB

    def digest(self, msg, n=-1):
        """CMAC of msg[:n] (all of msg by default); returns the 16-byte internal buffer."""
        if n < 0:
            n = len(msg)
        x = self._x
        blk = self._blk
        for j in range(16):
            x[j] = 0
        full = n // 16
        rem = n - full * 16
        if n and not rem:
            last = full - 1  # last block complete: xor K1
            key = self._k1
        else:
            last = full  # padded: 10..0, xor K2
            key = self._k2
        off = 0
        for _ in range(last):
            for j in range(16):
                blk[j] = x[j] ^ msg[off + j]
            self.aes.encrypt(blk, x)
            off += 16
        for j in range(16):
            if off + j < n:
                m = msg[off + j]
            elif off + j == n:
                m = 0x80
            else:
                m = 0
            blk[j] = x[j] ^ m ^ key[j]
        self.aes.encrypt(blk, x)
        return x

    def mic(self, msg, n=-1):
        """The LoRaWAN MIC: the first 4 bytes of the CMAC, as an int (little-endian on air)."""
        x = self.digest(msg, n)
        return x[0] | (x[1] << 8) | (x[2] << 16) | (x[3] << 24)


def _frame_block(b, tag, direction, dev_addr, fcnt):
    # A_i (tag 0x01) and B0 (tag 0x49): tag | 4 x 0 | Dir | DevAddr | FCnt (32 bit) | 0 | (i or len)
    b[0] = tag
    b[1] = b[2] = b[3] = b[4] = 0
    b[5] = direction
    for k in range(4):
        b[6 + k] = (dev_addr >> (8 * k)) & 0xFF
        b[10 + k] = (fcnt >> (8 * k)) & 0xFF
    b[14] = 0


class FrameCipher:
    """FRMPayload encryption (LoRaWAN 1.0.4 §4.3.3): S_i = aes(K, A_i), payload ^= S."""

    def __init__(self, key):
        self.aes = ecb(key)
        self._a = bytearray(16)
        self._s = bytearray(16)

    def crypt(self, buf, start, n, direction, dev_addr, fcnt):
        """En/decrypt buf[start:start+n] in place (the operation is its own inverse)."""
        a = self._a
        s = self._s
        _frame_block(a, 0x01, direction, dev_addr, fcnt)
        i = 0
        while i < n:
            a[15] = (i >> 4) + 1
            self.aes.encrypt(a, s)
            end = n - i if n - i < 16 else 16
            for j in range(end):
                buf[start + i + j] ^= s[j]
            i += 16


def data_mic(cmac, b0, msg, n, direction, dev_addr, fcnt):
    """MIC of a data frame msg[:n] (§4.4): CMAC(NwkSKey, B0 | msg); b0 is a 16+max buffer."""
    _frame_block(b0, 0x49, direction, dev_addr, fcnt)
    b0[15] = n
    for i in range(n):
        b0[16 + i] = msg[i]
    return cmac.mic(b0, 16 + n)
