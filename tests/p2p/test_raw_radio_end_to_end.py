"""P2P end to end with the raw-radio backend (docs/p2p.md §4a), on the host:

1. two nodes, one per backend (the RAK3172 link on an emulated module, the lora_p2p link on a
   simulated SX1262) -> the shared air -> a TroSmart receiver node on a simulated SX1262 (the
   whole firmware on the MicroPython board, network = "p2p_receiver") whose console is a pty ->
   the bridge's serial source (receiver = "node") -> mosquitto -> SenML; replayed, forged and
   wrong-key envelopes dead-lettered with their reasons; the receiver unplugged (its power and
   its pty gone) and plugged back loses nothing sent after it came back, and meta counts the
   frames sent meanwhile, for both nodes;
2. the whole firmware on a raw radio in P2P mode (network = "p2p", virtual Heltec V3) -> the air
   -> a RAK3172 in P2P receive -> the bridge: contiguous counters across deep-sleep wakes, a
   power loss skips ahead and reuses nothing."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import payload_codec
from bridge.aes import Aes128
from bridge.service import Bridge
from payload_codec import envelope
from tests.bridge import harness
from tests.p2p.fakes import Rtc
from tests.p2p.keys import write_keys
from tests.p2p.test_end_to_end import (
    BW,
    DEV,
    EUI,
    FREQ,
    KEY,
    OTHER_EUI,
    OTHER_KEY,
    SAMPLES,
    SCALE,
    SF,
    Radio,
    senml_for,
    values_of,
)
from trosmart_tools.broker import Mosquitto
from trosmart_tools.virtual_lab import Rak3172Emulator
from trosmart_tools.virtual_lab.board.lora_sim import AirLink, SimRadio
from trosmart_tools.virtual_lab.board_runner import VirtualNode
from trosmart_tools.virtual_lab.p2p_air import Air
from trosmart_tools.virtual_lab.usb_board import ConsolePort

RAW_EUI = "70b3d57ed00000c3"
RAW_KEY = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
P2P_CFG = {"p2p_freq_hz": FREQ, "p2p_sf": SF, "p2p_bw_khz": BW}
HEAPSIZE = "176k"  # the node heap tests' heap (tests/firmware_node/test_virtual_board.py)


def _ms() -> int:
    return int(time.monotonic() * 1000)


def _sleep(ms: int) -> None:
    time.sleep(ms / 1000)


class BareNode:
    """A node-side P2P link on a simulated bare radio: the firmware's own classes, on CPython."""

    def __init__(self, port: int, key: bytes, eui: str, state: Path) -> None:
        from lora_p2p import LoraP2P
        from p2p_link import EnvelopeCounter, P2PLink

        self.p2p = LoraP2P(SimRadio(AirLink("127.0.0.1", port, timeout_s=5), ticks_ms=_ms, sleep_ms=_sleep))
        self.p2p.configure(FREQ, SF, BW)
        state.mkdir()
        self.link = P2PLink(self.p2p, Aes128(key), int(eui[-8:], 16), EnvelopeCounter(Rtc(), str(state)),
                            payload_codec.p2p_radio.data_rate(SF, BW))

    def send(self, values: dict[str, Any]) -> None:
        self.link.send(payload_codec.MEASUREMENT, payload_codec.encode(values))

    def raw(self, data: bytes) -> None:
        self.p2p.send(data, 100)


class ReceiverNode:
    """The firmware in receiver mode on the virtual Heltec V3, its console on a pty link. Unplugging
    takes its USB power too: replugging boots it again (PWRON_RESET) from the same flash."""

    def __init__(self, tmp: Path, air_port: int) -> None:
        self.console = ConsolePort(tmp / "ttyACM-receiver")
        self.dir = tmp / "receiver"
        self.air_port = air_port
        self.node: VirtualNode | None = None
        self.boots = 0

    def plug(self) -> None:
        node = VirtualNode(self.dir, uart_pty="/dev/null", secrets=None, time_scale=1.0, heapsize=HEAPSIZE,
                           config={"board": "virtual_heltec_v3", "network": "p2p_receiver", **P2P_CFG},
                           board_extra={"lora_air": ["127.0.0.1", self.air_port]}, log=self.console.write_line)
        if self.boots == 0:
            node.flash_firmware()
        self.boots += 1
        self.console.plug()
        self.node = node.start()

    def unplug(self) -> None:
        if self.node is not None:
            self.node.stop()
            self.node = None
        self.console.unplug()

    def wait_listening(self) -> None:
        assert self.node is not None
        self.node.wait_for(r"^p2p receiver: listening", timeout_s=60, fail_on="Traceback")


class Lab:
    def __init__(self, broker: Mosquitto, tmp: Path) -> None:
        self.air = Air()
        port = self.air.serve_udp()
        self.rak_emu = Rak3172Emulator("70B3D57ED00000A1", air=self.air, time_scale=SCALE, seed=1)
        self.rak_emu.start()
        self.receiver = ReceiverNode(tmp, port)
        self.receiver.plug()
        keys = write_keys(tmp / "p2p-keys.json", {EUI.upper(): KEY.hex(), RAW_EUI.upper(): RAW_KEY.hex(),
                                                  OTHER_EUI.upper(): OTHER_KEY.hex()})
        self.collector = harness.Collector(broker.port, client_id=f"city-{tmp.name}")
        doc = harness.bridge_doc(tmp / "state", broker.port, broker.port, sources=[{
            "name": "hall", "lns": "serial", "receiver": "node", "device": str(self.receiver.console.link),
            "keys_file": keys, "reconnect_s": 0.1, **P2P_CFG}])
        doc["source"][0].pop("reconnect_max_s")
        self.bridge: Bridge = harness.start_bridge(doc)
        self.source = self.bridge.sources["hall"]
        self.rak = Radio(self.rak_emu, KEY, EUI, tmp / "rak-counter")
        self.raw = BareNode(port, RAW_KEY, RAW_EUI, tmp / "raw-counter")
        self.evil = BareNode(port, OTHER_KEY, OTHER_EUI, tmp / "evil-counter")

    def wait_receiving(self, connects: int) -> None:
        self.receiver.wait_listening()
        harness.wait_until(lambda: self.source.connected.is_set() and self.source.connects == connects
                           and self.air.listening() == 1, 60, "the receiver listening and read by the bridge")

    def close(self) -> None:
        self.bridge.stop()
        self.collector.close()
        self.receiver.unplug()
        self.rak.close()
        self.rak_emu.stop()
        self.air.close()


@pytest.fixture
def lab(mosquitto: Mosquitto, tmp_path: Path, micropython: str) -> Iterator[Lab]:
    lab = Lab(mosquitto, tmp_path)
    try:
        yield lab
    finally:
        lab.close()


def test_both_backends_through_a_raw_radio_receiver_node_with_refusals_and_a_replug(lab: Lab) -> None:
    c = lab.collector
    lab.wait_receiving(1)
    for i in range(2):
        lab.rak.send(SAMPLES[i])
        lab.raw.send(SAMPLES[6 + i])
    for eui, samples in ((EUI, SAMPLES[:2]), (RAW_EUI, SAMPLES[6:8])):
        got = c.wait_for(f"{eui}/senml", 2, timeout_s=60)
        assert [values_of(p) for p in got] == [values_of(senml_for(s)) for s in samples]

    # a replay of the RAK3172 node's first envelope, a forged one, one sealed with another key
    first = lab.air.sent[0]
    assert envelope.peek(first) == (DEV, 0, 1)
    lab.evil.raw(first)
    forged = bytearray(lab.air.sent[1])
    forged[envelope.HEADER_LEN] ^= 0x40
    lab.evil.raw(bytes(forged))
    lab.evil.raw(envelope.seal(envelope.Signer(Aes128(OTHER_KEY)), DEV, 999, 1, payload_codec.encode(SAMPLES[3])))
    dead = c.wait_for("_deadletter", 3, timeout_s=60)
    assert [d["reason"] for d in dead] == ["replayed", "bad_mic", "wrong_key"]
    assert OTHER_EUI in dead[2]["detail"]
    for d, raw in zip(dead, (first, bytes(forged)), strict=False):
        assert json.loads(base64.b64decode(d["message_b64"]))["hex"] == raw.hex()  # raw bytes kept

    # unplugged: the receiver is off, what both nodes send meanwhile is lost on the air
    lab.receiver.unplug()
    harness.wait_until(lambda: not lab.source.connected.is_set() and lab.air.listening() == 0, 30,
                       "the receiver gone")
    for i in range(2, 4):
        lab.rak.send(SAMPLES[i])
        lab.raw.send(SAMPLES[6 + i])
    lab.receiver.plug()
    lab.wait_receiving(2)
    for i in range(4, 6):
        lab.rak.send(SAMPLES[i])
        lab.raw.send(SAMPLES[6 + i])
    for eui, samples in ((EUI, SAMPLES[4:6]), (RAW_EUI, SAMPLES[10:12])):
        got = c.wait_for(f"{eui}/senml", 4, timeout_s=60)
        assert [values_of(p) for p in got[2:]] == [values_of(senml_for(s)) for s in samples]  # none lost
        harness.wait_until(lambda e=eui: any(m.get("f_cnt") == 5 for m in c.on(f"{e}/meta")), 30, "meta")
        meta = [m for m in c.on(f"{eui}/meta") if m.get("f_cnt") == 5][-1]
        assert meta["lost"] == 2 and meta["frames"] == 4  # counters 2 and 3 went out while unplugged
        assert (meta["rssi"], meta["snr"]) == (lab.air.rssi, lab.air.snr)
        assert meta["gateway"] == "serial:hall"
    assert len(lab.source.gaps) == 1
    assert lab.air.missed >= 1  # the air saw the receiver's lease end and dropped what it missed


def test_the_firmware_on_a_raw_radio_in_p2p_mode(mosquitto: Mosquitto, tmp_path: Path, micropython: str) -> None:
    """network = "p2p" on the virtual Heltec V3: node.py's cycle through P2PLink and lora_p2p (no
    MAC), heard by a RAK3172 receiver; deep-sleep wakes keep the counter contiguous (RTC), a
    power loss skips ahead to the flash ceiling and never reuses a value."""
    from lorawan_store import FLASH_EVERY

    air = Air()
    port = air.serve_udp()
    rx_emu = Rak3172Emulator("70B3D57ED00000FF", air=air, time_scale=SCALE)
    rx_emu.start()
    keys = write_keys(tmp_path / "keys.json", {RAW_EUI: RAW_KEY.hex()})
    collector = harness.Collector(mosquitto.port, client_id=f"city-{tmp_path.name}")
    doc = harness.bridge_doc(tmp_path / "state", mosquitto.port, mosquitto.port, sources=[{
        "name": "workshop", "lns": "serial", "device": rx_emu.path, "keys_file": keys, "reconnect_s": 0.1,
        **P2P_CFG}])
    doc["source"][0].pop("reconnect_max_s")
    bridge = harness.start_bridge(doc)
    node = VirtualNode(tmp_path / "node", uart_pty="/dev/null", time_scale=SCALE, heapsize=HEAPSIZE,
                       config={"board": "virtual_heltec_v3", "interval_s": 60, "status_every": 0, "network": "p2p",
                               **P2P_CFG},
                       secrets={"deveui": RAW_EUI.upper(), "p2p_key": RAW_KEY.hex()},
                       board_extra={"lora_air": ["127.0.0.1", port]})
    env = r"p2p: envelope (\d+) \(\d+ B\) sent"
    try:
        harness.wait_until(lambda: bridge.sources["workshop"].connects == 1, 30, "the bridge sets the receiver up")
        node.flash_firmware()
        node.start()
        node.wait_for(env, count=3, timeout_s=120, fail_on="Traceback")
        collector.wait_for(f"{RAW_EUI}/senml", 3, timeout_s=60)
        node.power_loss()
        mark = len(node.console)
        after = [int(m.group(1)) for m in node.wait_for(env, count=2, start=mark, timeout_s=120,
                                                          fail_on="Traceback")]
        before = [int(m.group(1)) for m in (re.search(env, ln) for ln in node.console[:mark]) if m]
        harness.wait_until(lambda: any(m.get("f_cnt") == after[-1] for m in collector.on(f"{RAW_EUI}/meta")),
                           60, "meta of the last envelope")
    finally:
        node.stop()
        bridge.stop()
        collector.close()
        rx_emu.stop()
        air.close()
    assert before == list(range(len(before))), node.console  # contiguous across deep-sleep wakes (RTC memory)
    assert any(b == 4 for b in node.boots)  # DEEPSLEEP_RESET wakes in between
    assert before[-1] < after[0] <= before[-1] + FLASH_EVERY + 2  # skipped ahead to the ceiling, not reused
    assert after == list(range(after[0], after[0] + len(after)))
    sent = before + after
    assert collector.on("_deadletter") == []  # no replay: nothing reused
    assert any("p2p: device D00000C3" in ln for ln in node.console)
    assert not any("lorawan:" in ln for ln in node.console)  # no MAC was built
    senml = collector.on(f"{RAW_EUI}/senml")
    assert len(senml) >= len(sent) - 1  # every envelope heard (the last may still be in flight)


def test_two_virtual_nodes_one_per_backend_through_an_unplugged_receiver_node(
        mosquitto: Mosquitto, tmp_path: Path, micropython: str) -> None:
    """The whole firmware on both nodes (a DevKit with its emulated RAK3172 in P2P mode, a
    virtual Heltec V3 on the air) and on the receiver node: every envelope of a cycle that began
    after the receiver was back and read arrives, and meta's `lost` equals what went out meanwhile."""
    air = Air()
    port = air.serve_udp()
    rak_emu = Rak3172Emulator("70B3D57ED00000A1", air=air, time_scale=SCALE)
    rak_emu.start()
    receiver = ReceiverNode(tmp_path, port)
    receiver.plug()
    keys = write_keys(tmp_path / "keys.json", {EUI: KEY.hex(), RAW_EUI: RAW_KEY.hex()})
    collector = harness.Collector(mosquitto.port, client_id=f"city-{tmp_path.name}")
    doc = harness.bridge_doc(tmp_path / "state", mosquitto.port, mosquitto.port, sources=[{
        "name": "hall", "lns": "serial", "receiver": "node", "device": str(receiver.console.link),
        "keys_file": keys, "reconnect_s": 0.1, **P2P_CFG}])
    doc["source"][0].pop("reconnect_max_s")
    bridge = harness.start_bridge(doc)
    source = bridge.sources["hall"]
    received: dict[str, list[int]] = {EUI: [], RAW_EUI: []}
    forward = source.on_message

    def spy(msg: Any) -> None:  # the counters the bridge accepted, per node, in order
        d = json.loads(msg.payload)
        if "error" not in d:
            received[d["dev_eui"].lower()].append(d["counter"])
        forward(msg)

    source.on_message = spy
    cfg = {"interval_s": 60, "status_every": 0, "network": "p2p", **P2P_CFG}
    nodes = {
        EUI: VirtualNode(tmp_path / "rak", uart_pty=rak_emu.path, config=cfg, time_scale=SCALE,
                         secrets={"deveui": EUI.upper(), "p2p_key": KEY.hex()}),
        RAW_EUI: VirtualNode(tmp_path / "raw", uart_pty="/dev/null", config={**cfg, "board": "virtual_heltec_v3"},
                             secrets={"deveui": RAW_EUI.upper(), "p2p_key": RAW_KEY.hex()}, time_scale=SCALE,
                             heapsize=HEAPSIZE, board_extra={"lora_air": ["127.0.0.1", port]}),
    }
    env = r"p2p: envelope (\d+) \(\d+ B\) sent"

    def receiving(connects: int) -> None:
        receiver.wait_listening()
        harness.wait_until(lambda: source.connected.is_set() and source.connects == connects
                           and air.listening() == 1, 60, "the receiver listening and read by the bridge")

    after: dict[str, list[int]] = {}
    try:
        receiving(1)
        for n in nodes.values():
            n.flash_firmware()
            n.start()
        for eui in nodes:
            collector.wait_for(f"{eui}/senml", 2, timeout_s=90)
        receiver.unplug()
        harness.wait_until(lambda: not source.connected.is_set() and air.listening() == 0, 30, "the receiver gone")
        for n in nodes.values():
            n.wait_for(env, count=2, start=len(n.console), timeout_s=60, fail_on="Traceback")  # into the void
        receiver.plug()
        receiving(2)
        starts = {eui: len(n.console) for eui, n in nodes.items()}
        for eui, n in nodes.items():
            cycle = n.wait_for(r"node: deep sleep", start=starts[eui], timeout_s=60)[0].string
            begin = n.console.index(cycle, starts[eui])
            after[eui] = [int(m.group(1)) for m in n.wait_for(env, count=3, start=begin, timeout_s=60)]
        for eui in nodes:
            harness.wait_until(lambda e=eui: after[e][-1] in received[e], 30, "the envelopes sent after the replug")
        for n in nodes.values():
            n.stop()
        for eui in nodes:
            harness.wait_until(lambda e=eui: any(m.get("f_cnt") == received[e][-1] for m in collector.on(f"{e}/meta")),
                               30, "meta of the last frame")
    finally:
        for n in nodes.values():
            n.stop()
        bridge.stop()
        collector.close()
        receiver.unplug()
        rak_emu.stop()
        air.close()
    for eui in nodes:
        got = received[eui]
        assert set(after[eui]) <= set(got), eui  # nothing sent after the return is lost
        assert got == sorted(got)
        missing = [c for c in range(got[0], got[-1] + 1) if c not in got]
        assert len(missing) >= 2, eui  # the envelopes sent while unplugged
        meta = [m for m in collector.on(f"{eui}/meta") if m.get("f_cnt") == got[-1]][-1]
        assert meta["lost"] == len(missing) and meta["frames"] == len(got), eui
        assert len(collector.on(f"{eui}/senml")) == len(got)
