"""A water-meter node on the virtual board: the reed contact's pulses (scenario signal
"meter_pulses") wake it from deep sleep one by one, the count lives in RTC memory and on
flash, and through 100 deep sleeps and one power loss the city's SenML shows the meter's own
index (start index + pulses x 10 L) within the documented loss (docs/firmware.md "Meters")."""

from __future__ import annotations

from pathlib import Path

import payload_codec
from trosmart_tools.virtual_lab.scenario import Scenario

from ..firmware_node.test_virtual_board import image, make_lab  # noqa: F401 - pytest fixtures

PPU = 100  # 10 L per pulse (a Kamstrup Multical default, docs/references.md §S.8): 100 per m3
FLUSH = 8
START = (1234, 560)  # the meter showed 1234.560 m3 when the node was fitted
CONFIG = {"interval_s": 120, "sensors": ["meter", "battery"], "quantities": ["volume_index", "battery_voltage"],
          "meter_as": "volume_index", "meter_pulses_per_unit": PPU, "meter_start_index": START[0],
          "meter_start_milli": START[1], "meter_flush_pulses": FLUSH, "status_every": 0}
RATE_S = 30  # one pulse every 30 s: 12 L a minute, a garden hose
SCENARIO = {"signals": {"meter_pulses": [[0, 0], [100000, 100000 / RATE_S]], "battery_voltage": [[0, 3.6]]},
            "events": []}


def _index_milli(senml: list[dict]) -> int:
    v = [r["v"] for r in senml if r.get("n") == "volume_index"]
    assert v, senml
    return round(v[0] * 1000)


def test_meter_counts_pulses_through_deep_sleep_and_a_power_loss(make_lab, tmp_path: Path) -> None:  # noqa: F811
    lab = make_lab(CONFIG)
    lab.node.scenario = str(Scenario(SCENARIO).save(tmp_path / "meter.json"))
    lab.node.parts = {"meter": {"pin": 25}}
    lab.start()
    lab.node.wait_for(r"runner: deep sleep", count=50, timeout_s=240, fail_on="Traceback")
    lab.node.power_loss()
    lab.node.wait_for(r"runner: power loss", count=1, timeout_s=30)
    lab.node.wait_for(r"runner: deep sleep", count=110, timeout_s=240, fail_on="Traceback")
    n_sent = len(lab.samples())
    lab.node.wait_for(r"node: sample", count=n_sent + 1, timeout_s=120)
    lab.node.stop()
    sc = Scenario(SCENARIO)
    sleeps = [ln for ln in lab.node.console if ln.startswith("runner: deep sleep")]
    assert len(sleeps) >= 100
    pulse_wakes = sum(1 for c in lab.node.boots if c == 4) - len(lab.samples())
    assert pulse_wakes > 20, pulse_wakes  # most wakes were pulses, not the timer
    samples = lab.samples()
    ups = lab.events.wait_count("up", payload_codec.MEASUREMENT, len(samples), timeout_s=20)
    import base64

    # the live frames, in order (the store's proof batches, docs/firmware.md §12, come between)
    ups = [u for u in ups if not base64.b64decode(u["data"])[0] & 0x10]
    loss_seen = False
    for up, (_, at_ms, frame) in zip(ups, samples, strict=False):
        assert payload_codec.decode(frame) == {k: v for k, v in up["decoded"].items() if k != "kind"}
        senml = payload_codec.to_senml(payload_codec.decode_uplink(payload_codec.MEASUREMENT, frame))
        got = _index_milli(senml)
        pulses = int(sc.value("meter_pulses", at_ms / 1000))  # pulses so far (log stamp)
        want = START[0] * 1000 + START[1] + pulses * 1000 // PPU
        # the reading is never above the meter's; below it by at most the documented loss
        # (FLUSH - 1 pulses at the power loss) plus the pulse of the cycle's own awake time
        assert want - (FLUSH - 1 + 1) * 1000 // PPU <= got <= want + 1000 // PPU, (at_ms, got, want)
        loss_seen = loss_seen or got < want - 1000 // PPU
    # a node restarted from flash carries on from the flushed total, not from zero
    last = _index_milli(payload_codec.to_senml(payload_codec.decode_uplink(1, samples[-1][2])))
    assert last > START[0] * 1000 + START[1] + 20 * 1000 // PPU
    print(f"{len(sleeps)} deep sleeps, {pulse_wakes} pulse wakes, loss after the power cut: {loss_seen}")
