# One driver per MicroPython process (tests/bench/bench_sensors.py): heap its import takes,
# heap and time per read against a bus that itself never allocates (the canned buses of
# tests/firmware_sensors/mpy_drivers.py). Prints one JSON line.
#   micropython mpy_sensor_bench.py <driver> <reads>

import gc
import json
import sys
import time

NAME = sys.argv[1]
READS = int(sys.argv[2])
MODULE = {"bme280": "bme280", "bmp280": "bme280", "sht4x": "sht4x", "scd4x": "scd4x", "sps30": "sps30",
          "sps30_uart": "sps30_uart",
          "pms5003": "pms5003", "ds18b20": "ds18b20", "battery": "battery", "sds011": "sds011",
          "a02yyuw": "a02yyuw", "meter": "pulse_meter"}[NAME]

gc.collect()
a0 = gc.mem_alloc()
__import__(MODULE)
gc.collect()
import_heap = gc.mem_alloc() - a0

import mpy_drivers as T  # noqa: E402 - after the import measurement
import sensirion_sim  # noqa: E402


class CannedA02(T.CannedSDS):
    def __init__(self):
        import a02yyuw_sim

        self.cur = a02yyuw_sim.frame(1234)
        self.pos = 0
        self.calls = 0

    def any(self):
        self.calls += 1
        if self.pos >= 4 and self.calls % 2 == 0:
            self.pos = 0  # the next streamed frame, after drain() saw an empty buffer
        return 4 - self.pos

    def readinto(self, buf, nbytes=None):
        if self.pos >= 4:
            return None
        buf[0] = self.cur[self.pos]
        self.pos += 1
        return 1


def make():
    if NAME in ("bme280", "bmp280"):
        from bme280 import BME280

        regs = T._bmp280_regs()
        if NAME == "bme280":
            import bme280_sim

            sim = bme280_sim.BME280Sim(lambda: (21.0, 1013.0, 50.0), time.ticks_ms, time.ticks_diff)
            sim.write(0xF4, b"\x25")
            regs = bytearray(sim.mem)
            regs[0xF3] = 0
        return BME280(T.CannedI2C({}, regs=regs)), 3 if NAME == "bme280" else 2
    if NAME == "sht4x":
        from sht4x import SHT4x

        return SHT4x(T.CannedI2C({0x89: sensirion_sim.words(1, 2), 0xFD: sensirion_sim.words(0x6666, 0x8000)},
                                 two_byte=False)), 2
    if NAME == "scd4x":
        from scd4x import SCD4x

        return SCD4x(T.CannedI2C({0x3682: sensirion_sim.words(1, 2, 3), 0x202F: sensirion_sim.words(0x1000),
                                  0xE4B8: sensirion_sim.words(0x8006),
                                  0xEC05: bytes.fromhex("01f4336667a25eb93c")})), 0
    if NAME == "sps30":
        import struct

        from sps30 import SPS30

        vals = bytearray()
        for v in (1.5, 12.5, 20.25, 33.0, 0, 0, 0, 0, 0, 0):
            b = struct.pack(">f", v)
            vals += sensirion_sim.words((b[0] << 8) | b[1], (b[2] << 8) | b[3])
        return SPS30(T.CannedI2C({0xD100: sensirion_sim.words(0x0202), 0x0202: sensirion_sim.words(1),
                                  0x0300: vals}), warmup_ms=0), 4
    if NAME == "sps30_uart":
        import struct

        import sps30_shdlc_sim
        from sps30_uart import SPS30Uart

        vals = b"".join(struct.pack(">f", v) for v in (1.5, 12.5, 20.25, 33.0)) + bytes(24)
        miso = sps30_shdlc_sim.miso
        u = T.CannedShdlcUART({0x11: miso(0x11, 0), 0xD1: miso(0xD1, 0, bytes((2, 2, 0, 7, 0, 2, 0))),
                               0x00: miso(0x00, 0), 0x03: miso(0x03, 0, vals), 0x01: miso(0x01, 0),
                               0x10: miso(0x10, 0)})
        u.log = False
        return SPS30Uart(u, warmup_ms=0), 4
    if NAME == "pms5003":
        from pms5003 import PMS5003

        u = T.CannedUART(T.PMS_DOC)
        u.log = False
        return PMS5003(u, timeout_ms=50, warmup_ms=0), 0
    if NAME == "ds18b20":
        import ds18b20_sim
        from ds18b20 import DS18B20

        scratch = bytearray((0x91, 0x01, 0x4B, 0x46, 0x7F, 0xFF, 0x0F, 0x10))
        scratch.append(ds18b20_sim.crc8(scratch))
        d = DS18B20(ds18b20_sim.OneWireBus([ds18b20_sim.make_rom(0)], lambda k: 1.0, lambda k: "ok",
                                           time.ticks_ms, time.ticks_diff, convert_ms=1))
        d._ow = T.CannedOW(scratch)
        return d, 1
    if NAME == "battery":
        from battery import Battery

        return Battery(T.FakeADC(1900000), 2.0), 1
    if NAME == "sds011":
        from sds011 import SDS011

        return SDS011(T.CannedSDS(), timeout_ms=50), 2
    if NAME == "a02yyuw":
        from a02yyuw import A02YYUW

        return A02YYUW(CannedA02(), timeout_ms=50), 1
    import node_state
    import pulse_meter

    st = node_state.State(T.FakeRTC(), "")
    st.pulses = st.pulses_flashed = 12345
    return pulse_meter.PulseMeter(T._Pin([1]), st, T._meter_cfg()), 0


drv, nfloats = make()
out = {}
drv.read(out)
gc.collect()
a = gc.mem_alloc()
t0 = time.ticks_us()
for _ in range(READS):
    drv.read(out)
us = time.ticks_diff(time.ticks_us(), t0) / READS
per_read = (gc.mem_alloc() - a) / READS
print(json.dumps({"driver": NAME, "import_heap": import_heap, "heap_per_read": per_read, "us_per_read": us,
                  "float_results": nfloats, "float_bytes": T._float_cost()}))
