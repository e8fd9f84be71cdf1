# Nova Fitness SDS011 PM2.5 / PM10 sensor over UART (9600 8N1), in query mode.
# Nova Fitness "Laser Dust Sensor Control Protocol V1.3" (the datasheet's protocol annex):
#   replies are 10 bytes  AA <C0|C5> D1..D6 CHK AB,  CHK = (D1 + ... + D6) & 0xFF
#   C0 data reply: D1 D2 = PM2.5 low/high, D3 D4 = PM10 low/high (0.1 ug/m3), D5 D6 = device id
#   commands are 19 bytes AA B4 D1..D15 CHK AB, CHK = (D1 + ... + D15) & 0xFF,
#   D14 D15 = device id (FF FF: any sensor)
#   §1 "Set data reporting mode"  D1=02 D2=01(set) D3=01(query mode)   -> AA C5 02 ...
#   §2 "Query data command"       D1=04                                -> AA C0 ...
#   §4 "Set sleep and work"       D1=06 D2=01(set) D3=00 sleep / 01 work -> AA C5 06 ...
# Factory default is active reporting (a C0 frame every second): the driver switches to
# query mode once per boot and skips any active-mode frame still in flight.
# Measuring range 0.0-999.9 ug/m3 (datasheet §"Technical parameters").

import time

from micropython import const

from sensor import Sensor, SensorError
from uart_frames import ACCEPT, BAD, SKIP, FrameReader

_HEAD = const(0xAA)
_TAIL = const(0xAB)
_CMD = const(0xB4)
_DATA = const(0xC0)
_REPLY = const(0xC5)
_SET_MODE = const(0x02)
_QUERY = const(0x04)
_SLEEP_WORK = const(0x06)
_MAX_TENTHS = const(9999)  # 999.9 ug/m3, the datasheet's measuring range
_POLL_MS = const(1)


class SDS011(Sensor):
    NAME = "sds011"
    QUANTITIES = ("pm2_5", "pm10")

    @classmethod
    def from_config(cls, bus, cfg):
        sleep = cfg["sds011_sleep"]
        # awake all the time without sleep: no warm-up per cycle
        return cls(bus, sleep=sleep, warmup_ms=cfg["sds011_warmup_s"] * 1000 if sleep else 0)

    def __init__(self, uart, timeout_ms=1000, sleep=True, warmup_ms=0):
        self._uart = uart
        self._sleep = sleep  # sleep the fan and laser between reads (§4)
        # docs/references.md §S.5: values are stable 30 s after the fan starts; start()
        # wakes the part, the node waits warmup_ms, read() queries and sleeps it again
        self.warmup_ms = warmup_ms
        self._awake = False
        self._cmd = bytearray(19)
        self._frames = FrameReader(uart, 10, _HEAD, "sds011", timeout_ms, _POLL_MS)
        self._checker = self._check  # bound once: a bound method per read would allocate
        self._rx = self._frames.buf
        self._kind = _DATA
        self._want = 0
        self._query_mode = False
        self._pm25 = self._pm10 = 0  # the last reading, in tenths (set by _measure)

    def _send(self, d1, d2, d3):
        c = self._cmd
        for i in range(19):
            c[i] = 0
        c[0] = _HEAD
        c[1] = _CMD
        c[2] = d1
        c[3] = d2
        c[4] = d3
        c[15] = 0xFF  # device id FFFF: whichever sensor is on the line
        c[16] = 0xFF
        s = 0
        for i in range(2, 17):
            s += c[i]
        c[17] = s & 0xFF
        c[18] = _TAIL
        self._uart.write(c)

    @property
    def bad_frames(self):
        """Frames dropped for a bad checksum or tail, since boot."""
        return self._frames.bad_frames

    def _check(self, rx):
        s = 0
        for i in range(2, 8):
            s += rx[i]
        if rx[9] != _TAIL or (rx[1] != _DATA and rx[1] != _REPLY) or s & 0xFF != rx[8]:
            return BAD
        if rx[1] == self._kind and (self._kind == _DATA or rx[2] == self._want):
            return ACCEPT
        return SKIP  # a valid frame of another kind (an active-mode report)

    def _expect(self, kind, cmd):
        """Wait for the next valid reply of ``kind`` (and command ``cmd`` for C5) in self._rx."""
        self._kind = kind
        self._want = cmd
        self._frames.next(self._checker, "reply", "no answer")

    def start(self):
        """Wake the fan and laser for the warm-up (§4); SensorError when nobody answers."""
        if not self._sleep or self._awake:
            return
        self._frames.drain()
        self._wake()

    def _wake(self):
        # §S.5: a sleeping part ignores every command but this one, so it is sent explicitly
        self._send(_SLEEP_WORK, 1, 1)  # §4: wake (set work mode)
        self._expect(_REPLY, _SLEEP_WORK)
        self._awake = True

    def _measure(self):
        if self._sleep and not self._awake:
            self._wake()
        if not self._query_mode:
            self._send(_SET_MODE, 1, 1)  # §1: query reporting mode
            self._expect(_REPLY, _SET_MODE)
            self._query_mode = True
        self._send(_QUERY, 0, 0)  # §2: query data
        self._expect(_DATA, 0)
        rx = self._rx
        self._pm25 = rx[2] | (rx[3] << 8)  # attributes, not a tuple: no allocation per read
        self._pm10 = rx[4] | (rx[5] << 8)

    def read(self, out):
        self._frames.drain()
        try:
            self._measure()
        finally:
            if self._sleep and self._frames.heard:  # nothing on the line: no second timeout
                # §4: sleep again, also after a failed read (the fan draws ~70 mA awake);
                # a missed reply costs power, not data
                self._send(_SLEEP_WORK, 1, 0)
                self._awake = False
                try:
                    self._expect(_REPLY, _SLEEP_WORK)
                except SensorError:
                    pass
        pm25 = self._pm25
        pm10 = self._pm10
        if pm25 > _MAX_TENTHS or pm10 > _MAX_TENTHS:
            raise SensorError("sds011: reading above the 999.9 ug/m3 range")
        out["pm2_5"] = pm25 / 10
        out["pm10"] = pm10 / 10
