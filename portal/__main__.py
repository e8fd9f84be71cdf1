"""``python -m portal --config portal.toml [--check]`` (the same as ``trosmart portal``), and
``python -m portal hash-password`` (``trosmart portal hash-password``): an Argon2id hash for an
``[[account]]``, the password read with getpass on a terminal or as one line of standard input,
never from the command line (argv is visible to every user of the machine and in shell
histories)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TextIO

from . import config
from .errors import PortalError


def check(path: str) -> dict[str, object]:
    """Validate the configuration; a summary without secrets."""
    cfg = config.load(path)
    return {"ok": True, "listen": f"{cfg.host}:{cfg.port}", "prefix": cfg.prefix, "storage": cfg.backend,
            "sqlite_path": str(cfg.sqlite_path) if cfg.backend == "sqlite" else None,
            "raw_retention_days": cfg.raw_retention_days or "forever",
            "broker": f"{cfg.mqtt.host}:{cfg.mqtt.port}", "client_id": cfg.mqtt.client_id, "tls": cfg.mqtt.tls,
            "licence": cfg.licence.id, "provider": cfg.licence.provider, "nodes_listed": len(cfg.nodes),
            "public_listed": sum(1 for n in cfg.nodes.values() if n.public), "tile_url": cfg.tile_url or None}


def hash_password(stdin: TextIO | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Print the Argon2id hash of a password read from the terminal (twice) or from stdin."""
    from .fleet.auth import hash_password as make_hash

    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    if stdin.isatty():
        pw = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != pw:
            print("portal: the two passwords differ", file=stderr)
            return 2
    else:
        pw = stdin.readline().rstrip("\r\n")
    try:
        print(make_hash(pw), file=stdout)
    except ValueError as e:
        print(f"portal: {e}", file=stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m portal", description="TroSmart portal (docs/portal.md)")
    p.add_argument("action", nargs="?", choices=["serve", "hash-password"], default="serve",
                   help="serve (the default) or hash-password (for an [[account]]; reads the password "
                        "from the terminal or stdin)")
    p.add_argument("--config")
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    if args.action == "hash-password":
        return hash_password()
    if not args.config:
        p.error("--config is required")
    try:
        if args.check:
            print(json.dumps(check(args.config), indent=2))
            return 0
        from .service import run

        return run(config.load(args.config))
    except PortalError as e:
        print(f"portal: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
