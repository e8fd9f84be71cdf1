"""Decoding of measurement frames and layout announcements (docs/codec.md §2-§4).

Kept apart from the encoder so a node that only encodes does not load it.
"""

from . import registry as reg
from .bits import BitReader
from .errors import (
    DecodeError,
    TruncatedError,
    UnknownLayoutError,
    UnknownProfileError,
    UnsupportedVersionError,
)
from .measurement import _RAW, MAX_SAMPLES, VERSION, _value

_bits: dict = {}  # quantity id -> field width: the bridge decodes the same few rows all day


def _field_bits(row):
    n = _bits.get(row[0])
    if n is None:
        n = _bits[row[0]] = reg.field_bits(row)
    return n


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
            bits = _field_bits(row)
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
    bitsl = [_field_bits(row) for row in rows]
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
