"""Payload decoding per device: the codec's fPort plan, Cayenne LPP, or the LNS's own object.

Pure: the caller passes the device's announced layouts in and stores a new one it gets back.
The bridge knows no frame layout itself (architecture.md): ``payload_codec`` does.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any

import payload_codec
from payload_codec import fports

from . import samples as sample_log
from .errors import InputError
from .model import Uplink

MODES = ("trosmart", "lpp", "passthrough")
_KEY_ESCAPE = re.compile(r"[^A-Za-z0-9_-]")  # what a pass-through key escapes
_ESCAPED = re.compile(r":([0-9a-f]+):")
_MAX_OBJECT_FIELDS = 128
_MAX_DEPTH = 4
_VALUE_KEYS = ("v", "vb", "vs", "u")


class NeedsLayout(InputError):
    """A measurement names a layout the node has not announced (or the bridge lost)."""

    def __init__(self, layout_id: int, detail: str) -> None:
        super().__init__("unknown_layout", detail)
        self.layout_id = layout_id


@dataclass
class Decoded:
    kind: str  # measurement | status | layout | lpp | object
    senml: list[dict[str, Any]]
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)  # quantity -> retained value
    firmware: str | None = None
    layout: tuple[int, list[str]] | None = None  # a layout the node just announced
    interval_s: int | None = None  # the node's measurement interval (status frames)
    model: str | None = None  # what kind of node sent it (profile, layout, LPP, LNS decoder)
    samples: int = 1  # samples per frame: a batching node sends every interval × samples
    repeats: int = 0  # samples left out: a store-and-forward node sent them before (samples.py)


def base_name(dev_eui: str) -> str:
    """RFC 9039 URN for an EUI-64, as SenML base name."""
    return f"urn:dev:mac:{dev_eui}:"


def decode(up: Uplink, mode: str, layouts: dict[int, list[str]] | None,
           seen: bytearray | None = None) -> Decoded:
    """Decode one uplink; InputError (with a reason) for anything that yields no data.
    ``seen``: the device's remembered samples (samples.py); repeats are left out."""
    bt = round(up.received_at, 3)
    if mode == "passthrough":
        if up.object is None:
            raise InputError("no_object", "passthrough device, but the LNS sent no decoded object")
        recs = payload_codec.to_senml({"kind": "object", "data": _flatten(up.object)},
                                      base_name(up.dev_eui), bt)
        return _with_latest(Decoded("object", recs, model="LNS decoder"), bt)
    if not up.data:
        raise InputError("empty_payload", f"fPort {up.f_port} uplink carries no application payload")
    if mode == "lpp":
        return _with_latest(Decoded("lpp", _lpp(up.data, up.dev_eui, bt), model="Cayenne LPP"), bt)
    return _trosmart(up, layouts, bt, seen)


def _trosmart(up: Uplink, layouts: dict[int, list[str]] | None, bt: float,
              seen: bytearray | None = None) -> Decoded:
    port = up.f_port
    if port not in (fports.MEASUREMENT, fports.STATUS, fports.LAYOUT):
        raise InputError("unknown_port", f"fPort {port} is not in the TroSmart plan (1, 2, 3)")
    try:
        d = payload_codec.decode_uplink(port, up.data, layouts)
    except payload_codec.UnknownLayoutError as e:
        raise NeedsLayout(e.layout_id, str(e)) from None
    except payload_codec.UnsupportedVersionError as e:
        raise InputError("unsupported_version", str(e)) from None
    except payload_codec.TruncatedError as e:
        raise InputError("truncated_frame", str(e)) from None
    except (payload_codec.CodecError, IndexError, KeyError, TypeError) as e:
        raise InputError("corrupt_frame", str(e) or type(e).__name__) from None
    repeats = 0
    if seen is not None and d["kind"] == "measurement":
        repeats = sample_log.drop_repeats(d, bt, seen, bool(up.data[0] & 0x10))  # batch flag (codec.md §2)
    recs = payload_codec.to_senml(d, base_name(up.dev_eui), bt) if d.get("samples", True) else []
    out = Decoded(d["kind"], recs, repeats=repeats)
    if d["kind"] == "status":
        fw = d["status"].get("firmware")
        out.firmware = fw if isinstance(fw, str) else None
        interval = d["status"].get("interval_s")
        out.interval_s = interval if isinstance(interval, int) and interval > 0 else None
    elif d["kind"] == "layout":
        out.layout = (int(d["layout"]), list(d["quantities"]))
    else:
        if d.get("profile"):
            out.model = f"TroSmart {d['profile']}"
        else:
            out.model = "TroSmart" if d.get("layout") is None else f"TroSmart layout {d['layout']}"
        out.samples = max(1, len(d["samples"]))
        _with_latest(out, bt)
    return out


def _lpp(data: bytes, dev_eui: str, bt: float) -> list[dict[str, Any]]:
    try:
        lpp = importlib.import_module("payload_codec.lpp")
    except ImportError:
        raise InputError("lpp_unavailable", "payload_codec.lpp is not installed") from None
    try:
        recs = [dict(r) for r in lpp.decode_senml(data)]
    except (ValueError, IndexError, KeyError, TypeError) as e:
        raise InputError("corrupt_frame", f"Cayenne LPP: {e}") from None
    if not recs:
        raise InputError("corrupt_frame", "Cayenne LPP frame holds no values")
    recs[0]["bn"] = base_name(dev_eui)
    recs[0]["bt"] = bt
    return recs


def _escape(c: re.Match[str]) -> str:
    return f":{ord(c.group()):x}:"


def passthrough_name(path: tuple[str, ...]) -> str:
    """SenML name of a path of object keys (list items: their index), one-to-one.

    RFC 8428 §4.5.1 allows ``A-Z a-z 0-9 - : . / _`` and a letter or digit first. Keys keep
    ``A-Z a-z 0-9 _ -``; any other character becomes ``:<code point in hex>:`` (``temp C`` ->
    ``temp:20:C``, ``température`` -> ``temp:e9:rature``); levels are joined with ``.``; a name
    that would not start with a letter or digit gets the prefix ``x::``. ``:`` only brackets
    an escape, ``.`` only separates levels and ``::`` only follows that prefix, so the path
    can be read back (``passthrough_path``): two keys never share a name (docs/bridge.md §4).
    """
    name = ".".join(_KEY_ESCAPE.sub(_escape, k) for k in path)
    return name if name[:1].isalnum() and name[0].isascii() else "x::" + name


def passthrough_path(name: str) -> tuple[str, ...]:
    """The path of keys a ``passthrough_name`` came from (its inverse)."""
    if name.startswith("x::"):
        name = name[3:]
    return tuple(_ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), seg) for seg in name.split("."))


def _flatten(o: Any) -> dict[str, Any]:
    """LNS object -> {SenML name: scalar}, names by ``passthrough_name``."""
    out: dict[str, Any] = {}

    def walk(v: Any, path: tuple[str, ...], depth: int) -> None:
        if len(out) >= _MAX_OBJECT_FIELDS:
            return
        if isinstance(v, dict) and depth < _MAX_DEPTH:
            for k in sorted(v, key=str):
                walk(v[k], (*path, str(k)), depth + 1)
        elif isinstance(v, list) and depth < _MAX_DEPTH:
            for i, x in enumerate(v):
                walk(x, (*path, str(i)), depth + 1)
        elif isinstance(v, (bool, str)) or (isinstance(v, (int, float)) and v == v
                                              and abs(v) != float("inf")):
            out[passthrough_name(path)] = v

    walk(o, (), 0)
    if not out:
        raise InputError("no_object", "the LNS object holds no scalar values")
    return out


def _with_latest(d: Decoded, bt: float) -> Decoded:
    """Latest value per quantity (the record with the highest resolved time)."""
    latest = d.latest
    base = bt  # already rounded to ms, like every ``bt`` the records carry
    for r in d.senml:
        base = r.get("bt", base)
        name = r.get("n")
        if name.__class__ is not str:
            continue
        rel = r.get("t")
        t = base if rel is None else round(base + rel, 3)
        prev = latest.get(name)
        if prev is not None and prev["t"] > t:
            continue
        if "v" in r:  # a number: the common case, keys in _VALUE_KEYS order
            val = {"v": r["v"], "u": r["u"], "t": t} if "u" in r else {"v": r["v"], "t": t}
        else:
            val = {k: r[k] for k in _VALUE_KEYS if k in r}
            val["t"] = t
        latest[name] = val
    return d
