"""The real driver (CPython and MicroPython) against the emulator over a pty, with the
simulated network server on a real mosquitto."""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

import payload_codec
from trosmart_tools.broker import Mosquitto
from trosmart_tools.mpy import run
from trosmart_tools.virtual_lab import HostUart, Rak3172Emulator, SimNetworkServer

from .conftest import LIB, MPY
from .test_network_server import APP, Listener

KEY = "2B7E151628AED2A6ABF7158809CF4F3C"
DEVEUI = "70B3D57ED0000001"
APPEUI = "0000000000000000"
SCALE = 0.01  # 100x faster than real time: a join takes ~55 ms
# RUI3 versions the driver runs against: before TX_DONE (4.0.1), with it (4.0.5), the 4.2 line
# (new banner, re-armed refused joins). The driver waits real time for the RX windows on 4.0.1.
RUI_VERSIONS = ("4.0.1", "4.0.5", "4.2.1")


@pytest.fixture(params=RUI_VERSIONS)
def rui(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def lab(mosquitto: Mosquitto, rui: str) -> Iterator[tuple[Rak3172Emulator, SimNetworkServer, Listener]]:
    ns = SimNetworkServer(mosquitto.host, mosquitto.port, APP)
    ns.start()
    listener = Listener(mosquitto)
    emu = Rak3172Emulator(time_scale=SCALE, network=ns, seed=11, rui=rui)
    emu.nvm["RX2DR"] = 3  # the RX2 data rate TTN uses: the driver's RX2 wait on 4.0.1 is 2.8 s
    emu.start()
    yield emu, ns, listener
    emu.stop()
    listener.close()
    ns.stop()


def driver(emu: Rak3172Emulator, log: list[str] | None = None) -> Any:
    import rak3172

    return rak3172.RAK3172(HostUart(emu.path), log=log.append if log is not None else None)


def queue_downlink(listener: Listener, ns: SimNetworkServer, deveui: str, fport: int, data: bytes,
                   confirmed: bool = False) -> None:
    listener.command({"devEui": deveui.lower(), "confirmed": confirmed, "fPort": fport,
                      "data": base64.b64encode(data).decode()}, deveui=deveui.lower())
    deadline = time.monotonic() + 5
    while ns.queued(deveui) < 1:
        assert time.monotonic() < deadline, "command/down never reached the network server"
        time.sleep(0.01)  # polling a counter the MQTT thread increments


def test_configure_join_send_downlink(lab: tuple[Rak3172Emulator, SimNetworkServer, Listener], rui: str) -> None:
    import rak3172

    emu, ns, listener = lab
    log: list[str] = []
    m = driver(emu, log)
    assert m.configure_otaa(DEVEUI, APPEUI, KEY) == 2  # DEVEUI and APPKEY differ from the factory
    assert m.configure_otaa(DEVEUI, APPEUI, KEY) == 0  # only writes what differs
    assert m.is_joined() is False
    m.join()
    assert listener.messages.get(timeout=5)[0].endswith(f"/device/{DEVEUI.lower()}/event/join")
    frame = payload_codec.encode({"temperature": 21.5, "humidity": 40.0})
    assert m.send(payload_codec.MEASUREMENT, frame) == []
    up = listener.next("up")
    assert (up["fCnt"], up["fPort"], up["confirmed"], up["dr"]) == (0, 1, False, 5)
    assert base64.b64decode(up["data"]) == frame

    command = payload_codec.encode_downlink({"set_interval_s": 600})
    queue_downlink(listener, ns, DEVEUI.lower(), payload_codec.COMMAND, command)
    downlinks = m.send(payload_codec.MEASUREMENT, frame, confirmed=True)
    assert [(d.slot, d.port, d.data) for d in downlinks] == [("1", payload_codec.COMMAND, command)]
    assert payload_codec.decode_downlink(downlinks[0].data) == {"set_interval_s": 600}
    assert listener.next("up")["fCnt"] == 1
    assert listener.next("txack")["fCntDown"] == 1
    assert (emu.uplinks, emu.fcnt_up) == (2, 2)
    assert not any(KEY in line for line in log)

    emu.drop_next_acks(1)
    with pytest.raises(rak3172.SendFailed) as failed:
        m.send(1, frame, confirmed=True)
    assert failed.value.status == (-1 if rui < "4.0.4" else 4)  # "(<status>)" from 4.0.4 on


def test_reboot_mid_send_is_detected_and_rejoined(
    lab: tuple[Rak3172Emulator, SimNetworkServer, Listener]
) -> None:
    import rak3172

    emu, ns, _ = lab

    class RebootOnUplink:
        """The module browns out while the uplink is on the air (the NS sees it, TX_DONE never comes)."""

        def join(self, deveui: str) -> bool:
            return ns.join(deveui)

        def uplink(self, *args: Any, **kw: Any) -> tuple[int, bytes] | None:
            emu.network = ns
            emu.reboot()
            return None

    m = driver(emu)
    m.configure_otaa(DEVEUI, APPEUI, KEY)
    m.join()
    emu.network = RebootOnUplink()
    with pytest.raises(rak3172.ModuleRebooted, match="banner"):
        m.send(1, b"\x01")
    assert m.is_joined() is False
    m.join()
    assert m.send(1, b"\x02") == []
    assert emu.reboots == 1 and emu.fcnt_up == 1  # the new session counts from 0


def test_join_backoff_with_failing_joins(lab: tuple[Rak3172Emulator, SimNetworkServer, Listener]) -> None:
    """Failed joins are retried no earlier than JoinBackoff allows (1 % off time, §E)."""
    import rak3172

    emu, _, _ = lab
    m = driver(emu)
    m.configure_otaa(DEVEUI, APPEUI, KEY)
    emu.fail_next_joins(2)
    backoff = rak3172.JoinBackoff()
    airtime = rak3172.join_airtime_ms(5)
    attempts: list[float] = []
    deadline = time.monotonic() + 20
    while True:
        now = emu.sim_time_s()  # the module's time since power-up, in simulated seconds
        allowed = backoff.allowed_at_s(int(now), airtime)
        if now < allowed:
            assert time.monotonic() < deadline
            time.sleep(0.005)  # waiting for simulated time to reach the allowed instant
            continue
        attempts.append(now)
        backoff.record(int(now), airtime)
        try:
            m.join()
            break
        except rak3172.JoinFailed as e:
            assert e.reason == "JOIN_FAILED_RX_TIMEOUT"
    assert len(attempts) == 3 and emu.joins_sent == 3
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert all(g >= airtime * 100 / 1000 - 1 for g in gaps), gaps
    assert backoff.state()[1] == 3 * airtime


@pytest.mark.micropython
def test_micropython_driver_over_pty(lab: tuple[Rak3172Emulator, SimNetworkServer, Listener],
                                     micropython: str, rui: str) -> None:
    """The driver on the real MicroPython, through a pty UART shim, end to end to MQTT."""
    emu, ns, listener = lab
    emu.fail_next_joins(1)
    queue_downlink(listener, ns, "70b3d57ed00000aa", 10, b"\x42\x43")
    r = run([str(MPY / "rak_emu_session.py"), emu.path], path=[LIB, MPY], heapsize="128k", timeout=60)
    assert r.returncode == 0, r.stderr
    steps = {s["step"]: s["value"] for s in map(json.loads, r.stdout.splitlines())}
    assert steps == {
        "version": f"RUI_{rui}_RAK3172-E",
        "configured": 2,
        "joined_before": False,
        "join": "JOIN_FAILED_RX_TIMEOUT",
        "joined_after": True,
        "downlinks": [["1", 10, "4243"]],
        "tx_done": 0,
    }
    ups = [listener.next("up", deveui="70b3d57ed00000aa"), listener.next("up", deveui="70b3d57ed00000aa")]
    assert [(u["fCnt"], u["fPort"], base64.b64decode(u["data"])) for u in ups] == [
        (0, 1, b"\x01\x02\x03"),
        (1, 2, b"\x09"),
    ]
