"""Run the bridge until SIGTERM/SIGINT; ``--check`` validates the configuration only."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from . import config as config_mod
from . import logs, paho_private
from .errors import BridgeError
from .service import Bridge


def check(path: str) -> dict[str, object]:
    """Validate a configuration file; a summary without secrets, or ConfigError."""
    cfg = config_mod.load(path)
    paho_private.check()
    summary: dict[str, object] = {
        "state_dir": str(cfg.state_dir), "prefix": cfg.prefix,
        "city": f"{cfg.city.host}:{cfg.city.port} mqtt {cfg.city.protocol}"
                + (" tls" if cfg.city.tls else ""),
        "sources": [f"{s.name} ({s.lns}) {s.host}:{s.port} mqtt {s.protocol} topics "
                    + ", ".join(s.topics) for s in cfg.sources],
        "decode_default": cfg.decode_default,
        "metrics": f"http://{cfg.metrics_host}:{cfg.metrics_port}/metrics",
    }
    return summary


def run(path: str) -> int:
    cfg = config_mod.load(path)
    paho_private.check()  # before anything starts: one line naming the paho version
    logs.setup(cfg.log_level)
    bridge = Bridge(cfg)
    stop = threading.Event()

    def on_signal(_sig: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    bridge.start()
    while not stop.wait(1.0) and not bridge.fatal_event.is_set():
        pass
    bridge.stop()
    if bridge.fatal:
        print(f"bridge: {bridge.fatal}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bridge", description=__doc__)
    ap.add_argument("--config", required=True, help="bridge TOML file (docs/bridge.md)")
    ap.add_argument("--check", action="store_true", help="validate the file and exit")
    args = ap.parse_args(argv)
    try:
        if args.check:
            print(json.dumps(check(args.config), indent=2))
            return 0
        return run(args.config)
    except BridgeError as e:
        print(f"bridge: {e}", file=sys.stderr)
        return 2
