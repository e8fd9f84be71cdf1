"""Copy a staged node to its board: only what changed, under temporary names, main.py last.

The plan compares the staged files' SHA-256 with the hashes the board reported (probe.py).
One mpremote call then: removes stale temporary files and lib/ files the firmware no longer
ships (a stale .py would shadow the new .mpy), makes the folders, copies each changed file to
``<name>.tmp``, renames them into place, and renames main.py last. Unplugged at any point, the
board keeps its old main.py (or none yet) until every other file is complete, and the next
``trosmart flash`` sees the temporary files and the wrong hashes and repairs them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import mpremote

TMP = ".tmp"


@dataclass
class Plan:
    copy: list[str] = field(default_factory=list)  # board paths, main.py last
    remove: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.copy and not self.remove


def plan(wanted: dict[str, str], have: dict[str, str]) -> Plan:
    p = Plan()
    p.remove = sorted(f for f in have if f.endswith(TMP) or (f.startswith("lib/") and f not in wanted))
    p.copy = sorted((f for f in wanted if have.get(f) != wanted[f]), key=lambda f: (f == "main.py", f))
    p.dirs = sorted({"/".join(f.split("/")[:i]) for f in p.copy for i in range(1, f.count("/") + 1)})
    return p


def _prep(p: Plan) -> str:
    return ("import os\nfor _p in %s:\n    try:\n        os.remove(_p)\n    except OSError:\n        pass\n"
            "for _d in %s:\n    try:\n        os.mkdir(_d)\n    except OSError:\n        pass\n"
            % (json.dumps(p.remove), json.dumps(p.dirs)))


def _commit(files: list[str]) -> str:
    # remove first: FAT cannot rename over a file (littlefs can); a cut in between leaves a
    # missing file, which the next flash copies again
    return ("import os\nfor _p in %s:\n    try:\n        os.remove(_p)\n    except OSError:\n        pass\n"
            "    os.rename(_p + %r, _p)\n" % (json.dumps(files), TMP))


def commands(stage: Path, p: Plan) -> list[list[str]]:
    """The mpremote commands that carry out the plan (chained after others by the caller)."""
    if p.empty:
        return []
    cmds: list[list[str]] = [["exec", _prep(p)]]
    cmds += [["fs", "cp", "-f", str(stage / f), ":" + f + TMP] for f in p.copy]
    rest = [f for f in p.copy if f != "main.py"]
    if rest:
        cmds.append(["exec", _commit(rest)])
    if "main.py" in p.copy:
        cmds.append(["exec", _commit(["main.py"])])
    return cmds


def copy_counter(on_file: Callable[[str], None]) -> Callable[[str], None]:
    """An mpremote line callback that calls ``on_file(path)`` for each "cp SRC :DEST" line."""

    def on_line(line: str) -> None:
        if line.startswith("cp ") and " :" in line:
            dest = line.rsplit(" :", 1)[1]
            on_file(dest[: -len(TMP)] if dest.endswith(TMP) else dest)

    return on_line


def run(port: str, stage: Path, p: Plan, *, after: list[list[str]] | None = None,
        on_file: Callable[[str], None] | None = None) -> str:
    cmds = commands(stage, p) + list(after or [])
    if not cmds:
        return ""
    return mpremote.run(port, mpremote.chain(*cmds), on_line=copy_counter(on_file) if on_file else None)
