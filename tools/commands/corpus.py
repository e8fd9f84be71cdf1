"""``trosmart corpus check PATH...`` and ``trosmart corpus record FILE``: the recorded-frame corpus.

check decodes every frame on CPython, the MicroPython Unix port and the generated
JavaScript codec and exits 1 with a readable diff on any mismatch (tests/frames/README.md).
record appends a frame (a ChirpStack v4 / The Things Stack v3 uplink JSON on stdin, or
--fport/--hex) with the current decoder's result as its expectation.
"""

from __future__ import annotations

import argparse
import json
import sys

from .. import corpus
from ..errors import ToolError

NAME = "corpus"
HELP = "check recorded frames on CPython, MicroPython and the JS codec; record new frames"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="corpus_cmd", metavar="ACTION", required=True)
    c = sub.add_parser("check", help="check corpus files (or directories of *.jsonl)")
    c.add_argument("paths", nargs="+", metavar="PATH")
    c.add_argument("--runtime", action="append", choices=corpus.RUNTIMES,
                   help="check only this runtime (repeatable; default: all three)")
    c.add_argument("--codec-js", metavar="FILE", help="check this JS codec instead of a fresh export")
    r = sub.add_parser("record", help="append a frame to a corpus file")
    r.add_argument("file", metavar="FILE")
    r.add_argument("--id", required=True, help="frame id, unique in the file")
    r.add_argument("--fport", type=int, help="fPort (with --hex; otherwise read an uplink JSON on stdin)")
    r.add_argument("--hex", help="frame bytes as hex")
    r.add_argument("--received", help="reception time, UTC ISO 8601 (…Z)")
    r.add_argument("--codec", choices=corpus.CODECS, default="trosmart")
    r.add_argument("--down", action="store_true", help="the frame is a command downlink (fPort 10)")
    r.add_argument("--source", choices=corpus.SOURCES, default="recorded")
    r.add_argument("--ref", help="where the frame comes from (device, document, issue)")
    r.add_argument("--note", help="why this frame is in the corpus")


def run(args: argparse.Namespace) -> int:
    if args.corpus_cmd == "check":
        return _check(args)
    return _record(args)


def _check(args: argparse.Namespace) -> int:
    report = corpus.check(args.paths, tuple(args.runtime or corpus.RUNTIMES), args.codec_js)
    for m in report.mismatches:
        print(m.render())
    print("%d frames x %s: %d mismatches" % (report.frames, "+".join(report.runtimes), len(report.mismatches)))
    return 1 if report.mismatches else 0


def _record(args: argparse.Namespace) -> int:
    received = args.received
    ref = args.ref
    if args.hex is not None:
        if args.fport is None:
            raise ToolError("--hex needs --fport")
        try:
            data = bytes.fromhex(args.hex)
        except ValueError:
            raise ToolError("--hex is not hex digits") from None
        fport = args.fport
    else:
        try:
            obj = json.load(sys.stdin)
        except ValueError as e:
            raise ToolError(f"stdin is not JSON: {e}") from None
        fport, data, rx, dev = corpus.uplink_from_json(obj)
        received = received or corpus.normalise_time(rx)
        ref = ref or (f"device {dev}" if dev else None)
    frame = corpus.make_frame(args.id, args.codec, "down" if args.down else "up", fport, data,
                              args.source, received=received, ref=ref, note=args.note)
    corpus.append(args.file, [frame])
    print(corpus.dump_line(frame))
    return 0
