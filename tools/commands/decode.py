"""``trosmart decode HEX [--format lpp] [--fport N]``: one frame as SenML, for makers.

The same output and exit status as ``python -m payload_codec decode`` (it is that command).
"""

from __future__ import annotations

import argparse

NAME = "decode"
HELP = "decode one uplink frame (hex) to SenML, as python -m payload_codec decode"
DESCRIPTION = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("hex", help="the frame in hex (spaces allowed)")
    p.add_argument("--format", choices=("trosmart", "lpp"), default="trosmart")
    p.add_argument("--fport", type=int, default=1, help="fPort of the frame (default 1: a measurement)")


def run(args: argparse.Namespace) -> int:
    from payload_codec.cli import main

    return int(main(["decode", "--fport", str(args.fport), "--format", args.format, args.hex]))
