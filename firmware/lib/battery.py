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

    def read(self, out):
        total = 0
        for _ in range(_SAMPLES):
            total += self._adc.read_uv()
        v = total * self._divider / (_SAMPLES * 1000000)
        if v < _MIN_V or v > 5.1:  # registry range of battery_voltage is 0..5.1 V
            raise SensorError("battery: %.2f V is implausible" % v)
        out["battery_voltage"] = v
