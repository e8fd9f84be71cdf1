# MicroPython driver session against the emulator: argv[1] = pty path. Prints one JSON line
# per step so the host test can check each.
import json
import sys

import rak3172
from rak_pty_uart import PtyUart

KEY = "2B7E151628AED2A6ABF7158809CF4F3C"


def out(step, value):
    print(json.dumps({"step": step, "value": value}))


m = rak3172.RAK3172(PtyUart(sys.argv[1]))
out("version", m.version())
out("configured", m.configure_otaa("70B3D57ED00000AA", "0000000000000000", KEY))
out("joined_before", m.is_joined())
try:
    m.join()
    out("join", "joined")
except rak3172.JoinFailed as e:
    out("join", e.reason)
    m.join()
out("joined_after", m.is_joined())
# the host queues a downlink before this uplink; it must come back as +EVT:RX_1
dls = m.send(1, b"\x01\x02\x03", confirmed=True)
out("downlinks", [[d.slot, d.port, "".join("%02x" % b for b in d.data)] for d in dls])
out("tx_done", len(m.send(2, b"\x09")))
