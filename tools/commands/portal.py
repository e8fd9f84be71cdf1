"""``trosmart portal --config portal.toml [--check]``: the citizens' map, charts, open data and the
fleet view; ``trosmart portal hash-password``: an Argon2id hash for an ``[[account]]`` (the
password from the terminal or one line of stdin, never from argv)."""

from __future__ import annotations

import argparse
import json

NAME = "portal"
HELP = "run the portal: map, charts and open-data downloads from the city topics (docs/portal.md)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=["serve", "hash-password"], default="serve",
                   help="serve (the default) or hash-password: print an Argon2id hash for an [[account]] "
                        "of the fleet view, the password read from the terminal or stdin")
    p.add_argument("--config", help="portal TOML file (to serve or --check)")
    p.add_argument("--check", action="store_true", help="validate the configuration and exit")


def run(args: argparse.Namespace) -> int:
    from portal.__main__ import check, hash_password
    from portal.config import load
    from portal.errors import PortalError

    from ..errors import ToolError

    if args.action == "hash-password":
        return hash_password()
    if not args.config:
        raise ToolError("trosmart portal: --config is required (or: trosmart portal hash-password)")
    try:
        if args.check:
            print(json.dumps(check(args.config), indent=2))
            return 0
        from portal.service import run as serve

        return serve(load(args.config))
    except PortalError as e:
        raise ToolError(str(e)) from None
