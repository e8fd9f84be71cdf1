# mypy: ignore-errors
"""``machine`` for the MicroPython Unix port: the virtual board (architecture.md).

Shadows the built-in ``machine`` when this folder is on MICROPYPATH (docs/references.md §A). The
runner (tools/virtual_lab/board_runner.py) writes the board file named by
$TROSMART_BOARD (JSON: uart pty paths, scenario, RTC memory file, reset cause, virtual
clock, time scale) and reads control lines on the pipe named by $TROSMART_CTL:
``wdt <ms>``, ``feed``, ``sleep <ms>``, ``reset``. deepsleep() and reset() end the process;
the runner starts it again as the matching reset cause, keeping the RTC memory file.

Known differences from an ESP32: the clock runs at real speed while awake and sleeps are
shortened by the time scale; UART baud rates are not simulated (a pty moves bytes at once);
the watchdog is enforced by the runner in real time; I2C has only the devices the board file
wires (a BME280 at 0x76/0x77, and its "i2c" list: SHT4x, SCD4x, SPS30, BMP280, fed by the
temperature/humidity/co2/pm1/pm2_5/pm4/pm10 signals; i2c_bus.py); the 1-Wire bus (onewire.py)
has the DS18B20 probes of "onewire"; a UART named in the board file's "uart_sim" is a simulated
sensor (sds011_sim.py, a02yyuw_sim.py, pms5003_sim.py, fed by the pm/distance signals);
ADC.read_uv() returns the scenario's battery voltage divided by the board's divider,
without noise; RTC memory is lost only when the runner deletes its file (power loss).
"""

import errno
import json
import os
import select
import sys
import time

import bme280_sim
import i2c_bus
import scenario_core

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
EXT0_WAKE = 2
PIN_WAKE = 2
TIMER_WAKE = 4

_T0 = time.ticks_ms()
_board = None
_ctl = None
_light_ms = 0  # virtual time added by light sleeps
_scenario = None


def _cfg():
    global _board
    if _board is None:
        path = os.getenv("TROSMART_BOARD")
        if not path:
            raise OSError(errno.ENODEV, "TROSMART_BOARD is not set: run through board_runner")
        with open(path) as f:
            _board = json.load(f)
    return _board


def _control(line):
    global _ctl
    if _ctl is None:
        path = os.getenv("TROSMART_CTL")
        if not path:
            return
        _ctl = open(path, "wb")  # noqa: SIM115 - a pipe; kept open for the process lifetime
    _ctl.write(line.encode() + b"\n")  # unbuffered; flush() would fsync, EINVAL on a pipe


def vclock_ms():
    """The board's virtual clock in ms since the node's first power-on."""
    return _cfg()["vclock_ms"] + time.ticks_diff(time.ticks_ms(), _T0) + _light_ms


def _scen():
    global _scenario
    if _scenario is None:
        path = _cfg().get("scenario")
        _scenario = {"signals": {}, "events": []}
        if path:
            with open(path) as f:
                _scenario = scenario_core.check(json.load(f))
    return _scenario


def _signal(name, default):
    pts = _scen()["signals"].get(name)
    if not pts:
        return default
    return scenario_core.value_at(pts, vclock_ms() / 1000)


def _condition(sensor):
    return scenario_core.sensor_condition(_scen()["events"], sensor, vclock_ms() / 1000)


def reset_cause():
    return _cfg()["reset_cause"]


def wake_reason():
    if reset_cause() != DEEPSLEEP_RESET:
        return 0
    return EXT0_WAKE if _cfg().get("wake") == "ext0" else TIMER_WAKE


# --- the meter's pulse source (board file "meter": {"pin": n}; scenario signal "meter_pulses":
# the cumulative pulse count over time). The runner wakes a sleeping node at each pulse
# (esp32.wake_on_ext0); pulses while the node is awake reach its Pin IRQ handler when it arms
# that wake (esp32.py), a simplification of an IRQ firing at the pulse itself.
_irqs = {}


def _meter_count():
    return int(_signal("meter_pulses", 0))


def _deliver_meter_irqs():
    """Hand the pulses the node has not seen yet to the meter pin's IRQ handler; how many."""
    m = _cfg().get("meter")
    if not m or m["pin"] not in _irqs:
        return 0  # no handler: the runner wakes the node at once for them (level-triggered ext0)
    n = _meter_count() - _cfg().get("meter_delivered", 0)
    handler, pin = _irqs[m["pin"]]
    for _ in range(n):
        handler(pin)
    return max(n, 0)


def _end(line):
    if hasattr(sys.stdout, "flush"):  # no contextlib on MicroPython
        sys.stdout.flush()
    _control(line)
    sys.exit(0)


def deepsleep(ms=0):
    _end("sleep %d" % ms)


def lightsleep(ms=0):
    global _light_ms
    scale = _cfg().get("time_scale", 1)
    real = int(ms * scale)  # a virtual ms lasts time_scale real ms (as the modem emulator)
    time.sleep_ms(real)
    _light_ms += ms - real


def reset():
    _end("reset")


def soft_reset():
    _end("soft")


def idle():
    time.sleep_ms(1)


def freq(*args):
    return 240000000


def unique_id():
    return _cfg().get("deveui", "0000000000000000").encode()


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        # a pulled-up input reads 1; the meter's contact closes only for the instant of its
        # pulse wake (known difference: no pulse length)
        self._v = value if value is not None else (1 if pull == self.PULL_UP else 0)

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        return None

    IRQ_FALLING = 2
    IRQ_RISING = 1

    def irq(self, handler=None, trigger=IRQ_FALLING):
        _irqs[self.id] = (handler, self)

    def init(self, *args, **kw):
        pass

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self._v = 1

    def off(self):
        self._v = 0


def _sig(name, default):
    return lambda: _signal(name, default)


def _i2c_sim(kind):
    """A simulated I2C part (board file "i2c": [{"type": ..., "address": ...}, ...])."""
    clock = vclock_ms  # warm-ups and measurement intervals run on the board's virtual clock
    if kind in ("bme280", "bmp280"):
        return bme280_sim.BME280Sim(lambda: (_signal("temperature", 20.0), _signal("pressure", 1013.25),
                                             _signal("humidity", 50.0)), time.ticks_ms, time.ticks_diff,
                                    chip_id=0x60 if kind == "bme280" else 0x58)
    import sensirion_sim

    if kind == "sht4x":
        return sensirion_sim.SHT4xSim(lambda: (_signal("temperature", 20.0), _signal("humidity", 50.0)),
                                      clock, _vdiff)
    if kind == "scd4x":
        return sensirion_sim.SCD4xSim(_sig("co2", 420), clock, _vdiff)
    if kind == "sps30":
        return sensirion_sim.SPS30Sim(lambda: (_signal("pm1", 5.0), _signal("pm2_5", 8.0), _signal("pm4", 11.0),
                                               _signal("pm10", 14.0)), clock, _vdiff)
    raise OSError(errno.ENODEV, "no I2C simulator %r" % (kind,))


def _vdiff(a, b):
    return a - b


class I2C(i2c_bus.SimI2C):
    """I2C master whose peers are simulators (i2c_bus.py): the BME280 at "bme280_address"
    and the parts the board file's "i2c" list names (sht4x, scd4x, sps30, bmp280)."""

    def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
        super().__init__(_condition)
        addr = _cfg().get("bme280_address", 0x76)
        if addr is not None:
            self.attach(addr, "bme280", _i2c_sim("bme280"))
        for d in _cfg().get("i2c", []):
            # a scenario event for "bmp280" names that part; it answers as the "bme280" driver
            self.attach(d["address"], d["type"], _i2c_sim(d["type"]))


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, atten=ATTN_11DB):
        self._pin = pin

    def read_uv(self):
        v = _signal("battery_voltage", 3.9)
        if _condition("battery") != "ok":
            v = 0.0  # divider disconnected: the pin reads ground
        return int(v / _cfg().get("adc_divider", 2.0) * 1000000)

    def read_u16(self):
        uv = self.read_uv()
        return min(65535, uv * 65535 // 3100000)  # 11 dB: about 0..3.1 V full scale

    def read(self):
        return self.read_u16() >> 4

    def atten(self, a):
        pass


def _uart_sim(name):
    """The simulated sensor on a UART (board file "uart_sim": {"<id>": "sds011"|"a02yyuw"|
    "pms5003"|"sps30"})."""
    if name == "sds011":
        import sds011_sim

        return sds011_sim.SDS011Sim(lambda: (_signal("pm2_5", 8.0), _signal("pm10", 14.0)),
                                    lambda: _condition("sds011"), time.ticks_ms, time.ticks_diff)
    if name == "a02yyuw":
        import a02yyuw_sim

        return a02yyuw_sim.A02YYUWSim(lambda: _signal("distance", 1.0), lambda: _condition("a02yyuw"),
                                      time.ticks_ms, time.ticks_diff)
    if name == "pms5003":
        import pms5003_sim

        return pms5003_sim.PMS5003Sim(lambda: (_signal("pm1", 5.0), _signal("pm2_5", 8.0), _signal("pm10", 14.0)),
                                      lambda: _condition("pms5003"), vclock_ms, _vdiff)
    if name == "sps30":  # the SPS30's UART mode (SHDLC); the I2C one is an "i2c" part
        import sps30_shdlc_sim

        return sps30_shdlc_sim.SPS30ShdlcSim(lambda: (_signal("pm1", 5.0), _signal("pm2_5", 8.0),
                                                      _signal("pm4", 11.0), _signal("pm10", 14.0)),
                                             lambda: _condition("sps30"), vclock_ms, _vdiff)
    raise OSError(errno.ENODEV, "no UART simulator %r" % (name,))


class UART:
    """A UART on the pseudo-terminal the board file names for this id (the modem emulator),
    or a simulated UART sensor when the board file's "uart_sim" names one for this id."""

    def __init__(self, id, baudrate=115200, tx=None, rx=None, timeout=0, rxbuf=256, **kw):
        import termios

        self._sim = None
        sim = _cfg().get("uart_sim", {}).get(str(id))
        if sim:
            self._sim = _uart_sim(sim)
            self.init(baudrate)
            return
        path = _cfg()["uart"][str(id)]
        self._f = open(path, "r+b")  # noqa: SIM115 - closed in deinit()
        termios.setraw(self._f.fileno())
        self._poll = select.poll()
        self._poll.register(self._f, select.POLLIN)
        self._one = bytearray(1)
        self._timeout = timeout

    def init(self, baudrate=115200, **kw):
        """Change the line settings (machine.UART.init); a simulator hears only its own rate."""
        if self._sim is not None and hasattr(self._sim, "set_baud"):
            self._sim.set_baud(baudrate)

    def any(self):
        if self._sim is not None:
            return self._sim.any()
        return 1 if self._poll.poll(0) else 0

    def readinto(self, buf, nbytes=None):
        if self._sim is not None:
            return self._sim.readinto(buf, nbytes)
        # a pty read blocks until the buffer is full (MicroPython streams): read the bytes
        # that poll() says are waiting, one at a time
        n = len(buf) if nbytes is None else nbytes
        got = 0
        wait = self._timeout
        while got < n and self._poll.poll(wait):
            self._f.readinto(self._one)
            buf[got] = self._one[0]
            got += 1
            wait = 0
        return got or None

    def read(self, n=256):
        if self._sim is not None:
            n = min(n, self._sim.any())
        b = bytearray(n)
        k = self.readinto(b)
        return bytes(b[:k]) if k else None

    def readline(self):
        if self._sim is not None:
            raise OSError(errno.EINVAL, "readline on a simulated sensor UART")
        out = bytearray()
        while self._poll.poll(self._timeout):
            self._f.readinto(self._one)
            out.append(self._one[0])
            if self._one[0] == 10:
                break
        return bytes(out) if out else None

    def write(self, buf):
        if self._sim is not None:
            return self._sim.write(buf)
        return self._f.write(buf)  # unbuffered FileIO: no flush (fsync fails on a pty)

    def deinit(self):
        if self._sim is None:
            self._f.close()


class RTC:
    """RTC whose memory() lives in the board's file (kept across deep sleep, not power loss)."""

    def memory(self, data=None):
        path = _cfg()["rtc_file"]
        if data is None:
            try:
                with open(path, "rb") as f:
                    return f.read()
            except OSError:
                return b""
        if len(data) > 2048:
            raise ValueError("RTC memory holds at most 2048 bytes on ESP32")
        with open(path, "wb") as f:
            f.write(data)
        return None

    def datetime(self, dt=None):
        t = time.localtime(vclock_ms() // 1000)
        return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)


class WDT:
    """Hardware watchdog: the runner restarts the process as WDT_RESET when feeds stop."""

    def __init__(self, id=0, timeout=5000):
        _control("wdt %d" % timeout)

    def feed(self):
        _control("feed")
