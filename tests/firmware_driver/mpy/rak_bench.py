# RAK3172 driver figures on MicroPython: heap for import and instance, parse and read rates.
import gc
import json
import time

gc.collect()
free0 = gc.mem_free()
import rak3172  # noqa: E402

gc.collect()
free1 = gc.mem_free()
from rak_fake_uart import FakeClock, FakeUart  # noqa: E402

LINE = "+EVT:RX_1:-70:8:UNICAST:10:" + "ab" * 24
N = 2000
t = time.ticks_us()
for _ in range(N):
    rak3172.parse_event(LINE)
parse_us = time.ticks_diff(time.ticks_us(), t) / N

stream = (LINE + "\r\n").encode() * 400
clock = FakeClock()
uart = FakeUart([("r", stream)], clock, 64)
gc.collect()
free2 = gc.mem_free()
m = rak3172.RAK3172(uart, ticks_ms=clock.ticks_ms, sleep_ms=clock.sleep_ms)
gc.collect()
free3 = gc.mem_free()
t = time.ticks_us()
n = 0
while m._readline(m._deadline(0)) is not None:
    n += 1
read_us = time.ticks_diff(time.ticks_us(), t)
print(json.dumps({"import_heap_b": free0 - free1, "instance_heap_b": free2 - free3,
                  "parse_us": parse_us, "lines": n, "read_kb_s": len(stream) / read_us * 1000}))
