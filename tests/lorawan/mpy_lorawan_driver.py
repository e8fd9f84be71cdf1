# MicroPython Unix port driver: lw_ops.answer() on one JSON request per line (real cryptolib).
import json
import sys

import lw_ops

for line in sys.stdin:
    if line.strip():
        print(json.dumps(lw_ops.answer(json.loads(line))))
