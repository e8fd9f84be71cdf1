"""``trosmart flash`` onto a board whose image has TroSmart's modules frozen in (firmware/manifest.py).

The board is the virtual board with frozen_image.build_image's folder on its path after
``.frozen`` (what the pip Unix port can do without a MicroPython build; the differences from a
real frozen image are written down in tools/virtual_lab/frozen_image.py). The probe reads the
image's ``trosmart_image`` module exactly as on a board.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trosmart_tools import cli
from trosmart_tools.device import image, packages, stage
from trosmart_tools.device.errors import ImageMismatch
from trosmart_tools.virtual_lab.frozen_image import build_image, declared

from .conftest import Boards

ON_FLASH = {"main.py", "boot.py", "build.json", "config.json", "secrets.json"}


def _flash(port: str, cfg: Path, sec: Path, log: Path) -> int:
    return cli.main(["flash", "--port", port, "--board", "virtual", "--config", str(cfg),
                     "--secrets", str(sec), "--log", str(log)])


def test_manifest_freezes_every_staged_module_and_the_build_version(tmp_path: Path) -> None:
    files, required, source = declared()
    staged = stage.manifest(stage.stage_firmware(tmp_path / "s", {}, None))
    modules = {image.module_of(p) for p in staged} - {None}
    frozen = {t[:-3].replace("/", ".").removesuffix(".__init__") for t in files}
    assert modules == frozen
    assert not {"main", "boot", "payload_codec.cli", "payload_codec.__main__"} & frozen
    assert required == []  # lora=False (the stand-in); the board image's lora packages: docs/firmware.md 2b
    assert f"VERSION = {stage.build_version()!r}" in source  # the same hash build.json carries


def test_the_manifest_freezes_the_lora_packages_flash_would_install() -> None:
    _, required, source = declared(lora=True)
    assert set(required) == {"lora-sync", "lora-sx126x", "lora-sx127x"}
    ns: dict[str, object] = {}
    exec(source, ns)  # the manifest's generated module
    frozen = ns["MODULES"]
    assert isinstance(frozen, tuple)
    bare = ["lora", *required]
    assert packages.missing(bare, {}, frozen) == []  # step 5 needs no network on such an image
    assert packages.missing(bare, {}, ()) == bare
    assert packages.missing(["lora", "lora-sx127x"], {}, ("lora", "lora.modem")) == ["lora-sx127x"]


def test_module_of_names_staged_paths() -> None:
    assert image.module_of("lib/node.mpy") == "node"
    assert image.module_of("lib/payload_codec/cbor.mpy") == "payload_codec.cbor"
    assert image.module_of("lib/payload_codec/__init__.mpy") == "payload_codec"
    assert image.module_of("main.py") is None and image.module_of("lib/lora/x.txt") is None


def test_flash_onto_a_frozen_image_copies_only_what_it_lacks(boards: Boards, node_files: tuple[Path, Path],
                                                             tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg, sec = node_files
    board = boards.make(image=build_image(tmp_path / "image"))
    (board.flash / "lib").mkdir()
    (board.flash / "lib" / "node.mpy").write_bytes(b"an old copy the frozen module shadows")
    log = tmp_path / "log.jsonl"
    assert _flash(board.port, cfg, sec, log) == 0
    out = capsys.readouterr().out
    assert f"image has TroSmart {stage.build_version()} frozen" in out and "copying only config" in out
    assert "self-test PASS" in out  # every module imported, from the image
    assert set(board.files()) == ON_FLASH  # no .mpy copied, the stale lib copy removed
    rec = json.loads(log.read_text().splitlines()[-1])
    assert rec["frozen"] == len([p for p in stage.manifest(stage.stage_firmware(tmp_path / "s", {}, None))
                                 if image.module_of(p)])
    assert rec["copied"] == len(ON_FLASH)

    assert _flash(board.port, cfg, sec, log) == 0  # a re-flash copies nothing
    assert "(0 files copied)" in capsys.readouterr().out


def test_an_image_of_another_firmware_version_is_refused(boards: Boards, node_files: tuple[Path, Path],
                                                         tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    img = build_image(tmp_path / "image")
    (img / "trosmart_image.mpy").unlink()
    (img / "trosmart_image.py").write_text("VERSION = '0.9.0+0123456789'\nMODULES = ('node',)\n")
    board = boards.make(image=img)
    cfg, sec = node_files
    assert _flash(board.port, cfg, sec, tmp_path / "log.jsonl") == 2  # a DeviceError, as every refusal
    out = capsys.readouterr().out
    assert "holds TroSmart firmware 0.9.0+0123456789 frozen" in out and stage.build_version() in out
    assert board.files() == {}  # nothing copied
    with pytest.raises(ImageMismatch):
        image.check("0.9.0+0123456789", stage.build_version(), "p")
