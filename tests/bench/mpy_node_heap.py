# The node cycle alone (bench_firmware.py): real node, config, state, ledger, payload rule and
# codec, precompiled; doubles for the board and the modem, so neither the RAK3172 driver nor the
# virtual machine module takes heap. argv: flash folder, cycles. Prints the free heap after
# each cycle (after gc), then "counter N".
import gc
import sys

import node_config
from node import Node
from node_state import State


class RTC:
    def __init__(self):
        self.mem = b""

    def memory(self, data=None):
        if data is None:
            return self.mem
        self.mem = bytes(data)


class Board:
    def __init__(self):
        self.rtc = RTC()
        self.t = 0

    def now_ms(self):
        return self.t

    def reset_cause(self):
        return 1

    def reset(self):
        pass


class Modem:
    def is_joined(self):
        return True

    def set_data_rate(self, dr, adr):
        pass

    def send(self, port, data, confirmed=False, timeout_ms=0):
        return ()

    def request_link_check(self):
        pass

    def link_checked(self, timeout_ms=0):
        return True  # this double's network hears everything


class Wdt:
    def feed(self):
        pass


class Sensor:
    def __init__(self, values):
        self.v = values

    def read(self, out):
        for k in self.v:
            out[k] = self.v[k]


def main(flash, cycles):
    cfg, errors = node_config.validate({"board": "virtual", "status_every": 50})
    board = Board()
    sensors = {"bme280": Sensor({"temperature": 21.4, "humidity": 48.5, "pressure": 1013.2}),
               "battery": Sensor({"battery_voltage": 3.87})}
    n = Node(board, Modem(), cfg, errors, None, State(board.rtc, flash), sensors, Wdt(), log=lambda m: None)
    n.boot({})
    for _ in range(cycles):
        board.t += n.run_cycle()
        gc.collect()
        print(gc.mem_free())
    print("counter", n.state.counter)


main(sys.argv[1], int(sys.argv[2]))
