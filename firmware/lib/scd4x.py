# Sensirion SCD40/SCD41 CO2 over I2C at 0x62 (docs/references.md §S.2; SCD4x datasheet v1.3,
# Sensirion/embedded-i2c-scd4x@743390b). Table 9 command codes and execution times:
#   stop_periodic_measurement 0x3F86 (500 ms), get_serial_number 0x3682 (3 words, 1 ms),
#   get_sensor_variant 0x202F (bits 15..12: 0 SCD40, 1 SCD41), set ASC 0x2416 (1 ms),
#   start_periodic_measurement 0x21B1 (a reading every 5 s), measure_single_shot 0x219D (SCD41
#   only, 5000 ms), get_data_ready_status 0xE4B8 (ready when status & 0x07FF), read_measurement
#   0xEC05 (CO2, T, RH words), set_ambient_pressure 0xE000 (hPa word; allowed while measuring).
# Modes: "periodic" (the part measures every 5 s on its own; for nodes that stay powered and
# light-sleep) or "single_shot" (SCD41: start() triggers one shot, the node's warm-up wait
# covers its 5 s). The pressure comes from the BME280 when one is fitted (read before this
# sensor: sensor_table.py order). Reported: co2 [ppm]; its T/RH are self-heated and not used.

import time

from micropython import const

from sensirion import check_words, put_command, word
from sensor import Sensor, SensorError

ADDRESS = const(0x62)
_STOP = const(0x3F86)
_SERIAL = const(0x3682)
_VARIANT = const(0x202F)
_SET_ASC = const(0x2416)
_START_PERIODIC = const(0x21B1)
_SINGLE_SHOT = const(0x219D)
_DATA_READY = const(0xE4B8)
_READ = const(0xEC05)
_SET_PRESSURE = const(0xE000)
_WAKE_UP = const(0x36F6)
_SHOT_MS = const(5000)
_POLL_MS = const(100)
_MAX_PPM = const(40000)  # output range 0..40 000 ppm (§S.2)


class SCD4x(Sensor):
    NAME = "scd4x"
    QUANTITIES = ("co2",)

    @classmethod
    def from_config(cls, bus, cfg):
        return cls(bus, cfg["scd4x_mode"], cfg["scd4x_asc"], cfg["scd4x_timeout_s"] * 1000)

    def __init__(self, i2c, mode="periodic", asc=True, timeout_ms=6000, shot_ms=_SHOT_MS):
        self._i2c = i2c
        self._cmd = bytearray(2)
        self._cmd5 = bytearray(5)
        self._buf = bytearray(9)
        self._word = memoryview(self._buf)[:3]
        self._mode = mode
        self.timeout_ms = timeout_ms
        self._pressure = 0  # hPa last written (0: never)
        self.warmup_ms = shot_ms if mode == "single_shot" else 0
        try:
            self._cmd[0] = _WAKE_UP >> 8  # SCD41 after power_down; §S.2: not ACKed
            self._cmd[1] = _WAKE_UP & 0xFF
            self._i2c.writeto(ADDRESS, self._cmd)
        except OSError:
            pass
        time.sleep_ms(30)
        self._command(_STOP, 500)  # idle, whatever mode the part was left in
        self._read_words(_SERIAL, self._buf, 3, "serial number")
        self.serial = (word(self._buf, 0) << 32) | (word(self._buf, 1) << 16) | word(self._buf, 2)
        self._read_words(_VARIANT, self._word, 1, "sensor variant")
        self.variant = 41 if (word(self._buf, 0) >> 12) == 1 else 40
        if mode == "single_shot" and self.variant != 41:
            raise SensorError("scd4x: single shot needs an SCD41 (this is an SCD40, §S.2)")
        self._command(_SET_ASC, 1, 1 if asc else 0)
        if mode == "periodic":
            self._command(_START_PERIODIC, 1)

    def _command(self, code, wait_ms, value=None):
        c = self._cmd if value is None else self._cmd5
        put_command(c, code, value)
        try:
            self._i2c.writeto(ADDRESS, c)
        except OSError as e:
            raise SensorError("scd4x: no answer at 0x62 to command 0x%04x (%s)" % (code, e))
        time.sleep_ms(wait_ms)

    def _read_words(self, code, buf, n, what):
        self._command(code, 1)
        try:
            self._i2c.readfrom_into(ADDRESS, buf)
        except OSError as e:
            raise SensorError("scd4x: no %s (%s)" % (what, e))
        check_words(buf, n, "scd4x")

    def start(self):
        if self._mode == "single_shot":
            self._command(_SINGLE_SHOT, 0)  # the node's warm-up wait covers the 5000 ms

    def read(self, out):
        p = out.get("pressure")
        if p is not None:
            hpa = round(p)  # an int: no float object on the heap
            if hpa != self._pressure and 700 <= hpa <= 1200:  # 70 000..120 000 Pa (§S.2)
                self._command(_SET_PRESSURE, 1, hpa)
                self._pressure = hpa
        t0 = time.ticks_ms()
        while True:
            self._read_words(_DATA_READY, self._word, 1, "data-ready status")
            if word(self._buf, 0) & 0x07FF:
                break
            if time.ticks_diff(time.ticks_ms(), t0) > self.timeout_ms:
                raise SensorError("scd4x: no new measurement in %d ms" % self.timeout_ms)
            time.sleep_ms(_POLL_MS)
        self._read_words(_READ, self._buf, 3, "measurement")
        co2 = word(self._buf, 0)
        if co2 > _MAX_PPM:
            raise SensorError("scd4x: %d ppm is outside 0..40000" % co2)
        if co2 == 0:
            raise SensorError("scd4x: 0 ppm (no CO2 measurement: RH/T-only shot or failure)")
        out["co2"] = co2
