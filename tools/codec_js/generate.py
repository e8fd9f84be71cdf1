"""Render index.js: tables generated from payload_codec, frame logic from template.js.

A new quantity or profile in payload_codec.registry needs no hand-written JavaScript.
The output is deterministic (sorted keys, no timestamps) and plain ECMAScript 5.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import payload_codec
from payload_codec import cbor, downlink, fports, lpp, measurement, registry, senml, status

TEMPLATE = Path(__file__).with_name("template.js")
ENTRY_POINTS = ("decodeUplink", "decodeLppUplink", "encodeDownlink", "decodeDownlink")
MAX_SIZE = 40 * 1024  # The Things Stack's limit for a custom formatter (docs/references.md §I)
# The generator's own budget, 90 % of that limit, so quantities can be added for a while
# before a network server refuses the codec (tests/interop/test_devrepo.py guards both).
BUDGET = 36 * 1024


def _js(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def tables(lpp_fports: Iterable[int] = ()) -> list[tuple[str, Any]]:
    """(JavaScript variable, value) pairs taken from the Python codec's own constants."""
    opcodes = dict(downlink.OPCODES)
    return [
        ("QUANTITIES", [list(r) for r in registry.QUANTITIES]),
        ("Q_BOOL", registry.BOOL),
        ("PROFILES", [[p[0], p[1], list(p[2])] for p in registry.PROFILES]),
        ("MEAS_VERSION", measurement.VERSION),
        ("MAX_SAMPLES", measurement.MAX_SAMPLES),
        ("RAW_WIDTH", measurement._RAW),
        ("STATUS_VERSION", status.VERSION),
        ("RESET_CAUSES", list(status.RESET_CAUSES)),
        ("RESULTS", list(status.RESULTS)),
        ("STATUS_FIELDS", [list(f) for f in status._FIELDS]),
        ("CBOR_MAX_DEPTH", cbor.MAX_DEPTH),
        ("DOWNLINK_VERSION", downlink.VERSION),
        ("OPCODES", opcodes),
        ("OPCODE_NAMES", {str(v): k for k, v in opcodes.items()}),
        ("OP_ORDER", list(downlink._ORDER)),
        ("INTERVAL_MIN", downlink.INTERVAL_MIN),
        ("INTERVAL_MAX", downlink.INTERVAL_MAX),
        ("SECONDARY_UNITS", list(senml.SECONDARY_UNITS)),
        ("BVER_SECONDARY", senml.BVER_SECONDARY),
        ("LPP_TYPES", [[t[0], t[1], t[2], [list(c) for c in t[3]]] for t in lpp.TYPES]),
        ("LPP_SECONDARY", list(lpp._SECONDARY)),
        ("FPORT_MEASUREMENT", fports.MEASUREMENT),
        ("FPORT_STATUS", fports.STATUS),
        ("FPORT_LAYOUT", fports.LAYOUT),
        ("FPORT_COMMAND", fports.COMMAND),
        ("LPP_FPORTS", sorted(set(lpp_fports))),
    ]


def render(lpp_fports: Iterable[int] = ()) -> str:
    """The complete index.js text."""
    lines = ["var %s = %s;" % (name, _js(value)) for name, value in tables(lpp_fports)]
    text = TEMPLATE.read_text(encoding="utf-8").replace("@VERSION@", payload_codec.__version__)
    head, _, body = text.partition("/*@TABLES@*/")
    # Everything lives in one function scope: lookups of the tables and helpers are then
    # local, not global-object properties (10x faster in a node vm context; LNS runtimes
    # sandbox globals the same way). Only the TS013 entry points are global functions.
    api = ", ".join("%s: %s" % (n, n) for n in ENTRY_POINTS)
    wrappers = "".join(
        "function %s(input) {\nreturn TROSMART_CODEC.%s(input);\n}\n" % (n, n) for n in ENTRY_POINTS
    )
    # built-ins as parameters too: a sandbox's global object makes each "Math." a slow lookup
    builtins = "Math, Object, String, Array, Infinity, NaN, isFinite, parseInt"
    code = ("var TROSMART_CODEC = (function (%s) {\n" % builtins + "\n".join(lines) + "\n"
            + body + "return {%s};\n})(%s);\n" % (api, builtins) + wrappers)
    return head.rstrip() + "\n" + _minify(code)


def _minify(code: str) -> str:
    """Comments and white space out, names and semantics untouched (rJSmin, a kept minifier):
    the 40 KB budget. The header comment stays; tools/codec_js/template.js is the readable source."""
    import rjsmin

    return rjsmin.jsmin(code, keep_bang_comments=False) + "\n"
