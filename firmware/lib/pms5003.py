# Plantower PMS5003 particulate matter over UART 9600 8N1 in passive mode (docs/references.md
# §S.4; Plantower manual V2.3, PyPMS@45c3bf0). Commands 42 4D cmd dH dL sumH sumL (16-bit
# sum): passive mode E1 00 00, passive read E2 00 00, sleep E4 00 00, wake E4 00 01.
# Data frame, 32 bytes: 42 4D, length 28, PM1/2.5/10 CF=1 (bytes 4-9), PM1/2.5/10
# "atmospheric environment" (bytes 10-15, what the datasheet p12 and airrohr use outdoors),
# particle counts (16-27), reserved (28-29), checksum = 16-bit sum of bytes 0-29 (30-31).
# 5 V supply, 3.3 V logic. Woken for its warm-up only ("stable data ... at least 30 seconds
# after the sensor wakeup", §S.4), then put back to sleep.

import time

from micropython import const

from sensor import Sensor, SensorError

from uart_frames import ACCEPT, BAD, FrameReader

_HEAD = const(0x42)
_POLL_MS = const(2)
_PASSIVE = b"\x42\x4d\xe1\x00\x00\x01\x70"
_READ = b"\x42\x4d\xe2\x00\x00\x01\x71"
_SLEEP = b"\x42\x4d\xe4\x00\x00\x01\x73"
_WAKE = b"\x42\x4d\xe4\x00\x01\x01\x74"
_MAX_UG = const(1000)  # the registry's pm range (the part's effective range is 0..500)


def checksum_ok(rx):
    s = 0
    for i in range(30):
        s += rx[i]
    return s & 0xFFFF == (rx[30] << 8) | rx[31]


class PMS5003(Sensor):
    NAME = "pms5003"
    QUANTITIES = ("pm1", "pm2_5", "pm10")

    @classmethod
    def from_config(cls, bus, cfg):
        return cls(bus, warmup_ms=cfg["pms5003_warmup_s"] * 1000)

    def __init__(self, uart, timeout_ms=1500, warmup_ms=30000):
        self._uart = uart
        self.warmup_ms = warmup_ms
        self._frames = FrameReader(uart, 32, _HEAD, "pms5003", timeout_ms, _POLL_MS)
        self._checker = self._check  # bound once: a bound method per read would allocate
        self._passive = False

    @property
    def bad_frames(self):
        return self._frames.bad_frames

    def _check(self, rx):
        if rx[1] != 0x4D:
            return BAD
        if rx[2] != 0 or rx[3] != 28:
            return BAD  # e.g. an 8-byte command answer: resync from the next 0x42 in the window
        return ACCEPT if checksum_ok(rx) else BAD

    def start(self):
        self._uart.write(_WAKE)
        self._uart.write(_PASSIVE)  # no frames of its own while it warms up
        self._passive = True

    def read(self, out):
        u = self._uart
        try:
            if not self._passive:  # read without start(): the part's default is active mode
                u.write(_WAKE)
                u.write(_PASSIVE)
                time.sleep_ms(100)  # both 8-byte answers arrive (9600 baud: ~17 ms)
            self._frames.drain()  # command answers and stale active-mode frames
            u.write(_READ)
            self._frames.next(self._checker, "data frame", "no answer")
        finally:
            u.write(_SLEEP)  # fan and laser off, also after a failed read
            self._passive = False  # a power cut while asleep brings it back in active mode
        rx = self._frames.buf
        pm1 = (rx[10] << 8) | rx[11]
        pm25 = (rx[12] << 8) | rx[13]
        pm10 = (rx[14] << 8) | rx[15]
        zero = True
        for i in range(4, 28):
            if rx[i]:
                zero = False
                break
        if zero:
            raise SensorError("pms5003: all-zero frame (still warming up, §S.4)")
        if pm1 > _MAX_UG or pm25 > _MAX_UG or pm10 > _MAX_UG:
            raise SensorError("pms5003: reading above 1000 ug/m3")
        out["pm1"] = pm1
        out["pm2_5"] = pm25
        out["pm10"] = pm10
