"""``trosmart bridge --config bridge.toml [--check]``: run the LNS-to-city bridge."""

from __future__ import annotations

import argparse
import json

NAME = "bridge"
HELP = "run the LoRaWAN network server to city MQTT bridge (docs/bridge.md)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="bridge TOML file")
    p.add_argument("--check", action="store_true", help="validate the configuration and exit")


def run(args: argparse.Namespace) -> int:
    from bridge import app
    from bridge.errors import BridgeError

    from ..errors import ToolError

    try:
        if args.check:
            print(json.dumps(app.check(args.config), indent=2))
            return 0
        return app.run(args.config)
    except BridgeError as e:
        raise ToolError(str(e)) from None
