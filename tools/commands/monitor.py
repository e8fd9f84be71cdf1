"""``trosmart monitor --port PORT``: the node's console, every frame it sends decoded beside it.

Reconnects when the USB device comes back (a node reset or re-plugged); Ctrl-] leaves.
"""

from __future__ import annotations

import argparse

NAME = "monitor"
HELP = "show a node's serial console with its frames decoded (Ctrl-] leaves)"
DESCRIPTION = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, help="serial port of the board (e.g. /dev/ttyUSB0)")


def run(args: argparse.Namespace) -> int:
    from ..device.monitor import Monitor

    return Monitor(args.port).run()
