# Board profiles in one place: which bus and pin each part of the node uses. Drivers never
# create buses; the node asks a profile for ready objects (style.md "inject hardware").
#
#   esp32_devkit_rak3172  ESP32 DevKitC: RAK3172 on UART2 (TX GPIO17 -> RAK RX, RX GPIO16 <- RAK TX,
#                         115200 8N1, facts.md §C.1), BME280 on I2C0 (SDA GPIO21, SCL GPIO22),
#                         battery divider on GPIO34 (ADC1_CH6, input only, 11 dB attenuation),
#                         one UART sensor (SDS011 or A02YYUW, 9600 8N1) on UART1 remapped to
#                         TX GPIO27 -> sensor RX, RX GPIO26 <- sensor TX: UART1's default pins
#                         GPIO9/GPIO10 are wired to the SPI flash on WROOM/WROVER modules and
#                         must not be used (docs/firmware.md "Wiring")
#   virtual               the MicroPython Unix port with tools/virtual_lab/board/machine.py:
#                         modem on UART2 (the emulator's pty), UART sensor simulator on UART1

import time

import machine

_BOARDS = ("esp32_devkit_rak3172", "virtual")


class Board:
    """Ready hardware objects plus the few board services the node cycle needs."""

    name = ""
    uart = None
    i2c = None
    adc = None

    def __init__(self):
        self.rtc = machine.RTC()

    def reset_cause(self):
        return machine.reset_cause()

    def wdt(self, timeout_ms):
        return machine.WDT(0, timeout=timeout_ms)

    def deepsleep(self, ms):
        machine.deepsleep(ms)

    def lightsleep(self, ms):
        machine.lightsleep(ms)

    def reset(self):
        machine.reset()

    _sensor_uart = None
    _onewire = None
    _i2c_custom = False
    SENSOR_UART = (1, None, None)  # (id, tx, rx) of the UART sensor
    ONEWIRE_PIN = 4  # DS18B20 data line, 4.7 kOhm pull-up to 3.3 V (docs/firmware.md "Wiring")
    METER_PIN = 25  # reed / S0 contact to GND, RTC GPIO (ext0 wake, docs/firmware.md "Meters")

    def bus(self, kind, cfg):
        """The ready bus a sensor-table row names (sensor_table.py); config pins override."""
        if kind == "i2c":
            if cfg["i2c_sda"] >= 0 and cfg["i2c_scl"] >= 0 and not self._i2c_custom:
                self._i2c_custom = True
                self.i2c = machine.I2C(0, scl=machine.Pin(cfg["i2c_scl"]), sda=machine.Pin(cfg["i2c_sda"]),
                                       freq=100000)
            return self.i2c
        if kind == "uart":
            return self.sensor_uart(cfg["uart_sensor_tx"], cfg["uart_sensor_rx"])
        if kind == "onewire":
            if self._onewire is None:
                import onewire  # micropython-lib, frozen into ESP32 builds (docs/references.md §S.6)

                pin = cfg["onewire_pin"]
                self._onewire = onewire.OneWire(machine.Pin(pin if pin >= 0 else self.ONEWIRE_PIN))
            return self._onewire
        if kind == "pin":  # the meter input and the RTC state that keeps its count
            pin = cfg["meter_pin"]
            if self._meter_pin is None:
                self._meter_pin = machine.Pin(pin if pin >= 0 else self.METER_PIN, machine.Pin.IN,
                                              machine.Pin.PULL_UP)
            return (self._meter_pin, self.state)
        return self.adc

    state = None  # node_state.State, set by main.py (the meter's count lives there)
    _meter_pin = None
    PIN_WAKE = getattr(machine, "EXT0_WAKE", 2)  # machine.PIN_WAKE on ESP32 (docs/references.md §F)

    def wake_reason(self):
        return machine.wake_reason()

    def arm_pin_wake(self, pin, level):
        import esp32

        esp32.wake_on_ext0(pin, level)  # RTC GPIOs only (0, 2, 4, 12-15, 25-27, 32-39)

    def sensor_uart(self, tx=-1, rx=-1):
        """UART1 at 9600 8N1 for the one UART sensor, created on first use."""
        if self._sensor_uart is None:
            uid, tx0, rx0 = self.SENSOR_UART
            tx = tx if tx >= 0 else tx0
            rx = rx if rx >= 0 else rx0
            if tx is None:
                self._sensor_uart = machine.UART(uid, baudrate=9600, timeout=0, rxbuf=256)
            else:
                self._sensor_uart = machine.UART(uid, baudrate=9600, tx=tx, rx=rx, timeout=0, rxbuf=256)
        return self._sensor_uart


class Esp32DevkitRak3172(Board):
    name = "esp32_devkit_rak3172"
    SENSOR_UART = (1, 27, 26)  # UART1 remapped off the flash pins GPIO9/10

    def __init__(self):
        super().__init__()
        self.uart = machine.UART(2, baudrate=115200, tx=17, rx=16, timeout=0, rxbuf=1024)
        self.i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100000)
        self.adc = machine.ADC(machine.Pin(34), atten=machine.ADC.ATTN_11DB)

    def now_ms(self):
        # the RTC keeps counting through deep sleep (ticks_ms restarts at every wake)
        return time.time_ns() // 1000000


class Virtual(Board):
    name = "virtual"

    def __init__(self):
        super().__init__()
        self.uart = machine.UART(2, baudrate=115200, timeout=0)  # as on the DevKit
        self.i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100000)
        self.adc = machine.ADC(machine.Pin(34), atten=machine.ADC.ATTN_11DB)

    def now_ms(self):
        return machine.vclock_ms()  # the virtual board's clock (time-scaled sleeps)


def make(name):
    """The profile for ``name`` ("auto": by platform); ValueError names the known boards."""
    if name == "auto":
        import sys

        name = "virtual" if sys.platform == "linux" else "esp32_devkit_rak3172"
    if name == "esp32_devkit_rak3172":
        return Esp32DevkitRak3172()
    if name == "virtual":
        return Virtual()
    raise ValueError("unknown board %r (known: %s)" % (name, ", ".join(_BOARDS)))
