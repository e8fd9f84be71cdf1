"""MAC scenarios on CPython: the firmware's MAC (firmware/lib/lorawan_*.py) on the simulated
radio, against the simulated gateway + network + join server that checks MICs, DevNonces and
frame counters and schedules RX1/RX2 on time."""

from __future__ import annotations

import itertools

import pytest

from .sim import APP_KEY, DEV_EUI, JOIN_EUI, LoRaWANServer, Node, mac_mod, net_mod, region, session_mod

GAP_MS = 600_000  # 10-minute interval: the 1 % band is always free again


@pytest.fixture
def server() -> LoRaWANServer:
    s = LoRaWANServer()
    s.register(DEV_EUI, JOIN_EUI, APP_KEY)
    return s


def joined(server: LoRaWANServer, **kw: int) -> Node:
    n = Node(server, **kw)
    n.join()
    return n


def up(n: Node, data: bytes = b"\x01\x02\x03", port: int = 1, confirmed: bool = False) -> list:
    n.clock.sleep(GAP_MS)
    return n.mac.send(port, data, confirmed=confirmed)


def test_join_then_uplinks_are_accepted_in_order(server: LoRaWANServer) -> None:
    n = joined(server)
    assert server.joins == [(DEV_EUI.hex(), 0)]
    assert n.mac.s.dev_addr == server.devices[DEV_EUI].dev_addr
    for i in range(5):
        up(n, bytes([i]))
    assert [(u["fcnt"], u["payload"]) for u in server.uplinks] == [(i, bytes([i])) for i in range(5)]
    assert server.rejected == []


def test_join_accept_delay_and_rx_delay_from_the_join_accept(server: LoRaWANServer) -> None:
    server.rx_delay_s = 5  # as The Things Stack commonly sets (§E)
    n = joined(server)
    assert n.mac.s.rx_delay_s == 5
    server.queue_app(DEV_EUI, 7, b"\xaa")
    got = up(n)
    assert [(d.slot, d.port, d.data) for d in got] == [(1, 7, b"\xaa")]
    # the radio slept (lightsleep) through the delay instead of polling: one long sleep before RX1
    assert any(4900 <= ms <= 5000 for ms in n.clock.slept)


def test_downlink_in_rx2_after_a_missed_rx1_with_rx2_dr_from_join_accept(server: LoRaWANServer) -> None:
    server.rx2_dr = 3  # TTN's plan: RX2 at SF9 (§E)
    n = joined(server)
    assert n.mac.s.rx2_dr == 3
    server.skip_rx1 = True
    server.queue_app(DEV_EUI, 9, b"rx2")
    got = up(n)
    assert [(d.slot, d.port, d.data) for d in got] == [(2, 9, b"rx2")]


def test_join_accept_in_rx2(server: LoRaWANServer) -> None:
    server.skip_rx1 = True
    n = joined(server)
    assert n.mac.joined and server.rejected == []


def test_a_window_at_the_wrong_time_misses_the_downlink(server: LoRaWANServer) -> None:
    server.rx_delay_s = 5
    n = joined(server)
    n.mac.s.rx_delay_s = 1  # a MAC that ignored the join-accept's RxDelay
    server.queue_app(DEV_EUI, 7, b"\xaa")
    assert up(n) == []


def test_confirmed_uplink_is_retransmitted_with_the_same_counter(server: LoRaWANServer) -> None:
    n = joined(server)
    n.mac.s.dr = 5  # SF7: four transmissions fit the 1 % band within the send timeout
    server.silent = True
    with pytest.raises(mac_mod.SendFailed):
        up(n, confirmed=True)
    fc = [u["fcnt"] for u in server.uplinks]
    assert fc == [0] * n.mac.confirmed_tries and [u["retransmission"] for u in server.uplinks][1:] == [True] * 3
    server.silent = False
    up(n, confirmed=True)  # acknowledged: no exception
    assert server.uplinks[-1]["fcnt"] == 1 and server.rejected == []


def test_adr_steps_down_without_downlinks_and_back_by_link_adr(server: LoRaWANServer) -> None:
    n = joined(server)
    n.mac.set_adr(True)
    n.mac.s.dr = 5
    server.silent = True
    drs = []
    for _ in range(region.ADR_ACK_LIMIT + 3 * region.ADR_ACK_DELAY + 1):
        up(n)
        drs.append(n.mac.s.dr)
    # ADRACKReq from ADR_ACK_LIMIT on, then one DR lower every ADR_ACK_DELAY uplinks
    assert server.uplinks[region.ADR_ACK_LIMIT]["fctrl"] & 0x40
    assert not server.uplinks[region.ADR_ACK_LIMIT - 1]["fctrl"] & 0x40
    assert drs[-1] == 2 and sorted(set(drs)) == [2, 3, 4, 5]
    server.silent = False
    # LinkADRReq: DR5, TXPower 1, ChMask channels 0-2, ChMaskCntl 0, NbTrans 1
    server.queue_mac(DEV_EUI, bytes((0x03, 0x51, 0x07, 0x00, 0x01)))
    up(n)  # ADRACKReq makes the server answer now
    assert n.mac.s.dr == 5 and n.mac.s.tx_power == 1 and n.mac.s.adr_ack_cnt == 0
    up(n)
    assert server.devices[DEV_EUI].answers[-1] == (0x03, b"\x07")  # LinkADRAns: all three acks


def test_every_mac_command(server: LoRaWANServer) -> None:
    n = joined(server)
    s = n.mac.s
    rec = server.devices[DEV_EUI]
    # device-initiated: LinkCheckReq and DeviceTimeReq ride in FOpts, the answers come back
    n.mac.cmds.want_link_check = True
    n.mac.cmds.want_device_time = True
    up(n)
    assert n.mac.cmds.link_check == (20, 1) and n.mac.cmds.device_time is not None
    assert not n.mac.cmds.want_link_check and not n.mac.cmds.want_device_time
    # DutyCycleReq 2^-3, DevStatusReq, NewChannelReq ch3 867.1 MHz DR0-5, RXTimingSetupReq 2 s
    new_ch3 = bytes((0x07, 0x03)) + (8671000).to_bytes(3, "little") + bytes((0x50,))
    server.queue_mac(DEV_EUI, bytes((0x04, 0x03, 0x06)) + new_ch3 + bytes((0x08, 0x02)))
    n.mac.cmds.battery = 200
    up(n, confirmed=True)
    assert s.max_dcycle == 3 and s.freqs[3] == 867100 and s.ch_mask & 0x08 and s.rx_delay_s == 2
    up(n)
    cids = dict(rec.answers)
    assert cids[0x04] == b"" and cids[0x06][0] == 200 and cids[0x07] == b"\x03" and 0x08 in cids
    # RXTimingSetupAns is sticky: repeated until a downlink arrives; the NS now uses 2 s
    server.apply_answer_effects(rec, rx1_delay_s=2)
    up(n)
    assert server.uplinks[-1]["fopts"] == b"\x08"
    server.queue_app(DEV_EUI, 3, b"x")
    assert [d.data for d in up(n)] == [b"x"]
    up(n)
    assert server.uplinks[-1]["fopts"] == b""  # the downlink acknowledged it
    # RXParamSetupReq: RX1DROffset 1, RX2 DR3, 869.525 MHz -> sticky RXParamSetupAns 0x07
    server.queue_mac(DEV_EUI, bytes((0x05, 0x13)) + (8695250).to_bytes(3, "little"))
    server.queue_app(DEV_EUI, 3, b"y")
    up(n)
    assert s.rx1_dr_offset == 1 and s.rx2_dr == 3
    up(n)
    up(n)
    assert server.uplinks[-1]["fopts"] == b"\x05\x07" and server.uplinks[-2]["fopts"] == b"\x05\x07"
    # a refused RXParamSetupReq (frequency outside EU868) changes nothing and answers 0x06
    server.apply_answer_effects(rec, rx1_dr_offset=1, rx2_dr=3)
    server.queue_mac(DEV_EUI, bytes((0x05, 0x00)) + (9150000).to_bytes(3, "little"))
    up(n)
    up(n)
    assert s.rx2_dr == 3 and server.uplinks[-1]["fopts"] == b"\x05\x06"
    # NewChannelReq on a default channel is refused
    server.queue_mac(DEV_EUI, bytes((0x07, 0x00)) + (8671000).to_bytes(3, "little") + bytes((0x50,)))
    up(n)
    up(n)
    assert rec.answers[-1] == (0x07, b"\x00") and s.freqs[0] == 868100
    assert server.rejected == []


def test_deep_sleep_cycles_restore_from_rtc_and_write_flash_every_n(server: LoRaWANServer) -> None:
    n = joined(server, every=16)
    writes = n.flash.writes
    for _ in range(64):
        n.boot()  # deep-sleep wake: RAM gone, RTC memory kept
        assert n.mac.joined and n.store.source == "rtc"
        up(n)
    assert [u["fcnt"] for u in server.uplinks] == list(range(64))
    # one flash write per N uplinks; the join's write reserved the first block
    assert n.flash.writes - writes == 64 // 16 - 1
    assert server.rejected == []


def test_power_loss_skips_ahead_n_and_never_reuses_a_counter(server: LoRaWANServer) -> None:
    n = joined(server, every=16)
    for _ in range(5):
        up(n)
    assert n.boot(keep_rtc=False) == "flash"
    up(n)
    assert server.uplinks[-1]["fcnt"] == 16 and server.rejected == []


def test_corrupt_records_mean_a_clean_rejoin_with_a_fresh_devnonce(server: LoRaWANServer) -> None:
    n = joined(server)
    up(n)
    n.rtc.data = b"\x00" * 10
    bad = bytearray(n.flash.files["lorawan.dat"])
    bad[20] ^= 0xFF
    n.flash.files["lorawan.dat"] = bytes(bad)
    assert n.boot() == ""
    assert not n.mac.joined
    n.join()
    assert [j[1] for j in server.joins] == [0, 1] and server.rejected == []


def test_firmware_upgrade_migrates_a_v1_session_record(server: LoRaWANServer) -> None:
    n = joined(server)
    for _ in range(3):
        up(n)
    old = net_mod.encode_v1(n.mac.s)  # what the older firmware left behind
    n.rtc.data = old
    n.flash.files["lorawan.dat"] = old
    assert n.boot() == "rtc"
    assert n.store.migrated_from == 1 and n.mac.joined
    up(n)  # no rejoin: the network accepts the next counter with the old keys
    assert [u["fcnt"] for u in server.uplinks] == [0, 1, 2, 3] and len(server.joins) == 1
    assert n.flash.read("lorawan.dat")[2] == session_mod.VERSION
    assert server.rejected == []


def test_duty_cycle_is_never_exceeded(server: LoRaWANServer) -> None:
    n = joined(server)
    n.mac.s.dr = 0  # SF12: 2.8 s frames
    n.radio.tx_log.clear()
    sent = 0
    while sent < 30:
        try:
            n.mac.send(1, bytes(51), timeout_ms=1000)
            sent += 1
        except mac_mod.DutyCycleBusy as e:
            n.clock.sleep(e.wait_ms)
    log = n.radio.tx_log
    for band in range(len(region.BANDS)):
        txs = [(t, air) for t, air, f in log if region.band_of(f) == band]
        for (t0, a0), (t1, _) in itertools.pairwise(txs):
            assert t1 - t0 >= a0 * region.BANDS[band][2] // 1000  # Ton / dc before the next start
    # and over any hour, no sub-band carries more than its share
    for start, _, _ in log:
        for band in range(len(region.BANDS)):
            on = sum(a for t, a, f in log if start <= t < start + 3_600_000 and region.band_of(f) == band)
            assert on <= 3_600_000_000 // region.BANDS[band][2] + 3_000_000
