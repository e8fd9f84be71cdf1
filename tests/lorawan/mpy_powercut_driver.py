# MicroPython Unix port: the power-cut run (rig.power_cuts) against the simulated LoRaWAN server
# over loopback UDP (lora_sim.UdpLink). argv: port cuts seed. Prints one JSON line.
import json
import sys

import lora_sim
import rig

port, cuts, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
dev = rig.Device(lora_sim.UdpLink("127.0.0.1", port, timeout_s=30), every=8)
done = rig.power_cuts(dev, cuts, seed)
print(json.dumps({"cuts": done, "flash_writes": dev.flash.writes, "fcnt_up": dev.mac.s.fcnt_up,
                  "dev_nonce": dev.mac.s.dev_nonce}))
