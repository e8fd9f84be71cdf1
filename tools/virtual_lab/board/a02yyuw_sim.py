"""DFRobot A02YYUW (SEN0311) ultrasonic distance sensor on a UART, for the virtual board.

The module streams its processed distance on its own (RX floating or high, SEN0311 wiki
"Communication protocol"): a 4-byte frame ``FF H L SUM`` every 100 ms, distance in mm =
H*256 + L, SUM = (0xFF + H + L) & 0xFF. ``env()`` -> the distance in m at the current time
(clamped to what the part reports: 0..4500 mm; values below the 30 mm blind zone are sent
as they are, so the driver's range check is exercised); ``condition()`` -> "ok", "removed"
(silent), "badsum" (every frame's checksum is wrong) or "garbage" (a burst of noise bytes
before every frame).

Known differences from the part: frames come every 100 ms exactly (the part: 100-300 ms,
processed value); no measurement noise, no temperature drift of the speed of sound; the
"real-time value" mode (RX pulled low) is not simulated; receive buffer: see uart_sim.py.
"""

from uart_sim import UartSensorSim

PERIOD_MS = 100
MAX_MM = 4500


def frame(mm):
    mm = min(max(int(mm), 0), 0xFFFF)
    h, lo = mm >> 8, mm & 0xFF
    return bytearray((0xFF, h, lo, (0xFF + h + lo) & 0xFF))


class A02YYUWSim(UartSensorSim):
    def __init__(self, env, condition, ticks_ms, ticks_diff, seed=1):
        super().__init__(env, condition, ticks_ms, ticks_diff, seed)
        self._last = ticks_ms()
        self.frames = 0

    def _tick(self):
        while self._diff(self._ticks(), self._last) >= PERIOD_MS:
            self._last += PERIOD_MS
            cond = self.condition()
            if cond == "removed":
                continue
            if cond == "garbage":
                self._noise()
            f = frame(min(self.env() * 1000 + 0.5, MAX_MM))
            if cond == "badsum":
                f[3] = (f[3] + 1) & 0xFF
            self.rx.extend(f)
            self.frames += 1

    def write(self, buf):
        return len(buf)  # the module's RX only selects the output mode
