"""The MicroPython MAC's proof of delivery behind the backend interface node.py uses
(lorawan_modem.LoRaWANModem.request_link_check / link_checked, as rak3172.RAK3172): a
LinkCheckReq rides in the next uplink's FOpts and the LinkCheckAns proves it arrived; with no
answer (a gateway out of reach) the proof fails and the node keeps its samples (docs/firmware.md §12)."""

from __future__ import annotations

from trosmart_tools.lorawan import load

from .sim import LoRaWANServer
from .test_mac_scenarios import GAP_MS, joined, server  # noqa: F401 - the server fixture

modem_mod = load("lorawan_modem")


def test_link_check_proves_delivery_and_its_absence(server: LoRaWANServer) -> None:  # noqa: F811
    n = joined(server)
    m = modem_mod.LoRaWANModem(n.mac)
    m.request_link_check()
    n.clock.sleep(GAP_MS)
    m.send(1, b"\x01\x02")
    assert m.link_checked()  # the server's LinkCheckAns: margin 20 dB, one gateway
    before = len(server.uplinks)
    server.silent = True  # the gateway hears nothing more: no answer
    m.request_link_check()
    n.clock.sleep(GAP_MS)
    m.send(1, b"\x03\x04")
    assert not m.link_checked()
    server.silent = False
    m.request_link_check()  # asked again on the next uplink
    n.clock.sleep(GAP_MS)
    m.send(1, b"\x05\x06")
    assert m.link_checked()
    assert len(server.uplinks) == before + 2


def test_without_a_request_no_proof(server: LoRaWANServer) -> None:  # noqa: F811
    n = joined(server)
    m = modem_mod.LoRaWANModem(n.mac)
    n.clock.sleep(GAP_MS)
    m.send(1, b"\x01")
    assert not m.link_checked()
