# MicroPython side of the driver tests: one JSON request per stdin line, one JSON answer each.
# {"run": name} plays a transcript; {"parse": line} parses one line; {"names": 1} lists them.
import json
import sys

import rak_scenarios

while True:
    line = sys.stdin.readline()
    if not line:
        break
    req = json.loads(line)
    if "run" in req:
        ans = rak_scenarios.run(req["run"])
    elif "parse" in req:
        ans = rak_scenarios.parsed(req["parse"])
    else:
        ans = sorted(rak_scenarios.SCENARIOS)
    sys.stdout.write(json.dumps(ans) + "\n")
