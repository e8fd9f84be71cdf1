# Bosch BME280 temperature / humidity / pressure over I2C, forced mode; also the BMP280
# (no humidity), told apart by the chip id at 0xD0: BME280 0x60, BMP280 0x58 (0x56/0x57 on
# samples) (docs/references.md §S.7; BMP280 datasheet rev 1.23 §4.3.1, same calibration
# layout 0x88..0x9F and compensation formulas §3.11.3, worked example §3.12).
# Datasheet BST-BME280-DS002 rev 1.6: §5.4 registers, §4.2.2 calibration layout,
# §4.2.3 integer compensation formulas, §9.1 measurement time.

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


def _div(a, b):
    """C integer division (truncates toward zero), as the datasheet's reference code."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


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
        t_fine, t = self._temperature(adc_t)
        p = self._pressure(adc_p, t_fine)
        out["temperature"] = t / 100  # 0.01 Cel
        out["pressure"] = p / 25600  # Q24.8 Pa -> hPa
        if self.humidity:
            out["humidity"] = self._humidity(adc_h, t_fine) / 1024  # Q22.10 %RH

    # §4.2.3 compensation formulas (integer versions; Python ints do not overflow)
    def _temperature(self, adc_t):
        t1 = self._t1
        var1 = (((adc_t >> 3) - (t1 << 1)) * self._t2) >> 11
        x = (adc_t >> 4) - t1
        var2 = (((x * x) >> 12) * self._t3) >> 14
        t_fine = var1 + var2
        return t_fine, (t_fine * 5 + 128) >> 8

    def _pressure(self, adc_p, t_fine):
        var1 = t_fine - 128000
        var2 = var1 * var1 * self._p6
        var2 = var2 + ((var1 * self._p5) << 17)
        var2 = var2 + (self._p4 << 35)
        var1 = ((var1 * var1 * self._p3) >> 8) + ((var1 * self._p2) << 12)
        var1 = (((1 << 47) + var1) * self._p1) >> 33
        if var1 == 0:
            raise SensorError("bme280: pressure calibration gives division by zero")
        p = 1048576 - adc_p
        p = _div(((p << 31) - var2) * 3125, var1)
        var1 = (self._p9 * (p >> 13) * (p >> 13)) >> 25
        var2 = (self._p8 * p) >> 19
        return ((p + var1 + var2) >> 8) + (self._p7 << 4)

    def _humidity(self, adc_h, t_fine):
        v = t_fine - 76800
        v = ((((adc_h << 14) - (self._h4 << 20) - (self._h5 * v)) + 16384) >> 15) * (
            ((((((v * self._h6) >> 10) * (((v * self._h3) >> 11) + 32768)) >> 10) + 2097152)
             * self._h2 + 8192) >> 14
        )
        v = v - (((((v >> 15) * (v >> 15)) >> 7) * self._h1) >> 4)
        if v < 0:
            v = 0
        if v > 419430400:
            v = 419430400
        return v >> 12
