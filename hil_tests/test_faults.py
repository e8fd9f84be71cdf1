"""Fault scenarios: a sensor taken away, and power lost at random points.

"sensor removed": on the virtual board the scenario's BME280 stops answering on I2C; on a
real board the operator unplugs it at a prompt (no answer within the timeout: skip, or fail
in CI). The node keeps sending the battery voltage with the invalid marker for the BME280
quantities, and a status frame names the failed sensor.

"power loss at random points": the virtual board's process is killed (RTC memory lost); a
real board gets ``mpremote reset``. The node comes back every time, does not join again
(the modem kept its session: one join, LoRaWAN frame counter only grows), and never repeats
a sample counter.
"""

from __future__ import annotations

import random

import payload_codec

from .expect import PLAUSIBLE, RAMP, check_values

INTERVAL_S = 60
LOSSES = 5
SAMPLE_RX = r"node: sample (\d+) "


def test_sensor_removed(start_node, uplinks) -> None:
    node = start_node({"interval_s": INTERVAL_S, "status_every": 0}, RAMP)
    first = uplinks.wait(lambda e: e.kind == "up" and e.fport == payload_codec.MEASUREMENT,
                         node.budget(2 * INTERVAL_S, 4), "a measurement with the BME280 present")[0]
    check_values(node, first.values, first.vt)
    node.remove_sensor("bme280")
    removed_at = node.clock()
    st = uplinks.wait(lambda e: e.kind == "up" and e.fport == payload_codec.STATUS and e.vt > removed_at
                      and "bme280" in e.status.get("failed_sensors", []),
                      node.budget(3 * INTERVAL_S, 5), "status naming the BME280")[0]
    assert st.status["sensor_errors"]["bme280"] >= 1
    later = uplinks.wait(lambda e: e.kind == "up" and e.fport == payload_codec.MEASUREMENT and e.vt > st.vt,
                         node.budget(3 * INTERVAL_S, 5), "measurements without the BME280", count=2)
    for e in later:
        v = e.values
        assert v["temperature"] is None and v["humidity"] is None and v["pressure"] is None, v
        lo, hi = PLAUSIBLE["battery_voltage"]
        assert v["battery_voltage"] is not None and lo <= v["battery_voltage"] <= hi, v
        if node.scenario is not None:
            want = node.scenario.value("battery_voltage", e.vt)
            assert want is not None and abs(v["battery_voltage"] - want) <= 0.011, (v, want)


def test_power_loss_at_random_points(start_node, uplinks) -> None:
    node = start_node({"interval_s": INTERVAL_S, "status_every": 0}, RAMP)
    uplinks.wait(lambda e: e.kind == "up" and e.fport == payload_codec.MEASUREMENT,
                 node.budget(2 * INTERVAL_S, 4), "first measurement")
    rng = random.Random(20261129)
    for _ in range(LOSSES):
        # after 1..6 console lines: mid-boot, mid-join, mid-send or asleep
        start = len(node.console)
        node.wait_console(r".", count=rng.randint(1, 6), timeout_s=node.budget(2 * INTERVAL_S, 3), start=start)
        node.power_loss()
    cut_at = node.clock()
    after = uplinks.wait(lambda e: e.kind == "up" and e.fport == payload_codec.MEASUREMENT and e.vt > cut_at,
                         node.budget(4 * INTERVAL_S, 8), "measurements after the last power loss", count=2)
    for e in after:
        check_values(node, e.values, e.vt)
    assert len(uplinks.of("join")) == 1, "the node joined again although the modem kept its session"
    fcnts = [e.fcnt for e in uplinks.of("up")]
    assert fcnts == sorted(set(fcnts)), fcnts
    # the console logs a sample after its uplink: wait for the lines of the uplinks seen
    sent = node.wait_console(SAMPLE_RX, count=len(uplinks.measurements()), timeout_s=node.budget(0, 1))
    counters = [int(m.group(1)) for m in sent]
    assert len(counters) >= 3 and counters == sorted(set(counters)), counters  # never repeated
    power_on = [e for e in uplinks.statuses() if e.status["reset_cause"] == "power_on"]
    assert len(power_on) >= 2, "a power-on status after the losses"
