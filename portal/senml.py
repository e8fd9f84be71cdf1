"""The portal's one home for reading SenML packs (RFC 8428, docs/references.md §K).

A pack from ``{prefix}/{deveui}/senml`` becomes observations. Base fields (``bn``, ``bt``,
``bu``, ``bv``) apply to their record and every following one until overridden; ``bt + t``
is the time, and a resolved time below 2**28 would be relative to "now" (§K.4.1): the bridge
always sends an absolute ``bt``, so such a pack is rejected rather than guessed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import orjson

from .errors import InputError

MAX_PACK_BYTES = 65536
MAX_RECORDS = 2000
MAX_STRING = 256
RELATIVE_LIMIT_S = 2**28  # §K.4.1: smaller times are relative to now
MAX_TIME_S = 4102444800  # 2100-01-01: later times are a sender's bug, not a measurement
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./:-]{0,63}\Z")  # §K.4.1 name characters, bounded
UNIT_RE = re.compile(r"[A-Za-z0-9%/._-]{1,16}\Z")


@dataclass(frozen=True)
class Observation:
    quantity: str
    unit: str  # "" when the record has none
    t_ms: int  # Unix time in milliseconds (the bridge's bt has millisecond resolution)
    v: float | None = None  # numeric value (booleans are stored in vb)
    vb: bool | None = None
    vs: str | None = None


def load_json(payload: bytes, limit: int) -> object:
    """A city-topic message's JSON, at most ``limit`` bytes; InputError otherwise."""
    if len(payload) > limit:
        raise InputError("oversize", f"{len(payload)} bytes > {limit}")
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise InputError("invalid_json", str(e)) from None


def parse_pack(payload: bytes, dev_eui: str) -> list[Observation]:
    """Observations of one pack; InputError (reason code) for anything unusable."""
    pack = load_json(payload, MAX_PACK_BYTES)
    if not isinstance(pack, list) or not pack:
        raise InputError("not_a_pack", "a SenML pack is a non-empty JSON array")
    if len(pack) > MAX_RECORDS:
        raise InputError("oversize", f"{len(pack)} records > {MAX_RECORDS}")
    want_bn = f"urn:dev:mac:{dev_eui}:"
    bn, bt, bu, bv = "", 0.0, "", 0.0
    out: list[Observation] = []
    for i, rec in enumerate(pack):
        if not isinstance(rec, dict):
            raise InputError("bad_record", f"record {i} is not an object")
        if "bn" in rec:
            bn = _string(rec, "bn", i)
        if "bt" in rec:
            bt = _number(rec, "bt", i)
        if "bu" in rec:
            bu = _string(rec, "bu", i)
        if "bv" in rec:
            bv = _number(rec, "bv", i)
        name = bn + (_string(rec, "n", i) if "n" in rec else "")
        if not name.startswith(want_bn):
            raise InputError("bad_name", f"record {i}: name {name[:80]!r} is not under {want_bn}")
        quantity = name[len(want_bn):]
        if not NAME_RE.match(quantity):
            raise InputError("bad_name", f"record {i}: quantity {quantity[:80]!r}")
        t = bt + (_number(rec, "t", i) if "t" in rec else 0.0)
        if t < RELATIVE_LIMIT_S or t > MAX_TIME_S:
            raise InputError("bad_time", f"record {i}: time {t} is not an absolute time before 2100")
        unit = _string(rec, "u", i) if "u" in rec else bu
        if unit and not UNIT_RE.match(unit):
            raise InputError("bad_unit", f"record {i}: unit {unit[:20]!r}")
        t_ms = round(t * 1000)
        kinds = [k for k in ("v", "vb", "vs", "vd") if k in rec]
        if len(kinds) > 1:
            raise InputError("bad_record", f"record {i} has more than one value field")
        if "v" in rec:
            out.append(Observation(quantity, unit, t_ms, v=bv + _number(rec, "v", i)))
        elif "vb" in rec:
            if not isinstance(rec["vb"], bool):
                raise InputError("bad_record", f"record {i}: vb must be true or false")
            out.append(Observation(quantity, unit, t_ms, vb=rec["vb"]))
        elif "vs" in rec:
            vs = _string(rec, "vs", i)
            if len(vs) > MAX_STRING:
                raise InputError("oversize", f"record {i}: vs longer than {MAX_STRING}")
            out.append(Observation(quantity, unit, t_ms, vs=vs))
        # a record without a value (only base fields) or with vd carries nothing to chart
    return out


def _string(rec: dict[str, object], key: str, i: int) -> str:
    v = rec[key]
    if not isinstance(v, str):
        raise InputError("bad_record", f"record {i}: {key} must be a string")
    return v


def _number(rec: dict[str, object], key: str, i: int) -> float:
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InputError("bad_record", f"record {i}: {key} must be a finite number")
    return float(v)
