"""``trosmart registry``: print the quantity registry, or rewrite docs/quantities.md from it."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..registry_doc import render_table, splice

NAME = "registry"
HELP = "show the quantity registry (ids, units, ranges, resolutions, profiles)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--write", metavar="FILE", nargs="?", const="docs/quantities.md",
                   help="rewrite the generated table in FILE (default docs/quantities.md)")


def run(args: argparse.Namespace) -> int:
    if args.write:
        path = Path(args.write)
        doc = path.read_text() if path.exists() else ""
        path.write_text(splice(doc))
        print(f"wrote {path}")
    else:
        print(render_table())
    return 0
