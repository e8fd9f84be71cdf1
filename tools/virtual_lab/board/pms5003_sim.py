"""Plantower PMS5003 on a UART, for the virtual board (MicroPython and CPython).

Speaks the commands of docs/references.md §S.4 (42 4D cmd dH dL + 16-bit sum): passive/active
mode (E1), passive read (E2), sleep/wake (E4); each is answered with the 8-byte frame
``42 4D 00 04 cmd data sumH sumL``, a passive read with the 32-byte data frame. Starts awake
in active mode (a frame every 2.3 s, as the part after power-up). ``env()`` -> (pm1, pm2_5,
pm10) in ug/m3 (atmospheric and CF=1 alike); ``condition()`` -> "ok", "removed" (silent),
"badsum" (every frame's checksum wrong), "garbage" (noise before every frame), "frozen"
(the values of the last good frame), "nowarmup" (all-zero frames: the fan never spins up),
"slowwarmup" (all-zero frames for 60 s after wake instead of ``warmup_ms``).

Known differences from the part: the warm-up is a step (zeros, then the scenario value)
where the part converges; particle counts are derived from PM2.5 (>0.3 um = 30 x PM2.5),
not measured; answers are at once (no 9600-baud timing); a sleeping sim answers only the
wake command; receive buffer: see uart_sim.py.
"""

from uart_sim import UartSensorSim

ACTIVE_PERIOD_MS = 2300


def frame(pm1, pm25, pm10, zero=False):
    f = bytearray(32)
    f[0], f[1], f[3] = 0x42, 0x4D, 28
    vals = (0,) * 12 if zero else (pm1, pm25, pm10, pm1, pm25, pm10, 30 * pm25, 10 * pm25, 3 * pm25,
                                   pm25 // 2 + 1, pm10 // 4, pm10 // 8)
    for i, v in enumerate(vals):
        v = min(max(int(v + 0.5), 0), 0xFFFF)
        f[4 + 2 * i] = v >> 8
        f[5 + 2 * i] = v & 0xFF
    s = sum(f[:30])
    f[30], f[31] = s >> 8, s & 0xFF
    return f


def answer(cmd, data):
    f = bytearray((0x42, 0x4D, 0x00, 0x04, cmd, data))
    s = sum(f)
    f += bytes((s >> 8, s & 0xFF))
    return f


class PMS5003Sim(UartSensorSim):
    def __init__(self, env, condition, ticks_ms, ticks_diff, seed=1, warmup_ms=30000):
        super().__init__(env, condition, ticks_ms, ticks_diff, seed)
        self.awake = True
        self.passive = False
        self.warmup_ms = warmup_ms
        self.woke_at = ticks_ms()
        self._last = ticks_ms()
        self._cmd = bytearray()
        self._frozen = None
        self.reads = 0

    def _values(self):
        cond = self.condition()
        if cond == "frozen" and self._frozen is not None:
            return self._frozen
        self._frozen = self.env()
        return self._frozen

    def _warm(self):
        cond = self.condition()
        if cond == "nowarmup":
            return False
        need = 60000 if cond == "slowwarmup" else self.warmup_ms
        return self._diff(self._ticks(), self.woke_at) >= need

    def _data(self):
        pm1, pm25, pm10 = self._values()
        self._emit(frame(pm1, pm25, pm10, zero=not self._warm()))

    def _tick(self):
        if not self.awake or self.passive:
            self._last = self._ticks()
            return
        while self._diff(self._ticks(), self._last) >= ACTIVE_PERIOD_MS:
            self._last += ACTIVE_PERIOD_MS
            self._data()

    def write(self, buf):
        if self.condition() == "removed":
            return len(buf)
        self._cmd.extend(buf)
        while len(self._cmd) >= 7:
            if self._cmd[0] != 0x42 or self._cmd[1] != 0x4D:
                self._cmd = self._cmd[1:]
                continue
            c = self._cmd[:7]
            self._cmd = self._cmd[7:]
            if sum(c[:5]) & 0xFFFF == (c[5] << 8) | c[6]:
                self._command(c[2], c[4])
        return len(buf)

    def _command(self, cmd, data):
        self._tick()
        if cmd == 0xE4:
            if data == 1 and not self.awake:
                self.awake = True
                self.passive = False  # wakes in its default active mode
                self.woke_at = self._ticks()
            elif data == 0:
                self.awake = False
            self._emit(answer(cmd, data))
            return
        if not self.awake:
            return
        if cmd == 0xE1:
            self.passive = data == 0
            self._emit(answer(cmd, data))
        elif cmd == 0xE2 and self.passive:
            self.reads += 1
            self._data()
