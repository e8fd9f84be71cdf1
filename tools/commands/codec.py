"""``trosmart codec export-js [--out DIR] [--lpp-fport N]``: the TS013 JavaScript codec package.

Writes index.js (ECMAScript 5.1, < 40 KB, deterministic), metadata.json, examples.json
(from the corpus), uplink/downlink JSON Schemas and a TTN device-repository codec YAML
(docs/interop.md).
"""

from __future__ import annotations

import argparse

NAME = "codec"
HELP = "export the payload codec for network servers (TS013 JavaScript package)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="codec_cmd", metavar="ACTION", required=True)
    e = sub.add_parser("export-js", help="write index.js and its package files")
    e.add_argument("--out", default="codec-js", metavar="DIR", help="output directory (default: codec-js)")
    e.add_argument("--lpp-fport", type=int, action="append", default=[], metavar="N",
                   help="decode this fPort as Cayenne LPP (repeatable; for LPP devices)")


def run(args: argparse.Namespace) -> int:
    from ..codec_js.package import export

    sizes = export(args.out, tuple(args.lpp_fport))
    for name in sorted(sizes):
        print("%-24s %7d bytes" % (name, sizes[name]))
    print("wrote %s" % args.out)
    return 0
