# Board profiles in one place: which bus and pin each part of the node uses. Drivers never
# create buses; the node asks a profile for ready objects (style.md "inject hardware").
#
#   esp32_devkit_rak3172  ESP32 DevKitC: RAK3172 on UART2 (TX GPIO17 -> RAK RX, RX GPIO16 <- RAK TX,
#                         115200 8N1, docs/references.md §C.1), BME280 on I2C0 (SDA GPIO21, SCL GPIO22),
#                         battery divider on GPIO34 (ADC1_CH6, input only, 11 dB attenuation),
#                         one UART sensor (SDS011 or A02YYUW, 9600 8N1) on UART1 remapped to
#                         TX GPIO27 -> sensor RX, RX GPIO26 <- sensor TX: UART1's default pins
#                         GPIO9/GPIO10 are wired to the SPI flash on WROOM/WROVER modules and
#                         must not be used (docs/firmware.md "Wiring")
#   virtual               the MicroPython Unix port with tools/virtual_lab/board/machine.py:
#                         modem on UART2 (the emulator's pty), UART sensor simulator on UART1
# Boards with a bare LoRa radio (radio != "rak3172"; the node runs lorawan_modem.py, the MAC
# on micropython-lib `lora`, docs/lorawan.md "Boards"; pins from the vendors' pin maps as
# meshtastic/firmware variants/*/variant.h give them, not checked on hardware here):
#   heltec_v2             Heltec WiFi LoRa 32 V2: SX1276 on SPI SCK 5 / MOSI 27 / MISO 19, NSS 18,
#                         RESET 14, DIO0 26, DIO1 35; PA_BOOST; BME280 on I2C SDA 4 / SCL 15
#   heltec_v3             Heltec WiFi LoRa 32 V3 (ESP32-S3): SX1262 on SCK 9 / MOSI 10 / MISO 11,
#                         NSS 8, RESET 12, BUSY 13, DIO1 14, TCXO on DIO3 at 1.8 V, DIO2 RF switch;
#                         BME280 on I2C SDA 41 / SCL 42
#   ttgo_lora32           LILYGO TTGO LoRa32 V2.1 (1.6): SX1276 as the Heltec V2 (DIO0 26,
#                         RESET 14), PA_BOOST; BME280 on I2C SDA 21 / SCL 22; battery on GPIO35
#   rak11200_rak13300     WisBlock RAK11200 + RAK13300 (slot A): SX1262 on SCK 33 / MOSI 25 /
#                         MISO 35, NSS 32, RESET 23 (WB_IO4), BUSY 13 (WB_IO5), DIO1 22 (WB_IO6),
#                         TCXO on DIO3, DIO2 RF switch; BME280 on I2C SDA 4 / SCL 5
#   virtual_heltec_v3     the virtual board with a simulated SX1262 (tools/virtual_lab/board/
#                         lora_sim.py) on the simulated gateway named in board.json "lora_gateway",
#                         or on the shared P2P air named in "lora_air" (docs/p2p.md §4a)

import time

import machine

_BOARDS = ("esp32_devkit_rak3172", "virtual", "heltec_v2", "heltec_v3", "ttgo_lora32", "rak11200_rak13300",
           "virtual_heltec_v3")


class Board:
    """Ready hardware objects plus the few board services the node cycle needs."""

    name = ""
    radio = "rak3172"  # or the `lora` driver class of a bare radio: "SX1276", "SX1262"
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


class LoraBoard(Board):
    """An ESP32 board with a bare SX127x/SX126x: lora_modem() builds the `lora` driver
    (docs/references.md §B 1.2 constructors); `trosmart flash` installs PACKAGES with mip."""

    PACKAGES = ("lora-sync", "lora-sx127x")
    SPI = (1, 5, 27, 19)  # (id, sck, mosi, miso)
    PINS = {}  # nss, reset, dio0/dio1 (SX127x) or busy/dio1 (SX126x)
    LORA_CFG = {}  # fixed lora_cfg keys of the board (PA_BOOST on the SX1276 boards)
    TCXO_MV = None
    I2C_PINS = (21, 22)  # (sda, scl)
    ADC_PIN = None

    def __init__(self):
        super().__init__()
        sda, scl = self.I2C_PINS
        self.i2c = machine.I2C(0, scl=machine.Pin(scl), sda=machine.Pin(sda), freq=100000)
        if self.ADC_PIN is not None:
            self.adc = machine.ADC(machine.Pin(self.ADC_PIN), atten=machine.ADC.ATTN_11DB)

    def now_ms(self):
        return time.time_ns() // 1000000

    def radio_ticks_ms(self):
        return time.ticks_ms()  # the base of the `lora` driver's TX-done timestamps

    def lora_modem(self):
        Pin = machine.Pin
        sid, sck, mosi, miso = self.SPI
        spi = machine.SPI(sid, baudrate=2000000, sck=Pin(sck), mosi=Pin(mosi), miso=Pin(miso))
        p = self.PINS
        cfg = dict(self.LORA_CFG)
        if self.radio == "SX1262":
            from lora import SX1262

            return SX1262(spi, Pin(p["nss"], Pin.OUT), busy=Pin(p["busy"], Pin.IN), dio1=Pin(p["dio1"], Pin.IN),
                          dio2_rf_sw=True, dio3_tcxo_millivolts=self.TCXO_MV, reset=Pin(p["reset"]), lora_cfg=cfg)
        from lora import SX1276

        return SX1276(spi, Pin(p["nss"], Pin.OUT), dio0=Pin(p["dio0"], Pin.IN), dio1=Pin(p["dio1"], Pin.IN),
                      reset=Pin(p["reset"]), lora_cfg=cfg)


class HeltecV2(LoraBoard):
    name = "heltec_v2"
    radio = "SX1276"
    PINS = {"nss": 18, "reset": 14, "dio0": 26, "dio1": 35}
    LORA_CFG = {"tx_ant": "PA_BOOST"}  # docs/references.md §B 1.3: Heltec V2 / TTGO need PA_BOOST
    I2C_PINS = (4, 15)
    ADC_PIN = 13


class HeltecV3(LoraBoard):
    name = "heltec_v3"
    radio = "SX1262"
    PACKAGES = ("lora-sync", "lora-sx126x")
    SPI = (1, 9, 10, 11)
    PINS = {"nss": 8, "reset": 12, "busy": 13, "dio1": 14}
    TCXO_MV = 1800
    I2C_PINS = (41, 42)


class TtgoLora32(HeltecV2):
    """The radio wired as on the Heltec V2; other I2C and battery pins."""

    name = "ttgo_lora32"
    I2C_PINS = (21, 22)
    ADC_PIN = 35


class Rak11200Rak13300(LoraBoard):
    name = "rak11200_rak13300"
    radio = "SX1262"
    PACKAGES = ("lora-sync", "lora-sx126x")
    SPI = (1, 33, 25, 35)
    PINS = {"nss": 32, "reset": 23, "busy": 13, "dio1": 22}
    TCXO_MV = 1800
    I2C_PINS = (4, 5)
    ADC_PIN = 36


class VirtualHeltecV3(Virtual):
    """The virtual board with a simulated SX1262 instead of the RAK3172 emulator."""

    name = "virtual_heltec_v3"
    radio = "SX1262"

    def __init__(self):
        Board.__init__(self)  # no RAK3172 on UART2: the radio is simulated at the `lora` API
        self.i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100000)
        self.adc = machine.ADC(machine.Pin(34), atten=machine.ADC.ATTN_11DB)

    def radio_ticks_ms(self):
        return machine.vclock_ms()  # the simulated radio and gateway share the virtual clock

    def lora_modem(self):
        import lora_sim

        cfg = machine._cfg()
        if "lora_air" in cfg:  # P2P: the shared air of other radios and RAK3172 emulators
            host, port = cfg["lora_air"]
            link = lora_sim.AirLink(host, port)
        else:
            host, port = cfg["lora_gateway"]
            link = lora_sim.UdpLink(host, port)
        return lora_sim.SimRadio(link, ticks_ms=machine.vclock_ms, sleep_ms=machine.lightsleep)


def make(name):
    """The profile for ``name`` ("auto": by platform); ValueError names the known boards."""
    if name == "auto":
        import sys

        name = "virtual" if sys.platform == "linux" else "esp32_devkit_rak3172"
    if name == "esp32_devkit_rak3172":
        return Esp32DevkitRak3172()
    if name == "virtual":
        return Virtual()
    for cls in (HeltecV2, HeltecV3, TtgoLora32, Rak11200Rak13300, VirtualHeltecV3):
        if cls.name == name:
            return cls()
    raise ValueError("unknown board %r (known: %s)" % (name, ", ".join(_BOARDS)))
