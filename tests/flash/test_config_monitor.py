"""``trosmart config get|set`` over the REPL, ``trosmart decode``, and ``trosmart monitor``
following a running virtual node's console through an unplug and a replug."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import payload_codec
from trosmart_tools import cli
from trosmart_tools.device.monitor import Monitor
from trosmart_tools.virtual_lab.board_runner import VirtualNode
from trosmart_tools.virtual_lab.rak3172_emulator import Rak3172Emulator
from trosmart_tools.virtual_lab.usb_board import ConsolePort

from .conftest import APPKEY, Board


def test_config_get_and_set(board: Board, capsys: pytest.CaptureFixture[str]) -> None:
    (board.flash / "config.json").write_text(json.dumps({"interval_s": 600, "board": "virtual"}))
    assert cli.main(["config", "get", "interval_s", "--port", board.port]) == 0
    assert capsys.readouterr().out.strip() == "interval_s = 600"
    assert cli.main(["config", "get", "data_rate", "--port", board.port]) == 0
    assert capsys.readouterr().out.strip() == "data_rate = 5  (default)"
    assert cli.main(["config", "set", "interval_s", "300", "--port", board.port]) == 0
    assert cli.main(["config", "set", "quantities", '["temperature","battery_voltage"]', "--port", board.port]) == 0
    capsys.readouterr()
    assert json.loads((board.flash / "config.json").read_text()) == {
        "interval_s": 300, "board": "virtual", "quantities": ["temperature", "battery_voltage"]}
    assert not (board.flash / "config.json.tmp").exists()


@pytest.mark.parametrize(("key", "value", "expect"), [
    ("interval_s", "5", "'interval_s'"),  # below the schema's 10 s
    ("interval", "60", "unknown config key 'interval'"),
    ("quantities", '["no_such_quantity"]', "'quantities'"),
    ("adr", "maybe", "'adr'"),
])
def test_config_set_rejects_bad_input(board: Board, capsys: pytest.CaptureFixture[str], key: str, value: str,
                                      expect: str) -> None:
    before = json.dumps({"interval_s": 600})
    (board.flash / "config.json").write_text(before)
    assert cli.main(["config", "set", key, value, "--port", board.port]) == 2
    err = capsys.readouterr().err
    assert expect in err and len(err.strip().splitlines()) == 1
    assert (board.flash / "config.json").read_text() == before  # the node is untouched


def test_config_get_unknown_key(board: Board, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "get", "intervall_s", "--port", board.port]) == 2
    assert "known keys are" in capsys.readouterr().err


def test_decode_matches_payload_codec(capsys: pytest.CaptureFixture[str]) -> None:
    frame = payload_codec.encode({"temperature": 21.37, "humidity": 48.5}).hex()
    ours = []
    for extra in ([], ["--format", "lpp"]):
        hexes = frame if not extra else "0167011003680a"
        rc = cli.main(["decode", hexes, *extra])
        ours.append((rc, capsys.readouterr().out))
        r = subprocess.run([sys.executable, "-m", "payload_codec", "decode", *extra, hexes], capture_output=True,
                           text=True, timeout=60)
        assert ours[-1] == (r.returncode, r.stdout)
    assert '"temperature"' in ours[0][1]
    assert cli.main(["decode", "zz"]) == 2


class _Lines:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.cond = threading.Condition()

    def add(self, line: str) -> None:
        with self.cond:
            self.items.append(line)
            self.cond.notify_all()

    def wait(self, pred, start: int = 0, timeout_s: float = 60.0) -> int:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                for i in range(start, len(self.items)):
                    if pred(self.items[i]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching monitor line in {timeout_s} s: {self.items[-10:]}")
                self.cond.wait(left)


def test_monitor_decodes_frames_and_reconnects(micropython: str, tmp_path: Path) -> None:
    deveui = "70b3d57ed0000777"
    modem = Rak3172Emulator(deveui, time_scale=0.01)
    console = ConsolePort(tmp_path / "ttyUSB0")
    port = console.plug()
    node = VirtualNode(tmp_path / "node", uart_pty=modem.start(),
                       config={"interval_s": 60, "status_every": 0, "board": "virtual"},
                       secrets={"deveui": deveui, "appeui": "0000000000000000", "appkey": APPKEY},
                       time_scale=0.01, log=console.write_line)
    node.flash_firmware()
    lines = _Lines()
    keys_r, keys_w = os.pipe()
    with os.fdopen(keys_r, "rb", buffering=0) as keys:
        mon = Monitor(port, out=lines.add, stdin=keys)
        result: list[int] = []
        t = threading.Thread(target=lambda: result.append(mon.run()), daemon=True)
        t.start()
        node.start()
        try:
            sent = lines.wait(lambda ln: " sent " in ln)
            # the frame's decoded values follow its line (the store's bookkeeping lines may come between)
            decoded = lines.items[lines.wait(lambda ln: ln.startswith("    -> "), sent)]
            lines.wait(lambda ln: ln.startswith("    -> temperature "), sent)
            console.unplug()  # the cable is pulled while the node goes on
            gone = lines.wait(lambda ln: "disconnected: waiting for it to come back" in ln, sent)
            console.plug()
            back = lines.wait(lambda ln: "is back" in ln, gone)
            again = lines.wait(lambda ln: ln.startswith("    -> temperature "), back)
            os.write(keys_w, b"\x1d")  # Ctrl-] leaves
            t.join(timeout=30)
        finally:
            node.stop()
            modem.stop()
            console.unplug()
            os.close(keys_w)
    assert result == [0]
    assert "humidity" in decoded and "Cel" in lines.items[again]
