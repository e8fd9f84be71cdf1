# Store-and-forward scenarios on the real MicroPython Unix port, in accelerated virtual time
# (tests/firmware_node/test_store.py checks what reached the "city"; tests/bench/bench_store.py
# takes its figures from the same runs). The node is wired as main.py wires it (one RTC image,
# the state's view, the sample store); the backend double is the network edge: a gateway
# outage means nothing is heard (the RAK3172 emulator's gateway_outage does the same on the
# AT level, tools/virtual_lab/rak3172_emulator.py). Time moves only by the sleeps the node
# asks for, so a 24-hour outage runs in a second.
#
#   micropython mpy_store.py FLASH_DIR SCENARIO_JSON  -> one JSON line: the run's record; what
#   the network heard ("H t_ms port hex") and what was measured ("M t_ms temperature") go to
#   FLASH_DIR.log, so that the heap holds the node alone
# SCENARIO_JSON keys: interval_s, data_rate, hours (total), outage [start_h, end_h],
# power_cuts [hour, ...], store_blocks, proof_every, seed

import json
import os
import sys

import sample_store

FLASH = sys.argv[1]
SCEN = json.loads(sys.argv[2])
SECRETS = {"deveui": "00" * 8, "appeui": "00" * 8, "appkey": "00" * 16}
T0_MS = 1000000000  # the board clock at the first power-on (ms)


class Rtc:
    def __init__(self):
        self.mem = b""

    def memory(self, data=None):
        if data is None:
            return self.mem
        if len(data) > 2048:
            raise ValueError("RTC memory holds at most 2048 bytes on ESP32")
        self.mem = bytes(data)


class Board:
    def __init__(self):
        self.rtc = Rtc()
        self.t = T0_MS
        self.cause = 1

    def now_ms(self):
        return self.t

    def reset_cause(self):
        return self.cause

    def reset(self):
        pass


class Wdt:
    def feed(self):
        pass


class SendFailed(Exception):
    pass


class Net:
    """The backend interface node.py uses (rak3172.RAK3172 / lorawan_modem.LoRaWANModem) at the
    network edge: what a gateway hears reaches ``heard`` with the time of reception."""

    def __init__(self, board, log):
        self.board = board
        self.outage = False
        self.log = log  # heard frames go to a file: the heap is the node's alone
        self.sent = 0
        self._lc = False
        self._ans = False

    def is_joined(self):
        return True

    def configure_otaa(self, *a, **k):
        return 0

    def join(self, timeout_ms=0):
        pass

    def set_data_rate(self, dr, adr):
        pass

    def request_link_check(self):
        self._lc = True
        self._ans = False

    def link_checked(self, timeout_ms=0):
        return self._ans

    def send(self, port, data, confirmed=False, timeout_ms=0):
        self.sent += 1
        ok = not self.outage
        if ok:
            self.log.write("H %d %d %s\n" % (self.board.t, port, bytes(data).hex()))
        if self._lc:
            self._ans = ok
            self._lc = False
        if confirmed and not ok:
            raise SendFailed("no ack")
        return []

    def pop_downlinks(self):
        return []


class Bme:
    """A reading per call, each with its own temperature (the test finds every sample by it)."""

    def __init__(self, board, log):
        self.board = board
        self.k = 0
        self.log = log

    def read(self, out):
        out["temperature"] = round(-20.0 + 0.1 * (self.k % 800), 1)
        out["humidity"] = 30.0 + (self.k * 7 % 40)  # jumps: wide deltas, as a gusty day
        out["pressure"] = 1013.2
        self.log.write("M %d %s\n" % (self.board.t, out["temperature"]))
        self.k += 1


class Battery:
    def read(self, out):
        out["battery_voltage"] = 3.9


def make_node(board, net, bme, cfg):
    from node import Node
    from node_state import State

    img = sample_store.RtcImage(board.rtc)  # a RAK3172 node, wired as main.py does
    state = State(sample_store.RtcView(img, *sample_store.STATE_SLOT), FLASH)
    store = sample_store.SampleStore(img, sample_store.MAC_OFF - sample_store.STORE_OFF, FLASH,
                                     cfg["store_blocks"])
    n = Node(board, net, cfg, [], SECRETS, state, {"bme280": bme, "battery": Battery()}, Wdt(),
             log=(print if SCEN.get("verbose") else (lambda m: None)), store=store)
    n.boot({})
    return n


def main():
    import gc

    import node_config

    for name in os.listdir(FLASH):
        os.remove(FLASH + "/" + name)
    log = open(FLASH + ".log", "w")  # noqa: SIM115 - open for the whole run
    cfg, _ = node_config.validate({"board": "virtual", "interval_s": SCEN.get("interval_s", 600),
                                   "data_rate": SCEN.get("data_rate", 5), "adr": False,
                                   "store_blocks": SCEN.get("store_blocks", 24),
                                   "proof_every": SCEN.get("proof_every", 12)})
    board = Board()
    net = Net(board, log)
    bme = Bme(board, log)
    node = make_node(board, net, bme, cfg)
    start = SCEN["outage"][0] * 3600000 + T0_MS
    end = SCEN["outage"][1] * 3600000 + T0_MS
    stop = SCEN["hours"] * 3600000 + T0_MS
    cuts = [int(h * 3600000) + T0_MS for h in SCEN.get("power_cuts", ())]
    cuts.sort()
    cut_at = []
    lost_in_rtc = []
    writes = 0
    max_rtc = 0
    wakes = 0
    gc.collect()
    heap_base = gc.mem_alloc()  # the node built, before its first cycle
    heap_max = 0
    while board.t < stop:
        net.outage = start <= board.t < end
        if cuts and board.t >= cuts[0]:
            cuts.pop(0)
            # the power goes: RTC memory is lost, flash stays; the board starts as PWRON_RESET
            lost_in_rtc.append(node.store.n)
            writes += node.store.flash_writes
            cut_at.append(board.t)
            board.rtc = Rtc()
            board.cause = 1
            node = make_node(board, net, bme, cfg)
        ms = node.run_cycle()
        wakes += 1
        if node.store.used > max_rtc:
            max_rtc = node.store.used
        gc.collect()
        a = gc.mem_alloc()
        if a > heap_max:
            heap_max = a
        board.t += ms
    writes += node.store.flash_writes
    log.close()
    print(json.dumps({
        "log": FLASH + ".log", "outage_ms": [start, end], "cuts_ms": cut_at,
        "lost_in_rtc": lost_in_rtc, "flash_writes": writes, "max_rtc_bytes": max_rtc, "sent": net.sent,
        "wakes": wakes, "kept_at_end": node.store.kept(), "dropped_at_end": node.store.dropped,
        "heap_after_boot": heap_base, "heap_max_after_cycle": heap_max,
        "rtc_store_bytes": sample_store.MAC_OFF - sample_store.STORE_OFF,
        "block": sample_store.BLOCK,
    }))


main()
