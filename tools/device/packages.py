"""The micropython-lib packages a board profile needs, installed on the board by mpremote's mip.

A bare SX126x/SX127x needs the `lora` modem API, its synchronous flavour and the radio's driver
(docs/references.md §B 1.1); they all install into the one package folder lib/lora. A board
that already has every module is left alone (a re-flash needs no network). Otherwise
``mpremote mip install`` fetches them on the host from micropython-lib's index and copies them
to the board (docs/references.md §Q.B); without network that fails with "<reason> requesting
<url>", which becomes one line saying what to do next.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from . import mpremote
from .errors import PackageIndexUnreachable

PACKAGE_DIR = "lib/lora/"  # mip's default target on an ESP32 is /lib (docs/references.md §F)
# the modules each package puts into lib/lora (micropython-lib micropython/lora/*/manifest.py, §B 1.1)
MODULES = {"lora": ("__init__", "modem"), "lora-sync": ("sync_modem",), "lora-async": ("async_modem",),
           "lora-sx126x": ("sx126x",), "lora-sx127x": ("sx127x",)}


def missing(packages: Sequence[str], files: Mapping[str, str], frozen: Sequence[str] = ()) -> list[str]:
    """The packages of which a module is neither on the board (``files``: its paths, as probed)
    nor frozen into its image (``frozen``: module names, "lora" for lora/__init__, "lora.sx126x")."""
    have = {f[len(PACKAGE_DIR):].rsplit(".", 1)[0] for f in files
            if f.startswith(PACKAGE_DIR) and f.endswith((".py", ".mpy"))}
    have |= {"__init__" if m == "lora" else m[len("lora."):] for m in frozen if m == "lora" or m.startswith("lora.")}
    return [p for p in packages if not all(m in have for m in MODULES.get(p, (p,)))]


def install_command(packages: Sequence[str]) -> list[str]:
    return ["mip", "install", *packages]


def ensure(port: str, board: str, packages: Sequence[str], files: Mapping[str, str],
           run: Callable[..., str] = mpremote.run, frozen: Sequence[str] = ()) -> list[str]:
    """Install what is missing of ``packages`` on the board at ``port``; returns what was installed.

    PackageIndexUnreachable (one line: what failed, what to do) when mip cannot download them.
    """
    todo = missing(packages, files, frozen)
    if not todo:
        return []
    try:
        run(port, install_command(todo))
    except PackageIndexUnreachable as e:
        raise PackageIndexUnreachable(
            f"board {board} needs the micropython-lib packages {', '.join(todo)}, but {e}: connect this "
            f"computer to the internet and run the same command again (or install them once with "
            f"'mpremote connect {port} mip install {' '.join(todo)}')") from None
    return todo
