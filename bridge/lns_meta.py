"""What a network server says about a device beyond its uplink, made safe for ``meta``: its
tags (ChirpStack ``deviceInfo.tags``) or attributes (TTS ``uplink_message.attributes``) and its
location (ChirpStack ``location`` events, TTS ``uplink_message.locations``), docs/bridge.md §3.

These strings are written by whoever may edit a device in the network server, and the portal
shows some of them to the public: so they are bounded and cleaned here, once, for every
consumer of ``meta``. Nothing in them is ever a reason to refuse an uplink: a bad tag is left
out, a bad location is no location.

* Tags: at most ``MAX_TAGS`` (the first in key order); keys 1..``MAX_KEY`` characters of
  ``[A-Za-z0-9_.:-]``, ``-`` written as ``_`` (TTS attribute keys are written with hyphens, so
  ``portal-public`` there is ``portal_public`` here); values strings only; what Python does not
  call printable is removed (control and format characters such as bidirectional overrides and
  zero-width marks, private-use and unassigned code points), whitespace among it becomes a space;
  then trimmed and cut to ``MAX_VALUE`` characters.
* Location: finite ``latitude`` in [-90, 90] and ``longitude`` in [-180, 180], not both 0 (an
  unset position), rounded to 6 decimals (~0.1 m); ``altitude`` (m) kept when finite and
  within ±12,000; ``source`` (for example ``chirpstack:GPS`` or ``tts:user``) from the network
  server's own name, cut to [A-Za-z0-9_:-] and 48 characters.
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_TAGS = 32
MAX_KEY = 64
MAX_VALUE = 200
MAX_SOURCE = 48
_KEY_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}\Z")
_SOURCE_DROP = re.compile(r"[^A-Za-z0-9_:-]")
_CLEAN: dict[str, str] = {}  # value -> cleaned value: tags repeat on every uplink of a device
_CLEAN_MAX = 4096
_TAGS: dict[tuple[Any, ...], dict[str, str]] = {}  # the items of a tags object -> its sanitised tags
MAX_CACHED = 2048  # characters of one cached tags object: the caches stay below ~10 MB
# TTS: the registry location the operator set first, then one the payload formatter decoded
TTS_LOCATION_ORDER = ("user", "frm-payload")


def _clean(value: str) -> str:
    if len(value) > MAX_VALUE:  # rare, and not cached: the cache holds short texts only (< 1 MB)
        return _cleaned(value)
    hit = _CLEAN.get(value)
    if hit is not None:
        return hit
    text = _cleaned(value)
    if len(_CLEAN) >= _CLEAN_MAX:
        _CLEAN.clear()
    _CLEAN[value] = text
    return text


def _cleaned(value: str) -> str:
    text = value[: MAX_VALUE * 4]  # cut before the scan: a 1 MB value costs no more than 800 characters
    if not text.isprintable():
        text = "".join(c if c.isprintable() else (" " if c.isspace() else "") for c in text)
    return text.strip()[:MAX_VALUE]


def tags(raw: Any) -> dict[str, str] | None:
    """The sanitised tags of a ``map<string, string>`` from the network server; None when the
    message has none (absent or not an object), ``{}`` when it says there are none.

    On the uplink hot path (docs/bridge.md §9): a device sends the same tags with every uplink,
    so the result is cached by the tags' items (a copy is returned: meta may be changed)."""
    if raw.__class__ is not dict:
        return None
    if not raw:
        return {}
    key: tuple[Any, ...] | None = None
    hit = None
    if len(raw) <= MAX_TAGS:  # only small objects are cached: 4096 huge ones would be memory
        try:
            key = tuple(raw.items())
            hit = _TAGS.get(key)
        except TypeError:  # a value that is an object or a list: never a tag, no cache
            key = None
    if hit is not None:
        return dict(hit)
    out = _tags(raw)
    if key is not None and sum(len(k) + len(v) if v.__class__ is str else MAX_CACHED for k, v in key) <= MAX_CACHED:
        if len(_TAGS) >= _CLEAN_MAX:
            _TAGS.clear()
        _TAGS[key] = out
    return dict(out)


def _tags(raw: dict[Any, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k in sorted(k for k in raw if k.__class__ is str and _KEY_RE.match(k)):
        v = raw[k]
        if v.__class__ is not str:
            continue
        key = k.replace("-", "_")
        if key not in out:
            out[key] = _clean(v)
            if len(out) >= MAX_TAGS:
                break
    return out


def _coord(v: Any, limit: float) -> float | None:
    if v.__class__ not in (int, float):
        return None
    x = float(v)
    return round(x, 6) if math.isfinite(x) and -limit <= x <= limit else None


def location(raw: Any, source: str) -> dict[str, Any] | None:
    """``{"latitude", "longitude"[, "altitude"], "source"}`` from a ChirpStack ``common.Location``
    or a TTS ``Location`` object, or None when it is not a usable position."""
    if raw.__class__ is not dict:
        return None
    lat, lon = _coord(raw.get("latitude"), 90.0), _coord(raw.get("longitude"), 180.0)
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
        return None
    out: dict[str, Any] = {"latitude": lat, "longitude": lon}
    alt = _coord(raw.get("altitude"), 12_000.0)
    if alt is not None:
        out["altitude"] = round(alt, 1)
    out["source"] = _SOURCE_DROP.sub("", source)[:MAX_SOURCE]
    return out


def tts_location(raw: Any) -> dict[str, Any] | None:
    """The device's position from TTS ``uplink_message.locations`` (a map from the location's
    origin to a Location): ``user`` (set in the registry), then ``frm-payload``, then others in
    key order; the first usable one."""
    if raw.__class__ is not dict or not raw:
        return None
    keys = [k for k in TTS_LOCATION_ORDER if k in raw]
    keys += sorted(k for k in raw if k.__class__ is str and k not in TTS_LOCATION_ORDER)[:MAX_TAGS]
    for k in keys:
        loc = location(raw[k], f"tts:{k}")
        if loc is not None:
            return loc
    return None
