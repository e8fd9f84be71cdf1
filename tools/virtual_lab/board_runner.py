"""Run the real firmware on the virtual board: MicroPython Unix port processes, one per boot.

Flashing takes the path of a real board: a MicroPython REPL behind a pseudo-terminal (socat),
and the device package's mpremote copy (tools/device; architecture.md "The virtual board").
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

from ..device import sync
from ..device.stage import compile_mpy, manifest, stage_firmware
from ..errors import ToolError
from ..mpy import find_micropython

BOARD_DIR = Path(__file__).resolve().parent / "board"
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5


def _wait_path(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise ToolError(f"{path} did not appear within {timeout_s:.0f} s")
        time.sleep(0.01)  # socat creates the link asynchronously; no event to wait on


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
        board_extra: dict | None = None,
        parts: dict | None = None,
        image: Path | None = None,
    ) -> None:
        # a folder standing in for a custom image's frozen modules (frozen_image.py), on the
        # path right after the port's own .frozen, ahead of the flash
        self.image = image
        self.board_extra = dict(board_extra or {})  # more board.json keys (e.g. "lora_gateway")
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
        # more simulated parts for the board file (machine.py): "i2c" [{"type", "address"}],
        # "onewire" {"probes": [{"rom", "signal"}]}, "meter" {...} (pulse_source.py)
        self.parts = dict(parts or {})
        self.meter_delivered = 0  # meter pulses handed to the firmware (a wake or its IRQ)
        self._ext0 = False  # the firmware armed the meter-pin wake before its deep sleep
        self._wake = "timer"
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
        """Deploy through a MicroPython REPL on a pty with mpremote (tools/device/sync.py)."""
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
            sync.run(str(link), stage, sync.plan(manifest(stage), {}))
        finally:
            socat.terminate()
            socat.wait(timeout=10)
        shutil.rmtree(stage, ignore_errors=True)
        sp = self.flash / "secrets.json"
        if sp.exists():  # the board's flash is a host folder: keep the keys 0600 there too
            os.chmod(sp, 0o600)
        self._board_modules()  # the board's "ROM" now, not in the first boot's time

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
            **self.board_extra,
            **self.parts,
            "wake": self._wake,
            "meter_delivered": self.meter_delivered,
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

    def module_path(self, rom: Path) -> list[str]:
        """The board's sys.path: frozen modules (and the stand-in image), flash, lib, the ROM."""
        image = [str(self.image)] if self.image else []
        return [".frozen", *image, str(self.flash), str(self.flash / "lib"), str(rom)]

    def _boot_once(self, cause: int) -> tuple[str, int]:
        """Run one boot to its end: ("sleep", ms) | ("reset", cause) | ("power", 0) | ..."""
        board = self._board_file(cause)
        r, w = os.pipe()
        env = dict(os.environ)
        env["MICROPYPATH"] = ":".join(self.module_path(self._board_modules()))
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
                    elif word == "ext0":  # esp32.wake_on_ext0: pin, level, pulses its IRQ took
                        self._ext0 = True
                        self.meter_delivered += int(arg.split()[2])
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

    def _next_pulse_ms(self) -> int | None:
        """Virtual ms from now to the meter pulse the firmware has not seen yet (at least 1:
        an ext0 wake on a closed contact is immediate), or None without a pulse source."""
        if not self._ext0 or not self.scenario:
            return None
        from .board.scenario_core import time_of

        pts = json.loads(Path(self.scenario).read_text()).get("signals", {}).get("meter_pulses")
        if not pts:
            return None
        t = time_of(pts, self.meter_delivered + 1)
        if t is None:
            return None
        return max(1, int(t * 1000) + 1 - self.vclock_ms)

    def _loop(self) -> None:
        cause = PWRON_RESET
        while not self._stop.is_set():
            self._ext0 = False
            kind, arg = self._boot_once(cause)
            self._wake = "timer"
            if kind == "sleep":
                pulse = self._next_pulse_ms()
                if pulse is not None and pulse < arg:  # the meter's pulse ends the sleep
                    kind, arg = "sleep", pulse
                    self._wake = "ext0"
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
                    if self._wake == "ext0":
                        self.meter_delivered += 1  # the wake itself is the pulse
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
