"""The ``trosmart`` command line: a table of sub-commands discovered in trosmart_tools.commands."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from . import commands
from .errors import ToolError


def _command_modules() -> list[ModuleType]:
    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trosmart",
        description="TroSmart: flash, provision and monitor LoRa sensor nodes; run the bridge, "
        "the codec tools, the virtual lab and the demo.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except ToolError as e:
        print(f"trosmart: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("trosmart: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
