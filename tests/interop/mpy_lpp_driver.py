# MicroPython driver for test_lpp.py: one JSON request per line, one JSON answer per line.
# {"decode": HEX} -> {"items": [[ch, type, value]], "senml": [...]} or {"error": [class, message]}
# {"encode": [[ch, type, value]]} -> {"hex": HEX} or {"error": [...]}
import binascii
import json
import sys

from payload_codec import lpp
from payload_codec.errors import CodecError


def one(req):
    try:
        if "decode" in req:
            data = binascii.unhexlify(req["decode"])
            return {"items": [list(i) for i in lpp.decode(data)], "senml": lpp.decode_senml(data)}
        return {"hex": binascii.hexlify(lpp.encode([tuple(i) for i in req["encode"]])).decode()}
    except CodecError as e:
        return {"error": [type(e).__name__, str(e)]}


for line in sys.stdin:
    if line.strip():
        print(json.dumps(one(json.loads(line))))
