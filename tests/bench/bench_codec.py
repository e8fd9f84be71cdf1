"""Codec benchmarks (issue 2): sizes against Cayenne LPP, CBOR and JSON, time on air, CPython
decode rate against pycayennelpp, MicroPython encode cost, and a 1,000,000-input fuzz run."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

import cbor2
from cayennelpp import LppFrame

import payload_codec as pc
from payload_codec import airtime
from tests.codec.test_measurement import AQ, REFERENCE, lpp_bytes
from trosmart_tools import mpy

FUZZ_INPUTS = 1_000_000
BATCH = [
    (-1200, AQ),
    (-600, dict(AQ, temperature=21.6, humidity=47.5, pressure=1013.4, pm2_5=14.0, pm10=22.9)),
    (0, dict(AQ, temperature=22.0, humidity=46.0, pressure=1013.1, pm2_5=11.1, pm10=19.5, battery_voltage=3.70)),
]


def sizes() -> None:
    print("profile        TroSmart  LPP  ratio  CBOR-map  JSON   ToA SF7 / SF12 (TroSmart)   ToA SF12 (LPP)")
    for name in sorted(REFERENCE):
        vals = REFERENCE[name]
        ours = len(pc.encode(vals))
        lpp = lpp_bytes(vals)
        cb = len(cbor2.dumps(vals))
        js = len(json.dumps(vals, separators=(",", ":")))
        sf7, sf12 = airtime.uplink_time_on_air_us(ours, 7) / 1000, airtime.uplink_time_on_air_us(ours, 12) / 1000
        lpp12 = airtime.uplink_time_on_air_us(lpp, 12) / 1000
        toa = f"{sf7:7.1f} / {sf12:7.1f} ms   {lpp12:7.1f} ms"
        print(f"{name:14} {ours:8} {lpp:4} {ours / lpp:6.0%} {cb:9} {js:5}   {toa}")
    b = len(pc.encode_batch(BATCH))
    lpp3 = 3 * lpp_bytes(AQ)
    print(f"air_quality 3-sample batch: {b} bytes vs 3 LPP frames {lpp3} bytes = {b / lpp3:.0%} (goal <= 35 %)")
    print("LPP: native types for temperature/humidity/pressure/presence; analog input (2 bytes, 0.01) as the "
          "nearest type for PM, battery, CO2, battery level, water level, noise and counter")


def decode_rate() -> None:
    frame = pc.encode(AQ)
    fr = LppFrame()
    fr.add_temperature(1, 21.4)
    fr.add_humidity(2, 48.5)
    fr.add_pressure(3, 1013.2)
    fr.add_analog_input(4, 12.3)
    fr.add_analog_input(5, 20.1)
    fr.add_analog_input(6, 3.71)
    lpp = bytes(fr)

    def rate(fn, n: int = 30000) -> float:
        best = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best = max(best, n / (time.perf_counter() - t0))
        return best

    ours = rate(lambda: pc.decode(frame))
    ref = rate(lambda: LppFrame.from_bytes(lpp).data)
    print(f"CPython decode, air quality: TroSmart {ours:,.0f}/s ({len(frame)} B), pycayennelpp {ref:,.0f}/s "
          f"({len(lpp)} B, same values): ratio {ours / ref:.2f}x (goal >= 1.0x)")


def micropython_costs() -> None:
    r = mpy.run([str(Path(__file__).with_name("mpy_codec_bench.py"))])
    if r.returncode:
        raise RuntimeError(r.stderr)
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts[0] == "import_bytes":
            print(f"MicroPython: import payload_codec allocates {int(parts[1]):,} B of heap (goal <= 12 KB)")
        elif parts[0] == "import_with_encoder_bytes":
            print(f"MicroPython: with the encoder modules loaded {int(parts[1]):,} B")
        else:
            print(f"MicroPython encode {parts[1]:12}: {int(parts[2]):5} B heap per encode (goal <= 2 KB), "
                  f"{float(parts[3]):7.1f} us per encode (Unix port on this host)")


def fuzz(n: int = FUZZ_INPUTS) -> None:
    rnd = random.Random(1)
    outcome: Counter[str] = Counter()
    t0 = time.perf_counter()
    for i in range(n):
        data = rnd.randbytes(rnd.randrange(0, 32))
        if i & 1 and data:
            data = bytes([0x20 | (data[0] & 0x1F)]) + data[1:]  # half with a valid version
        fport = (1, 1, 2, 3)[i & 3]
        try:
            pc.decode_uplink(fport, data)
            outcome["decoded"] += 1
        except pc.CodecError as e:
            outcome[type(e).__name__] += 1
        except Exception as e:  # a crash: report and fail the benchmark
            raise AssertionError(f"fuzz input {data.hex()} fPort {fport} raised {e!r}") from e
    dt = time.perf_counter() - t0
    print(f"fuzz: {n:,} random inputs in {dt:.1f} s, every one decoded or raised a CodecError: "
          + ", ".join(f"{k} {v:,}" for k, v in outcome.most_common()))


def run(args: list[str]) -> None:
    sizes()
    decode_rate()
    micropython_costs()
    fuzz()
