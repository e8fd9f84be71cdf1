"""Run the generated codec in QuickJS the way ChirpStack v4 runs a device profile's codec.

What it copies, from chirpstack/chirpstack ``chirpstack/src/codec/js/mod.rs`` (v4, read at
commit 1800079): a fresh QuickJS runtime for every call; the codec text followed by
``decodeUplink(chirpstack_input)`` (or ``encodeDownlink``) evaluated as one non-strict script;
``chirpstack_input`` a global with ``bytes``, ``fPort``, ``recvTime`` (a Date) and
``variables`` (the device variables, strings to strings) for uplinks, ``data`` and
``variables`` for downlinks; an interrupt handler that stops the script after
``codec.js.max_execution_time`` (100 ms by default); a non-empty ``errors`` fails the call.

Differences: ChirpStack uses the rquickjs crate's QuickJS and also defines ``Buffer``
(our codec does not use it); here it is the PyPI ``quickjs`` package's QuickJS, and the result
comes back as JSON (the quickjs object's ``json()``) instead of ChirpStack's conversion to a protobuf
Struct (both turn numbers into doubles). ChirpStack never calls ``decodeDownlink``.
"""

from __future__ import annotations

import json
from typing import Any

MAX_EXECUTION_S = 0.1  # ChirpStack's default codec.js.max_execution_time


class CodecTimeout(Exception):
    """QuickJS interrupted the codec at the execution-time limit."""


def call(codec: str, fn: str, inp: dict[str, Any], recv_time_ms: int | None = None,
         variables: dict[str, str] | None = None) -> Any:
    """One call of ``fn`` (decodeUplink, encodeDownlink or decodeDownlink) as ChirpStack makes it."""
    import quickjs

    ctx = quickjs.Context()
    ctx.set_time_limit(MAX_EXECUTION_S)
    arg = dict(inp, variables=variables or {})
    setup = "var chirpstack_input = %s;" % json.dumps(arg)
    if recv_time_ms is not None:
        setup += " chirpstack_input.recvTime = new Date(%d);" % recv_time_ms
    try:
        ctx.eval(setup)
        result = ctx.eval("%s\n\n%s(chirpstack_input)\n" % (codec, fn))  # mod.rs: the same script
        return json.loads(result.json())
    except quickjs.JSException as e:
        if "interrupted" in str(e):
            raise CodecTimeout(f"{fn} ran past {MAX_EXECUTION_S * 1000:.0f} ms") from e
        raise
