"""``python -m portal --config portal.toml [--check]`` (the same as ``trosmart portal``)."""

from __future__ import annotations

import argparse
import json
import sys

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m portal", description="TroSmart portal (docs/portal.md)")
    p.add_argument("--config", required=True)
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
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
