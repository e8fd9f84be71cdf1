"""Store and forward on the virtual board (issue 21): the flashed firmware in one MicroPython
process per deep-sleep wake, the RAK3172 driver talking AT to the emulator, whose gateway goes
dark for a while (Rak3172Emulator.gateway_outage) while the node keeps measuring; the network
server publishes what it heard on a real mosquitto. The emulator answers AT+LINKCHECK with
+EVT:LINKCHECK (docs/references.md §C.4), so the proof of delivery runs through the real driver.
Timestamps are checked in test_store.py (the network server stamps wall-clock time, which an
accelerated board does not follow)."""

from __future__ import annotations

import re
from pathlib import Path

import payload_codec
from trosmart_tools.broker import Mosquitto

from .test_virtual_board import RAMP, image  # noqa: F401 - the module's flashed image fixture
from .virtual_lab import Lab


def _values(frame: bytes) -> list[tuple]:
    d = payload_codec.decode_uplink(1, frame)
    return [tuple(sorted(s["values"].items())) for s in d["samples"]]


def test_gateway_outage_every_kept_sample_reaches_the_network(mosquitto: Mosquitto, image: Path,  # noqa: F811
                                                               tmp_path: Path) -> None:
    from trosmart_tools.virtual_lab.scenario import Scenario

    sc = Scenario(RAMP).save(tmp_path / "scenario.json")
    lab = Lab(mosquitto, image, tmp_path / "node", config={"interval_s": 60, "proof_every": 4},
              scenario=sc, time_scale=0.002)
    try:
        lab.start()
        lab.node.wait_for(r"node: batch of \d+ at \d+ sent \w+ proven", count=1, timeout_s=120)
        lab.emulator.gateway_outage = True  # the town hall's gateway loses power
        start = len(lab.node.console)
        # more than a block waits: the oldest twelve went to a flash block
        lab.node.wait_for(r"blocks=1 dropped=0 link down", count=1, timeout_s=120, start=start)
        lab.emulator.gateway_outage = False
        back = len(lab.node.console)
        # caught up: a proven batch after the outage, then the store holds only live samples
        lab.node.wait_for(r"node: batch of \d+ at \d+ sent \w+ proven", count=1, timeout_s=120, start=back)
        lab.node.wait_for(r"node: store kept=[0-3] blocks=0", count=1, timeout_s=120, start=back)
        kept = []
        for ln in list(lab.node.console):
            m = re.search(r"node: kept ([0-9a-f]+) at", ln)
            if m:
                kept.extend(_values(bytes.fromhex(m.group(1))))
        ups = lab.events.of("up", payload_codec.MEASUREMENT)
        heard = set()
        for u in ups:
            heard.update(_values(_raw(u)))
        # every sample kept before the last proof reached the network (the newest may wait)
        last_proof = max(i for i, ln in enumerate(lab.node.console) if "proven" in ln)
        proven_kept = [v for i, ln in enumerate(lab.node.console[:last_proof])
                       if (m := re.search(r"node: kept ([0-9a-f]+) at", ln))
                       for v in _values(bytes.fromhex(m.group(1)))]
        missing = [v for v in proven_kept if v not in heard]
        assert not missing, f"{len(missing)} of {len(kept)} kept samples never reached the network"
        assert any(ln.endswith("unproven") for ln in lab.node.console), "the outage was never noticed"
    finally:
        lab.close()


def _raw(u: dict) -> bytes:
    import base64

    return base64.b64decode(u["data"])
