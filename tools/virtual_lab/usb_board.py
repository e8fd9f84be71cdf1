"""The virtual board as its USB serial port presents it, for ``trosmart flash``/``config``/``monitor``.

``VirtualUsbBoard``: the MicroPython REPL of a board whose main.py has been interrupted (what
mpremote reaches on an ESP32), on a pseudo-terminal link that comes and goes as a cable is
plugged and unplugged. Behind it runs the Unix port in the board's flash folder with the
virtual hardware (board/machine.py: the modem emulator's pty on UART2, the scenario's sensors),
so the node's self-test talks to simulated parts through the real drivers.
``ConsolePort``: a running node's console (VirtualNode lines) on such a link, for the monitor.

Differences from an ESP32 + CP210x (written down because tests rely on them):
- a reset (machine.reset(), Ctrl-D in the REPL) restarts the REPL, not main.py: the node
  cycle runs under board_runner.VirtualNode instead;
- unplugging kills the REPL process at once (a chip loses power too); the flash folder keeps
  every file, written or half-written, as a real flash does;
- baud rates, DTR/RTS and the ROM bootloader do not exist here (rom_emulator.py covers the
  ROM loader separately); machine.unique_id() is the DevEUI the test gives.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import subprocess
import threading
import time
import tty
from pathlib import Path

from ..errors import ToolError
from ..mpy import find_micropython
from .board_runner import PWRON_RESET, VirtualNode

LINK_TIMEOUT_S = 15.0


def wait_link(link: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + LINK_TIMEOUT_S
    while not link.exists():  # socat makes the link asynchronously and signals nothing
        if proc.poll() is not None or time.monotonic() > deadline:
            raise ToolError(f"socat did not create {link}")
        time.sleep(0.01)


class VirtualUsbBoard:
    """A virtual board's REPL on ``port`` (a symlink to a pty) while plugged in."""

    def __init__(self, workdir: str | os.PathLike[str], *, modem_pty: str = "/dev/null",
                 scenario: str | os.PathLike[str] | None = None, deveui: str = "70b3d57ed0000001",
                 bme280_address: int | None = 0x76, uart_sensor: str | None = None,
                 image: Path | None = None) -> None:
        # image: frozen_image.build_image's folder, as if the board ran a custom image
        self.node = VirtualNode(workdir, uart_pty=modem_pty, config={}, secrets=None, scenario=scenario,
                                bme280_address=bme280_address, uart_sensor=uart_sensor, image=image)
        self.deveui = deveui
        self.flash = self.node.flash
        self.flash.mkdir(parents=True, exist_ok=True)
        self.port = str(self.node.dir / "ttyUSB")
        self._socat: subprocess.Popen[bytes] | None = None

    def plug(self) -> str:
        """Connect the cable: the REPL appears at ``self.port``."""
        if self._socat is not None:
            return self.port
        board = self.node._board_file(PWRON_RESET)
        data = json.loads(board.read_text())
        data["deveui"] = self.deveui
        board.write_text(json.dumps(data))
        rom = self.node._board_modules()
        script = self.node.hw / "usb-repl.sh"
        # the loop is the board rebooting into its REPL after machine.reset() or Ctrl-D
        script.write_text('#!/bin/sh\nwhile "$TROSMART_MP"; do :; done\n')
        script.chmod(0o700)
        env = dict(os.environ)
        env.update({"TROSMART_MP": find_micropython(), "TROSMART_BOARD": str(board),
                    "MICROPYPATH": ":".join(self.node.module_path(rom))})
        env.pop("TROSMART_CTL", None)
        Path(self.port).unlink(missing_ok=True)
        self._socat = subprocess.Popen(
            ["socat", f"pty,link={self.port},raw,echo=0", f"exec:{script},pty,raw,echo=0"],
            cwd=self.flash, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, umask=0o077)  # files the board writes (secrets.json) are 0600
        wait_link(Path(self.port), self._socat)
        return self.port

    def unplug(self) -> None:
        """Pull the cable: the REPL dies mid-whatever and the port disappears."""
        proc, self._socat = self._socat, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        Path(self.port).unlink(missing_ok=True)

    def close(self) -> None:
        self.unplug()

    def __enter__(self) -> VirtualUsbBoard:
        self.plug()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ConsolePort:
    """A node's console lines on a pty link, as its USB-UART shows them; plug/unplug at will."""

    def __init__(self, link: str | os.PathLike[str]) -> None:
        self.link = Path(link)
        self._master = -1
        self._slave = -1
        self._lock = threading.Lock()

    def plug(self) -> str:
        with self._lock:
            if self._master < 0:
                self._master, self._slave = pty.openpty()
                tty.setraw(self._slave)
                self.link.unlink(missing_ok=True)
                self.link.symlink_to(os.ttyname(self._slave))
        return str(self.link)

    def unplug(self) -> None:
        with self._lock:
            self.link.unlink(missing_ok=True)
            for fd in (self._master, self._slave):
                if fd >= 0:
                    os.close(fd)
            self._master = self._slave = -1

    def write_line(self, line: str) -> None:
        """A console line (VirtualNode's ``log`` callback); lost while unplugged, as on USB."""
        with self._lock:
            if self._master >= 0:
                with contextlib.suppress(OSError):
                    os.write(self._master, line.encode() + b"\r\n")

    def read(self, timeout_s: float = 0.0) -> bytes:
        """Bytes the host wrote to the board (keystrokes forwarded by the monitor)."""
        import select

        with self._lock:
            fd = self._master
        if fd < 0 or not select.select([fd], [], [], timeout_s)[0]:
            return b""
        try:
            return os.read(fd, 4096)
        except OSError:
            return b""
