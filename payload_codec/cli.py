"""``python -m payload_codec`` / ``micropython -m payload_codec``: encode and decode frames.

A contract for the corpus runner, other people's CI and our tools (docs/codec.md §8).
Written without argparse so the same file runs on the MicroPython Unix port.
"""

import json
import sys

from .errors import CodecError

USAGE = """usage: python -m payload_codec encode [--fport N] [--format lpp] [--layout ID=q1,q2,...] < JSON
       python -m payload_codec decode [--fport N] [--format lpp] [--layout ID=q1,q2,...]
                                      [--bn NAME] [--bt SECONDS] HEX

encode reads JSON on stdin and prints the frame as hex:
  fPort 1 (default) one sample {"temperature": 21.37, "humidity": 48.5} (null = sensor failed)
                    or a batch {"samples": [{"offset_s": -600, "values": {...}}, ...]}
  fPort 2 a status object, fPort 3 {"layout": ID, "quantities": [...]}, fPort 10 a command
decode prints a SenML pack (RFC 8428 JSON); fPort 10 prints the command object.
Bad input: exit status 2 and one line on stderr."""


class UsageError(Exception):
    pass


def _parse(argv):
    opts: dict = {"fport": 1, "format": "trosmart", "layouts": None, "bn": None, "bt": None}
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            opts["help"] = True
            i += 1
            continue
        if a.startswith("--"):
            if "=" in a and a[2:].split("=", 1)[0] in ("fport", "format", "bn", "bt"):
                key, val = a[2:].split("=", 1)
            else:
                if i + 1 >= len(argv):
                    raise UsageError("%s needs a value" % a)
                key, val = a[2:], argv[i + 1]
                i += 1
            if key == "fport":
                try:
                    opts["fport"] = int(val)
                except ValueError:
                    raise UsageError("--fport needs a number, got %r" % val) from None
            elif key == "format":
                if val not in ("trosmart", "lpp"):
                    raise UsageError("--format is trosmart or lpp, got %r" % val)
                opts["format"] = val
            elif key == "layout":
                if "=" not in val:
                    raise UsageError("--layout needs ID=quantity,quantity,...")
                lid, names = val.split("=", 1)
                try:
                    lid = int(lid)
                except ValueError:
                    raise UsageError("--layout id must be a number") from None
                if opts["layouts"] is None:
                    opts["layouts"] = {}
                opts["layouts"][lid] = tuple(n for n in names.split(",") if n)
            elif key == "bn":
                opts["bn"] = val
            elif key == "bt":
                try:
                    opts["bt"] = float(val) if "." in val else int(val)
                except ValueError:
                    raise UsageError("--bt needs seconds, got %r" % val) from None
            else:
                raise UsageError("unknown option --%s" % key)
        else:
            pos.append(a)
        i += 1
    return opts, pos


def _hex_bytes(text):
    t = text.strip().replace(" ", "")
    if t.startswith("0x") or t.startswith("0X"):
        t = t[2:]
    if len(t) % 2:
        raise UsageError("hex input has an odd number of digits")
    try:
        return bytes.fromhex(t)
    except ValueError:
        raise UsageError("input is not hex: %r" % text[:40]) from None


def _read_json():
    text = sys.stdin.read()
    try:
        return json.loads(text)
    except ValueError:
        raise UsageError("stdin is not valid JSON") from None


def do_encode(opts):
    obj = _read_json()
    fport = opts["fport"]
    if opts["format"] == "lpp":
        from .lpp import encode_json

        return encode_json(obj)
    if fport == 1:
        if not isinstance(obj, dict):
            raise UsageError("expected a JSON object of values or {\"samples\": [...]}")
        layout = None
        if opts["layouts"]:
            lid = sorted(opts["layouts"])[0]
            layout = (lid, opts["layouts"][lid])
        if "samples" in obj:
            from .measurement import encode_batch

            if not isinstance(obj["samples"], list):
                raise UsageError("samples must be a list")
            return encode_batch(obj["samples"], layout)
        from .measurement import encode

        return encode(obj, layout)
    if fport == 2:
        from .status import encode_status

        return encode_status(obj)
    if fport == 3:
        from .measurement import encode_layout

        if not isinstance(obj, dict) or "layout" not in obj or "quantities" not in obj:
            raise UsageError('a layout is {"layout": ID, "quantities": [...]}')
        return encode_layout(obj["layout"], obj["quantities"])
    if fport == 10:
        from .downlink import encode_downlink

        return encode_downlink(obj)
    raise UsageError("fPort %d is not in the fPort plan (1, 2, 3, 10)" % fport)


def do_decode(opts, hex_text):
    data = _hex_bytes(hex_text)
    if opts["format"] == "lpp":
        from .lpp import decode_senml

        recs = decode_senml(data)
        if recs and opts["bn"] is not None:
            recs[0]["bn"] = opts["bn"]
        if recs and opts["bt"] is not None:
            recs[0]["bt"] = opts["bt"]
        return recs
    if opts["fport"] == 10:
        from .downlink import decode_downlink

        return decode_downlink(data)
    from . import decode_uplink, to_senml

    return to_senml(decode_uplink(opts["fport"], data, opts["layouts"]), opts["bn"], opts["bt"])


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    try:
        opts, pos = _parse(argv)
        if opts.get("help") or not pos:
            print(USAGE)
            return 0 if opts.get("help") else 2
        cmd = pos[0]
        if cmd == "encode":
            if len(pos) != 1:
                raise UsageError("encode reads JSON on stdin and takes no positional argument")
            print(do_encode(opts).hex())
        elif cmd == "decode":
            if len(pos) == 2:
                hex_text = pos[1]
            elif len(pos) == 1:
                hex_text = sys.stdin.read()
            else:
                raise UsageError("decode takes one HEX argument")
            print(json.dumps(do_decode(opts, hex_text)))
        else:
            raise UsageError("unknown command %r (encode or decode)" % cmd)
    except (UsageError, CodecError) as e:
        sys.stderr.write("payload_codec: error: %s\n" % e)
        return 2
    except ImportError as e:
        sys.stderr.write("payload_codec: error: %s\n" % e)
        return 2
    return 0
