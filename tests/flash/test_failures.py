"""Every failure of ``trosmart flash`` is one line saying what to do, a non-zero exit, no
traceback, and a board left untouched (or recoverable: see test_flash's unplug test)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import serial

from trosmart_tools import cli
from trosmart_tools.device import probe, stage

from .conftest import Board


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    rc = cli.main(["flash", *args])
    err = capsys.readouterr().err.strip()
    return rc, err


def _one_line(err: str) -> str:
    """The one error line (progress lines of steps that took over a second may precede it)."""
    lines = [ln for ln in err.splitlines() if ln.startswith("trosmart: ")]
    assert len(lines) == 1 and err.rstrip().endswith(lines[0]) and "Traceback" not in err, err
    return lines[0]


def test_no_port_in_a_subprocess_has_no_traceback(node_files: tuple[Path, Path], tmp_path: Path) -> None:
    cfg, sec = node_files
    r = subprocess.run([sys.executable, "-m", "trosmart_tools.cli", "flash", "--port", str(tmp_path / "ttyUSB9"),
                        "--board", "virtual", "--config", str(cfg), "--secrets", str(sec),
                        "--log", str(tmp_path / "log.jsonl")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "no serial port" in _one_line(r.stderr) and "mpremote connect list" in r.stderr


def test_no_port_given(node_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _run(capsys, "--board", "virtual", "--config", str(node_files[0]))
    assert rc == 2 and "pass --port" in _one_line(err)


def test_busy_port(board: Board, node_files: tuple[Path, Path], tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    cfg, sec = node_files
    with serial.Serial(board.port, 115200, exclusive=True):  # another program holds the port
        rc, err = _run(capsys, "--port", board.port, "--board", "virtual", "--config", str(cfg),
                       "--secrets", str(sec), "--log", str(tmp_path / "log.jsonl"))
    assert rc == 2 and "in use by another program" in _one_line(err)
    assert board.files() == {}


def test_not_a_board(node_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    master, slave = pty.openpty()  # a serial port with nothing that speaks MicroPython behind it
    monkeypatch.setattr(probe, "TIMEOUT_S", 3.0)
    try:
        rc, err = _run(capsys, "--port", os.ttyname(slave), "--board", "virtual", "--config", str(node_files[0]),
                       "--log", str(tmp_path / "log.jsonl"))
    finally:
        os.close(master)
        os.close(slave)
    assert rc == 2 and "neither a MicroPython REPL nor an ESP ROM bootloader" in _one_line(err)


def test_wrong_board(board: Board, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "node.json"
    cfg.write_text(json.dumps({"interval_s": 300}))
    rc, err = _run(capsys, "--port", board.port, "--board", "esp32_devkit_rak3172", "--config", str(cfg),
                   "--log", str(tmp_path / "log.jsonl"))
    assert rc == 2 and "not esp32_devkit_rak3172" in _one_line(err) and "--board" in err
    assert board.files() == {}


def test_config_board_disagrees_with_board_option(board: Board, node_files: tuple[Path, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _run(capsys, "--port", board.port, "--board", "esp32_devkit_rak3172", "--config",
                   str(node_files[0]), "--log", str(tmp_path / "log.jsonl"))
    assert rc == 2 and "make them agree" in _one_line(err)


def test_bytecode_mismatch(board: Board, node_files: tuple[Path, Path], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, sec = node_files
    monkeypatch.setattr(stage, "mpy_cross_version", lambda exe=None: (5, 0))  # an mpy-cross for MicroPython 1.18
    rc, err = _run(capsys, "--port", board.port, "--board", "virtual", "--config", str(cfg), "--secrets", str(sec),
                   "--log", str(tmp_path / "log.jsonl"))
    line = _one_line(err)
    assert rc == 2 and "(.mpy v6.3) but mpy-cross emits .mpy v5.0" in line and "--firmware" in line
    assert board.files() == {}


def test_invalid_config_names_the_key(board: Board, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "node.json"
    cfg.write_text(json.dumps({"interval_s": 5, "intervall_s": 60}))
    rc, err = _run(capsys, "--port", board.port, "--board", "virtual", "--config", str(cfg),
                   "--log", str(tmp_path / "log.jsonl"))
    line = _one_line(err)
    assert rc == 2 and "'interval_s'" in line and "'intervall_s'" in line and "not touched" in line
    assert board.files() == {}


def test_config_not_json(board: Board, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "node.json"
    cfg.write_text("{interval_s: 5")
    rc, err = _run(capsys, "--port", board.port, "--board", "virtual", "--config", str(cfg))
    assert rc == 2 and "not valid JSON" in _one_line(err)


def test_firmware_that_is_not_an_image(board: Board, node_files: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "micropython.bin"
    image.write_bytes(b"<html>not found</html>")  # what a failed download leaves
    rc, err = _run(capsys, "--port", board.port, "--board", "virtual", "--config", str(node_files[0]),
                   "--firmware", str(image), "--log", str(tmp_path / "log.jsonl"))
    assert rc == 2 and "is not an ESP firmware image" in _one_line(err)
    assert board.files() == {}
