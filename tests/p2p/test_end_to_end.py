"""P2P end to end on the host: the node's P2P link (firmware/lib p2p_link + rak3172_p2p + the
RAK3172 driver) -> an emulated RAK3172 on a pty -> the air -> a second emulated RAK3172 in P2P
receive on a pty -> the bridge's serial source -> mosquitto -> SenML on the city topics.

Refused envelopes (forged, replayed, another device's key) are dead-lettered with their
reason; the receiver unplugged and plugged back (its pty closed, a new one behind the same
device path, the module rebooted) loses nothing sent after it came back, and meta counts the
frames sent while it was away."""

from __future__ import annotations

import base64
import json
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
from trosmart_tools.broker import Mosquitto
from trosmart_tools.virtual_lab import HostUart, Rak3172Emulator
from trosmart_tools.virtual_lab.p2p_air import Air

EUI = "70b3d57ed00000a1"
OTHER_EUI = "70b3d57ed00000b2"
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
OTHER_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
DEV = int(EUI[-8:], 16)
FREQ, SF, BW = 868100000, 7, 125
SCALE = 0.01  # emulated time runs 100x faster (airtime, boot)
SAMPLES = [{"temperature": 20.0 + i / 10, "humidity": 40 + i, "battery_voltage": 3.7} for i in range(12)]


class Radio:
    """A node-side P2P link on an emulated module: the firmware's own classes, on CPython."""

    def __init__(self, emu: Rak3172Emulator, key: bytes, eui: str, state: Path) -> None:
        from p2p_link import EnvelopeCounter, P2PLink
        from rak3172 import RAK3172
        from rak3172_p2p import RakP2P

        self.uart = HostUart(emu.path)
        self.p2p = RakP2P(RAK3172(self.uart))
        self.p2p.configure(FREQ, SF, BW)
        state.mkdir()
        self.link = P2PLink(self.p2p, Aes128(key), int(eui[-8:], 16), EnvelopeCounter(Rtc(), str(state)),
                            payload_codec.p2p_radio.data_rate(SF, BW))

    def send(self, values: dict[str, Any]) -> None:
        self.link.send(payload_codec.MEASUREMENT, payload_codec.encode(values))

    def raw(self, data: bytes) -> None:
        self.p2p.send(data, 100)

    def close(self) -> None:
        self.uart.close()


class Lab:
    def __init__(self, broker: Mosquitto, tmp: Path) -> None:
        self.tmp = tmp
        self.air = Air()
        self.node_emu = Rak3172Emulator("70B3D57ED00000A1", air=self.air, time_scale=SCALE, seed=1)
        self.rx_emu = Rak3172Emulator("70B3D57ED00000FF", air=self.air, time_scale=SCALE, seed=2)
        self.evil_emu = Rak3172Emulator("70B3D57ED00000EE", air=self.air, time_scale=SCALE, seed=3)
        for e in (self.node_emu, self.rx_emu, self.evil_emu):
            e.start()
        self.link = tmp / "ttyUSB-receiver"  # what /dev/serial/by-id/... is for a real receiver
        self.plug()
        keys = write_keys(tmp / "p2p-keys.json", {EUI.upper(): KEY.hex(), OTHER_EUI.upper(): OTHER_KEY.hex()})
        self.collector = harness.Collector(broker.port, client_id=f"city-{tmp.name}")
        doc = harness.bridge_doc(tmp / "state", broker.port, broker.port, sources=[{
            "name": "workshop", "lns": "serial", "device": str(self.link), "keys_file": keys,
            "p2p_freq_hz": FREQ, "p2p_sf": SF, "p2p_bw_khz": BW, "reconnect_s": 0.1}])
        doc["source"][0].pop("reconnect_max_s")
        self.bridge: Bridge = harness.start_bridge(doc)
        self.source = self.bridge.sources["workshop"]
        self.node = Radio(self.node_emu, KEY, EUI, tmp / "node-counter.dat")
        self.evil = Radio(self.evil_emu, OTHER_KEY, OTHER_EUI, tmp / "evil-counter.dat")

    def plug(self) -> None:
        self.link.symlink_to(self.rx_emu.path)

    def unplug(self) -> None:
        self.rx_emu.stop()
        self.link.unlink()

    def replug(self) -> None:
        self.rx_emu.start()
        self.rx_emu.reboot()  # USB power returns: the module boots (P2P receive is off again)
        self.plug()

    def close(self) -> None:
        self.bridge.stop()
        self.collector.close()
        self.node.close()
        self.evil.close()
        for e in (self.node_emu, self.rx_emu, self.evil_emu):
            e.stop()


@pytest.fixture
def lab(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(mosquitto, tmp_path)
    try:
        yield lab
    finally:
        lab.close()


def senml_for(values: dict[str, Any]) -> list[Any]:
    return payload_codec.to_senml(payload_codec.decode_uplink(1, payload_codec.encode(values)))


def values_of(pack: list[dict[str, Any]]) -> dict[str, Any]:
    return {r["n"]: r["v"] for r in pack if "v" in r}


def test_frames_reach_senml_refusals_are_dead_lettered_and_a_replug_loses_nothing(lab: Lab) -> None:
    c = lab.collector
    senml = f"{EUI}/senml"
    for i in range(3):
        lab.node.send(SAMPLES[i])
    got = c.wait_for(senml, 3)
    assert [values_of(p) for p in got] == [values_of(senml_for(s)) for s in SAMPLES[:3]]

    # the same bytes again (a replay), a forged frame, another device's key
    first = lab.air.sent[0]
    lab.evil.raw(first)
    forged = bytearray(lab.air.sent[1])
    forged[envelope.HEADER_LEN] ^= 0x40
    lab.evil.raw(bytes(forged))
    signer = envelope.Signer(Aes128(OTHER_KEY))
    lab.evil.raw(envelope.seal(signer, DEV, 999, 1, payload_codec.encode(SAMPLES[3])))
    dead = c.wait_for("_deadletter", 3)
    assert [d["reason"] for d in dead] == ["replayed", "bad_mic", "wrong_key"]
    assert "not above the last accepted 2" in dead[0]["detail"]
    assert OTHER_EUI in dead[2]["detail"]
    for d, raw in zip(dead, (first, bytes(forged)), strict=False):
        line = json.loads(base64.b64decode(d["message_b64"]))
        assert line["hex"] == raw.hex()  # the raw envelope is kept

    # unplug: what is sent meanwhile is lost on the air; after the replug nothing is lost
    lab.unplug()
    harness.wait_until(lambda: not lab.source.connected.is_set(), 20, "the bridge sees the receiver gone")
    for i in range(3, 5):
        lab.node.send(SAMPLES[i])
    lab.replug()
    harness.wait_until(lambda: lab.source.connected.is_set() and lab.source.connects == 2, 30,
                       "the bridge sets the receiver up again")
    for i in range(5, 9):
        lab.node.send(SAMPLES[i])
    got = c.wait_for(senml, 7)
    assert [values_of(p) for p in got[3:]] == [values_of(senml_for(s)) for s in SAMPLES[5:9]]
    harness.wait_until(lambda: any(m.get("f_cnt") == 8 for m in c.on(f"{EUI}/meta")), 20, "meta")
    meta = [m for m in c.on(f"{EUI}/meta") if m.get("f_cnt") == 8][-1]
    assert meta["lost"] == 2 and meta["frames"] == 7  # counters 3 and 4 went out while unplugged
    assert meta["rssi"] == lab.air.rssi and meta["snr"] == lab.air.snr
    assert meta["gateway"] == "serial:workshop"
    assert len(lab.source.gaps) == 1


def test_a_receiver_node_feeds_the_bridge_like_a_rak3172(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """receiver = "node": a TroSmart node in receiver mode (p2p_receiver.relay over its RAK3172)
    prints the packets on its USB console; the bridge reads that console."""
    import threading

    from p2p_receiver import relay
    from rak3172 import RAK3172
    from rak3172_p2p import RakP2P

    from trosmart_tools.virtual_lab.usb_board import ConsolePort

    air = Air()
    node_emu = Rak3172Emulator("70B3D57ED00000A1", air=air, time_scale=SCALE)
    rx_emu = Rak3172Emulator("70B3D57ED00000FF", air=air, time_scale=SCALE)
    node_emu.start()
    rx_emu.start()
    console = ConsolePort(tmp_path / "ttyACM0")
    console.plug()
    keys = write_keys(tmp_path / "keys.json", {EUI: KEY.hex()})
    rx_uart = HostUart(rx_emu.path)
    radio = RakP2P(RAK3172(rx_uart))
    radio.configure(FREQ, SF, BW)
    stop = threading.Event()
    t = threading.Thread(target=relay, args=(radio, console.write_line),
                         kwargs={"running": lambda: not stop.is_set()}, daemon=True)
    t.start()
    collector = harness.Collector(mosquitto.port, client_id=f"city-{tmp_path.name}")
    doc = harness.bridge_doc(tmp_path / "state", mosquitto.port, mosquitto.port, sources=[{
        "name": "relay", "lns": "serial", "receiver": "node", "device": str(console.link),
        "keys_file": keys, "reconnect_s": 0.1}])
    doc["source"][0].pop("reconnect_max_s")
    bridge = harness.start_bridge(doc)
    node = Radio(node_emu, KEY, EUI, tmp_path / "c.dat")
    try:
        harness.wait_until(lambda: radio.listening, 20, "receiver listening")
        for s in SAMPLES[:2]:
            node.send(s)
        got = collector.wait_for(f"{EUI}/senml", 2)
        assert [values_of(p) for p in got] == [values_of(senml_for(s)) for s in SAMPLES[:2]]
    finally:
        stop.set()
        t.join(timeout=10)
        bridge.stop()
        collector.close()
        node.close()
        rx_uart.close()
        console.unplug()
        node_emu.stop()
        rx_emu.stop()


def test_the_virtual_node_in_p2p_mode_through_an_unplugged_receiver(mosquitto: Mosquitto, tmp_path: Path,
                                                                     micropython: str) -> None:
    """The whole firmware on the MicroPython board (network = "p2p" in config.json): its cycles
    reach SenML; the receiver is unplugged and re-plugged while the node goes on; every
    envelope of a cycle that began after the bridge set the receiver up again arrives."""
    from trosmart_tools.virtual_lab.board_runner import VirtualNode

    air = Air()
    node_emu = Rak3172Emulator("70B3D57ED00000A1", air=air, time_scale=SCALE)
    rx_emu = Rak3172Emulator("70B3D57ED00000FF", air=air, time_scale=SCALE)
    node_emu.start()
    rx_emu.start()
    link = tmp_path / "ttyUSB-receiver"
    link.symlink_to(rx_emu.path)
    keys = write_keys(tmp_path / "keys.json", {EUI: KEY.hex()})
    collector = harness.Collector(mosquitto.port, client_id=f"city-{tmp_path.name}")
    doc = harness.bridge_doc(tmp_path / "state", mosquitto.port, mosquitto.port, sources=[{
        "name": "workshop", "lns": "serial", "device": str(link), "keys_file": keys,
        "reconnect_s": 0.1}])
    doc["source"][0].pop("reconnect_max_s")
    bridge = harness.start_bridge(doc)
    source = bridge.sources["workshop"]
    received: list[int] = []
    forward = source.on_message

    def spy(msg: Any) -> None:  # the counters the bridge accepted, in order
        d = json.loads(msg.payload)
        if "error" not in d:
            received.append(d["counter"])
        forward(msg)

    source.on_message = spy
    node = VirtualNode(tmp_path / "node", uart_pty=node_emu.path,
                       config={"interval_s": 60, "status_every": 0, "network": "p2p"},
                       secrets={"deveui": EUI.upper(), "p2p_key": KEY.hex()}, time_scale=SCALE)
    node.flash_firmware()
    node.start()
    env = r"p2p: envelope (\d+) \(\d+ B\) sent"
    try:
        collector.wait_for(f"{EUI}/senml", 3, timeout_s=60)
        rx_emu.stop()
        link.unlink()
        harness.wait_until(lambda: not source.connected.is_set(), 20, "the receiver gone")
        node.wait_for(env, count=2, start=len(node.console), timeout_s=60)  # sent into the void
        rx_emu.start()
        rx_emu.reboot()
        link.symlink_to(rx_emu.path)
        harness.wait_until(lambda: source.connected.is_set() and source.connects == 2, 30, "receiver back")
        back = len(node.console)
        cycle = node.wait_for(r"node: deep sleep", start=back, timeout_s=60)[0].string
        start = node.console.index(cycle, back)
        after = [int(m.group(1)) for m in node.wait_for(env, count=3, start=start, timeout_s=60)]
        harness.wait_until(lambda: after[-1] in received, 30, "the envelopes sent after the replug")
        node.stop()
        harness.wait_until(lambda: any(m.get("f_cnt") == received[-1] for m in collector.on(f"{EUI}/meta")),
                           30, "meta of the last frame")
    finally:
        node.stop()
        bridge.stop()
        collector.close()
        node_emu.stop()
        rx_emu.stop()
    assert set(after) <= set(received)
    assert received == sorted(received)
    missing = [c for c in range(received[0], received[-1] + 1) if c not in received]
    assert len(missing) >= 2  # the envelopes sent while unplugged
    meta = [m for m in collector.on(f"{EUI}/meta") if m.get("f_cnt") == received[-1]][-1]
    assert meta["lost"] == len(missing) and meta["frames"] == len(received)
    assert len(collector.on(f"{EUI}/senml")) == len(received)
