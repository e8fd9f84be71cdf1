"""The two targets a scenario runs on: the virtual board and a real ESP32 + RAK3172 on a serial port.

A scenario only talks to a ``Node`` (start it with a configuration, read its console, cut its
power, take a sensor away) and to the network (hil_tests/uplinks.py). Which board is behind
it is the target's business:

* ``VirtualTarget``: the real firmware on the MicroPython Unix port (board_runner.VirtualNode),
  the RAK3172 emulator on a pty, the simulated ChirpStack network server on a mosquitto the
  plugin starts. Sleep runs ``speedup`` times faster than real time; awake time is real.
* ``SerialTarget``: a real node. Power loss is ``mpremote reset``; a sensor is removed by the
  operator at a prompt; time is real.
"""

from __future__ import annotations

import bisect
import os
import random
import re
import select
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

from trosmart_tools.broker import Mosquitto
from trosmart_tools.virtual_lab.board_runner import VirtualNode
from trosmart_tools.virtual_lab.network_server import SimNetworkServer
from trosmart_tools.virtual_lab.rak3172_emulator import Rak3172Emulator
from trosmart_tools.virtual_lab.scenario import Scenario

from . import deploy

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
OPERATOR_TIMEOUT_S = 120.0
# virtual-board test keys (never real ones); a real board takes TROSMART_HIL_* from the environment
VIRTUAL_APPEUI = "0000000000000000"
VIRTUAL_APPKEY = "2b7e151628aed2a6abf7158809cf4f3c"


class Node:
    """A node under test: console lines, virtual clock, and the faults a scenario can inject."""

    deveui = ""
    speedup = 1.0  # virtual seconds per real second while the node sleeps
    awake_s = 30.0  # real seconds one wake may take (join, send, RX windows)
    scenario: Scenario | None = None  # what the sensors see (virtual board only)

    def __init__(self) -> None:
        self.console: list[str] = []
        self._cond = threading.Condition()

    def _line(self, line: str) -> None:
        with self._cond:
            self.console.append(line)
            self._cond.notify_all()

    def clock(self) -> float:
        """Virtual seconds since the node's first power-on."""
        return self.clock_at(time.time())

    def clock_at(self, wall: float) -> float:
        """The virtual clock at wall-clock time ``wall`` (an LNS event's timestamp)."""
        raise NotImplementedError

    def budget(self, virtual_s: float, wakes: int) -> float:
        """Real seconds to allow for ``virtual_s`` of node time spanning ``wakes`` wake-ups."""
        return virtual_s / self.speedup + wakes * self.awake_s + 10.0

    def wait_console(self, pattern: str, *, count: int = 1, timeout_s: float, start: int = 0) -> list[re.Match[str]]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                found = [m for m in (rx.search(ln) for ln in self.console[start:]) if m]
                if len(found) >= count:
                    return found[:count]
                crash = [i for i, ln in enumerate(self.console) if ln.startswith("Traceback")]
                if crash:  # the firmware's last-resort handler printed an uncaught error
                    raise AssertionError("firmware crashed: " + " | ".join(self.console[crash[0]:crash[0] + 8]))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} of {count} console lines match {pattern!r} within "
                                         f"{timeout_s:.0f} s; tail: " + " | ".join(self.console[-8:]))
                self._cond.wait(left)

    def start(self) -> Node:
        raise NotImplementedError

    def power_loss(self) -> None:
        raise NotImplementedError

    def remove_sensor(self, name: str) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


# ---- virtual board ------------------------------------------------------------------------
class _ClockedNode(VirtualNode):
    """VirtualNode whose virtual clock can be read for any wall-clock moment (network-side timing).

    Anchors (wall time, vclock ms, rate, cap ms) are taken as each boot starts (awake: real
    speed) and as each deep sleep starts (1 / time_scale, for at most the sleep's length).
    Events are timed by their LNS timestamp, not their arrival: at a high speed-up a few ms
    of broker latency during a sleep would be minutes of virtual time.
    """

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self._anchors: list[tuple[float, float, float, float | None]] = [(time.time(), 0.0, 1.0, None)]
        self._clk = threading.Lock()

    def _board_file(self, cause: int) -> Path:  # called as each boot starts (board_runner)
        with self._clk:
            self._anchors.append((time.time(), float(self.vclock_ms), 1.0, None))
        return super()._board_file(cause)

    def mark_sleep(self, ms: int) -> None:
        with self._clk:  # vclock_ms already holds the awake time of the boot that just ended
            self._anchors.append((time.time(), float(self.vclock_ms), 1.0 / self.time_scale, float(ms)))

    def ms_at(self, wall: float) -> float:
        with self._clk:
            i = bisect.bisect_right(self._anchors, wall, key=lambda a: a[0]) - 1
            t0, v0, rate, cap = self._anchors[max(i, 0)]
        dv = max(0.0, wall - t0) * 1000.0 * rate
        return v0 + (min(dv, cap) if cap is not None else dv)


class VirtualBoardNode(Node):
    def __init__(self, target: VirtualTarget, workdir: Path, config: dict, scenario: dict | None,
                 heapsize: str | None, speedup: float | None) -> None:
        super().__init__()
        self.deveui = target.next_deveui()
        self.speedup = speedup or target.speedup
        self.awake_s = 3.0
        self.scenario = Scenario(scenario) if scenario is not None else None
        self._scenario_file = workdir / "scenario.json"
        if self.scenario is not None:
            self.scenario.save(self._scenario_file)
        self.emulator = Rak3172Emulator(self.deveui, network=target.ns, time_scale=1.0 / self.speedup,
                                        seed=int(self.deveui[-4:], 16))
        pty = self.emulator.start()
        secrets = {"deveui": self.deveui, "appeui": VIRTUAL_APPEUI, "appkey": VIRTUAL_APPKEY}
        self.vnode = _ClockedNode(workdir, uart_pty=pty, config=config, secrets=secrets,
                                  scenario=self._scenario_file if self.scenario is not None else None,
                                  time_scale=1.0 / self.speedup, heapsize=heapsize, log=self._log)
        shutil.copytree(target.image, self.vnode.flash)
        with deploy.virtual_console(self.vnode.flash) as console:  # provision it as a technician would
            deploy.deploy_config(console, self.vnode.config, secrets)

    def _log(self, line: str) -> None:
        m = re.match(r"runner: deep sleep (\d+) ms", line)
        if m:
            self.vnode.mark_sleep(int(m.group(1)))
        self._line(line)

    def start(self) -> VirtualBoardNode:
        self.vnode.start()
        return self

    def clock_at(self, wall: float) -> float:
        return self.vnode.ms_at(wall) / 1000.0

    def power_loss(self) -> None:
        self.vnode.power_loss()

    def remove_sensor(self, name: str) -> None:
        """The part stops answering from now on (scenario event, read at every boot)."""
        assert self.scenario is not None, "remove_sensor needs a scenario on the virtual board"
        data = dict(self.scenario.data)
        data["events"] = [*data.get("events", []), {"sensor": name, "kind": "removed", "at_s": self.clock()}]
        self.scenario = Scenario(data)
        tmp = self._scenario_file.with_suffix(".tmp")
        self.scenario.save(tmp)
        tmp.replace(self._scenario_file)  # atomic: a booting node reads the old or the new file

    def stop(self) -> None:
        self.vnode.stop()
        self.emulator.stop()


class VirtualTarget:
    name = "virtual"

    def __init__(self, workdir: Path, speedup: float, uplinks_url: str | None) -> None:
        self.workdir = workdir
        self.speedup = speedup
        self.broker: Mosquitto | None = None
        if uplinks_url is None:
            self.broker = Mosquitto().start()
            self.uplinks_url = f"mqtt://{self.broker.host}:{self.broker.port}/chirpstack"
            host, port = self.broker.host, self.broker.port
        else:
            from .uplinks import parse_url

            src = parse_url(uplinks_url)
            self.uplinks_url, host, port = uplinks_url, src.host, src.port
        self.ns = SimNetworkServer(host, port)
        self.ns.start()
        self.image = workdir / "image" / "flash"
        self._flash_image()
        self._serial = 0x1000 + random.randrange(0xE000)

    def _flash_image(self) -> None:
        """Flash once per session through mpremote; each test gets a copy and its own config."""
        keys = {"deveui": "0" * 16, "appeui": VIRTUAL_APPEUI, "appkey": VIRTUAL_APPKEY}
        node = VirtualNode(self.image.parent, uart_pty="/dev/null", config={}, secrets=keys)
        node.flash_firmware()

    def next_deveui(self) -> str:
        self._serial += 1
        return "70b3d57ed00%05x" % self._serial

    def node(self, name: str, config: dict, scenario: dict | None = None, heapsize: str | None = None,
             speedup: float | None = None) -> Node:
        """``speedup`` overrides the session's for one long scenario (a real board ignores it)."""
        work = self.workdir / name
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        return VirtualBoardNode(self, work, dict(config, board="virtual"), scenario, heapsize, speedup)

    def close(self) -> None:
        self.ns.stop()
        if self.broker is not None:
            self.broker.close()


# ---- real board ---------------------------------------------------------------------------
class SerialBoardNode(Node):
    """A real ESP32 + RAK3172 node on a USB serial port (console read with pyserial)."""

    def __init__(self, target: SerialTarget, config: dict, operator: Any) -> None:
        super().__init__()
        self.target = target
        self.deveui = target.secrets["deveui"].lower()
        self.speedup = 1.0
        self.awake_s = 30.0
        self._operator = operator
        self._t0 = time.time()
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        deploy.pulse_en(target.port)
        deploy.deploy_config(target.port, config)

    def start(self) -> SerialBoardNode:
        deploy.hard_reset(self.target.port)
        self._t0 = time.time()
        self._open()
        return self

    def _open(self) -> None:
        self._stop.clear()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        import serial  # pyserial: a project dependency

        with serial.Serial(self.target.port, 115200, timeout=0.2) as port:
            buf = b""
            while not self._stop.is_set():
                buf += port.read(256)
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    self._line(raw.decode(errors="replace").rstrip("\r"))

    def _close(self) -> None:
        self._stop.set()
        if self._reader is not None:
            self._reader.join(timeout=5)

    def clock_at(self, wall: float) -> float:
        return wall - self._t0  # a real board's clock is the wall clock

    def power_loss(self) -> None:
        self._close()
        deploy.hard_reset(self.target.port)
        self._open()

    def remove_sensor(self, name: str) -> None:
        self._operator(f"Unplug the {name} from the node now, then press Enter.")

    def stop(self) -> None:
        self._close()


class SerialTarget:
    name = "serial"

    def __init__(self, port: str, uplinks_url: str, secrets: dict[str, str]) -> None:
        self.port = port
        self.uplinks_url = uplinks_url
        self.secrets = secrets
        self.speedup = 1.0
        deploy.pulse_en(port)  # a node in deep sleep has no REPL: reset it; mpremote interrupts main.py
        deploy.deploy_firmware(port, {"board": "esp32_devkit_rak3172"}, secrets)

    def node(self, name: str, config: dict, scenario: dict | None = None, heapsize: str | None = None,
             speedup: float | None = None, operator: Any = None) -> Node:
        return SerialBoardNode(self, dict(config, board="esp32_devkit_rak3172"), operator)

    def close(self) -> None:
        pass


def prompt_operator(message: str, capman: Any, timeout_s: float = OPERATOR_TIMEOUT_S) -> None:
    """Ask the person at the desk; no answer in time skips the test (fails in CI)."""
    import pytest

    with capman.global_and_fixture_disabled():
        sys.stdout.write(f"\n>>> {message} (waiting {timeout_s:.0f} s)\n")
        sys.stdout.flush()
        ready, _, _ = select.select([sys.stdin], [], [], timeout_s)
        if ready:
            sys.stdin.readline()
            return
    if IN_CI:
        pytest.fail(f"no operator answered within {timeout_s:.0f} s: {message}")
    pytest.skip(f"no operator answered within {timeout_s:.0f} s: {message}")
