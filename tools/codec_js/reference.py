"""The Python side of every TS013 call: what the generated JavaScript must return.

``uplink`` is what the bridge computes (decode_uplink + to_senml), shaped as TS013:
``{"data": {<decoded frame>, "senml": [...]}, "errors": [], "warnings": []}`` or
``{"errors": ["<ErrorClass>: <message>"], "warnings": []}``.
"""

from __future__ import annotations

from typing import Any

from payload_codec import decode_downlink, decode_uplink, encode_downlink, lpp, to_senml
from payload_codec.errors import CodecError
from payload_codec.fports import COMMAND


def jsonable(x: Any) -> Any:
    """Decoded values as JSON: bytes as hex, map keys as str(), non-finite floats as null."""
    if isinstance(x, dict):
        return {(k if isinstance(k, str) else str(k)): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (bytes, bytearray)):
        return bytes(x).hex()
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    return x


def error_text(e: CodecError) -> str:
    return "%s: %s" % (type(e).__name__, e)


def _fail(e: CodecError) -> dict[str, Any]:
    return {"errors": [error_text(e)], "warnings": []}


def base_time(recv_ms: int | None) -> float | None:
    """SenML bt from a reception time in ms, computed as the JS does (ms / 1000)."""
    return None if recv_ms is None else recv_ms / 1000


def lpp_data(data: bytes, bt: float | None = None) -> dict[str, Any]:
    records = []
    for ch, tid, value in lpp.decode(data):
        info = lpp.type_info(tid)
        records.append({"channel": ch, "type": tid, "name": info[1], "value": value})
    pack = lpp.decode_senml(data)
    if bt is not None:
        pack[0]["bt"] = bt
    return {"kind": "lpp", "records": records, "senml": pack}


def uplink(fport: int, data: bytes, recv_ms: int | None = None) -> dict[str, Any]:
    """decodeUplink for a TroSmart node."""
    try:
        d = decode_uplink(fport, data)
        d["senml"] = to_senml(d, None, base_time(recv_ms))
        return {"data": jsonable(d), "errors": [], "warnings": []}
    except CodecError as e:
        return _fail(e)


def lpp_uplink(data: bytes, recv_ms: int | None = None) -> dict[str, Any]:
    """decodeLppUplink (and decodeUplink on an --lpp-fport)."""
    try:
        return {"data": jsonable(lpp_data(data, base_time(recv_ms))), "errors": [], "warnings": []}
    except CodecError as e:
        return _fail(e)


def encode_cmd(cmd: Any) -> dict[str, Any]:
    """encodeDownlink."""
    try:
        return {"bytes": list(encode_downlink(cmd)), "fPort": COMMAND, "errors": [], "warnings": []}
    except CodecError as e:
        return _fail(e)


def decode_cmd(fport: int, data: bytes) -> dict[str, Any]:
    """decodeDownlink."""
    if fport != COMMAND:
        return {
            "errors": ["DecodeError: fPort %r carries no TroSmart command (command %d)" % (fport, COMMAND)],
            "warnings": [],
        }
    try:
        return {"data": jsonable(decode_downlink(data)), "errors": [], "warnings": []}
    except CodecError as e:
        return _fail(e)
