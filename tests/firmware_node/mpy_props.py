# JSON-lines driver for the property tests (test_properties.py), run on MicroPython:
# one request per line, one answer per line.
# argv[1]: a scratch flash folder.
#   {"op": "config", "raw": <any JSON>}            -> {"cfg": {...}, "errors": [...]}
#   {"op": "bme280", "t": C, "p": hPa, "h": %RH}    -> {"t", "p", "h"} as the driver reads them
#   {"op": "downlink", "hex": "..."}               -> {"status": "<hex of the status reply>"}

import json
import sys
import time

import bme280_sim
import mpy_units  # the doubles (FakeBoard, FakeModem, ...) and _node(); its main() is skipped
import node_config
from bme280 import BME280

mpy_units.FLASH = sys.argv[1]  # a scratch folder for the node's flash files
env = [(20.0, 1000.0, 50.0)]
sim = bme280_sim.BME280Sim(lambda: env[0], time.ticks_ms, time.ticks_diff)
drv = BME280(mpy_units.SimI2C(sim))
out = {}
node = None

while True:
    line = sys.stdin.readline()
    if not line:
        break
    req = json.loads(line)
    op = req["op"]
    if op == "config":
        cfg, errors = node_config.validate(req["raw"])
        ans = {"cfg": cfg, "errors": errors}
    elif op == "bme280":
        env[0] = (req["t"], req["p"], req["h"])
        drv.read(out)
        ans = {"t": out["temperature"], "p": out["pressure"], "h": out["humidity"]}
    else:
        if node is None:
            mpy_units._clean()
            node = mpy_units._node(cause=4)[0]
        node.state.cmd_op = 0
        node.handle_command(bytes.fromhex(req["hex"]))
        ans = {"status": node.status_frame().hex(), "interval": node.cfg["interval_s"],
               "quantities": node.cfg["quantities"], "data_rate": node.cfg["data_rate"]}
    print(json.dumps(ans))
