"""``trosmart portal --config portal.toml [--check]``: the citizens' map, charts and open data."""

from __future__ import annotations

import argparse
import json

NAME = "portal"
HELP = "run the portal: map, charts and open-data downloads from the city topics (docs/portal.md)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="portal TOML file")
    p.add_argument("--check", action="store_true", help="validate the configuration and exit")


def run(args: argparse.Namespace) -> int:
    from portal.__main__ import check
    from portal.config import load
    from portal.errors import PortalError

    from ..errors import ToolError

    try:
        if args.check:
            print(json.dumps(check(args.config), indent=2))
            return 0
        from portal.service import run as serve

        return serve(load(args.config))
    except PortalError as e:
        raise ToolError(str(e)) from None
