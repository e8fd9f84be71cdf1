"""Status frames (fPort 2): a version byte, then a CBOR map with small integer keys.

Keys (docs/codec.md §5): 0 firmware, 1 reset cause, 2 uptime s, 3 sensor error
counters {sensor: count}, 4 battery mV, 5 config hash, 6 config errors [key],
7 command result [opcode, result], 8 sample counter, 9 interval s, 10 failed sensors,
11 samples dropped (a full store dropped its oldest samples since the last status).
Unknown keys from newer nodes are kept as "k<N>".
"""

from . import cbor
from .errors import DecodeError, EncodeError, TruncatedError, UnsupportedVersionError

VERSION = 1

# reset causes as machine.reset_cause() reports them on ESP32 (docs/references.md §F)
RESET_CAUSES = ("unknown", "power_on", "hard", "watchdog", "deep_sleep", "soft")
# command result codes in a status reply
RESULTS = ("ok", "out_of_range", "unknown_command", "unsupported", "malformed", "busy")

# name, key, kind: u = unsigned int, t = text, m = map text->uint, l = list of text
_FIELDS = (
    ("firmware", 0, "t"),
    ("reset_cause", 1, "r"),
    ("uptime_s", 2, "u"),
    ("sensor_errors", 3, "m"),
    ("battery_voltage", 4, "v"),
    ("config_hash", 5, "u"),
    ("config_errors", 6, "l"),
    ("command_result", 7, "c"),
    ("sample_counter", 8, "u"),
    ("interval_s", 9, "u"),
    ("failed_sensors", 10, "l"),
    ("samples_dropped", 11, "u"),  # store and forward: oldest samples dropped from a full store
)


def _uint(name, v):
    if not isinstance(v, int) or v is True or v is False or v < 0 or v > 0xFFFFFFFF:
        raise EncodeError("status %s must be an integer 0..4294967295, got %r" % (name, v))
    return v


def _texts(name, v):
    if not isinstance(v, (list, tuple)):
        raise EncodeError("status %s must be a list of names" % name)
    for x in v:
        if not isinstance(x, str):
            raise EncodeError("status %s must hold strings, got %r" % (name, x))
    return list(v)


def encode_status(status: dict) -> bytes:
    """Encode a status dict (keys as in _FIELDS) to a status frame."""
    known = {}
    for f in _FIELDS:
        known[f[0]] = f
    for k in status:
        if k not in known:
            raise EncodeError("unknown status field %r" % (k,))
    m = {}
    for name, key, kind in _FIELDS:
        if name not in status:
            continue
        v = status[name]
        if kind == "t":
            if not isinstance(v, str) or len(v) > 32:
                raise EncodeError("status firmware must be a string of at most 32 characters")
        elif kind == "r":
            if v not in RESET_CAUSES:
                raise EncodeError("reset_cause must be one of %s" % ", ".join(RESET_CAUSES))
            v = RESET_CAUSES.index(v)
        elif kind == "u":
            v = _uint(name, v)
        elif kind == "v":
            if not isinstance(v, (int, float)) or v is True or not 0 <= v <= 65.535:
                raise EncodeError("battery_voltage must be 0..65.535 V, got %r" % (v,))
            v = int(v * 1000 + 0.5)
        elif kind == "m":
            if not isinstance(v, dict):
                raise EncodeError("sensor_errors must map sensor names to counts")
            for s in v:
                if not isinstance(s, str):
                    raise EncodeError("sensor_errors keys must be sensor names")
                _uint("sensor_errors[%s]" % s, v[s])
        elif kind == "l":
            v = _texts(name, v)
        elif kind == "c":
            from .downlink import OPCODES

            if not isinstance(v, dict) or v.get("command") not in OPCODES:
                raise EncodeError("command_result needs a known command name")
            if v.get("result") not in RESULTS:
                raise EncodeError("command_result result must be one of %s" % ", ".join(RESULTS))
            v = [OPCODES[v["command"]], RESULTS.index(v["result"])]
        m[key] = v
    return bytes([VERSION << 5]) + cbor.dumps(m)


def decode_status(data) -> dict:
    """Decode a status frame into a dict with the field names of encode_status."""
    if not data:
        raise TruncatedError("empty status frame")
    if data[0] >> 5 != VERSION or data[0] & 0x1F:
        raise UnsupportedVersionError("status frame header 0x%02x is not supported" % data[0])
    m = cbor.loads(data, 1)
    if not isinstance(m, dict):
        raise DecodeError("status body must be a CBOR map")
    out = {}
    byk = {}
    for f in _FIELDS:
        byk[f[1]] = f
    for key in m:
        v = m[key]
        spec = byk.get(key)
        if spec is None:
            out["k%s" % (key,)] = v
            continue
        name, _, kind = spec
        if kind == "t":
            ok = isinstance(v, str)
        elif kind in "uv":
            ok = isinstance(v, int) and v is not True and v is not False and v >= 0
        elif kind == "r":
            ok = isinstance(v, int) and v is not True and v is not False and 0 <= v < len(RESET_CAUSES)
            if ok:
                v = RESET_CAUSES[v]
        elif kind == "m":
            ok = isinstance(v, dict)
            if ok:
                for s in v:
                    if not isinstance(s, str) or not isinstance(v[s], int) or v[s] is True or v[s] is False:
                        ok = False
        elif kind == "l":
            ok = isinstance(v, list)
            if ok:
                for x in v:
                    if not isinstance(x, str):
                        ok = False
        else:  # command result
            from .downlink import NAMES

            ok = (
                isinstance(v, list)
                and len(v) == 2
                and v[0] in NAMES
                and isinstance(v[1], int)
                and 0 <= v[1] < len(RESULTS)
            )
            if ok:
                v = {"command": NAMES[v[0]], "result": RESULTS[v[1]]}
        if not ok:
            raise DecodeError("status field %s (key %d) has the wrong type" % (name, key))
        if kind == "v":
            v = v / 1000
        out[name] = v
    return out
