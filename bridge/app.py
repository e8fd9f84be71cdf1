"""Run the bridge until SIGTERM/SIGINT/SIGHUP; ``--check`` validates the configuration only;
``parked list|replay|drop`` shows or moves the outbox rows the city broker refused.

Exit status: 0 after a clean stop, 1 when the bridge could not continue (a dead worker,
thread or database), 2 for a configuration error, 3 for a corrupt state database.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from . import config as config_mod
from . import logs, paho_private
from .errors import BridgeError, CorruptDatabase
from .service import Bridge
from .store import Store
from .worker import DB_NAME

EXIT_CORRUPT = 3
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # SIGHUP: the terminal closed


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

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    bridge.start()
    while not stop.wait(1.0) and not bridge.fatal_event.is_set():
        bridge.watch()
    bridge.stop()
    if bridge.fatal:
        print(f"bridge: {bridge.fatal}", file=sys.stderr)
        return 1
    return 0


def parked(path: str, action: str, ids: Sequence[int] = (), every: bool = False) -> int:
    """``list`` the parked rows, or ``replay`` (back to the outbox) / ``drop`` the given ones.
    Works while the bridge runs (SQLite WAL); a replayed row the broker still refuses is
    parked again."""
    cfg = config_mod.load(path)
    db = cfg.state_dir / DB_NAME
    if not db.exists():
        raise BridgeError(f"no state database at {db}")
    store = Store(db, cfg.synchronous)
    try:
        if action == "list":
            rows = store.parked(limit=1_000_000)
            for r in rows:
                print(json.dumps({"id": r.id, "topic": r.topic[:200], "topic_chars": len(r.topic),
                                  "payload_bytes": len(r.payload), "retain": r.retain,
                                  "reason": r.reason, "parked_at": round(r.parked_at, 3)}))
            print(f"{len(rows)} parked row(s)", file=sys.stderr)
            return 0
        chosen = [r.id for r in store.parked(limit=1_000_000)] if every else list(ids)
        if not chosen:
            raise BridgeError(f"parked {action}: name row ids (see 'parked list') or --all")
        n = store.unpark(chosen, replay=action == "replay")
        print(f"{'replayed' if action == 'replay' else 'dropped'} {n} of {len(chosen)} row(s)",
              file=sys.stderr)
        return 0 if n == len(chosen) else 1
    finally:
        store.close()


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``python -m bridge`` and ``trosmart bridge``."""
    ap.add_argument("--config", required=True, help="bridge TOML file (docs/bridge.md)")
    ap.add_argument("--check", action="store_true", help="validate the file and exit")
    sub = ap.add_subparsers(dest="bridge_command", metavar="parked")
    p = sub.add_parser("parked", help="list, replay or drop outbox rows the city broker refused")
    p.add_argument("action", choices=("list", "replay", "drop"))
    p.add_argument("ids", nargs="*", type=int, help="row ids from 'parked list'")
    p.add_argument("--all", action="store_true", help="every parked row")


def dispatch(args: argparse.Namespace) -> int:
    """Run what the parsed arguments ask for; BridgeError propagates."""
    if getattr(args, "bridge_command", None) == "parked":
        return parked(args.config, args.action, args.ids, args.all)
    if args.check:
        print(json.dumps(check(args.config), indent=2))
        return 0
    return run(args.config)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bridge", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    args = ap.parse_args(argv)
    try:
        return dispatch(args)
    except CorruptDatabase as e:
        print(f"bridge: {e}", file=sys.stderr)
        return EXIT_CORRUPT
    except BridgeError as e:
        print(f"bridge: {e}", file=sys.stderr)
        return 2
