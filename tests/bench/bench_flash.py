"""``trosmart flash`` against the manual mpremote steps of docs/firmware.md §2, on virtual boards,
in the same run (issue 12's goals: one node <= 1.0x, re-flash unchanged <= 0.3x, four boards with
--ports all <= 1.5x one board).

Manual: copy the files, mpy-cross each library file, ``mpremote connect PORT resume fs cp main.py
boot.py config.json secrets.json :. + fs cp -r lib :.`` (``resume`` and ``:.`` because the Unix
port's REPL exits on a soft reset and needs a folder name; docs/firmware.md §9), no self-test.
trosmart: the CLI in a subprocess (Python start-up included), self-test included. The .mpy cache
starts empty for the first flash of a run ("cold") and is warm afterwards, as for a technician's
second node. Each figure is the median of ROUNDS rounds.

A pty moves bytes as fast as the CPUs allow, so on the virtual board flashing is CPU-bound and
four boards on two CPUs cannot take the time of one. A real ESP32's USB-UART runs at 115200 baud
(11.5 kB/s): the copy is bound by the line, and boards in parallel overlap. The run is therefore
repeated with a relay that paces every byte at 115200 8N1 between the host and each virtual
board ("at 115200 baud"), the condition a technician's boards are in.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from trosmart_tools.device.mpremote import find_mpremote
from trosmart_tools.device.stage import CODEC_DIR, CODEC_SKIP, FIRMWARE_DIR, find_mpy_cross
from trosmart_tools.virtual_lab.rak3172_emulator import Rak3172Emulator
from trosmart_tools.virtual_lab.usb_board import VirtualUsbBoard

ROUNDS = 3
SECRETS = {"deveui": "70b3d57ed0000901", "appeui": "0000000000000000", "appkey": "2b7e151628aed2a6abf7158809cf4f3c"}


class BaudLimited:
    """A pty at ``link`` whose bytes reach ``port`` (and back) no faster than ``baud`` 8N1."""

    def __init__(self, port: str, link: Path, baud: int = 115200) -> None:
        import pty
        import threading
        import tty

        self.link = link
        self.byte_s = 10.0 / baud
        self._master, slave = pty.openpty()
        tty.setraw(slave)
        link.unlink(missing_ok=True)
        link.symlink_to(os.ttyname(slave))
        self._slave = slave  # kept open: mpremote opens and closes the link per call
        self._board = os.open(port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._board)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._pump, args=(a, b), daemon=True)
                         for a, b in ((self._master, self._board), (self._board, self._master))]
        for t in self._threads:
            t.start()

    def _pump(self, src: int, dst: int) -> None:
        import select

        due = time.monotonic()
        while not self._stop.is_set():
            if not select.select([src], [], [], 0.1)[0]:
                continue
            try:
                data = os.read(src, 256)
            except OSError:
                return
            due = max(due, time.monotonic()) + len(data) * self.byte_s
            time.sleep(max(0.0, due - time.monotonic()))  # the line's rate, not a synchronisation
            try:
                os.write(dst, data)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        for fd in (self._master, self._slave, self._board):
            os.close(fd)
        self.link.unlink(missing_ok=True)


_TCK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process tree so far: each live process's own time and that of the
    children it reaped (/proc/PID/stat utime, stime, cutime, cstime), children walked."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total = sum(int(x) for x in fields[11:15]) / _TCK
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                total += sum(tree_cpu(int(c)) for c in f.read().split())
    except OSError:  # it ended meanwhile: its time is in its parent's cutime
        return 0.0
    return total


def _board_pid(x: Any) -> int:
    usb = x.board if isinstance(x, _Paced) else x
    return usb._socat.pid


def _manual(port: str, work: Path, config: Path, secrets: Path) -> float:
    t0 = time.perf_counter()
    files = work / "node-files"
    shutil.rmtree(files, ignore_errors=True)
    (files / "lib" / "payload_codec").mkdir(parents=True)
    for name in ("main.py", "boot.py"):
        shutil.copy(FIRMWARE_DIR / name, files / name)
    shutil.copy(config, files / "config.json")
    shutil.copy(secrets, files / "secrets.json")
    srcs = [(f, files / "lib" / f.name) for f in sorted((FIRMWARE_DIR / "lib").glob("*.py"))]
    srcs += [(f, files / "lib" / "payload_codec" / f.name) for f in sorted(CODEC_DIR.glob("*.py"))
             if f.name not in CODEC_SKIP]
    exe = find_mpy_cross()
    for src, dest in srcs:
        subprocess.run([exe, "-o", str(dest.with_suffix(".mpy")), str(src)], check=True, timeout=60)
    subprocess.run([find_mpremote(), "connect", port, "resume", "fs", "cp", "main.py", "boot.py", "config.json",
                    "secrets.json", ":.", "+", "fs", "cp", "-r", "lib", ":."], cwd=files, check=True,
                   capture_output=True, timeout=300)
    return time.perf_counter() - t0


class _Paced:
    """A virtual board reached through a BaudLimited relay."""

    def __init__(self, board: VirtualUsbBoard, port: str) -> None:
        self.board, self.port = board, port

    def close(self) -> None:
        self.board.close()


def _ours(ports: list[str], work: Path, config: Path, secrets: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    if len(ports) == 1:
        cmd = ["--port", ports[0], "--config", str(config), "--secrets", str(secrets)]
    else:
        csv = work / "devices.csv"
        csv.write_text("config,secrets\n" + f"{config},{secrets}\n" * len(ports))
        cmd = ["--batch", str(csv), "--ports", ",".join(ports)]
    r = subprocess.run([sys.executable, "-m", "trosmart_tools.cli", "flash", "--board", "virtual",
                        "--log", str(work / "log.jsonl"), *cmd], env=env, capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"trosmart flash failed: {r.stdout[-400:]} {r.stderr[-400:]}")
    return time.perf_counter() - t0


def run(args: list[str]) -> None:
    print("on the pty (CPU-bound):")
    _run_once(None)
    print("at 115200 baud (a real board's USB-UART):")
    _run_once(115200)


def _run_once(baud: int | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="trosmart-bench-flash-"))
    config, secrets = work / "node.json", work / "secrets.json"
    config.write_text(json.dumps({"interval_s": 300, "board": "virtual"}))
    secrets.touch(mode=0o600)
    secrets.write_text(json.dumps(SECRETS))
    env = dict(os.environ, XDG_CACHE_HOME=str(work / "cache"))
    modems: list[Rak3172Emulator] = []
    n = 0

    relays: list[BaudLimited] = []

    def fresh_board() -> Any:
        nonlocal n
        n += 1
        modem = Rak3172Emulator(SECRETS["deveui"])
        modems.append(modem)
        b = VirtualUsbBoard(work / f"b{n}", modem_pty=modem.start(), deveui=SECRETS["deveui"])
        b.plug()
        if baud is None:
            return b
        relay = BaudLimited(b.port, work / f"b{n}-uart", baud)
        relays.append(relay)
        return _Paced(b, str(relay.link))

    made: list[Any] = []
    res: dict[str, list[float]] = {k: [] for k in ("manual", "manual_again", "ours", "ours_again", "four",
                                                   "four_host_cpu", "four_boards_cpu")}
    cold = 0.0
    try:
        for rnd in range(ROUNDS):
            a, b = fresh_board(), fresh_board()
            made += [a, b]
            pairs = [("manual", a), ("ours", b)] if rnd % 2 == 0 else [("ours", b), ("manual", a)]
            for kind, board in pairs:  # alternating order: neither side always runs on a warmer machine
                if kind == "manual":
                    res["manual"].append(_manual(board.port, work, config, secrets))
                    res["manual_again"].append(_manual(board.port, work, config, secrets))
                else:
                    t = _ours([board.port], work, config, secrets, env)
                    if rnd == 0:
                        cold = t
                        b2 = fresh_board()
                        made.append(b2)
                        t = _ours([b2.port], work, config, secrets, env)  # warm .mpy cache
                    res["ours"].append(t)
                    res["ours_again"].append(_ours([board.port], work, config, secrets, env))
            four = [fresh_board() for _ in range(4)]
            made += four
            b0 = sum(tree_cpu(_board_pid(x)) for x in four)
            h0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            res["four"].append(_ours([x.port for x in four], work, config, secrets, env))
            h1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            res["four_boards_cpu"].append(sum(tree_cpu(_board_pid(x)) for x in four) - b0)
            res["four_host_cpu"].append(h1.ru_utime - h0.ru_utime + h1.ru_stime - h0.ru_stime)
    finally:
        for r in relays:
            r.close()
        for x in made:
            x.close()
        for m in modems:
            m.stop()
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    for k, v in res.items():
        print(f"  {k:<13} " + " ".join(f"{x:6.2f}" for x in v) + f"   median {med[k]:.2f} s")
    print(f"flash one node: trosmart {med['ours']:.2f} s (cold .mpy cache {cold:.2f} s; self-test included) vs "
          f"manual {med['manual']:.2f} s: {med['ours'] / med['manual']:.2f}x (goal <= 1.0x; cold "
          f"{cold / med['manual']:.2f}x)")
    print(f"re-flash unchanged: trosmart {med['ours_again']:.2f} s vs manual again {med['manual_again']:.2f} s: "
          f"{med['ours_again'] / med['manual_again']:.2f}x (goal <= 0.3x)")
    print(f"four boards --ports: {med['four']:.2f} s vs one board {med['ours']:.2f} s: "
          f"{med['four'] / med['ours']:.2f}x (goal <= 1.5x)")
    host, own = med["four_host_cpu"], med["four_boards_cpu"]
    ncpu = os.cpu_count() or 1
    print(f"  CPU of the four-board flash: trosmart + mpremote + mpy-cross {host:.2f} s, the four virtual "
          f"boards' own MicroPython processes {own:.2f} s ({own / (host + own):.0%} of it; a real board's CPU "
          f"costs the host nothing); on {ncpu} CPUs the boards alone hold at least {own / ncpu:.2f} s of the "
          f"wall: without them about {(med['four'] - own / ncpu) / med['ours']:.2f}x (an estimate: the "
          "one-board figure still includes its board)")
