"""``trosmart monitor`` on a P2P receiver: an emulated RAK3172 in P2P receive on a pty; the
monitor switches it to receive (--listen) and shows each envelope decoded, MIC checked."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import payload_codec
from bridge.aes import Aes128
from payload_codec import envelope
from tests.firmware_driver.at_client import AtClient
from trosmart_tools.device.monitor import Monitor, describe_envelope
from trosmart_tools.virtual_lab import Rak3172Emulator
from trosmart_tools.virtual_lab.p2p_air import Air

KEY = bytes(range(16))
SIGNERS = {0xA1: envelope.Signer(Aes128(KEY))}
FRAME = payload_codec.encode({"temperature": 21.5, "battery_voltage": 3.6})


def test_describe_envelope() -> None:
    good = envelope.seal(SIGNERS[0xA1], 0xA1, 7, 1, FRAME).hex()
    assert describe_envelope(good, SIGNERS).startswith("device 000000A1 counter 7 MIC ok: temperature 21.5 Cel")
    assert "MIC not checked" in describe_envelope(good)
    bad = envelope.seal(envelope.Signer(Aes128(bytes(16))), 0xA1, 7, 1, FRAME).hex()
    assert "refused, bad_mic" in describe_envelope(bad, SIGNERS)
    assert describe_envelope("0011").startswith("not a TroSmart envelope")


def test_monitor_on_a_receiver(tmp_path: Path) -> None:
    air = Air()
    rx = Rak3172Emulator("AC1F09FFFE000002", air=air, time_scale=0.01)
    tx = Rak3172Emulator("AC1F09FFFE000001", air=air, time_scale=0.01)
    lines: list[str] = []
    cond = threading.Condition()

    def out(s: str) -> None:
        with cond:
            lines.append(s)
            cond.notify_all()

    def wait(pred: object, what: str) -> None:
        deadline = time.monotonic() + 20
        with cond:
            while not any(pred(x) for x in lines):  # type: ignore[operator]
                left = deadline - time.monotonic()
                assert left > 0, f"no {what} in {lines}"
                cond.wait(left)

    for e in (rx, tx):
        e.start()
        e.nvm["NWM"] = 0  # both already in P2P mode (AT+NWM=0 persists in NVM)
    keys_r, keys_w = os.pipe()
    sender = AtClient(tx.path)
    try:
        with os.fdopen(keys_r, "rb", buffering=0) as keys:
            mon = Monitor(rx.path, out=out, stdin=keys, signers=SIGNERS, listen=True)
            result: list[int] = []
            t = threading.Thread(target=lambda: result.append(mon.run()), daemon=True)
            t.start()
            wait(lambda x: x == "OK", "OK to AT+PRECV=65534")
            data = envelope.seal(SIGNERS[0xA1], 0xA1, 3, 1, FRAME)
            assert sender.cmd("AT+PSEND=" + data.hex())[-1] == "OK"
            wait(lambda x: "MIC ok: temperature 21.5 Cel" in x, "the decoded envelope")
            os.write(keys_w, b"\x1d")
            t.join(timeout=30)
    finally:
        os.close(keys_w)
        sender.close()
        rx.stop()
        tx.stop()
    assert result == [0]
    assert any(x.startswith("+EVT:RXP2P:-60:9:") for x in lines)
