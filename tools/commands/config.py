"""``trosmart config get|set KEY [VALUE] --port PORT``: one configuration key over USB.

    trosmart config get interval_s --port /dev/ttyUSB0
    trosmart config get --port /dev/ttyUSB0               # every key
    trosmart config set interval_s 300 --port /dev/ttyUSB0

VALUE is JSON when it parses (300, true, ["temperature","battery_voltage"]), else a string.
Checked by the node's own schema (firmware/lib/node_config.py) before anything is written; the
node applies the change at its next boot.
"""

from __future__ import annotations

import argparse
import json

NAME = "config"
HELP = "read or change one configuration key of a node over USB"
DESCRIPTION = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("get", "set"))
    p.add_argument("key", nargs="?", help="config key (docs/firmware.md §3); get without a key lists all")
    p.add_argument("value", nargs="?", help="new value (set)")
    p.add_argument("--port", required=True, help="serial port of the board")


def run(args: argparse.Namespace) -> int:
    from ..device import config
    from ..device.errors import ConfigInvalid

    if args.action == "get":
        if args.value is not None:
            raise ConfigInvalid("config get takes one KEY (or none)")
        for k, (v, in_file) in config.get(args.port, args.key).items():
            print(f"{k} = {json.dumps(v)}" + ("" if in_file else "  (default)"))
        return 0
    if args.key is None or args.value is None:
        raise ConfigInvalid("config set needs KEY and VALUE, e.g. 'config set interval_s 300'")
    v = config.set_value(args.port, args.key, args.value)
    print(f"{args.key} = {json.dumps(v)} (applied at the node's next boot)")
    return 0
