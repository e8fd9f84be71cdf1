"""Typed field access for LNS JSON: every wrong type becomes an InputError with a path."""

from __future__ import annotations

import base64
import binascii
import calendar
import re
import time
from typing import Any

from . import jsonio
from .errors import InputError

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))$"
)
# what follows a cached "YYYY-MM-DDTHH:MM:SS" head: the same alternatives as _RFC3339's tail
_TAIL = re.compile(r"(?:\.(\d{1,12}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$")
_HEX_EUI = re.compile(r"^[0-9a-fA-F]{16}$")
_HEADS: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> Unix seconds (checked once)
_HEADS_MAX = 4096


def load_json(payload: bytes, max_bytes: int) -> dict[str, Any]:
    if len(payload) > max_bytes:
        raise InputError("oversize", f"message is {len(payload)} bytes, limit {max_bytes}")
    try:
        doc = jsonio.loads(payload)
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError("invalid_json", str(e)) from None
    if not isinstance(doc, dict):
        raise InputError("invalid_json", f"top level is {type(doc).__name__}, not an object")
    return doc


def obj(doc: Any, key: str, path: str = "") -> dict[str, Any] | None:
    v = doc.get(key)
    if v is None:
        return None
    if not isinstance(v, dict):
        raise InputError("bad_field", f"{path}{key} is {type(v).__name__}, not an object")
    return v


def objects(doc: dict[str, Any], key: str, path: str = "") -> list[dict[str, Any]]:
    """A list of objects (rxInfo, rx_metadata); missing or null is an empty list."""
    v = doc.get(key) or []
    if not isinstance(v, list):  # the fuzz run sent numbers here (a TypeError before)
        raise InputError("bad_field", f"{path}{key} is not a list")
    for i, r in enumerate(v):
        if not isinstance(r, dict):
            raise InputError("bad_field", f"{key}[{i}] is not an object")
    return v


def text(doc: dict[str, Any], key: str, path: str = "") -> str | None:
    v = doc.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise InputError("bad_field", f"{path}{key} is {type(v).__name__}, not a string")
    return v


def integer(doc: dict[str, Any], key: str, path: str = "", lo: int = 0, hi: int = 2**64) -> int | None:
    """An unsigned integer that may arrive as a JSON number or (proto uint64) a string."""
    v = doc.get(key)
    if v.__class__ is int and lo <= v <= hi:  # the common case first (bool is not int here)
        return v
    if v is None:
        return None
    if isinstance(v, bool):
        raise InputError("bad_field", f"{path}{key} is a boolean, not an integer")
    if isinstance(v, str) and v.isdigit():
        v = int(v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or not lo <= v <= hi:
        raise InputError("bad_field", f"{path}{key} = {v!r} is not an integer {lo}..{hi}")
    return v


def number(doc: dict[str, Any], key: str) -> float | None:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def flag(doc: dict[str, Any], key: str, path: str = "") -> bool | None:
    v = doc.get(key)
    if v is None:
        return None
    if not isinstance(v, bool):
        raise InputError("bad_field", f"{path}{key} is {type(v).__name__}, not a boolean")
    return v


def b64(doc: dict[str, Any], key: str, path: str = "") -> bytes:
    """Standard base64 (proto JSON bytes); absent means empty (TTS omits empty fields)."""
    v = text(doc, key, path)
    if not v:
        return b""
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("bad_base64", f"{path}{key} is not valid base64") from None


def eui(v: Any, what: str) -> str:
    if not isinstance(v, str) or not _HEX_EUI.match(v):
        raise InputError("missing_field", f"{what} is {v!r}, not 16 hex digits")
    return v.lower()


def timestamp(v: Any, what: str) -> float:
    """RFC 3339 with up to nanoseconds (ChirpStack, TTS) -> Unix seconds."""
    if v.__class__ is str:
        cached = _HEADS.get(v[:19])  # a head in the cache passed the full check before
        tail = _TAIL.match(v, 19) if cached is not None else None
        if cached is not None and tail is not None:
            return _seconds(cached, tail.group(1), tail.group(3), tail.group(4), tail.group(5))
    m = _RFC3339.match(v) if isinstance(v, str) else None
    if not m:
        raise InputError("bad_field", f"{what} = {v!r} is not an RFC 3339 time")
    head = v[:19]  # date and time to the second: the same for every uplink within a second
    secs = _HEADS.get(head)
    if secs is None:
        y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
        if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
            raise InputError("bad_field", f"{what} = {v!r} is not a valid time")
        secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
        if len(_HEADS) >= _HEADS_MAX:
            _HEADS.clear()
        _HEADS[head] = secs
    return _seconds(secs, m.group(7), m.group(9), m.group(10), m.group(11))


def _seconds(secs: int, frac: str | None, sign: str | None, hh: str | None, mm: str | None) -> float:
    out = secs + float("0." + frac) if frac else float(secs)
    if sign:
        off = int(hh or 0) * 3600 + int(mm or 0) * 60
        out -= off if sign == "+" else -off
    return out


def rfc3339(ns: int) -> str:
    """Unix nanoseconds -> RFC 3339 UTC with nanoseconds and ``+00:00``, as both network
    servers print their times (docs/references.md §L, §M); the inverse of ``timestamp``."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%09d+00:00" % frac
