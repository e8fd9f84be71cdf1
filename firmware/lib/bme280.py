# Bosch BME280 temperature / humidity / pressure over I2C, forced mode; also the BMP280
# (no humidity), told apart by the chip id at 0xD0: BME280 0x60, BMP280 0x58 (0x56/0x57 on
# samples) (docs/references.md §S.7; BMP280 datasheet rev 1.23 §4.3.1, same calibration
# layout 0x88..0x9F and compensation formulas §3.11.3, worked example §3.12).
# Datasheet BST-BME280-DS002 rev 1.6: §5.4 registers, §4.2.2 calibration layout,
# §4.2.3 integer compensation formulas, §8.2 the 32-bit pressure formula, §9.1 measurement time.

import struct
import time

from micropython import const

from sensor import Sensor, SensorError

_REG_CALIB00 = const(0x88)  # 0x88..0xA1: dig_T1..dig_P9, (0xA0 unused), dig_H1 (§4.2.2)
_REG_ID = const(0xD0)
_CHIP_ID = const(0x60)
_BMP280_IDS = (0x56, 0x57, 0x58)
_REG_CALIB26 = const(0xE1)  # 0xE1..0xE7: dig_H2..dig_H6
_REG_CTRL_HUM = const(0xF2)
_REG_STATUS = const(0xF3)
_REG_CTRL_MEAS = const(0xF4)
_REG_DATA = const(0xF7)  # press_msb .. hum_lsb, 8 bytes, burst read (§4)
_STATUS_MEASURING = const(0x08)
# oversampling x1 for T, P and H; mode 01 = forced (§5.4.5)
_OSRS_H_X1 = const(0x01)
_CTRL_MEAS_FORCED = const(0x25)  # osrs_t=001, osrs_p=001, mode=01
# §9.1: t_measure,max = 1.25 + 2.3*1 + (2.3*1 + 0.575) + (2.3*1 + 0.575) = 9.3 ms at x1
_MEASURE_TIMEOUT_MS = const(50)
_POLL_MS = const(2)
_SKIPPED = const(0x80000)  # a skipped or never-written channel reads 0x80000 (§5.4.7)


class BME280(Sensor):
    NAME = "bme280"
    QUANTITIES = ("temperature", "humidity", "pressure")

    @classmethod
    def from_config(cls, bus, cfg):
        return cls(bus, cfg["bme280_address"])

    def __init__(self, i2c, address=0x76):
        self._i2c = i2c
        self._addr = address
        self._buf = bytearray(8)
        self._one = bytearray(1)
        self._t_fine = 0
        try:
            chip = i2c.readfrom_mem(address, _REG_ID, 1)[0]
            if chip != _CHIP_ID and chip not in _BMP280_IDS:
                raise SensorError("bme280: chip id 0x%02x is neither a BME280 (0x60) nor a BMP280 (0x58)" % chip)
            self.humidity = chip == _CHIP_ID
            c = i2c.readfrom_mem(address, _REG_CALIB00, 26)
            h = i2c.readfrom_mem(address, _REG_CALIB26, 7) if self.humidity else bytes(7)
        except OSError as e:
            raise SensorError("bme280: no answer at 0x%02x (%s)" % (address, e))
        self.chip = "bme280" if self.humidity else "bmp280"
        if not self.humidity:
            self.QUANTITIES = ("temperature", "pressure")
            self._buf = bytearray(6)  # no humidity registers 0xFD/0xFE
        (self._t1, self._t2, self._t3, self._p1, self._p2, self._p3, self._p4, self._p5,
         self._p6, self._p7, self._p8, self._p9) = struct.unpack_from("<HhhHhhhhhhhh", c, 0)
        self._h1 = c[25]
        self._h2 = struct.unpack_from("<h", h, 0)[0]
        self._h3 = h[2]
        h4 = (h[3] << 4) | (h[4] & 0x0F)  # 12-bit signed, 0xE4[11:4] 0xE5[3:0]
        h5 = (h[5] << 4) | (h[4] >> 4)  # 12-bit signed, 0xE6[11:4] 0xE5[7:4]
        self._h4 = h4 - 4096 if h4 & 0x800 else h4
        self._h5 = h5 - 4096 if h5 & 0x800 else h5
        self._h6 = h[6] - 256 if h[6] & 0x80 else h[6]

    def _measure(self):
        i2c = self._i2c
        one = self._one
        if self.humidity:
            one[0] = _OSRS_H_X1
            i2c.writeto_mem(self._addr, _REG_CTRL_HUM, one)  # takes effect with the ctrl_meas write
        one[0] = _CTRL_MEAS_FORCED
        i2c.writeto_mem(self._addr, _REG_CTRL_MEAS, one)
        t0 = time.ticks_ms()
        while True:
            time.sleep_ms(_POLL_MS)
            i2c.readfrom_mem_into(self._addr, _REG_STATUS, one)
            if not one[0] & _STATUS_MEASURING:
                break
            if time.ticks_diff(time.ticks_ms(), t0) > _MEASURE_TIMEOUT_MS:
                raise SensorError("bme280: measurement not finished in %d ms" % _MEASURE_TIMEOUT_MS)
        i2c.readfrom_mem_into(self._addr, _REG_DATA, self._buf)

    def read(self, out):
        # No allocation here but the reported floats (docs/firmware.md "Sensor drivers"):
        # the 32-bit compensation (§4.2.3 T and H, §8.2 P) keeps every intermediate inside
        # the small-int range, and the results travel in attributes, not tuples.
        try:
            self._measure()
        except OSError as e:
            raise SensorError("bme280: bus error (%s)" % e)
        b = self._buf
        adc_p = (b[0] << 12) | (b[1] << 4) | (b[2] >> 4)
        adc_t = (b[3] << 12) | (b[4] << 4) | (b[5] >> 4)
        adc_h = (b[6] << 8) | b[7] if self.humidity else 0
        if adc_t == _SKIPPED or adc_p == _SKIPPED or adc_h == 0x8000:
            raise SensorError("%s: channel skipped (reset value)" % self.chip)
        t = self._temperature(adc_t)
        p = self._pressure(adc_p)
        out["temperature"] = t / 100  # 0.01 Cel
        out["pressure"] = p / 100  # Pa -> hPa
        if self.humidity:
            out["humidity"] = self._humidity(adc_h) / 1024  # Q22.10 %RH

    # §4.2.3 (temperature, humidity) and §8.2 (pressure) 32-bit integer compensation. Where
    # the datasheet's int32 product can pass 2**30 (the ESP32's small-int limit: beyond it
    # MicroPython allocates a long int) it goes through _mul_shr, which gives the same bits.
    def _temperature(self, adc_t):
        t1 = self._t1
        var1 = _mul_shr((adc_t >> 3) - (t1 << 1), self._t2, 11)
        x = (adc_t >> 4) - t1
        var2 = _mul_shr(_mul_shr(x, x, 12), self._t3, 14)
        t_fine = var1 + var2
        self._t_fine = t_fine
        return (t_fine * 5 + 128) >> 8

    def _pressure(self, adc_p):
        v1 = (self._t_fine >> 1) - 64000
        q = v1 >> 2
        var2 = _mul_shr(q, q, 11) * self._p6
        var2 = var2 + ((v1 * self._p5) << 1)
        var2 = (var2 >> 2) + (self._p4 << 16)
        # var1 = (((p3 * ((q * q) >> 13)) >> 3) + ((p2 * v1) >> 1)) >> 18 = (2a + p2*v1) >> 19
        # with a = (p3 * sq) >> 3; split v1 = vh * 256 + vl so that p2 * v1 is never formed
        a = _mul_shr(_mul_shr(q, q, 13), self._p3, 3)
        p2 = self._p2
        var1 = ((p2 * (v1 >> 8)) + (a >> 7) + ((((a & 0x7F) << 1) + p2 * (v1 & 0xFF)) >> 8)) >> 11
        var1 = _mul_shr(32768 + var1, self._p1, 15)
        if var1 <= 0:
            raise SensorError("%s: pressure calibration gives division by zero" % self.chip)
        x = (1048576 - adc_p) - (var2 >> 12)  # the datasheet's p before "* 3125"
        if x <= 0:
            raise SensorError("%s: pressure out of range (adc %d)" % (self.chip, adc_p))
        # p = (x * 3125 << 1) / var1 if x * 3125 < 2**31 else (x * 3125 / var1) * 2, with
        # the quotient taken digit by digit so that x * 3125 is never formed
        if x < 687195:  # x * 3125 < 0x80000000
            p = _mul_div(x, 6250, var1)
        else:
            p = _mul_div(x, 3125, var1) << 1
        var1 = (self._p9 * (((p >> 3) * (p >> 3)) >> 13)) >> 12
        var2 = ((p >> 2) * self._p8) >> 13
        return p + ((var1 + var2 + self._p7) >> 4)

    def _humidity(self, adc_h):
        v = self._t_fine - 76800
        a = ((adc_h << 14) - (self._h4 << 20) - (self._h5 * v) + 16384) >> 15
        c = (((v * self._h6) >> 10) * (((v * self._h3) >> 11) + 32768)) >> 10
        v = a * (((c + 2097152) * self._h2 + 8192) >> 14)
        v = v - (((((v >> 15) * (v >> 15)) >> 7) * self._h1) >> 4)
        if v < 0:
            v = 0
        if v > 419430400:
            v = 419430400
        return v >> 12


def _mul_shr(a, b, s):
    """(a * b) >> s, exact, without forming a * b: with k = min(s, 8), b = bh * 2**k + bl
    and floor((a*bh*2**k + a*bl) / 2**s) = (a*bh + (a*bl >> k)) >> (s - k)."""
    k = 8 if s > 8 else s
    return ((a * (b >> k)) + ((a * (b & ((1 << k) - 1))) >> k)) >> (s - k)


def _mul_div(x, m, d):
    """(x * m) // d for x, m, d > 0, without forming x * m (long division by parts)."""
    q = x // d  # divmod would allocate its tuple
    return q * m + ((x - q * d) * m) // d
