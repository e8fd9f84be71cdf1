# MicroPython Unix port: the unchanged node cycle (firmware/lib/node.py) on the LoRaWAN MAC
# backend (lorawan_modem.LoRaWANModem), the simulated radio on the simulated server over loopback
# UDP, the rig's virtual clock. argv: gateway port, flash folder, cycles, power-loss cycle.
# Prints one JSON line per cycle: {"cycle", "sleep_ms", "fcnt_up", "joined"}.
import json
import sys

import lora_sim
import lorawan_eu868
import lorawan_modem
import node_config
import rig
from lorawan_mac import Mac
from lorawan_store import FileFlash, RtcSlot, Store
from node import Node
from node_state import State

LOG = print if "-v" in sys.argv else (lambda m: None)
port, folder, cycles, cut = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


class Board:
    def __init__(self, clock, rtc):
        self.clock = clock
        self.rtc = rtc
        self.cause = 1

    def now_ms(self):
        return self.clock.ticks()

    def reset_cause(self):
        return self.cause

    def reset(self):
        pass


class Wdt:
    def feed(self):
        pass


clock = rig.Clock()
rtc = rig.Rtc()
link = lora_sim.UdpLink("127.0.0.1", port, timeout_s=30)
secrets = {"deveui": "70b3d57ed0000001", "appeui": "0000000000000001",
           "appkey": "2b7e151628aed2a6abf7158809cf4f3c"}


def boot(cause):
    board = Board(clock, rtc)
    board.cause = cause
    cfg = node_config.defaults()
    cfg["data_rate"] = 5
    state = State(RtcSlot(rtc, lorawan_modem.NODE_SLOT[0], lorawan_modem.NODE_SLOT[1]), folder)
    store = Store(RtcSlot(rtc, lorawan_modem.MAC_SLOT[0], lorawan_modem.MAC_SLOT[1]), FileFlash(folder))
    radio = lora_sim.SimRadio(link, ticks_ms=clock.ticks, sleep_ms=clock.sleep)
    mac = Mac(radio, lorawan_eu868, store, clock.ticks, clock.sleep, ticks_ms=clock.ticks)
    mac.restore()
    node = Node(board, lorawan_modem.LoRaWANModem(mac), cfg, [], secrets, state, {}, Wdt(), log=LOG)
    node.boot({})
    return node, mac


node, mac = boot(1)
for i in range(cycles):
    if i == cut:
        rtc.data = b""  # power loss: RTC memory gone, flash kept
        node, mac = boot(1)
    elif i:
        node, mac = boot(4)  # deep-sleep wake
    ms = node.run_cycle()
    print(json.dumps({"cycle": i, "sleep_ms": ms, "fcnt_up": mac.s.fcnt_up, "joined": mac.joined}))
    clock.sleep(ms if ms < 3600000 else 3600000)
