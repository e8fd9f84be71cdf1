"""A stand-in for a custom MicroPython image with TroSmart's modules frozen in (firmware/manifest.py).

The virtual board runs the pip-installed Unix port, which cannot freeze modules without a
MicroPython build. ``build_image`` reads the real manifest the way MicroPython's
tools/manifestfile.py does (the manifest is exec'd with freeze/package/module/require/include/
options; its relative paths are resolved from firmware/) and puts what it declares into a
folder: the modules compiled to .mpy and the ``trosmart_image`` module the manifest generates.
VirtualUsbBoard/VirtualNode(image=…) put that folder on the board's path right after
``.frozen``, ahead of the flash, as frozen modules are on a board.

Differences from a real frozen image (written down because tests rely on them): the modules
are .mpy files loaded into the heap, not bytecode in flash (so heap figures are not a frozen
image's: make those with a real build, docs/lorawan.md "RAM"); the port's own manifest and
micropython-lib's `lora` packages are not included (the virtual board's radio is lora_sim.py);
the folder is read-only only by convention.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..device.stage import FIRMWARE_DIR, compile_mpy

MANIFEST = FIRMWARE_DIR / "manifest.py"


class _Options:
    def __init__(self, **kwargs: object) -> None:
        self._kwargs = kwargs
        self._defaults: dict[str, object] = {}

    def defaults(self, **kwargs: object) -> None:
        self._defaults = kwargs

    def __getattr__(self, name: str) -> object:
        return self._kwargs.get(name, self._defaults.get(name))


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    prev = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(prev)


def declared(manifest: Path = MANIFEST, *, lora: bool = False) -> tuple[dict[str, Path], list[str], str]:
    """({target path in the image, e.g. "payload_codec/cbor.py": source file}, required packages,
    the source of the trosmart_image module it generates) of the manifest, with port_manifest=""
    (and lora=False unless asked)."""
    out: dict[str, Path] = {}
    required: list[str] = []
    base = manifest.parent

    def freeze(path: str, script: object = None, opt: object = None) -> None:
        names = [script] if isinstance(script, str) else list(script or os.listdir(base / path))  # type: ignore[call-overload]
        for n in names:
            out[n] = (base / path / n).resolve()

    def package(pkg: str, files: list[str] | None = None, base_path: str = ".", opt: object = None) -> None:
        for n in files or []:
            out[f"{pkg}/{n}"] = (base / base_path / pkg / n).resolve()

    def module(name: str, base_path: str = ".", opt: object = None) -> None:
        out[name] = (base / base_path / name).resolve()

    def include(path: str, **kwargs: object) -> None:
        raise ValueError(f"the stand-in image includes no other manifest ({path})")

    g = {"options": _Options(port_manifest="", lora=lora), "freeze": freeze, "module": module,
         "require": required.append, "include": include, "metadata": lambda **kw: None, "package": package}
    with _cwd(base):
        exec(compile(manifest.read_text(), str(manifest), "exec"), g)  # noqa: S102 - our own manifest
    generated = out.pop("trosmart_image.py")
    source = generated.read_text()
    if generated.parent.name.startswith("trosmart-image-"):  # the manifest's temporary folder
        shutil.rmtree(generated.parent, ignore_errors=True)
    return out, required, source


def build_image(dest: Path, manifest: Path = MANIFEST) -> Path:
    """The folder standing in for the image's frozen modules (replaced); returns it."""
    files, _, source = declared(manifest)
    if dest.exists():
        shutil.rmtree(dest)
    for target, src in files.items():
        out = dest / target
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, out)
    (dest / "trosmart_image.py").write_text(source)
    compile_mpy(dest)
    return dest
