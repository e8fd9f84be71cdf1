# Fault tests of the node firmware (issue 11, firmware side), run by the real MicroPython Unix
# port (tests/firmware_node/test_faults.py): a modem error or a bad command never escapes the
# cycle (main.py would reset the board) and never loses the command's result; a bad config.json
# gives the defaults with the reason in the status frame. One JSON line per test.
# The modem double raises the driver's own exception classes (firmware/lib/rak3172.py).

import gc
import sys

import mpy_units
import rak3172
from mpy_units import Downlink as DL  # the node unit tests' board, downlink and WDT doubles
from mpy_units import FakeBoard as Board
from mpy_units import FakeWdt as Wdt

import payload_codec
from payload_codec.status import decode_status

FLASH = sys.argv[1] if __name__ == "__main__" else None
mpy_units.FLASH = FLASH  # its _clean() empties this scratch folder
_clean = mpy_units._clean


class Modem:
    """Joined; ``fail`` maps a port to the exception its next send raises."""

    def __init__(self):
        self.sent = []
        self.queue = []
        self.fail = {}
        self.dr_error = None
        self.pending = []

    def is_joined(self):
        return True

    def set_data_rate(self, dr, adr):
        if self.dr_error is not None:
            raise self.dr_error

    def send(self, port, data, confirmed=False, timeout_ms=30000):
        e = self.fail.pop(port, None)
        if e is not None:
            self.pending = self.queue
            self.queue = []
            raise e
        self.sent.append((port, bytes(data)))
        out = self.queue
        self.queue = []
        return out

    def request_link_check(self):
        pass

    def link_checked(self, timeout_ms=0):
        return True  # this double's network hears everything

    def pop_downlinks(self):
        out = self.pending
        self.pending = []
        return out


class Sensor:
    NAME = "battery"
    QUANTITIES = ("battery_voltage",)

    def read(self, out):
        out["battery_voltage"] = 3.9


class Bme:
    NAME = "bme280"
    QUANTITIES = ("temperature", "humidity", "pressure")

    def read(self, out):
        out["temperature"] = 21.0
        out["humidity"] = 50.0
        out["pressure"] = 1010.0


def _node(errors=None):
    import node_config
    from node import Node
    from node_state import State

    _clean()
    board = Board()
    cfg, errs = node_config.validate({"board": "virtual", "quantities": ["battery_voltage"]})
    st = State(board.rtc, FLASH)
    modem = Modem()
    logs = []
    n = Node(board, modem, cfg, errors if errors is not None else errs,
             {"deveui": "00" * 8, "appeui": "00" * 8, "appkey": "00" * 16},
             st, {"battery": Sensor(), "bme280": Bme()}, Wdt(), log=logs.append)
    n.boot({})
    return n, board, modem, logs


def _cycles(n, board, count):
    for _ in range(count):
        board.t += n.run_cycle()  # raises if an error escapes the cycle


def _statuses(modem):
    return [decode_status(d) for p, d in modem.sent if p == payload_codec.STATUS]


def test_status_send_error_keeps_the_command_result():
    n, board, modem, logs = _node()
    _cycles(n, board, 1)  # power-on status and a measurement
    modem.queue = [DL(payload_codec.COMMAND, payload_codec.encode_downlink({"set_interval_s": 900}))]
    _cycles(n, board, 1)  # the command arrives with the measurement
    modem.fail[payload_codec.STATUS] = rak3172.RakTimeout("no send event within 22000 ms")
    _cycles(n, board, 1)  # the status reply fails: no exception, nothing lost
    assert board.resets == 0
    _cycles(n, board, 2)
    last = _statuses(modem)[-1]
    assert last["command_result"] == {"command": "set_interval_s", "result": "ok"}, last
    assert any("status send failed" in x for x in logs), logs


def test_downlink_handler_modem_error_is_a_result():
    n, board, modem, _ = _node()
    _cycles(n, board, 1)
    modem.dr_error = rak3172.RakTimeout("AT+DR=3: no status within 2000 ms")
    cmd = payload_codec.encode_downlink({"set_data_rate": {"dr": 3, "adr": False}})
    modem.queue = [DL(payload_codec.COMMAND, cmd)]
    _cycles(n, board, 3)
    assert board.resets == 0 and n.cfg["data_rate"] == 5  # not applied
    assert _statuses(modem)[-1]["command_result"] == {"command": "set_data_rate", "result": "busy"}


def test_downlink_of_a_failed_send_is_handled():
    n, board, modem, _ = _node()
    for _ in range(5):  # past the power-on status: the next send is a measurement
        if any(p == payload_codec.MEASUREMENT for p, _ in modem.sent):
            break
        _cycles(n, board, 1)
    modem.queue = [DL(payload_codec.COMMAND, payload_codec.encode_downlink({"set_interval_s": 1200}))]
    modem.fail[payload_codec.MEASUREMENT] = rak3172.SendFailed(4)  # the downlink came anyway
    _cycles(n, board, 1)
    assert payload_codec.MEASUREMENT not in modem.fail and n.cfg["interval_s"] == 1200
    _cycles(n, board, 2)
    assert n.cfg["interval_s"] == 1200
    assert _statuses(modem)[-1]["command_result"] == {"command": "set_interval_s", "result": "ok"}


def test_bad_command_frames_never_escape():
    n, board, modem, _ = _node()
    _cycles(n, board, 1)
    for data in (b"", b"\x20", b"\xff" * 51, b"\x20\x02\xff\xff\xff\xff\xff", bytes(range(40))):
        modem.queue = [DL(payload_codec.COMMAND, data)]
        _cycles(n, board, 1)
    assert board.resets == 0
    assert _statuses(modem)[-1]["command_result"]["result"] in ("malformed", "unknown_command", "unsupported")


def test_restricted_wait_goes_to_the_ledger():
    n, board, modem, _ = _node()
    modem.fail[payload_codec.MEASUREMENT] = rak3172.DutyCycleRestricted(1800000, "AT+SEND")
    for _ in range(5):
        ms = n.run_cycle()
        if payload_codec.MEASUREMENT not in modem.fail:
            break  # the refused send happened in this cycle
        board.t += ms
    assert payload_codec.MEASUREMENT not in modem.fail
    assert n.ledger.wait_ms(board.t) >= 1790000  # the module's 30 min, not our own 1 %


def test_module_join_retries_go_to_the_ledger():
    n, board, modem, logs = _node()
    modem.is_joined = lambda: False

    def join(timeout_ms=30000):  # the module's retry answered: two requests for one join()
        modem.join_requests += 2
        modem.is_joined = lambda: True

    modem.join_requests = 0
    modem.join = join
    modem.configure_otaa = lambda *a, **k: 0
    before = n.state.dc_free_ms
    for _ in range(5):
        board.t += n.run_cycle()
        if modem.join_requests:
            break
    from duty_cycle import join_airtime_us

    # both requests are in the 1 % account (the first one at least 100 x its airtime)
    assert n.state.dc_free_ms - max(before, 1000000) >= 2 * join_airtime_us(5) * 100 // 1000 - 1, logs
    assert n.state.join_backoff[1] == 2 * 62, n.state.join_backoff  # join_airtime_ms(5) = 62
    assert any("1 more Join-Request" in x for x in logs), logs


def test_oversize_config_falls_back_with_the_reason():
    import node_config

    _clean()
    path = FLASH + "/config.json"
    with open(path, "w") as f:  # valid JSON, 300 KB: json.load alone is a MemoryError here
        f.write('{"board": "virtual", "note": "')
        for _ in range(300):
            f.write("x" * 1000)
        f.write('"}')
    logs = []
    cfg, errs = node_config.load(path, log=logs.append)
    assert errs == ["config.json:size"] and cfg == node_config.defaults(), errs
    n, board, modem, _ = _node(errors=errs)
    _cycles(n, board, 2)  # the first wake waits for the power-on duty-cycle account
    assert _statuses(modem)[0].get("config_errors") == ["config.json:size"], _statuses(modem)


def test_malformed_config_falls_back_with_the_reason():
    import node_config

    _clean()
    path = FLASH + "/config.json"
    cases = (
        (b'{"board": "\xff\xfe"}', ("config.json:read",)),  # not UTF-8
        # valid JSON, not an object: validate() names it, or, when the parser's 1500 levels do
        # not fit the heap left after the earlier tests, the MemoryError path does
        (b"[" * 1500 + b"]" * 1500, ("config", "config.json:read")),
        (b'{"interval_s": 60,', ("config.json:json",)),
    )
    for data, want in cases:
        with open(path, "wb") as f:
            f.write(data)
        gc.collect()  # the nested case needs room for 1500 parser levels after the earlier tests
        cfg, errs = node_config.load(path, log=lambda m: None)
        assert len(errs) == 1 and errs[0] in want and cfg == node_config.defaults(), (data[:20], errs)


if __name__ == "__main__":
    mpy_units.run_tests(globals())
