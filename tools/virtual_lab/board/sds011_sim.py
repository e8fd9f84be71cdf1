"""Nova Fitness SDS011 on a UART, for the virtual board (MicroPython and CPython).

Speaks the "Laser Dust Sensor Control Protocol V1.3": 19-byte commands
``AA B4 D1..D15 CHK AB`` (CHK = sum of D1..D15 & 0xFF) answered by 10-byte replies
``AA C0|C5 D1..D6 CHK AB`` (CHK = sum of D1..D6 & 0xFF). Supported: §1 set/query data
reporting mode (0x02), §2 query data (0x04), §4 set/query sleep and work (0x06), §5 working
period (0x08, answered, not applied), §6 firmware version (0x07). In active mode while awake
it reports a C0 frame every second on its own, as the factory-default part does.

``env()`` -> (pm2_5, pm10) in ug/m3 at the current time; ``condition()`` -> "ok", "removed"
(silent), "badsum" (every reply's checksum is wrong) or "garbage" (noise bytes before every
reply, the reply itself is good).

Known differences from the part: replies are ready at once (a real one answers within a few
ms at 9600 baud; baud rates are not simulated); every boot starts awake in active mode (the
real part keeps its reporting mode across power cycles and stays asleep across the ESP32's
deep sleep); a sleeping sim answers only the 0x06 command (the part's behaviour for other
commands while asleep is not documented); values do not need the 30 s fan warm-up the
datasheet asks for; commands with a bad checksum or another device id are ignored silently;
receive buffer: see uart_sim.py.
"""

from uart_sim import UartSensorSim

DEVICE_ID = (0x12, 0x34)
ACTIVE_PERIOD_MS = 1000


def checksum(data, start, end):
    s = 0
    for i in range(start, end):
        s += data[i]
    return s & 0xFF


def reply(kind, d):
    """A 10-byte reply frame with data bytes d[0..3] and the device id."""
    f = bytearray(10)
    f[0], f[1] = 0xAA, kind
    for i in range(4):
        f[2 + i] = d[i]
    f[6], f[7] = DEVICE_ID
    f[8] = checksum(f, 2, 8)
    f[9] = 0xAB
    return f


def data_frame(pm25, pm10):
    a = round(pm25 * 10)
    b = round(pm10 * 10)
    a = min(max(a, 0), 0xFFFF)
    b = min(max(b, 0), 0xFFFF)
    return reply(0xC0, (a & 0xFF, a >> 8, b & 0xFF, b >> 8))


class SDS011Sim(UartSensorSim):
    NOISE_BYTES = 7
    CHECKSUM_AT = 8

    def __init__(self, env, condition, ticks_ms, ticks_diff, seed=1):
        super().__init__(env, condition, ticks_ms, ticks_diff, seed)
        self._cmd = bytearray()
        self.awake = True
        self.query_mode = False
        self.period_min = 0
        self._last_active = ticks_ms()
        self.commands = 0

    def _tick(self):
        if not self.awake or self.query_mode:
            self._last_active = self._ticks()
            return
        while self._diff(self._ticks(), self._last_active) >= ACTIVE_PERIOD_MS:
            self._last_active += ACTIVE_PERIOD_MS
            pm25, pm10 = self.env()
            self._emit(data_frame(pm25, pm10))

    def write(self, buf):
        if self.condition() == "removed":
            return len(buf)  # nobody on the line
        self._cmd.extend(buf)
        while len(self._cmd) >= 19:
            if self._cmd[0] != 0xAA or self._cmd[1] != 0xB4:
                self._cmd = self._cmd[1:]
                continue
            c = self._cmd[:19]
            self._cmd = self._cmd[19:]
            if c[18] == 0xAB and checksum(c, 2, 17) == c[17]:
                self._command(c)
        return len(buf)

    def _command(self, c):
        self._tick()
        if c[15:17] not in (b"\xff\xff", bytes(DEVICE_ID)):
            return
        self.commands += 1
        op, setting, value = c[2], c[3], c[4]
        if op == 0x06:
            if setting == 1:
                self.awake = value == 1
                self._last_active = self._ticks()
            self._emit(reply(0xC5, (0x06, setting, 1 if self.awake else 0, 0)))
            return
        if not self.awake:
            return
        if op == 0x02:
            if setting == 1:
                self.query_mode = value == 1
            self._emit(reply(0xC5, (0x02, setting, 1 if self.query_mode else 0, 0)))
        elif op == 0x04:
            pm25, pm10 = self.env()
            self._emit(data_frame(pm25, pm10))
        elif op == 0x08:
            if setting == 1:
                self.period_min = value
            self._emit(reply(0xC5, (0x08, setting, self.period_min, 0)))
        elif op == 0x07:
            self._emit(reply(0xC5, (0x07, 18, 11, 16)))  # firmware 2018-11-16
