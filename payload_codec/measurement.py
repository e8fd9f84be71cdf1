"""Measurement frames: single samples and multi-sample batches (docs/codec.md §2-§4).

    byte 0   VVV B PPPP   version (3 bits), batch flag, profile nibble
             PPPP 1..14   predefined profile
             PPPP 15      profile id 15..255 in the next byte
             PPPP 0       next byte 0: self-described (count, then one id byte per quantity)
                          next byte 1..255: layout announced by the node (fPort 3)
    batch    count byte, varint age of the newest sample, varint timing code
    fields   MSB-first bit stream, zero-padded to a byte

This module is the encoder a node loads; decoding lives in measurement_decode.py.
"""

from . import registry as reg
from .bits import BitWriter
from .errors import EncodeError

VERSION = 1
MAX_SAMPLES = 64
_RAW = 15  # width code: later samples carry full codes instead of deltas
# A decimal half step stored in binary (21.35 as float32 is 21.3500004, as 2.675 is
# 2.67499995) must still round away from zero: up to min(2**-20 relative, 1/1024 step)
# below a half step counts as the half step. Written with few float operations: every
# float result is a heap object on MicroPython.
_ONE_PLUS_TOL = 1.00000095367431640625  # 1 + 2**-20 (> 8 float32 ulps)
_HALF_PLUS_MAX = 0.5009765625  # 0.5 + 2**-10 of a step, for magnitudes >= 1024 steps
_FLOAT32_EXACT = 1 << 24  # a wider field (a meter index) also takes an exact decimal string
_INF = float("inf")
_NINF = float("-inf")


def _code(row, value):
    """Field code for a value: rounded half away from zero, never truncated."""
    if value is None:
        return None
    if row[7] == reg.BOOL:
        if value is True or value is False or value == 0 or value == 1:
            return 1 if value else 0
        raise EncodeError("%s must be true or false, got %r" % (row[1], value))
    if isinstance(value, str) and row[4] - row[3] > _FLOAT32_EXACT:
        return _decimal_code(row, value)
    if not isinstance(value, (int, float)) or value is True or value is False:
        raise EncodeError("%s must be a number, got %r" % (row[1], value))
    if value != value or value == _INF or value == _NINF:
        raise EncodeError("%s is %r: pass null to mark the sensor invalid" % (row[1], value))
    x = value * row[6]
    if row[5] != 1:
        x = x / row[5]
    neg = x < 0
    if neg:
        x = -x
    if x < 1024:
        raw = int(x * _ONE_PLUS_TOL + 0.5)
    elif x < 4e15:
        raw = int(x + _HALF_PLUS_MAX)
    else:
        raw = row[4] + 1  # far out of range
    if neg:
        raw = -raw
    return _field_code(row, raw, value)


def _decimal_code(row, text):
    """Field code of a decimal string ("7842.497"), in integers only: a meter index has more
    digits than a float32 (the ESP32's float) holds. Only for fields wider than 2**24 codes
    (volume_index, gas_index, energy, pulse_count); rounded half away from zero."""
    t = text
    neg = t[:1] == "-"
    if neg:
        t = t[1:]
    whole, _, frac = t.partition(".")
    if not (whole + frac).isdigit() or len(t) > 24 or (not whole and not frac):
        raise EncodeError("%s must be a number or a decimal string, got %r" % (row[1], text))
    num = int(whole + frac) * row[6]  # value * div ...
    den = row[5] * 10 ** len(frac)  # ... / mul
    raw = (2 * num + den) // (2 * den)
    if neg:
        raw = -raw
    return _field_code(row, raw, text)


def _field_code(row, raw, given):
    """``raw`` as the field's offset code; out of range is refused, never clamped (the
    message shows ``given`` as the caller wrote it: a decimal string as is, a number by repr)."""
    if raw < row[3] or raw > row[4]:
        raise EncodeError(
            "%s = %s is outside its range %s..%s %s (refused, not clamped)"
            % (row[1], given if isinstance(given, str) else repr(given), _value(row, row[3]),
               _value(row, row[4]), row[2] or "")
        )
    return raw - row[3]


def _value(row, raw):
    """Decoded value of a raw integer: exact division so 214 -> 21.4."""
    if row[7] == reg.BOOL:
        return raw == 1
    if row[6] == 1:
        return raw * row[5]
    return raw * row[5] / row[6]


def _bitlen(n):
    b = 0
    while n:
        b += 1
        n >>= 1
    return b


def _varint(out, n):
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _header(out, batch, names, layout):
    """Write the header; return the quantity ids (or names, for layouts) in field order."""
    b = (VERSION << 5) | (0x10 if batch else 0)
    if not names:
        raise EncodeError("no values to encode")
    if layout is not None:
        lid, lnames = layout
        if not 1 <= lid <= 255:
            raise EncodeError("layout id must be 1..255, got %r" % (lid,))
        for n in names:
            if n not in lnames:
                raise EncodeError("%s is not in layout %d" % (n, lid))
        out.append(b)
        out.append(lid)
        return lnames
    prof = reg.profile_for(names)
    if prof is not None:
        pid = prof[0]
        if pid < 15:
            out.append(b | pid)
        else:
            out.append(b | 15)
            out.append(pid)
        return prof[2]
    qids = []
    for n in names:
        qids.append(reg.by_name(n)[0])
    if len(qids) > 255:
        raise EncodeError("at most 255 quantities in one frame")
    qids.sort()
    out.append(b)
    out.append(0)
    out.append(len(qids))
    for q in qids:
        out.append(q)
    return qids


def _row(q):
    return reg.by_id(q) if isinstance(q, int) else reg.by_name(q)


def encode(values: dict, layout=None) -> bytes:
    """Encode one sample {name: value or None} as a measurement frame.

    ``layout`` = (layout_id, names) selects a node-announced layout; otherwise
    a predefined profile with exactly these quantities, else a self-described frame.
    None marks a failed sensor; a value outside the registry range raises EncodeError.
    """
    out = bytearray()
    fields = _header(out, False, values, layout)
    w = BitWriter(out)
    for q in fields:
        row = _row(q)
        bits = reg.field_bits(row)
        c = _code(row, values.get(row[1]))
        w.write((1 << bits) - 1 if c is None else c, bits)
    w.flush()
    return bytes(out)


def _sample_parts(s):
    if isinstance(s, dict):
        if "offset_s" not in s or "values" not in s:
            raise EncodeError("a batch sample needs offset_s and values")
        return s["offset_s"], s["values"]
    return s[0], s[1]


def encode_batch(samples, layout=None) -> bytes:
    """Encode samples [(offset_s, {name: value}), ...] (or dicts with offset_s/values).

    Offsets are whole seconds <= 0 relative to sending. A quantity missing from a
    sample is marked invalid there. Samples are stored oldest first.
    """
    if not samples:
        raise EncodeError("a batch needs at least one sample")
    if len(samples) > MAX_SAMPLES:
        raise EncodeError("a batch holds at most %d samples, got %d" % (MAX_SAMPLES, len(samples)))
    parts: list = []
    names = {}
    for s in samples:
        off, vals = _sample_parts(s)
        if not isinstance(off, int) or off is True or off is False or off > 0:
            raise EncodeError("offset_s must be a whole number of seconds <= 0, got %r" % (off,))
        # (offset, input position): MicroPython's sort is not stable, equal offsets keep input order
        parts.append((off, len(parts), vals))
        for n in vals:
            names[n] = 1
    parts.sort(key=lambda p: (p[0], p[1]))
    out = bytearray()
    rows = [_row(q) for q in _header(out, True, names, layout)]
    n = len(parts)
    out.append(n)
    _varint(out, -parts[-1][0])
    if n > 1:
        gaps = [parts[i + 1][0] - parts[i][0] for i in range(n - 1)]
        uniform = True
        for g in gaps:
            if g != gaps[0]:
                uniform = False
        if uniform:
            _varint(out, gaps[0] << 1)
        else:
            _varint(out, (gaps[0] << 1) | 1)
            for g in gaps[1:]:
                _varint(out, g)
    codes = []
    for row in rows:
        codes.append([_code(row, p[2].get(row[1])) for p in parts])
    w = BitWriter(out)
    widths = []
    for j in range(len(rows)):
        bits = reg.field_bits(rows[j])
        c0 = codes[j][0]
        w.write((1 << bits) - 1 if c0 is None else c0, bits)
        widths.append(_width(codes[j], bits))
    if n > 1:
        for wd in widths:
            w.write(wd, 4)
        for i in range(1, n):
            for j in range(len(rows)):
                _write_later(w, rows[j], codes[j], i, widths[j])
    w.flush()
    return bytes(out)


def _width(codes, bits):
    """Smallest delta width for a quantity's later samples, or _RAW."""
    base = codes[0]
    maxabs = 0
    invalid = False
    for c in codes[1:]:
        if c is None:
            invalid = True
            continue
        if base is None:
            return _RAW
        d = c - base if c >= base else base - c
        if d > maxabs:
            maxabs = d
        base = c
    if maxabs == 0:
        wd = 1 if invalid else 0
    else:
        wd = _bitlen(maxabs) + 1
    if wd >= bits or wd > 14:
        return _RAW
    return wd


def _write_later(w, row, codes, i, wd):
    c = codes[i]
    if wd == _RAW:
        bits = reg.field_bits(row)
        w.write((1 << bits) - 1 if c is None else c, bits)
        return
    if wd == 0:
        return
    if c is None:
        w.write(1 << (wd - 1), wd)
        return
    base = None
    for k in range(i - 1, -1, -1):
        if codes[k] is not None:
            base = codes[k]
            break
    w.write(c - base, wd)


def encode_layout(layout_id: int, names) -> bytes:
    """Layout announcement (fPort 3): version byte, layout id, count, quantity ids."""
    if not 1 <= layout_id <= 255:
        raise EncodeError("layout id must be 1..255, got %r" % (layout_id,))
    if not names:
        raise EncodeError("no quantities in the layout")
    qids = [reg.by_name(n)[0] for n in names]
    if len(qids) > 255:
        raise EncodeError("at most 255 quantities in a layout")
    return bytes([VERSION << 5, layout_id, len(qids)]) + bytes(qids)


def decode(data, layouts=None) -> dict:
    """Decode a measurement frame (see measurement_decode.decode)."""
    from .measurement_decode import decode as _decode

    return _decode(data, layouts)


def decode_layout(data) -> dict:
    """Decode a layout announcement (see measurement_decode.decode_layout)."""
    from .measurement_decode import decode_layout as _decode_layout

    return _decode_layout(data)
