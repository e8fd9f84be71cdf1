"""Downlink commands (fPort 10): a version byte, then opcodes with fixed-size arguments.

    0x01 set_interval_s       uint24  10..86400
    0x02 set_confirmed_every  uint8   0..255 (every Nth uplink confirmed; 0 = never)
    0x03 enable               uint8   quantity id
    0x04 disable              uint8   quantity id
    0x05 request_status       -
    0x06 reboot               -
    0x07 set_data_rate        uint8   bit 7 ADR on, bits 0..3 data rate 0..15 (15 = keep)
    0x08 announce_layout      -
Range-checked on both sides (docs/codec.md §6).
"""

from . import registry as reg
from .errors import DecodeError, EncodeError, TruncatedError, UnsupportedVersionError

VERSION = 1
INTERVAL_MIN = 10
INTERVAL_MAX = 86400

OPCODES = {
    "set_interval_s": 1,
    "set_confirmed_every": 2,
    "enable": 3,
    "disable": 4,
    "request_status": 5,
    "reboot": 6,
    "set_data_rate": 7,
    "announce_layout": 8,
}
NAMES = {}
for _k in OPCODES:
    NAMES[OPCODES[_k]] = _k
_ORDER = (
    "set_interval_s",
    "set_confirmed_every",
    "enable",
    "disable",
    "set_data_rate",
    "announce_layout",
    "request_status",
    "reboot",
)


def _int(name, v, lo, hi):
    if not isinstance(v, int) or v is True or v is False or v < lo or v > hi:
        raise EncodeError("%s must be an integer %d..%d, got %r" % (name, lo, hi, v))
    return v


def _flag(name, v):
    if v is not True and v is not False:
        raise EncodeError("%s must be true or false, got %r" % (name, v))
    return v


def encode_downlink(cmd: dict) -> bytes:
    """Encode a command dict such as {"set_interval_s": 600, "request_status": true}."""
    if not isinstance(cmd, dict):
        raise EncodeError("a command must be a JSON object")
    for k in cmd:
        if k not in OPCODES:
            raise EncodeError("unknown command %r" % (k,))
    out = bytearray([VERSION << 5])
    for name in _ORDER:
        if name not in cmd:
            continue
        v = cmd[name]
        op = OPCODES[name]
        if name == "set_interval_s":
            v = _int(name, v, INTERVAL_MIN, INTERVAL_MAX)
            out.append(op)
            out.append(v >> 16)
            out.append((v >> 8) & 0xFF)
            out.append(v & 0xFF)
        elif name == "set_confirmed_every":
            out.append(op)
            out.append(_int(name, v, 0, 255))
        elif name == "enable" or name == "disable":
            if not isinstance(v, (list, tuple)) or not v:
                raise EncodeError("%s must be a non-empty list of quantity names" % name)
            for q in v:
                if not isinstance(q, str):
                    raise EncodeError("%s must list quantity names, got %r" % (name, q))
                out.append(op)
                out.append(reg.by_name(q)[0])
        elif name == "set_data_rate":
            if not isinstance(v, dict):
                raise EncodeError('set_data_rate must be {"dr": 0..15, "adr": true|false}')
            for k in v:
                if k not in ("dr", "adr"):
                    raise EncodeError("set_data_rate has unknown key %r" % (k,))
            dr = _int("set_data_rate.dr", v.get("dr", 15), 0, 15)
            adr = _flag("set_data_rate.adr", v.get("adr", False))
            out.append(op)
            out.append((0x80 if adr else 0) | dr)
        elif _flag(name, v):
            out.append(op)
    if len(out) == 1:
        raise EncodeError("the command holds no action")
    if len(out) > 51:
        raise EncodeError("the command is %d bytes; at most 51 fit every EU868 data rate" % len(out))
    return bytes(out)


def decode_downlink(data) -> dict:
    """Decode a command frame; raises DecodeError naming the byte for anything invalid."""
    if not data:
        raise TruncatedError("empty command frame")
    if data[0] >> 5 != VERSION or data[0] & 0x1F:
        raise UnsupportedVersionError("command frame header 0x%02x is not supported" % data[0])
    cmd = {}
    pos = 1
    n = len(data)
    if n == 1:
        raise DecodeError("the command frame holds no command")
    while pos < n:
        op = data[pos]
        name = NAMES.get(op)
        if name is None:
            raise DecodeError("unknown command opcode 0x%02x at byte %d" % (op, pos))
        pos += 1
        size = 3 if op == 1 else (1 if op in (2, 3, 4, 7) else 0)
        if pos + size > n:
            raise TruncatedError("command %s at byte %d needs %d argument bytes" % (name, pos - 1, size))
        if name in cmd and name not in ("enable", "disable"):
            raise DecodeError("command %s repeated at byte %d" % (name, pos - 1))
        if op == 1:
            v = (data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2]
            if not INTERVAL_MIN <= v <= INTERVAL_MAX:
                raise DecodeError(
                    "set_interval_s %d at byte %d is outside %d..%d" % (v, pos, INTERVAL_MIN, INTERVAL_MAX)
                )
            cmd[name] = v
        elif op == 2:
            cmd[name] = data[pos]
        elif op == 3 or op == 4:
            try:
                q = reg.by_id(data[pos])[1]
            except ValueError:
                raise DecodeError("%s names unknown quantity id %d at byte %d" % (name, data[pos], pos)) from None
            lst = cmd.get(name)
            if lst is None:
                lst = []
                cmd[name] = lst
            lst.append(q)
        elif op == 7:
            b = data[pos]
            if b & 0x70:
                raise DecodeError("set_data_rate byte 0x%02x at byte %d has reserved bits set" % (b, pos))
            cmd[name] = {"dr": b & 0x0F, "adr": bool(b & 0x80)}
        else:
            cmd[name] = True
        pos += size
    return cmd
