# MicroPython side of bench_codec: heap cost of importing the codec, heap and time per encode.
import gc
import time

gc.collect()
base = gc.mem_alloc()
import payload_codec as pc  # noqa: E402

gc.collect()
after_import = gc.mem_alloc()
from payload_codec import bits, measurement, registry  # noqa: E402,F401  (what encode() loads)

gc.collect()
after_encode_modules = gc.mem_alloc()

PROFILES = {
    "air_quality": {"temperature": 21.37, "humidity": 48.5, "pressure": 1013.2, "pm2_5": 12.3, "pm10": 20.1,
                    "battery_voltage": 3.71},
    "water_level": {"water_level": 2.5, "water_temperature": 11.25, "battery_voltage": 3.6},
    "parking": {"occupancy": False, "battery_voltage": 3.4},
    "climate": {"temperature": 22.1, "humidity": 45.0, "co2": 850, "battery_level": 76},
    "noise": {"noise_laeq": 61.2, "battery_voltage": 3.5},
    "counter": {"counter": 412, "battery_voltage": 3.5},
}
N = 200
print("import_bytes", after_import - base)
print("import_with_encoder_bytes", after_encode_modules - base)
for name in sorted(PROFILES):
    vals = PROFILES[name]
    pc.encode(vals)
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    t0 = time.ticks_us()
    for _ in range(N):
        pc.encode(vals)
    dt = time.ticks_diff(time.ticks_us(), t0)
    b = gc.mem_alloc()
    gc.enable()
    print("encode", name, (b - a) // N, dt / N)
