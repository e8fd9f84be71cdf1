"""Cayenne LPP (Low Power Payload) in both directions, and its SenML mapping (docs/interop.md).

A frame is records ``[channel:1][type:1][data:N]`` until the buffer ends; N is fixed
by the type, so an unknown type cannot be skipped (docs/references.md §H.1). Values are
big-endian, signed ones two's complement, stored as round(value / resolution).

Types: LPP v1 (myDevices docs/LORA.md, 12 types), the ElectronicCats extended set
(CayenneLPP.h), pycayennelpp's Load (122), npm cayenne-lpp's Magnetometer (114) and
the RAKwireless Standardized Payload types whose size and resolution are published
(RAKwireless_Standardized_Payload.js; docs/references.md §H.2-H.3). Voltage and current are
unsigned (docs/references.md §H.4.2). Encoding rounds half away from zero, never truncates
(docs/references.md §H.4.1). Decoders do not range-check (§H.4.6), so neither does this one.

SenML names are ``<quantity>/<channel>`` (``temperature/3``), with the axis appended for
vectors (``acceleration/3/x``); quantity names and units are the registry's where
one fits. Runs unchanged on MicroPython: no typing at run time, %-formatting only.
"""

from .errors import DecodeError, EncodeError, TruncatedError
from .measurement import _HALF_PLUS_MAX, _ONE_PLUS_TOL

# A component: (key, bytes, signed, LPP divisor, SenML name or None, SenML unit, SenML divisor).
# SenML name None means "<base>/<channel>/<key>"; otherwise "<name>/<channel>".
# The SenML divisor differs from the LPP one only where the SenML unit is scaled
# (conductivity: LPP 0.001 mS/cm -> S/m, so raw / 10000).
# A type: (id, LPP name, SenML base name, (components...)). A scalar has one component
# with key None.
# fmt: off
TYPES = (
    # LPP v1 (myDevices docs/LORA.md)
    (0,   "digital_input",   "digital_input",  ((None, 1, 0, 1, None, None, 1),)),
    (1,   "digital_output",  "digital_output", ((None, 1, 0, 1, None, None, 1),)),
    (2,   "analog_input",    "analog_input",   ((None, 2, 1, 100, None, None, 100),)),
    (3,   "analog_output",   "analog_output",  ((None, 2, 1, 100, None, None, 100),)),
    (101, "illuminance",     "illuminance",    ((None, 2, 0, 1, None, "lx", 1),)),
    (102, "presence",        "presence",       ((None, 1, 0, 1, None, None, 1),)),
    (103, "temperature",     "temperature",    ((None, 2, 1, 10, None, "Cel", 10),)),
    (104, "humidity",        "humidity",       ((None, 1, 0, 2, None, "%RH", 2),)),
    (113, "accelerometer",   "acceleration",   (("x", 2, 1, 1000, None, None, 1000),
                                                ("y", 2, 1, 1000, None, None, 1000),
                                                ("z", 2, 1, 1000, None, None, 1000))),
    (115, "barometer",       "pressure",       ((None, 2, 0, 10, None, "hPa", 10),)),
    (134, "gyrometer",       "angular_rate",   (("x", 2, 1, 100, None, None, 100),
                                                ("y", 2, 1, 100, None, None, 100),
                                                ("z", 2, 1, 100, None, None, 100))),
    (136, "gps",             "gps",            (("latitude", 3, 1, 10000, "latitude", "lat", 10000),
                                                ("longitude", 3, 1, 10000, "longitude", "lon", 10000),
                                                ("altitude", 3, 1, 100, "altitude", "m", 100))),
    # ElectronicCats extended set (CayenneLPP.h), also in pycayennelpp and RAK
    (100, "generic",         "generic",        ((None, 4, 0, 1, None, None, 1),)),
    (116, "voltage",         "voltage",        ((None, 2, 0, 100, None, "V", 100),)),
    (117, "current",         "current",        ((None, 2, 0, 1000, None, "A", 1000),)),
    (118, "frequency",       "frequency",      ((None, 4, 0, 1, None, "Hz", 1),)),
    (120, "percentage",      "percentage",     ((None, 1, 0, 1, None, "/100", 1),)),
    (121, "altitude",        "altitude",       ((None, 2, 1, 1, None, "m", 1),)),
    (125, "concentration",   "concentration",  ((None, 2, 0, 1, None, "ppm", 1),)),
    (128, "power",           "power",          ((None, 2, 0, 1, None, "W", 1),)),
    (130, "distance",        "distance",       ((None, 4, 0, 1000, None, "m", 1000),)),
    (131, "energy",          "energy",         ((None, 4, 0, 1000, None, "kWh", 1000),)),
    (132, "direction",       "direction",      ((None, 2, 0, 1, None, "deg", 1),)),
    (133, "unix_time",       "unix_time",      ((None, 4, 0, 1, None, "s", 1),)),
    (135, "colour",          "colour",         (("r", 1, 0, 1, None, None, 1),
                                                ("g", 1, 0, 1, None, None, 1),
                                                ("b", 1, 0, 1, None, None, 1))),
    (142, "switch",          "switch",         ((None, 1, 0, 1, None, None, 1),)),
    # pycayennelpp only
    (122, "load",            "load",           ((None, 3, 1, 1000, None, None, 1000),)),
    # npm cayenne-lpp only
    (114, "magnetometer",    "magnetic_field", (("x", 2, 1, 1000, None, None, 1000),
                                                ("y", 2, 1, 1000, None, None, 1000),
                                                ("z", 2, 1, 1000, None, None, 1000))),
    # RAKwireless Standardized Payload (types with published size and resolution)
    (137, "gps_precise",     "gps",            (("latitude", 4, 1, 1000000, "latitude", "lat", 1000000),
                                                ("longitude", 4, 1, 1000000, "longitude", "lon", 1000000),
                                                ("altitude", 3, 1, 100, "altitude", "m", 100))),
    (138, "voc_index",       "voc_index",      ((None, 2, 0, 1, None, None, 1),)),
    (105, "air_quality_index", "air_quality_index", ((None, 2, 0, 1, None, None, 1),)),
    (112, "humidity_precise", "humidity",      ((None, 2, 1, 10, None, "%RH", 10),)),
    (126, "device_serial",   "device_serial",  ((None, 3, 0, 1, None, None, 1),)),
    (127, "conductivity",    "conductivity",   ((None, 4, 0, 1000, None, "S/m", 10000),)),
    (190, "wind_speed",      "wind_speed",     ((None, 2, 0, 100, None, "m/s", 100),)),
    (144, "wind_speed_144",  "wind_speed",     ((None, 2, 0, 100, None, "m/s", 100),)),
    (158, "wind_speed_158",  "wind_speed",     ((None, 2, 0, 100, None, "m/s", 100),)),
    (191, "wind_direction",  "wind_direction", ((None, 2, 0, 1, None, "deg", 1),)),
    (159, "wind_direction_159", "wind_direction", ((None, 2, 0, 1, None, "deg", 1),)),
    (188, "soil_moisture",   "soil_moisture",  ((None, 2, 0, 10, None, "/100", 10),)),
    (192, "soil_conductivity", "soil_conductivity", ((None, 2, 0, 1000, None, "S/m", 10000),)),
    (193, "ph",              "ph",             ((None, 2, 0, 100, None, "pH", 100),)),
    (194, "ph_low",          "ph",             ((None, 2, 0, 10, None, "pH", 10),)),
    (195, "pyranometer",     "solar_radiation", ((None, 2, 0, 1, None, "W/m2", 1),)),
    (227, "pm10",            "pm10",           ((None, 2, 0, 1, None, "ug/m3", 1),)),
    (228, "pm2_5",           "pm2_5",          ((None, 2, 0, 1, None, "ug/m3", 1),)),
    (229, "orientation",     "orientation",    ((None, 2, 1, 10, None, "deg", 10),)),
    (233, "noise",           "noise",          ((None, 2, 0, 10, None, "dB", 10),)),
)
# fmt: on

V1_TYPES = (0, 1, 2, 3, 101, 102, 103, 104, 113, 115, 134, 136)
# secondary units (RFC 8798) need the RFC 9100 feature in bver, as payload_codec.senml does
_SECONDARY = ("hPa", "ug/m3", "ppm", "/100", "kWh")
BVER_SECONDARY = 26

_by_id = None
_by_name = None


def _tables():
    global _by_id, _by_name
    if _by_id is None:
        bi = {}
        bn = {}
        for t in TYPES:
            bi[t[0]] = t
            bn[t[1]] = t
        _by_id, _by_name = bi, bn
    return _by_id, _by_name


def type_info(type_id):
    """The TYPES row for an id, or None."""
    return _tables()[0].get(type_id)


def data_size(t):
    n = 0
    for c in t[3]:
        n += c[1]
    return n


def _raw(data, pos, size, signed):
    v = 0
    for i in range(size):
        v = (v << 8) | data[pos + i]
    if signed and v >> (size * 8 - 1):
        v -= 1 << (size * 8)
    return v


def _div(raw, div):
    # exact division, so 272 -> 27.2 on every runtime (and in the generated JavaScript)
    return raw if div == 1 else raw / div


def _records(data):
    """Yield (offset, channel, type row, [raw per component]) or raise naming the offset."""
    n = len(data)
    if n == 0:
        raise TruncatedError("empty LPP frame: at least one record is needed")
    by_id = _tables()[0]
    pos = 0
    out = []
    while pos < n:
        if pos + 2 > n:
            raise TruncatedError(
                "LPP record at byte %d: the frame ends after the channel byte (record header needs 2 bytes)"
                % pos
            )
        ch = data[pos]
        tid = data[pos + 1]
        t = by_id.get(tid)
        if t is None:
            raise DecodeError(
                "LPP record at byte %d (channel %d): unknown type %d (0x%02x); a decoder cannot skip it"
                % (pos, ch, tid, tid)
            )
        size = data_size(t)
        if pos + 2 + size > n:
            raise TruncatedError(
                "LPP record at byte %d (channel %d, type %d %s) needs %d data bytes, %d left"
                % (pos, ch, tid, t[1], size, n - pos - 2)
            )
        raws = []
        p = pos + 2
        for c in t[3]:
            raws.append(_raw(data, p, c[1], c[2]))
            p += c[1]
        out.append((pos, ch, t, raws))
        pos = p
    return out


def decode(data):
    """Decode a frame into [(channel, type_id, value)]; value is a number or, for
    vector types, a dict ({"x","y","z"}, {"latitude","longitude","altitude"}, {"r","g","b"}).
    Raises TruncatedError/DecodeError naming the offset and type; never partial data."""
    items = []
    for _, ch, t, raws in _records(data):
        comps = t[3]
        if comps[0][0] is None:
            value = _div(raws[0], comps[0][3])
        else:
            value = {}
            for i in range(len(comps)):
                value[comps[i][0]] = _div(raws[i], comps[i][3])
        items.append((ch, t[0], value))
    return items


def decode_senml(data):
    """Decode a frame into SenML records (RFC 8428): names ``<quantity>/<channel>``."""
    recs = []
    for _, ch, t, raws in _records(data):
        comps = t[3]
        for i in range(len(comps)):
            key, _, _, _, sname, unit, sdiv = comps[i]
            if key is None:
                name = "%s/%d" % (t[2], ch)
            elif sname is not None:
                name = "%s/%d" % (sname, ch)
            else:
                name = "%s/%d/%s" % (t[2], ch, key)
            r = {"n": name}  # type: dict
            if unit is not None:
                r["u"] = unit
            r["v"] = _div(raws[i], sdiv)
            recs.append(r)
    for r in recs:
        if r.get("u") in _SECONDARY:
            recs[0]["bver"] = BVER_SECONDARY
            break
    return recs


def _code(t, comp, value):
    """Integer for one component: round half away from zero, range-checked."""
    key, size, signed, div = comp[0], comp[1], comp[2], comp[3]
    what = t[1] if key is None else "%s.%s" % (t[1], key)
    if not isinstance(value, (int, float)) or value is True or value is False:
        raise EncodeError("LPP %s must be a number, got %r" % (what, value))
    if value != value or value in (float("inf"), float("-inf")):
        raise EncodeError("LPP %s is %r, which LPP cannot carry" % (what, value))
    # round half away from zero with the measurement encoder's tolerance, so a decimal half
    # step stored in binary (21.35 -> 213.49999999999997) still rounds up (measurement.py _code)
    x = value * div
    a = x if x >= 0 else -x
    if a < 1024:
        raw = int(a * _ONE_PLUS_TOL + 0.5)
    elif a < 4e15:
        raw = int(a + _HALF_PLUS_MAX)
    else:
        raw = None
    if raw is not None and x < 0:
        raw = -raw
    if signed:
        lo, hi = -(1 << (size * 8 - 1)), (1 << (size * 8 - 1)) - 1
    else:
        lo, hi = 0, (1 << (size * 8)) - 1
    if raw is None or raw < lo or raw > hi:
        raise EncodeError(
            "LPP %s = %r is outside %s..%s (refused, not clamped)" % (what, value, _div(lo, div), _div(hi, div))
        )
    return raw & ((1 << (size * 8)) - 1)


def _lookup(type_):
    by_id, by_name = _tables()
    if isinstance(type_, int) and type_ is not True and type_ is not False:
        t = by_id.get(type_)
    elif isinstance(type_, str):
        t = by_name.get(type_)
    else:
        t = None
    if t is None:
        raise EncodeError("unknown LPP type %r" % (type_,))
    return t


def encode(items):
    """Encode [(channel, type id or name, value)] into a frame; vector values are a
    dict keyed like decode() gives, or a list in that order."""
    if not items:
        raise EncodeError("an LPP frame needs at least one record")
    out = bytearray()
    for item in items:
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            raise EncodeError("an LPP record is (channel, type, value), got %r" % (item,))
        ch, type_, value = item
        if not isinstance(ch, int) or ch is True or ch is False or not 0 <= ch <= 255:
            raise EncodeError("LPP channel must be 0..255, got %r" % (ch,))
        t = _lookup(type_)
        comps = t[3]
        if comps[0][0] is None:
            values = [value]
        elif isinstance(value, dict):
            values = []
            for c in comps:
                if c[0] not in value:
                    raise EncodeError("LPP %s needs %s" % (t[1], ", ".join([c2[0] for c2 in comps])))
                values.append(value[c[0]])
            if len(value) != len(comps):
                raise EncodeError("LPP %s has unknown keys in %r" % (t[1], value))
        elif isinstance(value, (list, tuple)) and len(value) == len(comps):
            values = list(value)
        else:
            raise EncodeError("LPP %s needs %d values, got %r" % (t[1], len(comps), value))
        out.append(ch)
        out.append(t[0])
        for i in range(len(comps)):
            raw = _code(t, comps[i], values[i])
            size = comps[i][1]
            for k in range(size - 1, -1, -1):
                out.append((raw >> (8 * k)) & 0xFF)
    return bytes(out)


def encode_json(obj):
    """Encode a JSON list of {"channel", "type" (name or id), "value"} into a frame."""
    if not isinstance(obj, list):
        raise EncodeError('LPP input must be a list of {"channel", "type", "value"} objects')
    items = []
    for rec in obj:
        if not isinstance(rec, dict):
            raise EncodeError("an LPP record must be an object, got %r" % (rec,))
        for k in ("channel", "type", "value"):
            if k not in rec:
                raise EncodeError("an LPP record needs %s: %r" % (k, rec))
        items.append((rec["channel"], rec["type"], rec["value"]))
    return encode(items)
