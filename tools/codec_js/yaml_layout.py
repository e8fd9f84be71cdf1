"""YAML text laid out the way prettier 2 lays it out with TheThingsNetwork/lorawan-devices'
settings (``printWidth: 200``, ``singleQuote: true``; docs/references.md §I.2.3), so the
repository's format check (``prettier --check "vendor/**/*.yaml"``) accepts a generated file
as it is. tests/interop/test_devrepo.py runs the real prettier 2 on every exported file.

Only the JSON data model is written (mappings, sequences, strings, numbers, booleans, null):
block mappings and sequences, scalar sequences in flow style when they fit on the line.
"""

from __future__ import annotations

import json
import re
from typing import Any

PRINT_WIDTH = 200
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def dump(obj: Any, header: tuple[str, ...] = ()) -> str:
    """The document for ``obj`` (a mapping), with ``header`` lines as leading comments."""
    lines = ["# " + h if h else "#" for h in header]
    lines += _mapping(obj, 0)
    return "\n".join(lines) + "\n"


def scalar(v: Any) -> str:
    """One scalar as YAML reads it back to the same JSON value."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        # a '.' before any exponent (7.0e-05): YAML 1.1 readers such as PyYAML take 7e-05 for
        # a string, YAML 1.2 readers such as js-yaml (the repository's) do not
        text = json.dumps(v)
        mant, e, exp = text.partition("e")
        return mant + ("" if "." in mant or not e else ".0") + e + exp
    if isinstance(v, str):
        return _quoted(v)
    raise TypeError("not a YAML scalar: %r" % (v,))


def _quoted(s: str) -> str:
    # prettier keeps single quotes (singleQuote) unless the text holds more single quotes than
    # double quotes; text that needs an escape can only be double-quoted
    if any(ord(c) < 0x20 or c in "\x7f\u2028\u2029\ufeff" for c in s) or s.count("'") > s.count('"'):
        return json.dumps(s, ensure_ascii=False)
    return "'" + s.replace("'", "''") + "'"


def _key(k: str) -> str:
    if _PLAIN_KEY.match(k) and k.lower() not in _YAML_WORDS:
        return k
    return _quoted(k)


def _is_scalar(v: Any) -> bool:
    return not isinstance(v, (dict, list, tuple))


def _mapping(obj: dict[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for k, v in obj.items():
        key = pad + _key(k) + ":"
        if _is_scalar(v):
            out.append(key + " " + scalar(v))
        elif not v:
            out.append(key + (" {}" if isinstance(v, dict) else " []"))
        elif isinstance(v, dict):
            out.append(key)
            out += _mapping(v, indent + 2)
        else:
            flow = _flow_sequence(v)
            if flow is not None and len(key) + 1 + len(flow) <= PRINT_WIDTH:
                out.append(key + " " + flow)
            else:
                out.append(key)
                out += _sequence(v, indent + 2)
    return out


def _flow_sequence(items: list[Any] | tuple[Any, ...]) -> str | None:
    if all(_is_scalar(i) for i in items):
        return "[" + ", ".join(scalar(i) for i in items) + "]"
    return None


def _sequence(items: list[Any] | tuple[Any, ...], indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for item in items:
        if _is_scalar(item):
            out.append(pad + "- " + scalar(item))
        elif not item:
            out.append(pad + "- " + ("{}" if isinstance(item, dict) else "[]"))
        elif isinstance(item, dict):
            body = _mapping(item, indent + 2)
            out.append(pad + "- " + body[0].lstrip())
            out += body[1:]
        else:
            flow = _flow_sequence(item)
            if flow is not None and indent + 2 + len(flow) <= PRINT_WIDTH:
                out.append(pad + "- " + flow)
            else:
                body = _sequence(item, indent + 2)
                out.append(pad + "- " + body[0].lstrip())
                out += body[1:]
    return out
