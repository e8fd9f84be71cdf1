"""node.py, unchanged, on the LoRaWAN MAC backend (the RAK3172 driver's interface) on the
MicroPython Unix port: it joins, sends its status and measurement frames, deep-sleeps, survives a
power loss without reusing a counter, and the simulated server decodes every frame."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import payload_codec
from tests.conftest import _missing
from trosmart_tools.errors import ToolError
from trosmart_tools.lorawan import FIRMWARE_LIB
from trosmart_tools.mpy import REPO_ROOT, find_micropython, micropypath

from .conftest import HERE
from .sim import APP_KEY, BOARD, DEV_EUI, JOIN_EUI, LoRaWANServer


def test_node_cycles_on_the_mac(tmp_path: Path) -> None:
    try:
        mp = find_micropython()
    except ToolError as e:
        _missing("micropython", e)
    server = LoRaWANServer()
    server.register(DEV_EUI, JOIN_EUI, APP_KEY)
    port = server.serve_udp()
    flash = tmp_path / "flash"
    flash.mkdir()
    try:
        env = {"MICROPYPATH": micropypath(FIRMWARE_LIB, BOARD, HERE, REPO_ROOT)}
        r = subprocess.run([mp, str(HERE / "mpy_node_on_mac.py"), str(port), str(flash), "12", "6"],
                           capture_output=True, text=True, timeout=300, env=env)
    finally:
        server.close()
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    cycles = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(cycles) == 12 and all(c["joined"] for c in cycles[1:])  # cycle 0 waits for the band
    assert server.rejected == [] and len(server.joins) == 1  # the power loss did not force a rejoin
    ports = [u["port"] for u in server.uplinks]
    assert payload_codec.STATUS in ports and ports.count(payload_codec.MEASUREMENT) >= 9
    for u in server.uplinks:  # every frame the node sent decodes with the codec
        if u["port"] == payload_codec.MEASUREMENT:
            assert payload_codec.decode_uplink(u["port"], u["payload"]) is not None
    assert (flash / "lorawan.dat").exists() and (flash / "lorawan_nonce.dat").exists()
