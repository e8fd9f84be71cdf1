"""``trosmart bridge --config bridge.toml [--check | parked list|replay|drop]``: run the
LNS-to-city bridge, or look after the outbox rows the city broker refused."""

from __future__ import annotations

import argparse
import sys

NAME = "bridge"
HELP = "run the LoRaWAN network server to city MQTT bridge (docs/bridge.md)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from bridge import app

    app.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    from bridge import app
    from bridge.errors import BridgeError, CorruptDatabase

    from ..errors import ToolError

    try:
        return app.dispatch(args)
    except CorruptDatabase as e:  # its own exit status: a supervisor should not just restart
        print(f"trosmart: {e}", file=sys.stderr)
        return app.EXIT_CORRUPT
    except BridgeError as e:
        raise ToolError(str(e)) from None
