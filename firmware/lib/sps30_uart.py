# Sensirion SPS30 particulate matter on the node's sensor UART, SHDLC at 115200 8N1
# (docs/references.md §S.3; Sensirion embedded-uart-sps@9f5e741 sps30.c). SEL (pin 4) left
# floating or at VDD at power-up selects UART. The sensor table's "sps30" row builds this
# driver when the config's uart_sensor is "sps30" (sensor_table.py, sps30.SPS30.from_config).
# Commands (MOSI addr 0): start measurement 0x00 with sub-command 01 and format 03 (IEEE754
# float; frame 7E 00 00 02 01 03 F9 7E), stop 0x01 (7E 00 01 00 FE 7E), read measured values
# 0x03 (7E 00 03 00 FC 7E; 40 data bytes = 10 big-endian floats, PM1.0, PM2.5, PM4.0, PM10
# mass [ug/m3] first, or an empty answer when no new values), sleep 0x10 (idle only, firmware
# >= 2.0), wake-up 0x11 (after a byte that wakes the interface: 0xFF, then the command within
# 100 ms), read version 0xD1 (7 bytes: firmware major, minor, ...). Fan and laser run only
# for the warm-up and one reading, as on I2C (sps30.py).

import time

from micropython import const

from sensor import Sensor, SensorError
from shdlc import ShdlcError, ShdlcLink, frame
from sps30 import _QUANTITIES, tenths

BAUD = const(115200)
_ADDR = const(0)
_START = const(0x00)
_STOP = const(0x01)
_READ = const(0x03)
_SLEEP = const(0x10)
_WAKE = const(0x11)
_VERSION = const(0xD1)
_VALUES = const(40)  # 10 floats
_MAX_TENTHS = const(10000)  # 1000 ug/m3: the registry's pm range (as sps30.py)
_TIMEOUT_MS = const(500)  # an answer comes within a few ms at 115200 (Sensirion waits 20 ms)
_WAKE_TIMEOUT_MS = const(100)
_READY_TIMEOUT_MS = const(3000)  # new values every second
_POLL_MS = const(100)
_WAKE_PULSE = b"\xff"


class SPS30Uart(Sensor):
    NAME = "sps30"
    QUANTITIES = _QUANTITIES

    def __init__(self, uart, warmup_ms=30000, timeout_ms=_TIMEOUT_MS):
        if hasattr(uart, "init"):
            uart.init(baudrate=BAUD)  # the node's sensor UART opens at 9600 (boards.py)
        self._uart = uart
        self.warmup_ms = warmup_ms
        self._timeout = timeout_ms
        self._link = ShdlcLink(uart, "sps30", timeout_ms, _VALUES)
        self._mass = bytearray(16)  # the four mass floats, kept while stop/sleep reuse the link
        self._f_start = frame(_ADDR, _START, b"\x01\x03")
        self._f_stop = frame(_ADDR, _STOP)
        self._f_read = frame(_ADDR, _READ)
        self._f_sleep = frame(_ADDR, _SLEEP)
        self._f_wake = frame(_ADDR, _WAKE)
        self._f_version = frame(_ADDR, _VERSION)
        self._wake()
        self._link.transact(self._f_version, _VERSION, "firmware version")
        if self._link.n < 2:
            raise SensorError("sps30: version answer of %d byte(s)" % self._link.n)
        self.firmware = (self._link.buf[4], self._link.buf[5])
        self.running = False

    @property
    def bad_frames(self):
        return self._link.bad_frames

    def _wake(self):
        link = self._link
        self._uart.write(_WAKE_PULSE)  # wakes the interface of a sleeping part; ignored awake
        link.timeout_ms = _WAKE_TIMEOUT_MS
        try:
            link.transact(self._f_wake, _WAKE, "wake-up answer")
        except ShdlcError:
            pass  # awake already (or absent: the version read that follows says so)
        finally:
            link.timeout_ms = self._timeout

    def start(self):
        """Wake the fan and laser for the warm-up (measurement mode)."""
        self._wake()
        self._link.transact(self._f_start, _START, "start answer")
        self.running = True

    def _sleep(self):
        self.running = False
        try:
            self._link.transact(self._f_stop, _STOP, "stop answer")
            self._link.transact(self._f_sleep, _SLEEP, "sleep answer")  # firmware < 2.0: refused
        except SensorError:
            pass

    def read(self, out):
        link = self._link
        if not self.running:
            self.start()  # read without a warm-up (tests, light-sleep nodes): values not stable
        try:
            t0 = time.ticks_ms()
            while True:
                link.transact(self._f_read, _READ, "measured values")
                if link.n == _VALUES:
                    m = self._mass
                    for i in range(16):
                        m[i] = link.buf[4 + i]
                    break
                if link.n:
                    raise SensorError("sps30: %d value bytes, want %d" % (link.n, _VALUES))
                if time.ticks_diff(time.ticks_ms(), t0) > _READY_TIMEOUT_MS:
                    raise SensorError("sps30: no new values in %d ms" % _READY_TIMEOUT_MS)
                time.sleep_ms(_POLL_MS)  # an empty answer: no new values yet
        finally:
            self._sleep()
        b = self._mass
        for i in range(4):
            j = 4 * i
            v = tenths((b[j] << 8) | b[j + 1], (b[j + 2] << 8) | b[j + 3])
            if v < 0 or v > _MAX_TENTHS:
                raise SensorError("sps30: %s outside 0..1000 ug/m3" % _QUANTITIES[i])
        for i in range(4):
            j = 4 * i
            out[_QUANTITIES[i]] = tenths((b[j] << 8) | b[j + 1], (b[j + 2] << 8) | b[j + 3]) / 10
