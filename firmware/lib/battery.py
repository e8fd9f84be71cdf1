# Battery voltage through a resistor divider on an ADC pin (ESP32: ADC1, 11 dB attenuation,
# read_uv() applies the eFuse calibration; MicroPython docs machine.ADC).

from micropython import const

from sensor import Sensor, SensorError

_SAMPLES = const(8)  # averaged: the ESP32 ADC is noisy (a few LSB)
_MIN_V = 0.5  # below this the divider is open or shorted, not a battery


class Battery(Sensor):
    NAME = "battery"
    QUANTITIES = ("battery_voltage",)

    @classmethod
    def from_config(cls, bus, cfg):
        return cls(bus, cfg["battery_divider"])

    def __init__(self, adc, divider=2.0):
        self._adc = adc
        self._divider = divider
        self._div_milli = int(divider * 1000 + 0.5)  # Vbat = Vadc * (Rtop + Rbot) / Rbot (§S.9)

    def read(self, out):
        total = 0
        for _ in range(_SAMPLES):
            total += self._adc.read_uv()
        # integers in mV (small ints on the ESP32: <= 3100 mV x 20000), one float for the result
        mv = ((total + _SAMPLES * 500) // (_SAMPLES * 1000) * self._div_milli + 500) // 1000  # rounded
        v = mv / 1000
        if v < _MIN_V or v > 5.1:  # registry range of battery_voltage is 0..5.1 V
            raise SensorError("battery: %.2f V is implausible" % v)
        out["battery_voltage"] = v
