# The envelope requests of tests/codec/test_envelope.py on MicroPython (mpy_codec_driver.py
# hands them here); the block cipher is cryptolib.aes(key, 1).
import cryptolib

import payload_codec as pc
from payload_codec import cmac, envelope


def _signer(key_hex):
    return envelope.Signer(cryptolib.aes(bytes.fromhex(key_hex), 1))


def expectation(keys, data):
    # the shape of tests/codec/envelope_corpus.py expectation()
    signers = {}
    for k in keys:
        signers[int(k, 16)] = _signer(keys[k])
    try:
        dev, ctr, fport, frame = envelope.open_envelope(data, signers.get)
    except pc.CodecError as e:
        return {"error": {"class": type(e).__name__, "message": str(e)}}
    try:
        senml = pc.to_senml(pc.decode_uplink(fport, frame))
    except pc.CodecError as e:
        senml = {"error": {"class": type(e).__name__, "message": str(e)}}
    return {"opened": {"device": "%08X" % dev, "counter": ctr, "fport": fport, "frame": frame.hex(),
                       "senml": senml}}


def handle(req):
    op = req["op"]
    try:
        if op == "cmac":
            return {"hex": cmac.cmac(cryptolib.aes(bytes.fromhex(req["key"]), 1), bytes.fromhex(req["msg"])).hex()}
        if op == "seal":
            out = envelope.seal(_signer(req["key"]), req["device"], req["counter"], req["fport"],
                                bytes.fromhex(req["frame"]))
            return {"hex": out.hex()}
        if op == "open":
            keys = {}
            for k in req["keys"]:
                keys[int(k)] = _signer(req["keys"][k])
            d, c, p, f = envelope.open_envelope(bytes.fromhex(req["hex"]), keys.get)
            return {"device": d, "counter": c, "fport": p, "frame": f.hex()}
        if op == "derive":
            return {"hex": envelope.derive_key(cryptolib.aes(bytes.fromhex(req["key"]), 1), req["device"]).hex()}
        if op == "expect":
            return expectation(req["keys"], bytes.fromhex(req["hex"]))
        return {"error": "BadRequest", "msg": op}
    except envelope.DecodeError as e:
        return {"error": type(e).__name__, "msg": str(e)}
    except ValueError as e:  # EncodeError is a CodecError, a ValueError
        return {"error": type(e).__name__, "msg": str(e)}

