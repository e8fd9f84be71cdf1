"""A board image with TroSmart's modules frozen in (firmware/manifest.py; docs/flash.md "A frozen image").

Such an image holds the node's modules as bytecode in its flash, where they take no heap, and a
module ``trosmart_image`` (VERSION: the firmware version frozen in, build.json's hash; MODULES:
the frozen module names), which the probe reads. Frozen modules come before /lib on the
board's sys.path (MicroPython: ``['', '.frozen', '/lib']``), so copying them to /lib would only
take flash: ``trosmart flash`` leaves them out and copies main.py, boot.py, build.json,
config.json, secrets.json and whatever the image lacks. An image that froze another firmware
version is refused: its frozen code would run, not this checkout's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import ImageMismatch


def module_of(path: str) -> str | None:
    """The module a staged board path holds: lib/node.mpy -> node, lib/payload_codec/cbor.mpy ->
    payload_codec.cbor, lib/payload_codec/__init__.mpy -> payload_codec; None for other files."""
    if not path.startswith("lib/") or not path.endswith((".mpy", ".py")):
        return None
    name = path[len("lib/"):].rsplit(".", 1)[0].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def not_frozen(wanted: Mapping[str, str], frozen: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """(the staged files the image lacks, the staged paths it holds frozen)."""
    have = set(frozen)
    keep: dict[str, str] = {}
    left_out: list[str] = []
    for path, digest in wanted.items():
        if module_of(path) in have:
            left_out.append(path)
        else:
            keep[path] = digest
    return keep, sorted(left_out)


def check(image_version: str, firmware_version: str, port: str) -> None:
    """ImageMismatch unless the image froze the firmware this checkout stages."""
    if image_version != firmware_version:
        raise ImageMismatch(
            f"the image on {port} holds TroSmart firmware {image_version} frozen, this checkout is "
            f"{firmware_version}: frozen modules run before /lib, so the board would run the old code. "
            "Build an image from this checkout (docs/firmware.md 2b) and flash it with --firmware, "
            "or check out the image's version")
