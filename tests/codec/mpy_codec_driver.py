# MicroPython driver for the cross-runtime tests: one JSON request per stdin line,
# one JSON answer per stdout line (tests/codec/test_micropython.py).
import json
import sys

import payload_codec as pc


def _layouts(req):
    lay = req.get("layouts")
    if not lay:
        return None
    out = {}
    for k in lay:
        out[int(k)] = tuple(lay[k])
    return out


def handle(req):
    op = req["op"]
    try:
        if op == "encode":
            return {"hex": pc.encode(req["values"]).hex()}
        if op == "encode_batch":
            return {"hex": pc.encode_batch([(s[0], s[1]) for s in req["samples"]]).hex()}
        if op == "encode_status":
            return {"hex": pc.encode_status(req["status"]).hex()}
        if op == "encode_downlink":
            return {"hex": pc.encode_downlink(req["command"]).hex()}
        if op == "decode_downlink":
            return {"command": pc.decode_downlink(bytes.fromhex(req["hex"]))}
        if op == "decode":
            d = pc.decode_uplink(req.get("fport", 1), bytes.fromhex(req["hex"]), _layouts(req))
            return {"decoded": d, "senml": pc.to_senml(d)}
        if op == "lpp_decode":
            from payload_codec import lpp

            return {"senml": lpp.decode_senml(bytes.fromhex(req["hex"]))}
        if op in ("cmac", "seal", "open", "derive", "expect"):  # tests/codec/test_envelope.py
            from mpy_envelope_ops import handle as envelope_op

            return envelope_op(req)
        return {"error": "BadRequest", "msg": op}
    except pc.CodecError as e:
        return {"error": type(e).__name__, "msg": str(e)}


while True:
    line = sys.stdin.readline()
    if not line:
        break
    print(json.dumps(handle(json.loads(line))))
