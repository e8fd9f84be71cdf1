"""A small CBOR (RFC 8949) encoder/decoder for the status frame, runnable on MicroPython.

Subset: unsigned/negative integers, byte and text strings, arrays, maps, false,
true, null and floats (decode: half, single, double; encode: double, and
half for NaN/infinities, as cbor2 does by default). Definite lengths only; tags and indefinite lengths raise
DecodeError. The encoder writes the shortest argument and sorts map keys (RFC 8949 §4.2.1).
"""

import struct

from .errors import DecodeError, EncodeError, TruncatedError

MAX_DEPTH = 16
_INF = float("inf")


def _head(out, major, n):
    if n < 24:
        out.append((major << 5) | n)
    elif n < 0x100:
        out.append((major << 5) | 24)
        out.append(n)
    elif n < 0x10000:
        out.append((major << 5) | 25)
        out.extend(struct.pack(">H", n))
    elif n < 0x100000000:
        out.append((major << 5) | 26)
        out.extend(struct.pack(">I", n))
    elif n < 0x10000000000000000:
        out.append((major << 5) | 27)
        out.extend(struct.pack(">Q", n))
    else:
        raise EncodeError("integer %d does not fit CBOR's 64-bit argument" % n)


def dumps(obj) -> bytes:
    out = bytearray()
    _enc(out, obj, 0)
    return bytes(out)


def _enc(out, obj, depth):
    if depth > MAX_DEPTH:
        raise EncodeError("nesting deeper than %d" % MAX_DEPTH)
    if obj is False:
        out.append(0xF4)
    elif obj is True:
        out.append(0xF5)
    elif obj is None:
        out.append(0xF6)
    elif isinstance(obj, int):
        if obj >= 0:
            _head(out, 0, obj)
        else:
            _head(out, 1, -1 - obj)
    elif isinstance(obj, float):
        if obj != obj:
            out.extend(b"\xf9\x7e\x00")  # NaN, infinities as half floats, as cbor2 writes them
        elif obj == _INF:
            out.extend(b"\xf9\x7c\x00")
        elif obj == -_INF:
            out.extend(b"\xf9\xfc\x00")
        else:
            out.append(0xFB)
            out.extend(struct.pack(">d", obj))
    elif isinstance(obj, (bytes, bytearray)):
        _head(out, 2, len(obj))
        out.extend(obj)
    elif isinstance(obj, str):
        b = obj.encode()
        _head(out, 3, len(b))
        out.extend(b)
    elif isinstance(obj, (list, tuple)):
        _head(out, 4, len(obj))
        for x in obj:
            _enc(out, x, depth + 1)
    elif isinstance(obj, dict):
        # deterministic: keys in bytewise order of their encodings (RFC 8949 §4.2.1), so
        # MicroPython (unordered dicts) and CPython write the same bytes
        keys = []
        for k in obj:
            kb = bytearray()
            _enc(kb, k, depth + 1)
            keys.append((bytes(kb), k))
        keys.sort(key=lambda p: p[0])
        _head(out, 5, len(keys))
        for key_bytes, k in keys:
            out.extend(key_bytes)
            _enc(out, obj[k], depth + 1)
    else:
        raise EncodeError("cannot encode %s as CBOR" % type(obj).__name__)


def loads(data, start: int = 0):
    """Decode one item that must fill data[start:]; returns the item."""
    obj, pos = decode_item(data, start, 0)
    if pos != len(data):
        raise DecodeError("%d trailing bytes after the CBOR item at byte %d" % (len(data) - pos, pos))
    return obj


def _need(data, pos, n):
    if pos + n > len(data):
        raise TruncatedError("CBOR item at byte %d needs %d more bytes" % (pos, pos + n - len(data)))


def _half(h):
    exp = (h >> 10) & 0x1F
    mant = h & 0x3FF
    if exp == 0:
        val = mant * 2.0**-24
    elif exp == 31:
        val = float("inf") if mant == 0 else float("nan")
    else:
        val = (mant + 1024) * 2.0 ** (exp - 25)
    return -val if h & 0x8000 else val


def decode_item(data, pos, depth):
    """Decode the item at ``pos``; returns (item, next position)."""
    if depth > MAX_DEPTH:
        raise DecodeError("CBOR nesting deeper than %d at byte %d" % (MAX_DEPTH, pos))
    _need(data, pos, 1)
    ib = data[pos]
    start = pos
    pos += 1
    major = ib >> 5
    ai = ib & 0x1F
    if major == 7:
        if ai == 20:
            return False, pos
        if ai == 21:
            return True, pos
        if ai == 22:
            return None, pos
        if ai == 25:
            _need(data, pos, 2)
            return _half((data[pos] << 8) | data[pos + 1]), pos + 2
        if ai == 26:
            _need(data, pos, 4)
            return struct.unpack(">f", bytes(data[pos : pos + 4]))[0], pos + 4
        if ai == 27:
            _need(data, pos, 8)
            return struct.unpack(">d", bytes(data[pos : pos + 8]))[0], pos + 8
        raise DecodeError("CBOR simple value 0x%02x at byte %d is not supported" % (ib, start))
    if ai < 24:
        n = ai
    elif ai <= 27:
        k = 1 << (ai - 24)
        _need(data, pos, k)
        n = 0
        for i in range(k):
            n = (n << 8) | data[pos + i]
        pos += k
    else:
        raise DecodeError(
            "CBOR additional info %d at byte %d (indefinite length) is not supported" % (ai, start)
        )
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major == 2 or major == 3:
        _need(data, pos, n)
        chunk = bytes(data[pos : pos + n])
        if major == 2:
            return chunk, pos + n
        try:
            return chunk.decode(), pos + n
        except UnicodeError:
            raise DecodeError("CBOR text at byte %d is not UTF-8" % start) from None
    if major == 4:
        if n > len(data) - pos:
            raise TruncatedError("CBOR array at byte %d announces %d items" % (start, n))
        items = []
        for _ in range(n):
            x, pos = decode_item(data, pos, depth + 1)
            items.append(x)
        return items, pos
    if major == 5:
        if 2 * n > len(data) - pos:
            raise TruncatedError("CBOR map at byte %d announces %d pairs" % (start, n))
        m = {}
        for _ in range(n):
            k, pos = decode_item(data, pos, depth + 1)
            if isinstance(k, (list, dict)):
                raise DecodeError("CBOR map key at byte %d is not hashable" % start)
            v, pos = decode_item(data, pos, depth + 1)
            m[k] = v
        return m, pos
    raise DecodeError("CBOR tag at byte %d is not supported" % start)
