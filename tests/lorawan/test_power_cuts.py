"""1,000 random power cuts (during a join, between TX and RX, during a flash write): the network
server never sees a DevNonce or an FCntUp twice. In-process on CPython; a smaller run on the
MicroPython Unix port talks to the same server over loopback UDP."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import _missing
from trosmart_tools.errors import ToolError
from trosmart_tools.lorawan import FIRMWARE_LIB
from trosmart_tools.mpy import find_micropython, micropypath

from .conftest import HERE
from .sim import APP_KEY, BOARD, DEV_EUI, JOIN_EUI, LoRaWANServer, Node, power_cuts

REUSE = {"DevNonce reused", "FCntUp reused"}


def _server() -> LoRaWANServer:
    s = LoRaWANServer()
    s.register(DEV_EUI, JOIN_EUI, APP_KEY)
    return s


def _check(server: LoRaWANServer) -> None:
    assert not [r for r in server.rejected if r[0] in REUSE], server.rejected[:5]
    assert server.rejected == []
    nonces = [j[1] for j in server.joins]
    assert len(nonces) == len(set(nonces))


@pytest.mark.parametrize("seed", [1, 2])
def test_thousand_power_cuts_never_reuse_a_devnonce_or_fcnt(seed: int) -> None:
    server = _server()
    n = Node(server, every=16)
    done = power_cuts(n, 500, seed)
    assert sum(done.values()) == 500 and min(done.values()) > 50, done
    _check(server)
    assert len(server.joins) > 50 and len(server.uplinks) > 500


def test_power_cuts_on_the_micropython_unix_port() -> None:
    try:
        mp = find_micropython()
    except ToolError as e:
        _missing("micropython", e)
    server = _server()
    port = server.serve_udp()
    try:
        env = {"MICROPYPATH": micropypath(FIRMWARE_LIB, BOARD, HERE, BOARD.parents[2])}
        r = subprocess.run([mp, str(HERE / "mpy_powercut_driver.py"), str(port), "200", "7"],
                           capture_output=True, text=True, timeout=300, env=env)
    finally:
        server.close()
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert sum(out["cuts"].values()) == 200
    _check(server)
    assert len(server.joins) > 5 and len(server.uplinks) > 60
