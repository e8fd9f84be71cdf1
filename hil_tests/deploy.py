"""Deploy firmware, codec and a test configuration the way a technician does: mpremote.

The same calls serve a real board (``/dev/ttyUSB0``) and the virtual one (a MicroPython REPL
behind a pty, architecture.md "The virtual board"): the device package that ``trosmart flash``
uses (tools/device: ``stage_firmware`` for what the flash holds, ``sync`` for the copy).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from trosmart_tools.device import mpremote as device_mpremote
from trosmart_tools.device import sync
from trosmart_tools.device.stage import manifest, stage_firmware
from trosmart_tools.errors import ToolError
from trosmart_tools.mpy import find_micropython
from trosmart_tools.secretfile import write_secret
from trosmart_tools.virtual_lab.usb_board import wait_link

MPREMOTE_TIMEOUT_S = 60.0
EN_PULSE_S = 0.1
PTY_TIMEOUT_S = 10.0


def mpremote() -> str:
    return device_mpremote.find_mpremote()


def deploy_firmware(console: str, config: dict, secrets: dict | None) -> None:
    """main.py, boot.py, lib/ (drivers + payload_codec), config.json, secrets.json (0600 on the host)."""
    with tempfile.TemporaryDirectory(prefix="trosmart-hil-stage-") as tmp:
        stage = stage_firmware(Path(tmp) / "stage", config, secrets)
        sync.run(console, stage, sync.plan(manifest(stage), {}))


def deploy_config(console: str, config: dict, secrets: dict | None = None) -> None:
    """Replace config.json (and secrets.json when given); the firmware stays."""
    with tempfile.TemporaryDirectory(prefix="trosmart-hil-cfg-") as tmp:
        files = ["config.json"]
        (Path(tmp) / "config.json").write_text(json.dumps(config))
        if secrets is not None:
            write_secret(Path(tmp) / "secrets.json", json.dumps(secrets))
            files.append("secrets.json")
        r = subprocess.run([mpremote(), "connect", console, "resume", "fs", "cp", *files, ":."],
                           cwd=tmp, capture_output=True, text=True, timeout=MPREMOTE_TIMEOUT_S)
    if r.returncode != 0:
        raise ToolError(f"mpremote config deploy failed: {r.stderr.strip() or r.stdout.strip()}")


def hard_reset(console: str) -> None:
    """``mpremote reset`` (machine.reset() through the raw REPL); a board in deep sleep has no
    REPL, so then the EN pin is pulsed instead. Both are a power-on reset to the firmware."""
    r = subprocess.run([mpremote(), "connect", console, "reset"], capture_output=True, text=True,
                       timeout=MPREMOTE_TIMEOUT_S)
    if r.returncode != 0:
        pulse_en(console)


def pulse_en(console: str) -> None:
    """Reset an ESP32 DevKit through its USB-UART auto-reset circuit (RTS drives EN, DTR drives
    GPIO0; esptool's classic reset): EN low for 100 ms with GPIO0 high, so it boots normally."""
    import serial  # pyserial, a project dependency

    with serial.Serial(console, 115200) as port:
        port.dtr = False
        port.rts = True
        time.sleep(EN_PULSE_S)  # the pulse width the reset circuit needs, not a synchronisation
        port.rts = False


@contextlib.contextmanager
def virtual_console(flash: Path) -> Iterator[str]:
    """The virtual board's REPL: micropython in its flash folder behind a pty (socat)."""
    link = flash.parent / "console"
    link.unlink(missing_ok=True)
    socat = subprocess.Popen(["socat", f"pty,link={link},raw,echo=0",
                              f"exec:{find_micropython()},pty,raw,echo=0"],
                             cwd=flash, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_link(link, socat)
        yield str(link)
    finally:
        socat.terminate()
        socat.wait(timeout=PTY_TIMEOUT_S)
        link.unlink(missing_ok=True)
