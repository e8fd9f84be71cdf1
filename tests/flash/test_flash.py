"""``trosmart flash`` against virtual boards on ptys: deploy, re-flash, repair, self-test, batch."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from trosmart_tools import cli
from trosmart_tools.device import flash as device_flash
from trosmart_tools.device import stage
from trosmart_tools.device.errors import Unplugged
from trosmart_tools.device.progress import Progress

from .conftest import Board, Boards


def _flash(board: Board, cfg: Path, sec: Path, log: Path, *extra: str) -> int:
    return cli.main(["flash", "--port", board.port, "--board", "virtual", "--config", str(cfg),
                     "--secrets", str(sec), "--log", str(log), *extra])


def _staged(tmp: Path, cfg: Path, sec: Path) -> dict[str, str]:
    s = stage.stage_firmware(tmp / "expected", json.loads(cfg.read_text()), json.loads(sec.read_text()))
    return stage.manifest(s)


def _on_board(board: Board) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in board.files().items()}


def test_deploy_then_reflash_copies_nothing(board: Board, node_files: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    cfg, sec = node_files
    log = tmp_path / "log.jsonl"
    assert _flash(board, cfg, sec, log) == 0
    out = capsys.readouterr().out
    assert "self-test PASS" in out and "sensor    bme280   found" in out
    assert "keys      deveui present, appeui present, appkey present" in out
    assert "2b7e1516" not in out  # the AppKey is never printed
    assert _on_board(board) == _staged(tmp_path, cfg, sec)  # exactly the staged files, no .tmp left
    assert stat.S_IMODE(os.stat(board.flash / "secrets.json").st_mode) == 0o600
    mtimes = {p: p.stat().st_mtime_ns for p in board.flash.rglob("*")}

    assert _flash(board, cfg, sec, log) == 0
    out = capsys.readouterr().out
    assert "(0 files copied)" in out
    assert {p: p.stat().st_mtime_ns for p in board.flash.rglob("*")} == mtimes  # nothing written
    lines = [json.loads(ln) for ln in log.read_text().splitlines()]
    assert [(r["selftest"], r["copied"] > 0, r["deveui"]) for r in lines] == [
        ("pass", True, "70b3d57ed0000101"), ("pass", False, "70b3d57ed0000101")]
    assert all(r["firmware"] == stage.build_version() and r["chip_id"] for r in lines)
    assert "appkey" not in log.read_text()


def test_changed_config_copies_only_config(board: Board, node_files: tuple[Path, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    cfg, sec = node_files
    log = tmp_path / "log.jsonl"
    assert _flash(board, cfg, sec, log) == 0
    cfg.write_text(json.dumps({"interval_s": 900}))
    assert _flash(board, cfg, sec, log) == 0
    assert "(1 files copied)" in capsys.readouterr().out
    assert json.loads((board.flash / "config.json").read_text()) == {"interval_s": 900, "board": "virtual"}


class _UnplugAfter(Progress):
    """Pulls the cable after ``n`` files were copied (a callback of the copy, no timing)."""

    def __init__(self, board: Board, n: int) -> None:
        super().__init__("test")
        self.board, self.n, self.copied = board, n, 0

    def advance(self, n: int = 1) -> None:
        self.copied += n
        if self.copied == self.n:
            self.board.usb.unplug()


def test_unplugged_mid_copy_then_repaired(board: Board, node_files: tuple[Path, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg, sec = node_files
    config, secrets = json.loads(cfg.read_text()), json.loads(sec.read_text())
    with pytest.raises(Unplugged, match="plug the board in again"):
        device_flash.flash_board(board.port, "virtual", config, secrets, progress=_UnplugAfter(board, 6))
    files = board.files()
    assert "main.py" not in files  # main.py goes last: the half-flashed board does not run half a firmware
    assert not any(f.endswith(".mpy") for f in files)  # nothing renamed into place yet
    assert 0 < len(files) < len(_staged(tmp_path, cfg, sec))

    board.usb.plug()
    assert _flash(board, cfg, sec, tmp_path / "log.jsonl") == 0
    assert "self-test PASS" in capsys.readouterr().out
    assert _on_board(board) == _staged(tmp_path, cfg, sec)  # repaired: every file right, no .tmp


def test_selftest_fails_when_a_sensor_is_missing(boards: Boards, node_files: tuple[Path, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    board = boards.make(events=[{"sensor": "bme280", "kind": "removed", "at_s": 0}])
    cfg, sec = node_files
    log = tmp_path / "log.jsonl"
    assert _flash(board, cfg, sec, log) == 1
    out = capsys.readouterr().out
    assert "sensor    bme280   FAILED" in out and "sensor    battery  found" in out
    assert "self-test FAIL: sensor bme280 not found" in out
    assert json.loads(log.read_text())["selftest"] == "fail"


def test_selftest_reports_missing_keys(board: Board, node_files: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    cfg, _ = node_files
    rc = cli.main(["flash", "--port", board.port, "--board", "virtual", "--config", str(cfg),
                   "--log", str(tmp_path / "log.jsonl")])
    assert rc == 1
    out = capsys.readouterr().out
    assert "keys      deveui MISSING, appeui MISSING, appkey MISSING" in out
    assert "run 'trosmart provision' or pass --secrets" in out


def _batch(tmp_path: Path, cfg: Path, sec: Path, ports: list[str] | None, n: int) -> Path:
    csv = tmp_path / "devices.csv"
    rows = ["name,config,secrets" + (",port" if ports else "")]
    for i in range(n):
        rows.append(f"node-{i},{cfg.name},{sec.name}" + (f",{ports[i]}" if ports else ""))
    csv.write_text("\n".join(rows) + "\n")
    return csv


def test_batch_board_after_board(boards: Boards, node_files: tuple[Path, Path], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    bs = [boards.make() for _ in range(2)]
    cfg, sec = node_files
    log = tmp_path / "log.jsonl"
    csv = _batch(tmp_path, cfg, sec, [b.port for b in bs], 2)
    assert cli.main(["flash", "--batch", str(csv), "--board", "virtual", "--log", str(log)]) == 0
    assert "2 of 2 boards passed" in capsys.readouterr().out
    assert [json.loads(ln)["port"] for ln in log.read_text().splitlines()] == [b.port for b in bs]


def test_ports_all_flashes_three_boards_at_once(boards: Boards, node_files: tuple[Path, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    bs = [boards.make() for _ in range(3)]
    cfg, sec = node_files
    log = tmp_path / "log.jsonl"
    csv = _batch(tmp_path, cfg, sec, None, 3)
    monkeypatch.setenv("TROSMART_PORTS", str(boards.root / "board*" / "ttyUSB"))
    assert cli.main(["flash", "--batch", str(csv), "--ports", "all", "--board", "virtual", "--log", str(log)]) == 0
    out = capsys.readouterr().out
    assert "3 of 3 boards passed" in out
    for b in bs:
        assert f"{b.port} (node-" in out  # a result line per board
        assert _on_board(b) == _staged(tmp_path, cfg, sec)
    assert sorted(json.loads(ln)["port"] for ln in log.read_text().splitlines()) == sorted(b.port for b in bs)


def test_a_damaged_copy_is_not_put_in_place(board: Board, tmp_path: Path) -> None:
    from trosmart_tools.device import mpremote, sync
    from trosmart_tools.device.errors import DeviceError

    staged = stage.stage_firmware(tmp_path / "s", {"board": "virtual"}, None)
    p = sync.plan(stage.manifest(staged), {})
    cmds = sync.commands(staged, p)
    i = next(k for k, c in enumerate(cmds) if c[0] == "exec" and "is damaged" in c[1])
    good = stage.manifest(staged)["lib/node.mpy"]
    cmds[i] = ["exec", cmds[i][1].replace(good, "0" * 64)]  # as if bytes were lost on the wire
    with pytest.raises(DeviceError, match="arrived damaged"):
        mpremote.run(board.port, mpremote.chain(*cmds))
    files = board.files()
    assert "lib/node.mpy.tmp" in files and not any(f.endswith(".mpy") for f in files)
