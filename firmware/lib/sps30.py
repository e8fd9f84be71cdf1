# Sensirion SPS30 particulate matter over I2C at 0x69 (docs/references.md §S.3;
# Sensirion/embedded-i2c-sps30@3544cbf). SEL (pin 4) must be at GND at power-up for I2C.
#   wake 0x1103 (sent twice: the first only wakes the interface), read firmware version
#   0xD100 (presence + CRC), start measurement 0x0010 with format word 0x0300 (IEEE754 float,
#   frame 00 10 03 00 AC), data-ready 0x0202 (word 1 = new values, every 1 s), read values
#   0x0300 (10 floats, each 2 words + 2 CRCs: PM1.0, PM2.5, PM4.0, PM10 mass [ug/m3] first),
#   stop 0x0104 (20 ms), sleep 0x1001 (idle only, firmware >= 2.0, 5 ms).
# The fan runs only for the warm-up and one reading (§S.3: airrohr never stops it and wears
# it out); stable after 8..30 s depending on concentration, so the default warm-up is 30 s.

import time

from micropython import const

from sensirion import check_words, put_command, word
from sensor import Sensor, SensorError

ADDRESS = const(0x69)
_START = const(0x0010)
_FORMAT_FLOAT = const(0x0300)
_STOP = const(0x0104)
_DATA_READY = const(0x0202)
_READ = const(0x0300)
_SLEEP = const(0x1001)
_WAKE = const(0x1103)
_VERSION = const(0xD100)
_READY_TIMEOUT_MS = const(3000)  # new values every second
_POLL_MS = const(100)
_MAX_TENTHS = const(10000)  # 1000 ug/m3: the registry's pm range
_QUANTITIES = ("pm1", "pm2_5", "pm4", "pm10")


def float_tenths(b, i):
    """Tenths of value i of an I2C read-values buffer (two (word, CRC) pairs per value)."""
    j = 6 * i
    return tenths((b[j] << 8) | b[j + 1], (b[j + 3] << 8) | b[j + 4])


def tenths(hi, lo):
    """Tenths of the big-endian IEEE754 float with words hi, lo, rounded, in integers (no
    float objects); -1 when it is negative, infinite or NaN. Shared by the I2C and the UART
    (SHDLC, sps30_uart.py) transports: both send the same float format (§S.3)."""
    if hi & 0x8000:
        return -1 if (hi & 0x7FFF) or lo else 0  # -0.0 is 0
    e = hi >> 7  # biased exponent
    if e == 0xFF:
        return -1
    if e == 0:
        return 0  # subnormal: below 1e-38
    m = ((hi & 0x7F) << 16) | lo | 0x800000  # 24-bit significand: value = m * 2**(e - 150)
    shift = 150 - e
    if shift <= 0:
        return -1 if shift < -8 else (m * 10) << -shift  # >= 2**24: far out of range anyway
    if shift > 40:
        return 0
    return ((m * 10 >> (shift - 1)) + 1) >> 1  # round half up


class SPS30(Sensor):
    NAME = "sps30"
    QUANTITIES = _QUANTITIES

    @classmethod
    def from_config(cls, bus, cfg):
        if cfg["uart_sensor"] == "sps30":  # the same row on the sensor UART (sensor_table.py)
            from sps30_uart import SPS30Uart

            return SPS30Uart(bus, cfg["sps30_warmup_s"] * 1000)
        return cls(bus, cfg["sps30_warmup_s"] * 1000)

    def __init__(self, i2c, warmup_ms=30000):
        self._i2c = i2c
        self.warmup_ms = warmup_ms
        self._cmd = bytearray(2)
        self._cmd5 = bytearray(5)
        self._buf = bytearray(24)  # mass concentrations only: 4 floats x 6 bytes
        self._ver = memoryview(self._buf)[:3]  # one word + CRC
        self._wake()
        self._read(_VERSION, self._ver, 1, "firmware version")
        self.firmware = (self._buf[0], self._buf[1])
        self.running = False

    def _write(self, code, wait_ms, value=None):
        c = self._cmd if value is None else self._cmd5
        put_command(c, code, value)
        try:
            self._i2c.writeto(ADDRESS, c)
        except OSError as e:
            raise SensorError("sps30: no answer at 0x69 to command 0x%04x (%s)" % (code, e))
        time.sleep_ms(wait_ms)

    def _read(self, code, buf, nwords, what):
        self._write(code, 1)
        try:
            self._i2c.readfrom_into(ADDRESS, buf)
        except OSError as e:
            raise SensorError("sps30: no %s (%s)" % (what, e))
        check_words(buf, nwords, "sps30")

    def _wake(self):
        put_command(self._cmd, _WAKE)
        try:
            self._i2c.writeto(ADDRESS, self._cmd)  # §S.3: the first wake is ignored ...
        except OSError:
            pass
        self._write(_WAKE, 5)  # ... the second one wakes it (or it was awake: no harm)

    def start(self):
        """Wake the fan and laser for the warm-up (measurement mode)."""
        self._wake()
        self._write(_START, 20, _FORMAT_FLOAT)
        self.running = True

    def _sleep(self):
        self.running = False
        try:
            self._write(_STOP, 20)
            self._write(_SLEEP, 5)  # firmware < 2.0 has no sleep: NACK, the fan is off anyway
        except SensorError:
            pass

    def read(self, out):
        if not self.running:
            self.start()  # read without a warm-up (tests, light-sleep nodes): values not stable
        try:
            t0 = time.ticks_ms()
            while True:
                self._read(_DATA_READY, self._ver, 1, "data-ready flag")
                if word(self._buf, 0) == 1:
                    break
                if time.ticks_diff(time.ticks_ms(), t0) > _READY_TIMEOUT_MS:
                    raise SensorError("sps30: no new values in %d ms" % _READY_TIMEOUT_MS)
                time.sleep_ms(_POLL_MS)
            # the first four of the ten values (a shorter read is allowed: the part stops
            # sending when the master NACKs)
            self._read(_READ, self._buf, 8, "values")
        finally:
            self._sleep()
        b = self._buf
        for i in range(4):
            v = float_tenths(b, i)
            if v < 0 or v > _MAX_TENTHS:
                raise SensorError("sps30: %s outside 0..1000 ug/m3" % _QUANTITIES[i])
        for i in range(4):
            out[_QUANTITIES[i]] = float_tenths(b, i) / 10
