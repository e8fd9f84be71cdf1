# Driver tests on the real MicroPython Unix port (tests/firmware_sensors/test_sensor_drivers.py):
# BMP280, SHT4x, SCD4x, SPS30, PMS5003, DS18B20, battery divider and the SDS011 warm-up.
# Each test_* prints one JSON line: name, ok, error. Datasheet worked examples come as bytes
# written here from docs/references.md §S; the simulators (tools/virtual_lab/board) give
# values across each range and the failure paths; canned buses that never allocate measure
# the read path's heap (gc.mem_alloc) against one float object per reported value.

import gc
import sys
import time

import ds18b20_sim
import mpy_units
import pms5003_sim
import sensirion_sim
from i2c_bus import SimI2C
from mpy_units import FakeRTC
from sensor import SensorError


def _raises(fn, words):
    try:
        fn()
    except SensorError as e:
        for w in words.split("|"):
            if w in str(e):
                return str(e)
        raise AssertionError("SensorError %r does not say %r" % (str(e), words)) from None
    raise AssertionError("no SensorError (want %r)" % words)


def _near(a, b, tol):
    assert a is not None and abs(a - b) <= tol, (a, b, tol)


class Cond:
    """A scenario condition one test switches by hand."""

    def __init__(self):
        self.now = "ok"

    def __call__(self, *args):
        return self.now


def _bus(name, sim, addr, cond=None):
    c = cond or Cond()
    bus = SimI2C(lambda n: c.now if n == name else "ok")
    bus.attach(addr, name, sim)
    return bus, c


# --- heap per read ------------------------------------------------------------------------
_FLOAT_BYTES = None


def _float_cost():
    """Heap bytes of one float object (the only thing a read may allocate per value)."""
    global _FLOAT_BYTES
    if _FLOAT_BYTES is None:
        box = [0.0]
        gc.collect()
        a = gc.mem_alloc()
        for i in range(100):
            box[0] = i / 7
        _FLOAT_BYTES = (gc.mem_alloc() - a) // 100
    return _FLOAT_BYTES


def heap_per_read(drv, out, n=20):
    drv.read(out)  # keys exist: storing into the dict does not grow it
    gc.collect()
    a = gc.mem_alloc()
    for _ in range(n):
        drv.read(out)
    return (gc.mem_alloc() - a) / n


def _assert_no_alloc(drv, out, nfloats):
    per = heap_per_read(drv, out)
    assert per <= nfloats * _float_cost(), "read allocates %s B, %d float(s) are %d B" % (
        per, nfloats, nfloats * _float_cost())


class CannedI2C:
    """Answers each command (first 1 or 2 bytes written) with a fixed buffer; no allocation."""

    def __init__(self, answers, two_byte=True, regs=None):
        self.answers = answers
        self.two = two_byte
        self.last = None
        self.regs = regs
        self.written = []
        self.log = False

    def writeto(self, addr, buf, stop=True):
        self.last = (buf[0] << 8) | buf[1] if self.two else buf[0]
        if self.log:
            self.written.append(bytes(buf).hex())
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        a = self.answers.get(self.last)
        if a is None:
            raise OSError(5)
        for i in range(len(buf)):
            buf[i] = a[i]

    # register access for the BMP280
    def readfrom_mem(self, addr, reg, n, addrsize=8):
        return bytes(self.regs[reg:reg + n])

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        r = self.regs
        for i in range(len(buf)):
            buf[i] = r[reg + i]

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        pass


# --- BMP280 (BME280 driver, chip id branch) -----------------------------------------------
def _bmp280_regs():
    # BMP280 datasheet §3.12 worked example (docs/references.md §S.7)
    import struct

    regs = bytearray(256)
    regs[0xD0] = 0x58
    struct.pack_into("<HhhHhhhhhhhh", regs, 0x88, 27504, 26435, -1000, 36477, -10685, 3024, 2855, 140,
                     -7, 15500, -14600, 6000)
    adc_t, adc_p = 519888, 415148
    regs[0xF7], regs[0xF8], regs[0xF9] = adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0xF) << 4
    regs[0xFA], regs[0xFB], regs[0xFC] = adc_t >> 12, (adc_t >> 4) & 0xFF, (adc_t & 0xF) << 4
    return regs


def test_bmp280_datasheet_worked_example():
    from bme280 import BME280

    d = BME280(CannedI2C({}, regs=_bmp280_regs()))
    assert d.chip == "bmp280" and d.QUANTITIES == ("temperature", "pressure")
    out = {}
    d.read(out)
    assert out["temperature"] == 25.08, out  # §3.12: t_fine 128422 -> 25.08 degC
    # §3.12: 100 653.27 Pa from the floating-point formula; the 32-bit integer one the driver
    # uses (BME280 DS §8.2, 1 Pa steps) gives 100 656 Pa
    assert out["pressure"] == 1006.56, out
    assert "humidity" not in out
    _assert_no_alloc(d, out, 2)  # the two reported floats, nothing else


def test_bme280_read_path_does_not_allocate():
    import bme280_sim
    from bme280 import BME280

    sim = bme280_sim.BME280Sim(lambda: (21.3, 1013.25, 47.5), time.ticks_ms, time.ticks_diff)
    sim.write(0xF4, b"\x25")  # one forced measurement: the register file then holds its result
    regs = bytearray(sim.mem)
    regs[0xF3] = 0  # status: not measuring
    d = BME280(CannedI2C({}, regs=regs))
    assert d.chip == "bme280"
    out = {}
    d.read(out)
    _near(out["temperature"], 21.3, 0.011)
    _near(out["pressure"], 1013.25, 0.07)
    _near(out["humidity"], 47.5, 0.011)
    _assert_no_alloc(d, out, 3)  # temperature, pressure, humidity: one float each


def test_bmp280_and_bme280_against_the_simulator():
    import bme280_sim
    from bme280 import BME280

    env = [(0.0, 1000.0, 50.0)]
    for chip in (0x58, 0x60):
        sim = bme280_sim.BME280Sim(lambda: env[0], time.ticks_ms, time.ticks_diff, chip_id=chip)
        bus, cond = _bus("bme280", sim, 0x76)
        d = BME280(bus)
        for t, p, h in ((-40.0, 300.0, 0.0), (21.3, 1013.25, 47.5), (85.0, 1100.0, 100.0)):
            env[0] = (t, p, h)
            out = {}
            d.read(out)
            _near(out["temperature"], t, 0.011)
            _near(out["pressure"], p, 0.07)  # int32 formula: up to 6 Pa off the double one
            if chip == 0x60:
                _near(out["humidity"], h, 0.011)
            else:
                assert "humidity" not in out
        cond.now = "nack"
        _raises(lambda d=d: d.read({}), "bus error")
        cond.now = "stuck"
        _raises(lambda d=d: d.read({}), "not finished")
        cond.now = "removed"
        _raises(lambda bus=bus: BME280(bus), "no answer")
    sim = bme280_sim.BME280Sim(lambda: env[0], time.ticks_ms, time.ticks_diff, chip_id=0x61)
    _raises(lambda: BME280(_bus("bme280", sim, 0x76)[0]), "neither a BME280")


# --- SHT4x ----------------------------------------------------------------------------------
def test_sht4x_datasheet_example_crc_and_clamp():
    from sensirion import crc8
    from sht4x import SHT4x

    assert crc8(b"\xbe\xef", 0, 2) == 0x92  # §S.0 datasheet vector
    for w, c in ((0x0000, 0x81), (0x0001, 0xB0), (0x7FCE, 0x7B), (0x03F5, 0xDB)):
        assert crc8(bytes((w >> 8, w & 0xFF)), 0, 2) == c
    ans = {0x89: sensirion_sim.words(0x1234, 0x5678), 0xFD: sensirion_sim.words(0x6666, 0x8000)}
    d = SHT4x(CannedI2C(ans, two_byte=False))
    assert d.serial == 0x12345678
    out = {}
    d.read(out)
    assert out == {"temperature": 25.0, "humidity": 56.5}, out  # §S.1 worked example
    _assert_no_alloc(d, out, 2)
    ans[0xFD] = sensirion_sim.words(0xFFFF, 0xFFFF)
    d.read(out)
    assert out == {"temperature": 130.0, "humidity": 100.0}, out  # RH clamped (-6 + 125 = 119)
    ans[0xFD] = sensirion_sim.words(0, 0)
    d.read(out)
    assert out == {"temperature": -45.0, "humidity": 0.0}, out
    bad = bytearray(ans[0xFD])
    bad[5] ^= 1
    ans[0xFD] = bad
    _raises(lambda: d.read(out), "CRC error in word 1")


def test_sht4x_against_the_simulator_and_failures():
    from sht4x import SHT4x

    env = [(20.0, 50.0)]
    sim = sensirion_sim.SHT4xSim(lambda: env[0], time.ticks_ms, time.ticks_diff)
    bus, cond = _bus("sht4x", sim, 0x44)
    d = SHT4x(bus)
    for t, h in ((-40.0, 0.0), (-12.34, 12.5), (25.0, 56.5), (60.1, 99.0), (125.0, 100.0)):
        env[0] = (t, h)
        out = {}
        d.read(out)
        _near(out["temperature"], t, 0.01)
        _near(out["humidity"], h, 0.01)
    cond.now = "badcrc"
    _raises(lambda: d.read({}), "CRC error")
    cond.now = "nack"
    _raises(lambda: d.read({}), "no answer")
    cond.now = "frozen"
    out = {}
    d.read(out)
    env[0] = (-5.0, 80.0)
    d.read(out)
    assert out["temperature"] == 125.0, out  # a stuck value is reported as it is (docs)
    cond.now = "removed"
    _raises(lambda: SHT4x(bus), "no answer at 0x44")
    _raises(lambda: SHT4x(bus, 0x45), "no answer at 0x45")


# --- SCD4x ----------------------------------------------------------------------------------
def test_scd4x_datasheet_frames():
    from scd4x import SCD4x

    ans = {0x3682: sensirion_sim.words(1, 2, 3), 0x202F: sensirion_sim.words(0x1000),
           0xE4B8: sensirion_sim.words(0x8006),
           0xEC05: bytes.fromhex("01f4336667a25eb93c")}  # §S.2: 500 ppm, 25.0 degC, 37.0 %
    bus = CannedI2C(ans)
    bus.log = True
    d = SCD4x(bus, "periodic", asc=True)
    assert d.variant == 41 and d.serial == (1 << 32) | (2 << 16) | 3
    assert "24160001b0" in bus.written  # §S.2: ASC on, the datasheet's bytes
    assert bus.written[-1] == "21b1"  # start_periodic_measurement
    out = {"pressure": 1013.2}
    d.read(out)
    assert out["co2"] == 500, out
    assert "e00003f5db" in bus.written  # §S.2: 1013 hPa -> E0 00 03 F5 DB
    n = len(bus.written)
    bus.log = False
    _assert_no_alloc(d, out, 0)  # co2 is a small int
    bus.log = True
    d.read(out)
    assert "e00003f5db" not in bus.written[n:]  # the same pressure is not written again
    ans[0xEC05] = sensirion_sim.words(40001, 0, 0)
    _raises(lambda: d.read({}), "outside 0..40000")
    ans[0x202F] = sensirion_sim.words(0x0000)  # an SCD40
    _raises(lambda: SCD4x(CannedI2C(ans), "single_shot"), "needs an SCD41")


def test_scd4x_periodic_and_single_shot_against_the_simulator():
    from scd4x import SCD4x

    ppm = [415]
    sim = sensirion_sim.SCD4xSim(lambda: ppm[0], time.ticks_ms, time.ticks_diff, period_ms=40)
    bus, cond = _bus("scd4x", sim, 0x62)
    d = SCD4x(bus, "periodic", asc=False, timeout_ms=500)
    assert sim.asc == 0 and sim.periodic_since is not None
    for v in (400, 1234, 5000, 40000):
        ppm[0] = v
        out = {"pressure": 950.0}
        d.read(out)
        assert out["co2"] == v, out
    assert sim.pressure_hpa == 950
    cond.now = "stuck"
    _raises(lambda: d.read({}), "no new measurement in 500 ms")
    cond.now = "badcrc"
    _raises(lambda: d.read({}), "CRC error")
    cond.now = "removed"
    _raises(lambda: d.read({}), "no answer at 0x62")
    cond.now = "ok"
    shot = sensirion_sim.SCD4xSim(lambda: ppm[0], time.ticks_ms, time.ticks_diff, shot_ms=60)
    d = SCD4x(_bus("scd4x", shot, 0x62)[0], "single_shot", timeout_ms=500, shot_ms=60)
    assert d.warmup_ms == 60 and shot.periodic_since is None
    ppm[0] = 777
    d.start()
    time.sleep_ms(d.warmup_ms)  # the node's warm-up wait
    out = {}
    d.read(out)
    assert out["co2"] == 777 and 0x219D in shot.commands, out


# --- SPS30 ----------------------------------------------------------------------------------
def test_sps30_float_format_and_start_frame():
    from sps30 import SPS30, float_tenths

    for f, want in ((12.5, 125), (0.0, 0), (0.04, 0), (0.05, 1), (999.96, 10000), (1.0e-30, 0),
                    (123.456, 1235), (-1.0, -1), (1.0e9, -1)):
        import struct

        b = struct.pack(">f", f)
        buf = sensirion_sim.words((b[0] << 8) | b[1], (b[2] << 8) | b[3])
        assert float_tenths(buf, 0) == want or (want == -1 and float_tenths(buf, 0) > 10000), (f, want)
    assert float_tenths(bytes.fromhex("414800" "8100" "0081"), 0) == 125  # §S.3: 0x41480000 = 12.5
    vals = bytearray()
    for v in (1.5, 12.5, 20.25, 33.0, 0, 0, 0, 0, 0, 0):
        import struct

        b = struct.pack(">f", v)
        vals += sensirion_sim.words((b[0] << 8) | b[1], (b[2] << 8) | b[3])
    bus = CannedI2C({0xD100: sensirion_sim.words(0x0202), 0x0202: sensirion_sim.words(1), 0x0300: vals})
    bus.log = True
    d = SPS30(bus, warmup_ms=10)
    d.start()
    assert "00100300ac" in bus.written  # §S.3: the float start frame
    out = {}
    d.read(out)
    assert out == {"pm1": 1.5, "pm2_5": 12.5, "pm4": 20.3, "pm10": 33.0}, out
    assert bus.written[-2:] == ["0104", "1001"]  # stopped and asleep after the reading
    bus.log = False
    _assert_no_alloc(d, out, 4)


def test_sps30_against_the_simulator_warm_up_and_failures():
    from sps30 import SPS30

    pm = [(1.0, 2.0, 3.0, 4.0)]
    sim = sensirion_sim.SPS30Sim(lambda: pm[0], time.ticks_ms, time.ticks_diff, warmup_ms=1000)
    bus, cond = _bus("sps30", sim, 0x69)
    d = SPS30(bus, warmup_ms=1000)
    assert d.firmware == (2, 2)
    for v in ((0.0, 0.0, 0.0, 0.0), (5.5, 12.3, 20.0, 25.1), (900.0, 950.0, 990.0, 1000.0)):
        pm[0] = v
        d.start()
        assert not sim.asleep and sim.measuring_since is not None
        time.sleep_ms(d.warmup_ms)
        out = {}
        d.read(out)
        assert [out[q] for q in ("pm1", "pm2_5", "pm4", "pm10")] == list(v), (out, v)
        assert sim.asleep and sim.measuring_since is None  # the fan runs only per reading
    assert sim.fan_ms < 3 * 1400, sim.fan_ms
    pm[0] = (10.0, 10.0, 10.0, 10.0)
    cond.now = "slowwarmup"  # 60 s instead of 1 s: the reading after 1 s is low
    d.start()
    time.sleep_ms(d.warmup_ms)
    out = {}
    d.read(out)
    assert 0 < out["pm2_5"] < 1.0, out
    cond.now = "stuck"
    d.start()
    _raises(lambda: d.read({}), "no new values")
    assert sim.asleep  # put to sleep after a failed read too
    cond.now = "badcrc"
    _raises(lambda: d.read({}), "CRC error")
    cond.now = "removed"
    _raises(lambda: d.read({}), "no answer at 0x69")
    _raises(lambda: SPS30(bus), "no answer at 0x69")


# --- SPS30 over UART (SHDLC) ---------------------------------------------------------------
class SimUART:
    """machine.UART's face on the SHDLC simulator (init() sets its baud rate)."""

    def __init__(self, sim, with_init=True):
        self.sim = sim
        if with_init:
            self.init = lambda baudrate=9600, **kw: sim.set_baud(baudrate)

    def write(self, buf):
        return self.sim.write(buf)

    def any(self):
        return self.sim.any()

    def readinto(self, buf, nbytes=None):
        return self.sim.readinto(buf, nbytes)


def test_sps30_uart_frames_stuffing_and_float_format():
    import struct

    import shdlc
    import sps30_shdlc_sim
    from sps30_uart import SPS30Uart

    # §S.3: the start (float format), read and stop frames as the documents print them
    assert shdlc.frame(0, 0x00, b"\x01\x03").hex() == "7e00000201" "03f97e"
    assert shdlc.frame(0, 0x03).hex() == "7e000300fc7e"
    assert shdlc.frame(0, 0x01).hex() == "7e000100fe7e"
    # byte stuffing: 7E -> 7D 5E, 7D -> 7D 5D, 11 -> 7D 31, 13 -> 7D 33
    assert shdlc.frame(0, 0x80, b"\x7e\x7d\x11\x13").hex() == "7e0080047d5e7d5d7d317d33" "5c7e"  # chk ~0xA3
    # 63.5 = 0x427E0000 and 9.0625 = 0x41110000: value bytes that need stuffing
    vals = b"".join(struct.pack(">f", v) for v in (9.0625, 63.5, 20.25, 33.0)) + bytes(24)
    miso = sps30_shdlc_sim.miso
    uart = CannedShdlcUART({0x11: miso(0x11, 0), 0xD1: miso(0xD1, 0, b"\x02\x02\x00\x07\x00\x02\x00"),
                            0x00: miso(0x00, 0), 0x03: miso(0x03, 0, vals), 0x01: miso(0x01, 0),
                            0x10: miso(0x10, 0)})
    assert "7d5e" in miso(0x03, 0, vals).hex() and "7d31" in miso(0x03, 0, vals).hex()
    d = SPS30Uart(uart, warmup_ms=10)
    assert uart.baud == 115200 and d.firmware == (2, 2)
    # wake pulse, wake-up (its command byte 0x11 itself stuffed), version
    assert uart.written[:3] == ["ff", "7e007d3100ee7e", "7e00d1002e7e"]
    d.start()
    assert uart.written[-1] == "7e0000020103f97e"
    out = {}
    d.read(out)
    assert out == {"pm1": 9.1, "pm2_5": 63.5, "pm4": 20.3, "pm10": 33.0}, out
    assert uart.written[-2:] == ["7e000100fe7e", "7e001000ef7e"]  # stopped and asleep after it
    uart.log = False
    _assert_no_alloc(d, out, 4)  # the four mass floats only


def test_sps30_uart_against_the_simulator_and_every_failure():
    import sps30_shdlc_sim
    from shdlc import ShdlcError
    from sps30_uart import SPS30Uart

    pm = [(1.0, 2.0, 3.0, 4.0)]
    c = Cond()
    sim = sps30_shdlc_sim.SPS30ShdlcSim(lambda: pm[0], c, time.ticks_ms, time.ticks_diff, warmup_ms=500)
    d = SPS30Uart(SimUART(sim), warmup_ms=500)
    assert d.firmware == (2, 2)
    for v in ((0.0, 0.0, 0.0, 0.0), (5.5, 12.3, 20.0, 25.1), (63.5, 126.0, 400.0, 1000.0)):
        pm[0] = v
        d.start()
        assert not sim.core.asleep and sim.core.measuring_since is not None
        time.sleep_ms(d.warmup_ms)
        out = {}
        d.read(out)
        assert [out[q] for q in ("pm1", "pm2_5", "pm4", "pm10")] == list(v), (out, v)
        assert sim.core.asleep and sim.core.measuring_since is None  # the fan runs only per reading
    assert sim.core.fan_ms < 3 * 1300, sim.core.fan_ms  # new values after 1 s of measuring
    assert sim.commands[-2:] == [0x01, 0x10]
    c.now = "garbage"  # noise before every answer: the link hunts for the next 7E
    out = {}
    d.read(out)
    assert out["pm10"] == 1000.0, out
    c.now = "frozen"
    pm[0] = (7.0, 7.0, 7.0, 7.0)
    d.read(out)
    assert out["pm10"] == 1000.0, out  # a stuck value is reported as it is (docs/firmware.md)
    c.now = "stuck"
    _raises(lambda: d.read({}), "no new values")
    assert sim.core.asleep  # put to sleep after a failed read too
    c.now = "badsum"
    _raises(lambda: d.read({}), "bad frame(s) (last: checksum)")
    c.now = "refuse"
    try:
        d.start()
        raise AssertionError("no ShdlcError")
    except ShdlcError as e:
        assert e.code == 0x43 and "command not allowed in current state" in str(e), str(e)
    c.now = "removed"
    _raises(lambda: d.read({}), "no answer in")
    _raises(lambda: SPS30Uart(SimUART(sim)), "no answer in")
    c.now = "ok"
    pm[0] = (10.0, 10.0, 10.0, 10.0)
    out = {}
    d.read(out)  # back: the next read works
    assert out["pm1"] > 0, out
    # a UART left at 9600 (no init): the part hears nothing
    fresh = sps30_shdlc_sim.SPS30ShdlcSim(lambda: pm[0], Cond(), time.ticks_ms, time.ticks_diff)
    _raises(lambda: SPS30Uart(SimUART(fresh, with_init=False)), "no answer in")
    # firmware 1.x has no sleep: refused, the reading still comes and the fan is stopped
    old = sps30_shdlc_sim.SPS30ShdlcSim(lambda: pm[0], Cond(), time.ticks_ms, time.ticks_diff, firmware=(1, 0))
    d = SPS30Uart(SimUART(old), warmup_ms=0)
    time.sleep_ms(0)
    out = {}
    d.read(out)
    assert out["pm1"] >= 0 and not old.core.asleep and old.core.measuring_since is None


def test_sps30_on_the_uart_from_the_sensor_table():
    import node_config
    import sensor_table

    cfg, errors = node_config.validate({"uart_sensor": "sps30", "sensors": ["bme280", "sps30"]})
    assert errors == [] and sensor_table.bus_of("sps30", cfg) == "uart", errors
    assert sensor_table.fitted(cfg).count("sps30") == 1
    cfg, errors = node_config.validate({"sensors": ["bme280", "sps30"]})
    assert errors == [] and sensor_table.bus_of("sps30", cfg) == "i2c"
    # one UART sensor per node: the SPS30 on the UART and a PMS5003 in the list is refused
    cfg, errors = node_config.validate({"uart_sensor": "sps30", "sensors": ["pms5003"]})
    assert errors == ["uart_sensor"], errors
    cfg, errors = node_config.validate({"uart_sensor": "sht4x"})
    assert errors == ["uart_sensor"], errors  # an I2C-only part cannot be the UART sensor


# --- PMS5003 --------------------------------------------------------------------------------
class CannedUART:
    """A fixed answer to every passive read (42 4D E2 ...); nothing allocated per read."""

    def __init__(self, frame):
        self.frame = bytearray(frame)
        self.pos = len(frame)
        self.written = []
        self.log = True

    def any(self):
        return len(self.frame) - self.pos

    def readinto(self, buf, nbytes=None):
        n = min(len(buf) if nbytes is None else nbytes, len(self.frame) - self.pos)
        for i in range(n):
            buf[i] = self.frame[self.pos + i]
        self.pos += n
        return n or None

    def write(self, buf):
        if self.log:
            self.written.append(bytes(buf).hex())
        if buf[2] == 0xE2:
            self.pos = 0
        return len(buf)


class CannedShdlcUART(CannedUART):
    """Answers each SHDLC command (the byte after 7E 00, unstuffed) with a prebuilt MISO frame;
    no allocation per read (the answers are built once)."""

    def __init__(self, answers):
        super().__init__(b"")
        self.answers = answers
        self.baud = 9600

    def init(self, baudrate=9600, **kw):
        self.baud = baudrate

    def write(self, buf):
        if self.log:
            self.written.append(bytes(buf).hex())
        if len(buf) > 3:
            cmd = buf[3] ^ 0x20 if buf[2] == 0x7D else buf[2]  # the command byte, unstuffed
            self.frame = self.answers.get(cmd, b"")
            self.pos = 0
        return len(buf)


PMS_DOC = bytes.fromhex("424d001c" "0000" "0008" "0008" "0000" "0008" "0008" "00d2" "0046" "002d" "001e"
                        "0000" "0000" "9700" "02c5")


def test_pms5003_worked_frame_and_commands():
    from pms5003 import PMS5003, checksum_ok

    assert len(PMS_DOC) == 32 and checksum_ok(PMS_DOC)  # §S.4: PyPMS captured frame, sum 0x02C5
    u = CannedUART(PMS_DOC)
    d = PMS5003(u, timeout_ms=50, warmup_ms=0)
    out = {}
    d.read(out)
    assert out == {"pm1": 0, "pm2_5": 8, "pm10": 8}, out  # atmospheric 0/8/8
    # wake, passive mode (not started), passive read, sleep: §S.4 command bytes
    assert u.written == ["424de400010174", "424de100000170", "424de200000171", "424de400000173"], u.written
    u.log = False
    _assert_no_alloc(d, out, 0)
    bad = bytearray(PMS_DOC)
    bad[31] ^= 1
    _raises(lambda: PMS5003(CannedUART(bad), timeout_ms=30).read({}), "bad frame")
    _raises(lambda: PMS5003(CannedUART(b""), timeout_ms=30).read({}), "no answer in 30 ms")


def test_pms5003_against_the_simulator():
    from pms5003 import PMS5003

    pm = [(3, 5, 9)]
    cond = Cond()
    sim = pms5003_sim.PMS5003Sim(lambda: pm[0], cond, time.ticks_ms, time.ticks_diff, warmup_ms=100)
    d = PMS5003(sim, timeout_ms=200, warmup_ms=100)
    for v in ((0, 1, 2), (12, 25, 40), (500, 800, 1000)):
        pm[0] = v
        sim.awake = False  # asleep since the last cycle
        d.start()
        time.sleep_ms(d.warmup_ms)
        out = {}
        d.read(out)
        assert (out["pm1"], out["pm2_5"], out["pm10"]) == v, (out, v)
        assert not sim.awake
    d.start()
    _raises(lambda: d.read({}), "all-zero")  # read right after wake: not warmed up
    for c, words in (("nowarmup", "all-zero"), ("badsum", "bad frame"), ("removed", "no answer")):
        cond.now = c
        d.start()
        time.sleep_ms(d.warmup_ms)
        _raises(lambda: d.read({}), words)
    cond.now = "garbage"
    d.start()
    time.sleep_ms(d.warmup_ms)
    out = {}
    d.read(out)
    assert out["pm10"] == 1000, out
    pm[0] = (2000, 2000, 2000)
    cond.now = "ok"
    d.start()
    time.sleep_ms(d.warmup_ms)
    _raises(lambda: d.read({}), "above 1000")


# --- DS18B20 --------------------------------------------------------------------------------
def test_ds18b20_crc_and_datasheet_table():
    from ds18b20 import celsius_hundredths, crc8

    assert crc8(bytes.fromhex("021cb801000000")) == 0xA2  # AN27 example (§S.6)
    for raw, c in ((0x07D0, 12500), (0x0550, 8500), (0x0191, 2506), (0x00A2, 1013), (0x0008, 50),
                   (0x0000, 0), (0xFFF8, -50), (0xFF5E, -1013), (0xFE6F, -2506), (0xFC90, -5500)):
        assert celsius_hundredths(raw & 0xFF, raw >> 8, 0x7F) == c, (hex(raw), c)  # Table 1
    assert celsius_hundredths(0x91, 0x01, 0x1F) == 2500  # 9-bit: bits 2..0 undefined, masked


class CannedOW:
    def __init__(self, scratch):
        self.scratch = bytearray(scratch)

    def reset(self, required=False):
        return True

    def readbit(self):
        return 1

    def writebit(self, v):
        pass

    def writebyte(self, v):
        pass

    def readinto(self, buf):
        for i in range(len(buf)):
            buf[i] = self.scratch[i]


def test_ds18b20_several_probes_by_rom_search():
    from ds18b20 import DS18B20

    temps = [4.5, -10.125, 85.0]
    cond = [Cond(), Cond(), Cond()]
    roms = [ds18b20_sim.make_rom(k) for k in (2, 0, 1)]  # not in ROM order on the wire
    bus = ds18b20_sim.OneWireBus(roms, lambda k: temps[k], lambda k: cond[k].now, time.ticks_ms,
                                 time.ticks_diff, convert_ms=20)
    names = ("water_temperature", "soil_temperature", "temperature")
    d = DS18B20(bus, names)
    assert d.count == 3
    found = [d.rom(k) for k in range(3)]
    assert sorted(found, key=lambda r: bytes(reversed(r))) == found and set(found) == set(roms)
    order = [roms.index(r) for r in found]  # probe k of the driver = bus probe order[k]
    out = {}
    d.read(out)
    for k in range(3):
        _near(out[names[k]], temps[order[k]], 0.01)
    assert bus.conversions == 1  # one Convert T for all probes (Skip ROM)
    # a genuine 85.0 degC measured value is valid; the power-on value is not
    cond[order[0]].now = "poweron"
    cond[order[1]].now = "badcrc"
    d.read(out)
    assert out[names[0]] is None and out[names[1]] is None, out
    _near(out[names[2]], temps[order[2]], 0.01)
    assert d.failed == 2
    cond[order[2]].now = "removed"
    _raises(lambda: d.read(out), "no valid reading")
    for c in cond:
        c.now = "removed"
    _raises(lambda: d.read(out), "no presence")
    _raises(lambda: DS18B20(bus, names), "no probe")
    for c in cond:
        c.now = "ok"
    cond[0].now = "stuck"
    _raises(lambda: d.read(out), "no presence")
    cond[0].now = "ok"
    one = DS18B20(ds18b20_sim.OneWireBus([roms[1]], lambda k: -55.0, lambda k: "ok", time.ticks_ms,
                                         time.ticks_diff, convert_ms=5))
    out = {}
    one.read(out)
    assert out == {"water_temperature": -55.0}, out


def test_ds18b20_read_path_does_not_allocate():
    from ds18b20 import DS18B20

    scratch = bytearray((0x91, 0x01, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10))
    scratch.append(ds18b20_sim.crc8(scratch))
    d = DS18B20(ds18b20_sim.OneWireBus([ds18b20_sim.make_rom(0)], lambda k: 1.0, lambda k: "ok",
                                       time.ticks_ms, time.ticks_diff, convert_ms=1))
    d._ow = CannedOW(scratch)  # the same driver state, a bus that itself never allocates
    out = {}
    d.read(out)
    assert out == {"water_temperature": 25.06}, out
    _assert_no_alloc(d, out, 1)
    zero = CannedOW(bytes(9))  # the bus held low: CRC 0 passes, still refused
    d._ow = zero
    _raises(lambda: d.read(out), "no valid reading")


# --- battery --------------------------------------------------------------------------------
class FakeADC:
    def __init__(self, uv):
        self.uv = uv

    def read_uv(self):
        return self.uv


def test_battery_divider_from_config():
    from battery import Battery

    b = Battery.from_config(FakeADC(2100000), {"battery_divider": 2.0})  # §S.9: 100k/100k
    out = {}
    b.read(out)
    _near(out["battery_voltage"], 4.2, 1e-9)
    b = Battery.from_config(FakeADC(1000000), {"battery_divider": 4.3})  # 330k/100k
    b.read(out)
    _near(out["battery_voltage"], 4.3, 1e-9)
    _assert_no_alloc(b, out, 1)
    _raises(lambda: Battery(FakeADC(100000), 2.0).read({}), "implausible")
    _raises(lambda: Battery(FakeADC(3000000), 2.0).read({}), "implausible")


# --- SDS011 warm-up -------------------------------------------------------------------------
class CannedSDS:
    """SDS011 replies by command byte, copied into a fixed buffer (no allocation)."""

    def __init__(self):
        import sds011_sim

        self.replies = {0x06: sds011_sim.reply(0xC5, (6, 1, 0, 0)), 0x02: sds011_sim.reply(0xC5, (2, 1, 1, 0)),
                        0x04: sds011_sim.data_frame(12.3, 45.6)}
        self.cur = self.replies[0x04]
        self.pos = 10

    def any(self):
        return 10 - self.pos

    def readinto(self, buf, nbytes=None):
        if self.pos >= 10:
            return None
        buf[0] = self.cur[self.pos]
        self.pos += 1
        return 1

    def write(self, buf):
        self.cur = self.replies[buf[2]]
        self.pos = 0
        return len(buf)


def test_sds011_read_path_does_not_allocate():
    from sds011 import SDS011

    d = SDS011(CannedSDS(), timeout_ms=50)
    out = {}
    d.read(out)
    assert out == {"pm2_5": 12.3, "pm10": 45.6}, out
    _assert_no_alloc(d, out, 2)  # its two floats only (a tuple per read before)


def test_sds011_warm_up_wakes_once_and_sleeps_after():
    import sds011_sim
    from sds011 import SDS011

    sim = sds011_sim.SDS011Sim(lambda: (12.3, 45.6), lambda: "ok", time.ticks_ms, time.ticks_diff)
    d = SDS011.from_config(sim, {"sds011_sleep": True, "sds011_warmup_s": 30})
    assert d.warmup_ms == 30000
    sim.awake = False
    d.start()
    assert sim.awake and sim.commands == 1  # the wake command only
    out = {}
    d.read(out)
    assert out == {"pm2_5": 12.3, "pm10": 45.6} and not sim.awake, out
    assert sim.commands == 4  # wake, query mode, query, sleep: no second wake
    assert SDS011.from_config(sim, {"sds011_sleep": False, "sds011_warmup_s": 30}).warmup_ms == 0


# --- pulse meter ----------------------------------------------------------------------------
class _Pin:
    IRQ_FALLING = 2

    def __init__(self, levels):
        self.levels = levels  # values value() returns in turn (the last one repeats)
        self.id = 25
        self.handler = None

    def value(self):
        return self.levels.pop(0) if len(self.levels) > 1 else self.levels[0]

    def irq(self, handler, trigger):
        self.handler = handler


class _MeterBoard:
    PIN_WAKE = 2

    def __init__(self, state, pin):
        self.state = state
        self.pin = pin
        self.t = 10000
        self.reason = 2
        self.armed = []

    def now_ms(self):
        return self.t

    def wake_reason(self):
        return self.reason

    def bus(self, kind, cfg):
        return (self.pin, self.state)

    def arm_pin_wake(self, pin, level):
        self.armed.append(level)


def _meter_cfg(**kw):
    import node_config

    cfg, errs = node_config.validate(dict({"board": "virtual", "sensors": ["meter"], "meter_pulses_per_unit": 100,
                                           "meter_start_index": 1234, "meter_start_milli": 560,
                                           "meter_flush_pulses": 5, "meter_debounce_ms": 50}, **kw))
    assert errs == [], errs
    return cfg


def _flash():
    import os

    d = sys.argv[1]
    assert "flash" in d
    for n in os.listdir(d):
        os.remove(d + "/" + n)
    return d


def test_meter_index_debounce_flush_and_power_loss():
    import pulse_meter
    from node_state import State

    import payload_codec

    flash = _flash()
    cfg = _meter_cfg()
    st = State(FakeRTC(), flash)
    st.restore_meter()
    assert st.pulses == 0
    m = pulse_meter.PulseMeter(_Pin([1]), st, cfg)
    out = {}
    m.read(out)
    assert out == {"volume_index": "1234.560", "pulse_count": 0}, out
    t = 1000
    counted = 0
    for gap in (300, 10, 300, 49, 50, 300, 300, 300):  # 10 and 49 ms: bounces
        t += gap
        counted += pulse_meter.count_edge(st, cfg, t)
    assert counted == 6 and st.pulses == 6 and st.pulses_flashed == 5  # flushed at the 5th
    m.read(out)
    assert out == {"volume_index": "1234.620", "pulse_count": 6}, out
    assert st.pulses_flashed == 6  # a read (once per cycle) flushes a changed total
    f = payload_codec.encode(out)
    assert payload_codec.decode(f)["samples"][0]["values"] == {"volume_index": 1234.62, "pulse_count": 6}
    st.pulses += 3  # counted in RTC memory only, then the power goes
    st2 = State(FakeRTC(), flash)
    st2.restore_meter()
    assert st2.pulses == 6  # lost: the 3 since the last flush (< meter_flush_pulses)
    m.pending = 4  # edges the IRQ saw while awake
    m.commit(5000)
    assert st.pulses == 13 and st.pulses_flashed == 13  # 13 - 6 >= 5: flushed
    big = _meter_cfg(meter_start_index=99999999, meter_start_milli=0, meter_pulses_per_unit=1)
    st.pulses = 0
    out = {}
    pulse_meter.PulseMeter(_Pin([1]), st, big).read(out)
    assert payload_codec.decode(payload_codec.encode(out))["samples"][0]["values"]["volume_index"] == 99999999.0
    gas = _meter_cfg(meter_as="gas_index", meter_pulses_per_unit=3)  # 1/3 m3 per pulse: floored
    st.pulses = 1
    out = {}
    pulse_meter.PulseMeter(_Pin([1]), st, gas).read(out)
    assert out["gas_index"] == "1234.893", out


def test_meter_pulse_wake_counts_and_sleeps_on():
    import pulse_meter
    from node_state import State

    flash = _flash()
    cfg = _meter_cfg()
    rtc = FakeRTC()
    st = State(rtc, flash)
    board = _MeterBoard(st, _Pin([0, 0, 1]))
    assert pulse_meter.on_boot(board, cfg, st) == 0  # power-on: no RTC state, the node runs
    st.save()
    st.cycle_due_ms = 70000
    st.save()
    ms = pulse_meter.on_boot(board, cfg, st)
    assert ms == 60000 and st.pulses == 1 and board.armed == [0], (ms, st.pulses)
    st3 = State(rtc, flash)
    assert st3.load() and st3.pulses == 1  # saved in RTC memory before the deep sleep
    board.t += 20
    board.pin.levels = [1]
    pulse_meter.on_boot(board, cfg, st)
    assert st.pulses == 1  # a bounce 20 ms later: not counted
    board.t += 1000
    board.pin.levels = [0]  # the contact stays closed (a magnet on the reed)
    pulse_meter.on_boot(board, cfg, st)
    assert st.pulses == 2 and st.pin_level == 0 and board.armed[-1] == 1  # wake on release
    board.t += 5000
    board.pin.levels = [1]
    pulse_meter.on_boot(board, cfg, st)
    assert st.pulses == 2 and st.pin_level == 1 and board.armed[-1] == 0  # the release counted nothing
    board.reason = 4  # a timer wake: the node's cycle
    assert pulse_meter.on_boot(board, cfg, st) == 0
    board.reason = 2
    board.t = 80000  # a pulse after the cycle was due: counted, then the cycle runs
    assert pulse_meter.on_boot(board, cfg, st) == 0 and st.pulses == 3
    assert State(rtc, flash).load()


if __name__ == "__main__":
    mpy_units.run_tests(globals())
