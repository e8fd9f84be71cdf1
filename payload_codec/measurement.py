"""Measurement frames: single samples and multi-sample batches (docs/codec.md §2-§4).

    byte 0   VVV B PPPP   version (3 bits), batch flag, profile nibble
             PPPP 1..14   predefined profile
             PPPP 15      profile id 15..255 in the next byte
             PPPP 0       next byte 0: self-described (count, then one id byte per quantity)
                          next byte 1..255: layout announced by the node (fPort 3)
    batch    count byte, varint age of the newest sample, varint timing code
    fields   MSB-first bit stream, zero-padded to a byte
"""

from . import registry as reg
from .bits import BitReader, BitWriter
from .errors import (
    DecodeError,
    EncodeError,
    TruncatedError,
    UnknownLayoutError,
    UnknownProfileError,
    UnsupportedVersionError,
)

VERSION = 1
MAX_SAMPLES = 64
_RAW = 15  # width code: later samples carry full codes instead of deltas
# A decimal half step stored in binary (21.35 as float32 is 21.3500004, as 2.675 is
# 2.67499995) must still round away from zero: up to min(2**-20 relative, 1/1024 step)
# below a half step counts as the half step.
_TOL_REL = 9.5367431640625e-07  # 2**-20, > 8 float32 ulps
_TOL_MAX = 0.0009765625  # 2**-10 of a step


def _code(row, value):
    """Field code for a value: rounded half away from zero, never truncated."""
    if value is None:
        return None
    name = row[1]
    if row[7] == reg.BOOL:
        if value is True or value is False or value == 0 or value == 1:
            return 1 if value else 0
        raise EncodeError("%s must be true or false, got %r" % (name, value))
    if not isinstance(value, (int, float)) or value is True or value is False:
        raise EncodeError("%s must be a number, got %r" % (name, value))
    if value != value or value in (float("inf"), float("-inf")):
        raise EncodeError("%s is %r: pass null to mark the sensor invalid" % (name, value))
    mul = row[5]
    x = value * row[6] / mul if mul != 1 else value * row[6]
    a = x if x >= 0 else -x
    if a > 4e15:
        raw = None
    else:
        tol = a * _TOL_REL
        raw = int(a + 0.5 + (tol if tol < _TOL_MAX else _TOL_MAX))
        if x < 0:
            raw = -raw
    if raw is None or raw < row[3] or raw > row[4]:
        raise EncodeError(
            "%s = %r is outside its range %s..%s %s (refused, not clamped)"
            % (name, value, _value(row, row[3]), _value(row, row[4]), row[2] or "")
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


def _read_varint(data, pos, what):
    n = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise TruncatedError("frame ends inside %s at byte %d" % (what, pos))
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7
        if shift > 28:
            raise DecodeError("%s at byte %d is longer than 5 bytes" % (what, pos - 1))


def _header(out, batch, qids, layout):
    """Write the header and return the field rows in order."""
    b = (VERSION << 5) | (0x10 if batch else 0)
    if layout is not None:
        lid, names = layout
        if not 1 <= lid <= 255:
            raise EncodeError("layout id must be 1..255, got %r" % (lid,))
        out.append(b)
        out.append(lid)
        return [reg.by_name(n) for n in names]
    prof = reg.profile_for(qids)
    if prof is not None:
        pid = prof[0]
        if pid < 15:
            out.append(b | pid)
        else:
            out.append(b | 15)
            out.append(pid)
        return [reg.by_id(q) for q in prof[2]]
    if len(qids) > 255:
        raise EncodeError("at most 255 quantities in one frame")
    out.append(b)
    out.append(0)
    out.append(len(qids))
    rows = []
    for q in sorted(qids):
        out.append(q)
        rows.append(reg.by_id(q))
    return rows


def _qids(names):
    qids = []
    for n in names:
        qids.append(reg.by_name(n)[0])
    if not qids:
        raise EncodeError("no values to encode")
    return tuple(qids)


def encode(values: dict, layout=None) -> bytes:
    """Encode one sample {name: value or None} as a measurement frame.

    ``layout`` = (layout_id, names) selects a node-announced layout; otherwise
    a predefined profile with exactly these quantities, else a self-described frame.
    None marks a failed sensor; a value outside the registry range raises EncodeError.
    """
    if layout is not None:
        for n in values:
            if n not in layout[1]:
                raise EncodeError("%s is not in layout %d" % (n, layout[0]))
    out = bytearray()
    rows = _header(out, False, _qids(values), layout)
    w = BitWriter(out)
    for row in rows:
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
    if layout is not None:
        for n in names:
            if n not in layout[1]:
                raise EncodeError("%s is not in layout %d" % (n, layout[0]))
    out = bytearray()
    rows = _header(out, True, _qids(names), layout)
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


def _read_header(data, layouts):
    if not data:
        raise TruncatedError("empty frame")
    b = data[0]
    version = b >> 5
    if version != VERSION:
        raise UnsupportedVersionError(
            "measurement frame version %d is not supported (this decoder knows 1)" % version
        )
    batch = bool(b & 0x10)
    nib = b & 0x0F
    pos = 1
    prof_name = None
    layout_id = None
    if nib:
        pid = nib
        if nib == 15:
            if len(data) < 2:
                raise TruncatedError("frame ends before the profile id byte")
            pid = data[1]
            pos = 2
        prof = reg.profile(pid)
        if prof is None:
            raise UnknownProfileError("unknown profile %d" % pid)
        prof_name = prof[1]
        qids = prof[2]
    else:
        if len(data) < 2:
            raise TruncatedError("frame ends before the layout byte")
        sel = data[1]
        pos = 2
        if sel == 0:
            if len(data) < 3:
                raise TruncatedError("frame ends before the quantity count")
            n = data[2]
            if n == 0:
                raise DecodeError("self-described frame lists no quantities")
            if len(data) < 3 + n:
                raise TruncatedError(
                    "frame ends inside the quantity list (needs %d ids, has %d)"
                    % (n, len(data) - 3)
                )
            qids = tuple(data[3 : 3 + n])
            pos = 3 + n
        else:
            layout_id = sel
            if layouts is None or sel not in layouts:
                raise UnknownLayoutError(sel)
            qids = layouts[sel]
    rows = [reg.by_id(q) if isinstance(q, int) else reg.by_name(q) for q in qids]
    return batch, pos, rows, prof_name, layout_id


def _check(row, code, bits, where):
    if code == (1 << bits) - 1:
        return None
    if code > row[4] - row[3]:
        raise DecodeError(
            "%s code %d at bit %d is out of range (max %d)" % (row[1], code, where, row[4] - row[3])
        )
    return code


def decode(data, layouts=None) -> dict:
    """Decode a measurement frame (bytes) into
    {"version", "profile", "layout", "quantities": [names], "samples": [{"offset_s", "values"}]}.

    ``layouts`` maps announced layout ids to quantity ids or names (the bridge keeps them).
    A failed sensor decodes as None.
    """
    batch, pos, rows, prof_name, layout_id = _read_header(data, layouts)
    names = [row[1] for row in rows]
    if batch:
        samples = _decode_batch(data, pos, rows)
    else:
        r = BitReader(data, pos)
        vals = {}
        for row in rows:
            bits = reg.field_bits(row)
            at = r.pos
            c = _check(row, r.read(bits, row[1]), bits, at)
            vals[row[1]] = None if c is None else _value(row, c + row[3])
        _end(r)
        samples = [{"offset_s": 0, "values": vals}]
    return {
        "version": VERSION,
        "profile": prof_name,
        "layout": layout_id,
        "quantities": names,
        "samples": samples,
    }


def _end(r):
    left = r.remaining()
    if left >= 8:
        raise DecodeError("%d trailing bytes after the last field" % (left // 8))
    if left and r.read(left, "padding"):
        raise DecodeError("padding bits after the last field are not zero")


def _decode_batch(data, pos, rows):
    if pos >= len(data):
        raise TruncatedError("frame ends before the sample count")
    n = data[pos]
    pos += 1
    if n == 0 or n > MAX_SAMPLES:
        raise DecodeError("sample count %d at byte %d is not 1..%d" % (n, pos - 1, MAX_SAMPLES))
    age, pos = _read_varint(data, pos, "the sample age")
    gaps = []
    if n > 1:
        t, pos = _read_varint(data, pos, "the timing code")
        gaps.append(t >> 1)
        for _ in range(n - 2):
            if t & 1:
                g, pos = _read_varint(data, pos, "a sample gap")
            else:
                g = t >> 1
            gaps.append(g)
    r = BitReader(data, pos)
    nq = len(rows)
    bitsl = [reg.field_bits(row) for row in rows]
    first = []
    for j in range(nq):
        at = r.pos
        first.append(_check(rows[j], r.read(bitsl[j], rows[j][1]), bitsl[j], at))
    codes = [first]
    if n > 1:
        widths = [r.read(4, "a delta width") for _ in range(nq)]
        base = list(first)
        for _ in range(1, n):
            row_codes = []
            for j in range(nq):
                row = rows[j]
                wd = widths[j]
                at = r.pos
                if wd == _RAW:
                    c = _check(row, r.read(bitsl[j], row[1]), bitsl[j], at)
                elif wd == 0:
                    if base[j] is None:
                        raise DecodeError("%s has width 0 but no first value" % row[1])
                    c = base[j]
                else:
                    u = r.read(wd, row[1] + " delta")
                    if u == 1 << (wd - 1):
                        c = None
                    else:
                        d = u - (1 << wd) if u >> (wd - 1) else u
                        if base[j] is None:
                            raise DecodeError(
                                "%s delta at bit %d follows no valid value" % (row[1], at)
                            )
                        c = base[j] + d
                        if c < 0 or c > row[4] - row[3]:
                            raise DecodeError(
                                "%s delta at bit %d leaves the range" % (row[1], at)
                            )
                if c is not None:
                    base[j] = c
                row_codes.append(c)
            codes.append(row_codes)
    _end(r)
    offs = [0] * n
    offs[n - 1] = -age
    for i in range(n - 2, -1, -1):
        offs[i] = offs[i + 1] - gaps[i]
    samples = []
    for i in range(n):
        vals = {}
        for j in range(nq):
            c = codes[i][j]
            vals[rows[j][1]] = None if c is None else _value(rows[j], c + rows[j][3])
        samples.append({"offset_s": offs[i], "values": vals})
    return samples


def encode_layout(layout_id: int, names) -> bytes:
    """Layout announcement (fPort 3): version byte, layout id, count, quantity ids."""
    if not 1 <= layout_id <= 255:
        raise EncodeError("layout id must be 1..255, got %r" % (layout_id,))
    qids = _qids(names)
    if len(qids) > 255:
        raise EncodeError("at most 255 quantities in a layout")
    return bytes([VERSION << 5, layout_id, len(qids)]) + bytes(qids)


def decode_layout(data) -> dict:
    """Decode a layout announcement into {"layout": id, "quantities": [names]}."""
    if len(data) < 3:
        raise TruncatedError("layout announcement needs at least 3 bytes, got %d" % len(data))
    if data[0] >> 5 != VERSION or data[0] & 0x1F:
        raise UnsupportedVersionError("layout announcement header 0x%02x is not supported" % data[0])
    lid = data[1]
    n = data[2]
    if lid == 0 or n == 0:
        raise DecodeError("layout id and count must be non-zero")
    if len(data) != 3 + n:
        if len(data) < 3 + n:
            raise TruncatedError("layout announcement lists %d ids but has %d" % (n, len(data) - 3))
        raise DecodeError("%d trailing bytes after the layout" % (len(data) - 3 - n))
    return {"layout": lid, "quantities": [reg.by_id(q)[1] for q in data[3:]]}
