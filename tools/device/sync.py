"""Copy a staged node to its board: only what changed, under temporary names, main.py last.

The plan compares the staged files' SHA-256 with the hashes the board reported (probe.py).
One mpremote call then: removes stale temporary files and lib/ files the firmware no longer
ships (a stale .py would shadow the new .mpy), makes the folders, writes each changed file to
``<name>.tmp``, checks every temporary file's SHA-256 on the board, renames them into place, and
renames main.py last. Unplugged at any point, the board keeps its old main.py (or none yet)
until every other file is complete, and the next ``trosmart flash`` sees the temporary files and
the wrong hashes and repairs them.

Files travel as base64 in ``mpremote exec`` calls of up to 3 KiB of data each (binascii on the
board): three times faster than ``mpremote fs cp``, which sends 256-byte chunks with a round trip
each, and small enough for the REPL to compile on an ESP32's heap.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import mpremote
from .probe import HASH_FN

TMP = ".tmp"
CHUNK = 3072  # bytes of file data per exec (4 KiB of base64)
KEEP = ("lib/lora/",)  # installed by mip (packages.py), not staged: a re-flash keeps them
COPIED = "@@CP "  # the board prints this and the path after the last chunk of each file


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
    p.remove = sorted(f for f in have if f.endswith(TMP) or (f.startswith("lib/") and f not in wanted
                                                              and not f.startswith(KEEP)))
    p.copy = sorted((f for f in wanted if have.get(f) != wanted[f]), key=lambda f: (f == "main.py", f))
    p.dirs = sorted({"/".join(f.split("/")[:i]) for f in p.copy for i in range(1, f.count("/") + 1)})
    return p


def _prep(p: Plan) -> str:
    return ("import os\nfor _p in %s:\n    try:\n        os.remove(_p)\n    except OSError:\n        pass\n"
            "for _d in %s:\n    try:\n        os.mkdir(_d)\n    except OSError:\n        pass\n"
            % (json.dumps(p.remove), json.dumps(p.dirs)))


def _verify(hashes: dict[str, str]) -> str:
    """Raise on the board (mpremote exits 1) unless every temporary file has its hash."""
    return HASH_FN + ("for _p, _x in %s.items():\n    if _h(_p + %r) != _x:\n"
                      "        raise OSError('copy of ' + _p + ' is damaged')\n" % (json.dumps(hashes), TMP))


def _commit(files: list[str]) -> str:
    # remove first: FAT cannot rename over a file (littlefs can); a cut in between leaves a
    # missing file, which the next flash copies again
    return ("import os\nfor _p in %s:\n    try:\n        os.remove(_p)\n    except OSError:\n        pass\n"
            "    os.rename(_p + %r, _p)\n" % (json.dumps(files), TMP))


def _write(path: str, data: bytes) -> list[list[str]]:
    """exec commands writing ``data`` to ``path``.tmp, CHUNK bytes at a time."""
    out = []
    for i in range(0, max(len(data), 1), CHUNK):
        b64 = binascii.b2a_base64(data[i:i + CHUNK], newline=False).decode()
        code = "import binascii\nwith open(%r, %r) as _f:\n    _f.write(binascii.a2b_base64(%r))\n" % (
            path + TMP, "wb" if i == 0 else "ab", b64)
        if i + CHUNK >= len(data):
            code += "print(%r)\n" % (COPIED + path)
        out.append(["exec", code])
    return out


def commands(stage: Path, p: Plan) -> list[list[str]]:
    """The mpremote commands that carry out the plan (chained after others by the caller)."""
    if p.empty:
        return []
    cmds: list[list[str]] = [["exec", _prep(p)]]
    for f in p.copy:
        cmds += _write(f, (stage / f).read_bytes())
    cmds.append(["exec", _verify({f: hashlib.sha256((stage / f).read_bytes()).hexdigest() for f in p.copy})])
    rest = [f for f in p.copy if f != "main.py"]
    if rest:
        cmds.append(["exec", _commit(rest)])
    if "main.py" in p.copy:
        cmds.append(["exec", _commit(["main.py"])])
    return cmds


def copy_counter(on_file: Callable[[str], None]) -> Callable[[str], None]:
    """An mpremote line callback that calls ``on_file(path)`` as each file is complete."""

    def on_line(line: str) -> None:
        if line.startswith(COPIED):
            on_file(line[len(COPIED):])

    return on_line


def run(port: str, stage: Path, p: Plan, *, after: list[list[str]] | None = None,
        on_file: Callable[[str], None] | None = None) -> str:
    cmds = commands(stage, p) + list(after or [])
    if not cmds:
        return ""
    return mpremote.run(port, mpremote.chain(*cmds), on_line=copy_counter(on_file) if on_file else None)
