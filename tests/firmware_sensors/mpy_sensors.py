# JSON-lines driver for the UART sensor tests, run by the real MicroPython Unix port
# (tests/firmware_sensors/test_*.py): one request per line, one answer per line.
#   {"op": "sds011", "script": [hex, ...], "timeout_ms": n, "sleep": bool}
#       the SDS011 driver reads from a scripted UART: each write() releases the next chunk
#       -> {"values": {...}} or {"error": "..."}, "written": [hex of each write], "bad": n
#   {"op": "a02yyuw", "stream": hex, "as": q, "mount": mm, "threshold": mm, "timeout_ms": n,
#    "stale": hex}  the A02YYUW driver reads a byte stream ("stale" is in the buffer before the
#       read and must be dropped) -> {"values"} or {"error"}, "bad": n
#   {"op": "sds011_sim", "pm": [pm2_5, pm10], "cond": c, "reads": n}     driver vs simulator
#   {"op": "a02yyuw_sim", "m": metres, "as": q, "mount": mm, "threshold": mm, "cond": c}
#   {"op": "node", "uart_sensor": name, "fail": bool}   a node cycle with that sensor (doubles)

import json
import sys
import time

import a02yyuw_sim
import sds011_sim
from a02yyuw import A02YYUW
from sds011 import SDS011
from sensor import SensorError


class ScriptUART:
    """Answers each write() with the next scripted chunk (a byte-exact transcript)."""

    def __init__(self, chunks, first=b""):
        self.chunks = chunks
        self.rx = bytearray(first)
        self.written = []

    def any(self):
        return len(self.rx)

    def readinto(self, buf, nbytes=None):
        n = min(len(buf) if nbytes is None else nbytes, len(self.rx))
        for i in range(n):
            buf[i] = self.rx[i]
        self.rx = self.rx[n:]
        return n or None

    def write(self, buf):
        self.written.append(bytes(buf).hex())
        if self.chunks:
            self.rx += self.chunks.pop(0)
        return len(buf)


class StreamUART(ScriptUART):
    """Stale bytes waiting in the buffer, then the stream arriving after the first read."""

    def __init__(self, stale, stream):
        super().__init__([], stale)
        self.stream = stream
        self.idle = False

    def any(self):
        if not self.rx and self.stream is not None:
            if self.idle:  # the module's next frames arrive after one empty poll
                self.rx += self.stream
                self.stream = None
            self.idle = True
        return len(self.rx)


def _read(drv, out):
    try:
        drv.read(out)
        return {"values": out}
    except SensorError as e:
        return {"error": str(e)}


def _node_cycle(req):
    import mpy_units
    from sensor_table import slot

    from payload_codec.status import decode_status

    mpy_units.FLASH = sys.argv[1]
    mpy_units._clean()
    name = req["uart_sensor"]
    q = ("pm2_5", "pm10") if name == "sds011" else ("water_level",)
    vals = {"pm2_5": 12.5, "pm10": 20.1} if name == "sds011" else {"water_level": 1.234}
    n, board, modem, _bme, _logs = mpy_units._node(cfg_over={
        "board": "virtual", "uart_sensor": name, "quantities": list(q) + ["battery_voltage"]})  # noqa: RUF005 - no [*x] on MicroPython
    sensor = mpy_units.FakeSensor(name, q, vals)
    sensor.fail = req["fail"]
    n.sensors[name] = sensor
    mpy_units._run_until_sent(n, board, 1)  # past the power-on duty-cycle wait
    import payload_codec

    meas = [payload_codec.decode(d)["samples"][0]["values"] for p, d, c in modem.sent if p == 1]
    st = [decode_status(d) for p, d, c in modem.sent if p == 2]
    n.state.flags |= 1
    frames = n.status_frame()
    return {"measurements": meas, "status": st[-1] if st else None,
            "last_status": decode_status(frames), "uart_errors": n.state.sensor_errors[slot(name)]}


def main():
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        req = json.loads(line)
        op = req["op"]
        out = {}
        if op == "sds011":
            u = ScriptUART([bytes.fromhex(h) for h in req["script"]], bytes.fromhex(req.get("first", "")))
            drv = SDS011(u, timeout_ms=req.get("timeout_ms", 50), sleep=req.get("sleep", True))
            ans = _read(drv, out)
            ans["written"] = u.written
            ans["bad"] = drv.bad_frames
        elif op == "a02yyuw":
            u = StreamUART(bytes.fromhex(req.get("stale", "")), bytes.fromhex(req["stream"]))
            drv = A02YYUW(u, req.get("as", "distance"), req.get("mount", 0), req.get("threshold", 0),
                          timeout_ms=req.get("timeout_ms", 50))
            ans = _read(drv, out)
            ans["bad"] = drv.bad_frames
            ans["left"] = len(u.rx)
        elif op == "sds011_sim":
            pm = req["pm"]
            cond = req.get("cond", "ok")
            sim = sds011_sim.SDS011Sim(lambda pm=pm: pm, lambda c=cond: c, time.ticks_ms, time.ticks_diff,
                                       seed=req.get("seed", 1))
            drv = SDS011(sim, timeout_ms=req.get("timeout_ms", 100))
            res = [_read(drv, {}) for _ in range(req.get("reads", 1))]
            ans = {"reads": res, "awake": sim.awake, "query_mode": sim.query_mode}
        elif op == "a02yyuw_sim":
            m = req["m"]
            cond = req.get("cond", "ok")
            sim = a02yyuw_sim.A02YYUWSim(lambda m=m: m, lambda c=cond: c, time.ticks_ms, time.ticks_diff,
                                         seed=req.get("seed", 1))
            drv = A02YYUW(sim, req.get("as", "distance"), req.get("mount", 0), req.get("threshold", 0),
                          timeout_ms=req.get("timeout_ms", 300))
            ans = _read(drv, out)
        else:
            ans = _node_cycle(req)
        print(json.dumps(ans))


main()
