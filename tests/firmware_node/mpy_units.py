# Unit tests of the node firmware, run by the real MicroPython Unix port
# (tests/firmware_node/test_units.py). Each test_* prints one JSON line: name, ok, error.
# Tiny doubles stand in for the board, modem and RTC; the BME280 driver talks to the
# register-level simulator of the virtual board.

import json
import os
import sys
import time

import payload_codec
from payload_codec.status import decode_status

# a scratch folder for the node's flash files, given by the caller (emptied by _clean())
FLASH = sys.argv[1] if __name__ == "__main__" else None


def _clean():
    assert FLASH and "flash" in FLASH, "refusing to empty %r" % (FLASH,)
    for n in os.listdir(FLASH):
        os.remove(FLASH + "/" + n)


class FakeRTC:
    def __init__(self):
        self.mem = b""

    def memory(self, data=None):
        if data is None:
            return self.mem
        self.mem = bytes(data)


class FakeBoard:
    def __init__(self, cause=1):
        self.rtc = FakeRTC()
        self.t = 1000000
        self.cause = cause
        self.resets = 0

    def now_ms(self):
        return self.t

    def reset_cause(self):
        return self.cause

    def reset(self):
        self.resets += 1


class Downlink:
    def __init__(self, port, data):
        self.port = port
        self.data = data


class FakeModem:
    def __init__(self):
        self.joined = True
        self.sent = []
        self.queue = []
        self.joins = 0
        self.dr = None

    def is_joined(self):
        return self.joined

    def configure_otaa(self, deveui, appeui, appkey, band=4, lora_class="A"):
        pass

    def join(self, timeout_ms=30000):
        self.joins += 1
        self.joined = True

    def set_data_rate(self, dr, adr):
        self.dr = (dr, adr)

    def send(self, port, data, confirmed=False, timeout_ms=30000):
        self.sent.append((port, bytes(data), confirmed))
        out = self.queue
        self.queue = []
        return out

    def request_link_check(self):
        pass

    def link_checked(self, timeout_ms=0):
        return True  # this double's network hears everything


class FakeWdt:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class FakeSensor:
    def __init__(self, name, quantities, values):
        self.NAME = name
        self.QUANTITIES = quantities
        self.values = values
        self.fail = False

    def read(self, out):
        from sensor import SensorError

        if self.fail:
            raise SensorError("%s: gone" % self.NAME)
        for q in self.QUANTITIES:
            out[q] = self.values[q]


def _node(cause=1, rtc=None, cfg_over=None):
    import node_config
    from node import Node
    from node_state import State

    board = FakeBoard(cause)
    if rtc is not None:
        board.rtc = rtc
    cfg, errors = node_config.validate(cfg_over or {"board": "virtual"})
    modem = FakeModem()
    st = State(board.rtc, FLASH)
    bme = FakeSensor("bme280", ("temperature", "humidity", "pressure"),
                     {"temperature": 21.4, "humidity": 48.5, "pressure": 1013.2})
    bat = FakeSensor("battery", ("battery_voltage",), {"battery_voltage": 3.87})
    logs = []
    n = Node(board, modem, cfg, errors, {"deveui": "00" * 8, "appeui": "00" * 8, "appkey": "00" * 16},
             st, {"bme280": bme, "battery": bat}, FakeWdt(), log=logs.append)
    n.boot(st.load_overrides())
    return n, board, modem, bme, logs


def _run_until_sent(n, board, port, limit=10):
    """Run cycles, advancing the clock by each returned sleep, until a frame on ``port`` goes."""
    for _ in range(limit):
        before = len(n.modem.sent)
        ms = n.run_cycle()
        board.t += ms
        for p, data, _c in n.modem.sent[before:]:
            if p == port:
                return data
    raise AssertionError("no frame on port %d after %d cycles" % (port, limit))


# --- config -------------------------------------------------------------------------------
def test_config_defaults_and_bad_keys_by_name():
    import node_config

    cfg, errs = node_config.validate({"interval_s": 5, "quantitites": [], "adr": "yes",
                                      "data_rate": 3, "quantities": ["temperature", "nope"]})
    assert errs == ["adr", "interval_s", "quantities", "quantitites"], errs
    assert cfg["interval_s"] == 600 and cfg["adr"] is True and cfg["data_rate"] == 3
    assert cfg["quantities"] == ["temperature", "humidity", "pressure", "battery_voltage"]


def test_config_missing_or_broken_file_falls_back():
    import node_config

    _clean()
    logs = []
    cfg, errs = node_config.load(FLASH + "/config.json", log=logs.append)
    assert errs == ["config.json"] and cfg == node_config.defaults(), errs
    with open(FLASH + "/config.json", "w") as f:
        f.write("{not json")
    cfg, errs = node_config.load(FLASH + "/config.json", log=logs.append)
    assert errs == ["config.json:json"] and len(logs) == 2  # the reason goes to the status frame
    with open(FLASH + "/config.json", "w") as f:
        json.dump({"interval_s": 60, "board": "virtual", "sleep_mode": "light"}, f)
    cfg, errs = node_config.load(FLASH + "/config.json", log=logs.append)
    assert errs == [] and cfg["interval_s"] == 60 and cfg["sleep_mode"] == "light"


def test_secrets_validated_and_never_logged():
    import node_config

    _clean()
    key = "2B7E151628AED2A6ABF7158809CF4F3C"
    with open(FLASH + "/secrets.json", "w") as f:
        json.dump({"deveui": "0011223344556677", "appeui": "0000000000000000", "appkey": key[:-1]}, f)
    logs = []
    assert node_config.load_secrets(FLASH + "/secrets.json", log=logs.append) is None
    assert "appkey" in logs[0] and key[:8] not in "".join(logs)
    with open(FLASH + "/secrets.json", "w") as f:
        json.dump({"deveui": "0011223344556677", "appeui": "0000000000000000", "appkey": key}, f)
    assert node_config.load_secrets(FLASH + "/secrets.json", log=logs.append)["appkey"] == key


# --- state --------------------------------------------------------------------------------
def test_state_roundtrip_and_corruption():
    from node_state import State

    _clean()
    rtc = FakeRTC()
    s = State(rtc, FLASH)
    assert not s.load()
    s.counter, s.dc_free_ms, s.wdt_resets, s.sensor_errors[1] = 77, 123456789012, 3, 9
    s.join_backoff = (1, 2000, 4000)
    s.save()
    t = State(rtc, FLASH)
    assert t.load() and t.counter == 77 and t.dc_free_ms == 123456789012
    assert t.wdt_resets == 3 and t.sensor_errors[:3] == [0, 9, 0] and t.join_backoff == (1, 2000, 4000)
    bad = bytearray(rtc.mem)
    bad[5] ^= 1
    rtc.mem = bytes(bad)
    assert not State(rtc, FLASH).load()


def test_counter_never_repeats_across_power_loss_and_writes_rarely():
    from node_state import State

    _clean()
    seen = []
    writes = 0
    rtc = FakeRTC()
    s = State(rtc, FLASH)
    s.restore_counter()
    for i in range(1000):
        before = s.ceiling
        seen.append(s.take_counter())
        writes += s.ceiling != before
        if i % 137 == 136:  # power loss: RTC memory gone, only flash remains
            s = State(FakeRTC(), FLASH)
            s.restore_counter()
    assert len(set(seen)) == 1000 and seen == sorted(seen)
    assert writes <= 1000 // 64 + 8, writes  # one flash write per 64 samples + one per power loss


# --- duty cycle ---------------------------------------------------------------------------
def test_ledger_never_exceeds_one_percent():
    from duty_cycle import Ledger, airtime_us
    from node_state import State

    s = State(FakeRTC(), FLASH)
    led = Ledger(s)
    t = 0
    spent = 0
    air = airtime_us(51, 0)  # SF12, 2793.5 ms (docs/references.md §J)
    assert 2793000 <= air <= 2794000, air
    while t < 3600000:
        w = led.wait_ms(t)
        if w:
            t += w
            continue
        led.record(t, air)
        spent += air
        t += 1
    assert spent <= 36000 * 1000 + air, spent  # 1 % of an hour, at most one frame over
    assert led.wait_ms(t - 1) > 0


def test_ledger_off_time_is_99x():
    from duty_cycle import Ledger, airtime_us
    from node_state import State

    s = State(FakeRTC(), FLASH)
    led = Ledger(s)
    air = airtime_us(10, 5)  # 61.696 ms at SF7
    led.record(1000, air)
    assert led.wait_ms(1000) == 6170, led.wait_ms(1000)
    assert led.wait_ms(1000 + 6170) == 0


# --- payload rule -------------------------------------------------------------------------
def test_frames_fit_limit_split_in_priority_order():
    from node_frames import build_frames

    vals = {"temperature": 21.4, "humidity": 48.5, "pressure": 1013.2, "battery_voltage": 3.87}
    order = ["temperature", "humidity", "pressure", "battery_voltage"]
    frames, dropped = build_frames(vals, order, 51)
    assert len(frames) == 1 and not dropped
    got = payload_codec.decode(frames[0])["samples"][0]["values"]
    for q in vals:  # MicroPython parses float literals to within 1 ulp: compare with slack
        assert abs(got[q] - vals[q]) < 1e-9, (q, got[q])
    frames, dropped = build_frames(vals, order, 6)
    assert len(frames) >= 2 and not dropped
    got = []
    for f in frames:
        assert len(f) <= 6
        got += payload_codec.decode(f)["quantities"]
    assert got == order, got  # priority order kept across frames
    frames, dropped = build_frames(vals, order, 2)
    assert frames == [] and dropped == order


# --- node cycle and downlinks --------------------------------------------------------------
def test_power_on_sends_status_then_measurement():
    _clean()
    n, board, modem, _, _ = _node(cause=1)
    st = decode_status(_run_until_sent(n, board, 2)[0:])
    assert st["reset_cause"] == "power_on" and st["interval_s"] == 600
    m = payload_codec.decode(_run_until_sent(n, board, 1))
    assert m["samples"][0]["values"]["temperature"] == 21.4
    ms = n.run_cycle()
    assert 590000 <= ms <= 600000, ms  # back to the configured period
    assert modem.joins == 0  # the module was joined: no join


def test_join_only_when_module_not_joined():
    _clean()
    n, board, modem, _, _ = _node(cause=1)
    modem.joined = False
    _run_until_sent(n, board, 1)
    assert modem.joins == 1
    _run_until_sent(n, board, 1)
    assert modem.joins == 1


def test_set_interval_downlink_applies_persists_and_answers():
    _clean()
    n, board, modem, _, _ = _node(cause=4)
    _run_until_sent(n, board, 1)
    modem.queue = [Downlink(10, payload_codec.encode_downlink({"set_interval_s": 120}))]
    _run_until_sent(n, board, 1)
    st = decode_status(_run_until_sent(n, board, 2))
    assert st["command_result"] == {"command": "set_interval_s", "result": "ok"}
    assert st["interval_s"] == 120
    _run_until_sent(n, board, 1)
    assert 110000 <= n.run_cycle() <= 120000
    with open(FLASH + "/applied.json") as f:
        assert json.load(f) == {"interval_s": 120}
    # after power loss the remote value still applies
    n2, _, _, _, _ = _node(cause=1)
    import node_config

    node_config.apply_overrides(n2.cfg, n2.state.load_overrides())
    assert n2.cfg["interval_s"] == 120


def test_bad_downlink_answers_malformed_and_keeps_config():
    _clean()
    n, board, modem, _, _ = _node(cause=4)
    _run_until_sent(n, board, 1)
    modem.queue = [Downlink(10, b"\x20\x01\x00\x00\x01")]  # interval 1 s: out of range
    _run_until_sent(n, board, 1)
    st = decode_status(_run_until_sent(n, board, 2))
    assert st["command_result"]["result"] == "malformed" and n.cfg["interval_s"] == 600


def test_disable_quantity_and_data_rate():
    _clean()
    n, board, modem, _, _ = _node(cause=4)
    _run_until_sent(n, board, 1)
    modem.queue = [Downlink(10, payload_codec.encode_downlink(
        {"disable": ["pressure"], "set_data_rate": {"dr": 3, "adr": False}}))]
    _run_until_sent(n, board, 1)
    st = decode_status(_run_until_sent(n, board, 2))
    assert st["command_result"]["result"] == "ok" and modem.dr == (3, False)
    vals = payload_codec.decode(_run_until_sent(n, board, 1))["samples"][0]["values"]
    assert "pressure" not in vals and vals["temperature"] == 21.4


def test_failed_sensor_gives_none_and_status_names_it():
    _clean()
    n, board, _modem, bme, _ = _node(cause=4)
    _run_until_sent(n, board, 1)
    bme.fail = True
    st = decode_status(_run_until_sent(n, board, 2))
    assert st["failed_sensors"] == ["bme280"] and st["sensor_errors"]["bme280"] >= 1
    vals = payload_codec.decode(_run_until_sent(n, board, 1))["samples"][0]["values"]
    assert vals["temperature"] is None and vals["pressure"] is None
    assert abs(vals["battery_voltage"] - 3.87) < 0.006


def test_watchdog_reset_keeps_rtc_state_and_reports():
    _clean()
    n, board, _modem, _, _ = _node(cause=4)
    _run_until_sent(n, board, 1)
    _run_until_sent(n, board, 1)
    c = n.state.counter
    n2, board2, _, _, _ = _node(cause=3, rtc=board.rtc)
    board2.t = board.t
    st = decode_status(_run_until_sent(n2, board2, 2))
    assert st["reset_cause"] == "watchdog" and n2.state.wdt_resets == 1
    assert st["sample_counter"] == c


def test_silent_modem_sleeps_instead_of_reset_loop():
    _clean()
    n, _board, modem, _, logs = _node(cause=4)

    def dead():
        raise OSError("RakTimeout stand-in: no answer to AT+NJS=?")

    modem.is_joined = dead
    assert n.run_cycle() == 600000 and n.state.tx_errors == 1
    assert any("modem error" in ln for ln in logs) and modem.sent == []
    assert n.store.n == 1  # the sample is kept until it can be proven delivered


def test_reboot_command_resets_after_status():
    _clean()
    n, board, modem, _, _ = _node(cause=4)
    _run_until_sent(n, board, 1)
    modem.queue = [Downlink(10, payload_codec.encode_downlink({"reboot": True}))]
    _run_until_sent(n, board, 1)
    _run_until_sent(n, board, 2)
    assert board.resets == 1


def test_status_frame_fits_smallest_payload():
    _clean()
    n, _board, _modem, _bme, _ = _node(cause=3, cfg_over={"board": "virtual", "data_rate": 0, "x": 1,
                                                       "interval_s": 1, "adr": 2, "quantities": 3})
    n.state.sensor_errors[0] = 65000
    n.state.sensor_errors[1] = 65000
    n.state.failed_mask = 3
    n.state.cmd_op = 1
    n.last_battery = 3.87
    f = n.status_frame()
    assert len(f) <= 51, len(f)
    st = decode_status(f)
    assert st["failed_sensors"] == ["bme280", "battery"] and st["reset_cause"] == "watchdog"


def test_config_errors_reported_in_status():
    _clean()
    n, board, _modem, _, _ = _node(cause=4, cfg_over={"board": "virtual", "intervall": 60})
    st = decode_status(_run_until_sent(n, board, 2))
    assert st["config_errors"] == ["intervall"]


# --- BME280 driver against the register-level simulator ----------------------------------
class SimI2C:
    def __init__(self, sim):
        self.sim = sim

    def readfrom_mem(self, addr, reg, n):
        if addr != 0x76:
            raise OSError(19)
        return self.sim.read(reg, n)

    def readfrom_mem_into(self, addr, reg, buf):
        d = self.readfrom_mem(addr, reg, len(buf))
        for i in range(len(buf)):
            buf[i] = d[i]

    def writeto_mem(self, addr, reg, buf):
        self.sim.write(reg, buf)


def test_bme280_driver_reads_simulated_part():
    import bme280_sim
    from bme280 import BME280

    env = [(21.37, 1013.25, 47.5)]
    sim = bme280_sim.BME280Sim(lambda: env[0], time.ticks_ms, time.ticks_diff)
    d = BME280(SimI2C(sim))
    out = {}
    for t, p, h in ((21.37, 1013.25, 47.5), (-12.5, 955.0, 91.0), (38.2, 1040.7, 12.25)):
        env[0] = (t, p, h)
        d.read(out)
        assert abs(out["temperature"] - t) < 0.011, out
        assert abs(out["pressure"] - p) < 0.07, out  # 32-bit formula: 1 Pa steps, <= 6 Pa (DS §8.2)
        assert abs(out["humidity"] - h) < 0.011, out


def test_bme280_absent_and_stuck_raise_sensor_error():
    import bme280_sim
    from bme280 import BME280
    from sensor import SensorError

    sim = bme280_sim.BME280Sim(lambda: (20.0, 1000.0, 50.0), time.ticks_ms, time.ticks_diff)
    try:
        BME280(SimI2C(sim), address=0x77)
        raise AssertionError("no error for an absent part")
    except SensorError as e:
        assert "0x77" in str(e)
    d = BME280(SimI2C(sim))
    sim.stuck = True
    try:
        d.read({})
        raise AssertionError("no error for a stuck measurement")
    except SensorError as e:
        assert "not finished" in str(e)


def run_tests(scope):
    """Every test_* function of a module's globals, one JSON verdict line each (the MicroPython
    test scripts share this; argv[2:] may name the tests to run)."""
    names = [k for k in scope if k.startswith("test_")]
    names.sort()
    want = sys.argv[2:]
    for name in names:
        if want and name not in want:
            continue
        try:
            scope[name]()
            print(json.dumps({"name": name, "ok": True}))
        except Exception as e:  # report and go on: one line per test
            import io

            buf = io.StringIO()
            sys.print_exception(e, buf)
            print(json.dumps({"name": name, "ok": False, "error": buf.getvalue()}))


if __name__ == "__main__":
    run_tests(globals())
