# Sensirion SHT40/41/45 temperature and humidity over I2C (docs/references.md §S.1;
# Sensirion/embedded-i2c-sht4x@53b1b8b). High-precision measurement 0xFD (wait 10 ms),
# serial number 0x89 (2 words) as the presence check; frame T_msb T_lsb CRC RH_msb RH_lsb CRC.
# T = -45 + 175 * S / 65535 degC, RH = -6 + 125 * S / 65535 %RH, clamped to 0..100 (§S.1).

import time

from micropython import const

from sensirion import check_words, scaled, word
from sensor import Sensor, SensorError

_MEASURE_HIGH = const(0xFD)
_SERIAL = const(0x89)
_WAIT_MS = const(10)  # [SHT-drv] waits 10 ms for the high-precision measurement (max 8.3 ms)


class SHT4x(Sensor):
    NAME = "sht4x"
    QUANTITIES = ("temperature", "humidity")

    @classmethod
    def from_config(cls, bus, cfg):
        return cls(bus, cfg["sht4x_address"])

    def __init__(self, i2c, address=0x44):
        self._i2c = i2c
        self._addr = address
        self._cmd = bytearray(1)
        self._buf = bytearray(6)
        self._transfer(_SERIAL, "serial number")  # presence and CRC check at start
        self.serial = (word(self._buf, 0) << 16) | word(self._buf, 1)

    def _transfer(self, code, what):
        self._cmd[0] = code
        try:
            self._i2c.writeto(self._addr, self._cmd)
            time.sleep_ms(_WAIT_MS)
            self._i2c.readfrom_into(self._addr, self._buf)
        except OSError as e:
            raise SensorError("sht4x: no answer at 0x%02x to the %s (%s)" % (self._addr, what, e))
        check_words(self._buf, 2, "sht4x")

    def read(self, out):
        self._transfer(_MEASURE_HIGH, "measurement")
        b = self._buf
        t = scaled(word(b, 0), 175, 65535, -45)  # hundredths of degC
        h = scaled(word(b, 1), 125, 65535, -6)
        if h < 0:
            h = 0  # §S.1: clamp RH yourself
        elif h > 10000:
            h = 10000
        out["temperature"] = t / 100
        out["humidity"] = h / 100
