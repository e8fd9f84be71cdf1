"""The SPS30 on a UART (SHDLC at 115200 8N1), for the virtual board (MicroPython and CPython).

The part's state (measuring, asleep, warm-up ramp, frozen values, fan time, firmware) is the
I2C simulator's (sensirion_sim.SPS30Sim); this file is only the UART side: MOSI frames
``7E addr cmd len data chk 7E`` in, MISO frames ``7E addr cmd state len data chk 7E`` out,
byte stuffing of 7E 7D 11 13 both ways, checksum = inverted low byte of the sum
(docs/references.md §S.3). Commands: start 0x00 (sub-command 01, format 03 float only),
stop 0x01, read measured values 0x03 (40 bytes, or an empty answer when no new values),
sleep 0x10, wake-up 0x11, read version 0xD1; others get state 0x02 (unknown command).

``condition()``: "ok", "removed" (silent), "badsum" (every answer's checksum wrong),
"garbage" (noise before every answer), "refuse" (every answer has state 0x43, command not
allowed in the current state), and the core's "stuck", "frozen", "nowarmup", "slowwarmup".

Known differences from the part: answers come at once (no 115200-baud timing, no
execution time); a frame with a bad checksum from the master is dropped silently (what the
part does then is not documented); a wake-up command to an awake part is answered with
state 0 (UNVERIFIED); asleep, any byte wakes the interface for 100 ms, after which a
wake-up command wakes the part; read-values gives new values whenever the part has
measured for 1 s (the part refreshes every second); the baud rate is checked: at any other
rate than 115200 the simulator hears nothing and answers nothing.
"""

import struct

from sensirion_sim import SPS30Sim
from uart_sim import UartSensorSim

BAUD = 115200
_STUFFED = (0x7E, 0x7D, 0x11, 0x13)


def checksum(content):
    return ~sum(content) & 0xFF


def stuff(content):
    out = bytearray((0x7E,))
    for b in content:
        if b in _STUFFED:
            out.append(0x7D)
            out.append(b ^ 0x20)
        else:
            out.append(b)
    out.append(0x7E)
    return out


def miso(cmd, state, data=b"", addr=0, bad_checksum=False):
    """A stuffed MISO frame (also used by the tests to build answers by hand)."""
    content = bytearray((addr, cmd, state, len(data)))
    content.extend(data)
    content.append((checksum(content) + (1 if bad_checksum else 0)) & 0xFF)
    return stuff(content)


class SPS30ShdlcSim(UartSensorSim):
    def __init__(self, env, condition, ticks_ms, ticks_diff, seed=1, warmup_ms=8000, firmware=(2, 2)):
        super().__init__(env, condition, ticks_ms, ticks_diff, seed)
        self.core = SPS30Sim(env, ticks_ms, ticks_diff, warmup_ms=warmup_ms, firmware=firmware)
        self.baud = 9600  # the node opens its sensor UART at 9600 (boards.py); init() changes it
        self._rx = bytearray()  # the frame being received from the master
        self._esc = False
        self._in_frame = False
        self._woken_at = None
        self.commands = []  # command bytes received, for tests

    def set_baud(self, baud):
        self.baud = baud

    def write(self, buf):
        cond = self.condition()
        self.core.cond = cond
        if cond == "removed" or self.baud != BAUD:
            return len(buf)
        for b in buf:
            self._byte(b)
        return len(buf)

    def _byte(self, b):
        if self.core.asleep:
            self._woken_at = self._ticks()  # a falling edge on RX wakes the interface
        if b == 0x7E:
            if self._in_frame and self._rx:
                self._frame(bytes(self._rx))
                self._in_frame = False
            else:
                self._in_frame = True
            self._rx = bytearray()
            self._esc = False
            return
        if not self._in_frame:
            return
        if b == 0x7D:
            self._esc = True
            return
        if self._esc:
            b ^= 0x20
            self._esc = False
        self._rx.append(b)

    def _frame(self, f):
        if len(f) < 4 or f[2] != len(f) - 4 or checksum(f[:-1]) != f[-1] or f[0] != 0:
            return  # not for us, or damaged: no answer
        cmd, data = f[1], f[3:-1]
        core = self.core
        if core.asleep:
            interface_on = self._woken_at is not None and self._diff(self._ticks(), self._woken_at) <= 100
            if cmd == 0x11 and interface_on:
                core.asleep = False
                self.commands.append(cmd)
                self._answer(cmd, 0)
            return  # asleep: the interface is off
        self.commands.append(cmd)
        if cmd == 0x00:
            if bytes(data) != b"\x01\x03":
                return self._answer(cmd, 0x04)  # illegal parameter (the uint16 format not simulated)
            core.start_measuring()
            self._answer(cmd, 0)
        elif cmd == 0x01:
            core.stop_measuring()
            self._answer(cmd, 0)
        elif cmd == 0x03:
            if core.measuring_since is None:
                return self._answer(cmd, 0x43)  # not in measurement mode
            if not core.new_values():
                return self._answer(cmd, 0)
            out = bytearray()
            for v in core.mass() + (0.0,) * 6:
                out += struct.pack(">f", v)
            self._answer(cmd, 0, out)
        elif cmd == 0x10:
            self._answer(cmd, 0 if core.go_to_sleep() else 0x43)
        elif cmd == 0x11:
            self._answer(cmd, 0)
        elif cmd == 0xD1:
            self._answer(cmd, 0, bytes((core.firmware[0], core.firmware[1], 0, 7, 0, 2, 0)))
        else:
            self._answer(cmd, 0x02)

    def _answer(self, cmd, state, data=b""):
        cond = self.condition()
        if cond == "refuse":
            state, data = 0x43, b""
        if cond == "garbage":
            self._noise()
        self.rx.extend(miso(cmd, state, data, bad_checksum=cond == "badsum"))
