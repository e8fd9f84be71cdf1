"""``trosmart monitor --port PORT``: the node's console, every frame it sends decoded beside it.

Reconnects when the USB device comes back (a node reset or re-plugged); Ctrl-] leaves.
Pointed at a P2P receiver (docs/p2p.md §6), each received envelope is shown decoded; with
``--keys`` (the bridge's keys file) its MIC is checked too, and ``--listen`` switches a RAK3172
receiver to P2P receive whenever it (re)connects.
"""

from __future__ import annotations

import argparse

NAME = "monitor"
HELP = "show a node's serial console with its frames decoded (Ctrl-] leaves)"
DESCRIPTION = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, help="serial port of the board (e.g. /dev/ttyUSB0)")
    p.add_argument("--keys", metavar="FILE", help="P2P keys file (JSON DevEUI -> key, mode 0600): check MICs")
    p.add_argument("--listen", action="store_true",
                   help="a RAK3172 P2P receiver: send AT+PRECV=65534 at every (re)connect")


def run(args: argparse.Namespace) -> int:
    from ..device.monitor import Monitor

    signers = None
    if args.keys:
        from bridge import p2p_keys
        from bridge.errors import ConfigError

        from ..errors import ToolError

        try:
            keys = p2p_keys.load(args.keys, "--keys")
        except ConfigError as e:
            raise ToolError(str(e)) from None
        signers = {dev: signer for dev, (_eui, signer) in keys.items()}
    return Monitor(args.port, signers=signers, listen=args.listen).run()
