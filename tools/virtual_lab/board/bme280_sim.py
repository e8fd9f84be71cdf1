"""Register-level Bosch BME280 for the virtual board (MicroPython and CPython).

Datasheet BST-BME280-DS002 rev 1.6: chip id 0x60 at 0xD0 (§5.4.1), calibration words at
0x88..0xA1 and 0xE1..0xE7 (§4.2.2, Table 16), ctrl_hum 0xF2, status 0xF3, ctrl_meas 0xF4,
burst data 0xF7..0xFE (§5.4.7-5.4.9). A forced-mode write to ctrl_meas starts a measurement
that sets status.measuring for the §9.1 measurement time; the raw ADC words are found by
bisection on the datasheet's floating-point compensation (§8.1), so the driver's integer
maths (§4.2.3) reproduces the scenario's values to within its resolution.

Known differences from the part: no normal mode timing (normal mode measures once, like
forced), no IIR filter, oversampling settings do not change noise, the soft reset register
only clears ctrl registers, and the "nack" glitch fails every transfer instead of random ones.
As a BMP280 (chip_id 0x58) it keeps the BME280's humidity registers, which the driver never
reads; the real BMP280 has none. "frozen" keeps the last measured values.
"""

REG_ID = 0xD0
REG_RESET = 0xE0
REG_CTRL_HUM = 0xF2
REG_STATUS = 0xF3
REG_CTRL_MEAS = 0xF4
REG_DATA = 0xF7
CHIP_ID = 0x60
MEASURE_MS = 10  # §9.1: 9.3 ms max at x1 oversampling for T, P, H

# calibration words as read from a real part (typical magnitudes, Table 16 types)
T_CAL = (28485, 26735, 50)
P_CAL = (36738, -10635, 3024, 6980, -4, -7, 9900, -10230, 4285)
H_CAL = (75, 353, 0, 340, 0, 30)


def _le16(mem, reg, v):
    v &= 0xFFFF
    mem[reg] = v & 0xFF
    mem[reg + 1] = v >> 8


def compensate(adc_t, adc_p, adc_h):
    """§8.1 double-precision compensation: (Cel, Pa, %RH)."""
    t1, t2, t3 = T_CAL
    v1 = (adc_t / 16384.0 - t1 / 1024.0) * t2
    x = adc_t / 131072.0 - t1 / 8192.0
    v2 = x * x * t3
    t_fine = v1 + v2
    temp = t_fine / 5120.0
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = P_CAL
    v1 = t_fine / 2.0 - 64000.0
    v2 = v1 * v1 * p6 / 32768.0
    v2 = v2 + v1 * p5 * 2.0
    v2 = v2 / 4.0 + p4 * 65536.0
    v1 = (p3 * v1 * v1 / 524288.0 + p2 * v1) / 524288.0
    v1 = (1.0 + v1 / 32768.0) * p1
    pres = 0.0
    if v1 != 0:
        p = 1048576.0 - adc_p
        p = (p - v2 / 4096.0) * 6250.0 / v1
        v1 = p9 * p * p / 2147483648.0
        v2 = p * p8 / 32768.0
        pres = p + (v1 + v2 + p7) / 16.0
    h1, h2, h3, h4, h5, h6 = H_CAL
    h = t_fine - 76800.0
    h = (adc_h - (h4 * 64.0 + h5 / 16384.0 * h)) * (
        h2 / 65536.0 * (1.0 + h6 / 67108864.0 * h * (1.0 + h3 / 67108864.0 * h))
    )
    h = h * (1.0 - h1 * h / 524288.0)
    h = min(max(h, 0.0), 100.0)
    return temp, pres, h


def _bisect(f, lo, hi, target, increasing):
    # smallest ADC word whose compensated value reaches the target
    while lo < hi:
        mid = (lo + hi) // 2
        v = f(mid)
        if (v < target) if increasing else (v > target):
            lo = mid + 1
        else:
            hi = mid
    return lo


def raw_for(temp_c, pres_hpa, hum_pct):
    """(adc_t, adc_p, adc_h) that compensate to the given values."""
    adc_t = _bisect(lambda a: compensate(a, 0, 0)[0], 0, 0xFFFFF, temp_c, True)
    adc_p = _bisect(lambda a: compensate(adc_t, a, 0)[1], 0, 0xFFFFF, pres_hpa * 100.0, False)
    adc_h = _bisect(lambda a: compensate(adc_t, 0, a)[2], 0, 0xFFFF, hum_pct, True)
    return adc_t, adc_p, adc_h


class BME280Sim:
    """The register file of one BME280; ``env()`` -> (Cel, hPa, %RH) at the current time."""

    def __init__(self, env, ticks_ms, ticks_diff, chip_id=CHIP_ID):
        self.env = env
        self._ticks = ticks_ms
        self._diff = ticks_diff
        self.mem = bytearray(256)
        self.stuck = False
        self._busy_since = None
        self.cond = "ok"
        m = self.mem
        m[REG_ID] = chip_id  # 0x58: a BMP280 (docs/references.md §S.7), humidity registers unused
        for i, v in enumerate(T_CAL + P_CAL):
            _le16(m, 0x88 + 2 * i, v)
        h1, h2, h3, h4, h5, h6 = H_CAL
        m[0xA1] = h1
        _le16(m, 0xE1, h2)
        m[0xE3] = h3
        m[0xE4] = (h4 >> 4) & 0xFF
        m[0xE5] = (h4 & 0x0F) | ((h5 & 0x0F) << 4)
        m[0xE6] = (h5 >> 4) & 0xFF
        m[0xE7] = h6 & 0xFF
        # data registers hold the reset value 0x80000 / 0x8000 until a measurement (§5.4.7)
        m[0xF7], m[0xF8], m[0xF9] = 0x80, 0, 0
        m[0xFA], m[0xFB], m[0xFC] = 0x80, 0, 0
        m[0xFD], m[0xFE] = 0x80, 0

    def write(self, reg, data):
        for i in range(len(data)):
            r = reg + i
            self.mem[r] = data[i]
            if r == REG_RESET and data[i] == 0xB6:
                self.mem[REG_CTRL_HUM] = 0
                self.mem[REG_CTRL_MEAS] = 0
            elif r == REG_CTRL_MEAS and data[i] & 0x03:
                self._measure()

    def _measure(self):
        if self.cond == "frozen" and self._busy_since is None and self.mem[0xFA] != 0x80:
            self._busy_since = self._ticks()  # the data registers keep the last values
            return
        t, p, h = self.env()
        at, ap, ah = raw_for(t, p, h)
        m = self.mem
        m[0xF7], m[0xF8], m[0xF9] = ap >> 12, (ap >> 4) & 0xFF, (ap & 0x0F) << 4
        m[0xFA], m[0xFB], m[0xFC] = at >> 12, (at >> 4) & 0xFF, (at & 0x0F) << 4
        m[0xFD], m[0xFE] = ah >> 8, ah & 0xFF
        self._busy_since = self._ticks()

    def read(self, reg, n):
        if self._busy_since is not None and (
            self.stuck or self._diff(self._ticks(), self._busy_since) < MEASURE_MS
        ):
            self.mem[REG_STATUS] = 0x08  # measuring
        else:
            self.mem[REG_STATUS] = 0
            self._busy_since = None
        return bytes(self.mem[reg : reg + n])
