# ruff: noqa: RUF005  (list concatenation kept: this file also runs on MicroPython)
# Byte-exact RUI3 transcripts (docs/references.md §C) played to the RAK3172 driver; MicroPython + CPython.
# run(name) -> a JSON-able dict: what the action returned or raised, transcript problems,
# steps left unplayed, the fake clock at the end and whether a secret reached the log.

import rak3172
from rak_fake_uart import FakeClock, FakeUart

KEY = "000102030405060708090A0B0C0D0E0F"
DEVEUI = "70B3D57ED0000001"
APPEUI = "0000000000000000"
DASH = "------------------------------------------------------"
BANNER = "RAKwireless RAK3172-E Example\r\n" + DASH + "\r\n"  # 4.0.x, as shipped (forum logs)
# 4.2.x / 5.0.0 (strings of RAK-STM32-RUI prebuilt/RUI_5.0.0_RAK3172-E.bin, e5a28be8)
BANNER_42 = "RAKwireless RAK3172-E\r\n" + DASH + "\r\nVersion: RUI_4.2.1_RAK3172-E\r\n"


def W(s):
    return ("w", (s + "\r\n").encode())


def R(s):
    return ("r", s.encode() if isinstance(s, str) else s)


def T(ms, s):
    return ("t", ms, s.encode() if isinstance(s, str) else s)


def ok(cmd, *values):
    return [W(cmd), R("".join(v + "\r\n" for v in values) + "OK\r\n")]


ERRORS = (
    "AT_ERROR",
    "AT_PARAM_ERROR",
    "AT_BUSY_ERROR",
    "AT_TEST_PARAM_OVERFLOW",
    "AT_NO_CLASSB_ENABLE",
    "AT_NO_NETWORK_JOINED",
    "AT_RX_ERROR",
    "AT_MODE_NO_SUPPORT",
    "AT_COMMAND_NOT_FOUND",
    "AT_UNSUPPORTED_BAND",
)


def _dl(d):
    return [d.slot, d.rssi, d.snr, d.port, "".join("%02x" % b for b in d.data), d.multicast]


def _ver(v="4.0.5"):
    # AT+VER=? prints sw_version = FW_REVISION (RUI3 atcmd_general.c At_GetFwVersion), e.g.
    # RUI_5.0.0_RAK3172-E (prebuilt/RUI_5.0.0_RAK3172-E.bin); 3.2.0 printed 3.2.0-p2_22q1_final.87
    return ok("AT+VER=?", "AT+VER=RUI_%s_RAK3172-E" % v)


def _configured():
    # the queries of configure_otaa() on a module that has every setting already
    return (
        ok("AT+NJM=?", "AT+NJM=1")
        + ok("AT+BAND=?", "AT+BAND=4")
        + ok("AT+CLASS=?", "AT+CLASS=A")
        + ok("AT+DEVEUI=?", "AT+DEVEUI=" + DEVEUI)
        + ok("AT+APPEUI=?", "AT+APPEUI=" + APPEUI)
        + ok("AT+APPKEY=?", "AT+APPKEY=" + KEY)
    )


def _join_ok():
    return [W("AT+JOIN=1:0:10:0"), R("OK\r\n"), T(5500, "+EVT:JOINED\r\n")]


def _send(port, hexs, cfm=None):
    steps = []
    if cfm is not None:
        steps += ok("AT+CFM=%d" % cfm)
    return steps + [W("AT+SEND=%d:%s" % (port, hexs)), R("OK\r\n")]


def _scenarios():
    s = {}
    s["version"] = (_ver(), lambda m: [m.firmware(), m.firmware(), m.rui_text])
    s["query_echo"] = (
        [W("AT+DEVEUI=?"), R("AT+DEVEUI=?\r\nAT+DEVEUI=" + DEVEUI + "\r\nOK\r\n")],
        lambda m: m.query("deveui"),
    )
    s["query_spaces_case"] = (
        [W("AT+DEVEUI=?"), R("at+deveui = 70b3d57ed0000001 \r\n ok \r\n")],
        lambda m: m.query("DEVEUI"),
    )
    s["query_bare_value"] = ([W("AT+VER=?"), R("3.2.0-p2_22q1_final.87\r\nOK\r\n")], lambda m: m.version())
    s["query_no_value"] = ([W("AT+VER=?"), R("OK\r\n")], lambda m: m.version())
    for e in ERRORS:
        if e != "AT_BUSY_ERROR":
            s["error_" + e] = ([W("AT+DR=9"), R(e + "\r\n")], lambda m: m.command("AT+DR=9"))
    s["error_lowercase"] = ([W("AT+DR=9"), R(" at_param_error \r\n")], lambda m: m.command("AT+DR=9"))
    busy = [W("AT+DR=3"), R("AT_BUSY_ERROR\r\n")]
    s["busy_retry_then_ok"] = (busy * 2 + ok("AT+DR=3"), lambda m: m.command("AT+DR=3"))
    s["busy_gives_up"] = (busy * 6, lambda m: m.command("AT+DR=3"))
    s["timeout"] = ([W("AT+NJS=?")], lambda m: m.query("NJS"))
    s["garbage_skipped"] = (
        [W("AT+NJS=?"), R(b"\x00\xff\xfe\r\nxx noise 12\r\n" + b"Z" * 700 + b"\r\nAT+NJS=1\r\nOK\r\n")],
        lambda m: [m.query("NJS"), m.garbage],
    )
    s["split_chunks"] = (
        [W("AT+APPEUI=?"), R("AT+APP"), T(3, "EUI=0000000000000000\r"), T(4, "\nO"), T(2, "K\r\n")],
        lambda m: m.query("APPEUI"),
    )
    s["join_ok"] = (_join_ok(), lambda m: [m.join(), m._joined])
    s["join_failed"] = (
        [W("AT+JOIN=1:0:10:0"), R("OK\r\n"), T(6200, "+EVT:JOIN_FAILED_RX_TIMEOUT\r\n")],
        lambda m: m.join(),
    )
    s["join_failed_status"] = (
        [W("AT+JOIN=1:0:10:0"), R("OK\r\n"), T(100, "+EVT:JOIN_FAILED_7\r\n")],
        lambda m: m.join(),
    )
    s["join_timeout"] = ([W("AT+JOIN=1:0:10:0"), R("OK\r\n")], lambda m: m.join(timeout_ms=8000))
    s["join_event_after_noise"] = (
        [W("AT+JOIN=1:0:10:0"), R("OK\r\n"), T(5000, "Wait for LoRaWAN join...+EVT:JOINED\r\n")],
        lambda m: m.join(),
    )
    s["send_unconfirmed"] = (
        _ver()
        + _send(2, "0109C4", cfm=0) + [T(1500, "+EVT:TX_DONE\r\n")],
        lambda m: [_dl(d) for d in m.send(2, b"\x01\x09\xc4")],
    )
    s["send_confirmed_rx_before_ok"] = (
        _ver()
        + _send(1, "AABB", cfm=1)
        + [T(1200, "+EVT:RX_1:-70:8:UNICAST:10:01ff\r\n"), T(5, "+EVT:SEND_CONFIRMED_OK\r\n")],
        lambda m: [_dl(d) for d in m.send(1, b"\xaa\xbb", confirmed=True)],
    )
    s["send_confirmed_failed"] = (
        _ver()
        + _send(1, "AA", cfm=1)
        + [T(900, "+EVT:RX_2:-99:-3:UNICAST:10:00\r\n"), T(4000, "+EVT:SEND_CONFIRMED_FAILED(4)\r\n")],
        lambda m: _failed_then_pending(m),
    )
    s["send_cfm_cached"] = (
        _ver()
        + _send(1, "01", cfm=0) + [T(10, "+EVT:TX_DONE\r\n")] + _send(1, "02") + [T(10, "+EVT:TX_DONE\r\n")],
        lambda m: [len(m.send(1, b"\x01")), len(m.send(1, b"\x02"))],
    )
    s["send_rx_before_status"] = (
        _ver()
        + [W("AT+CFM=0"), R("OK\r\n"), W("AT+SEND=3:01")]
        + [R("+EVT:RX_1:-50:9:UNICAST:3:beef\r\nOK\r\n"), T(20, "+EVT:TX_DONE\r\n")],
        lambda m: [_dl(d) for d in m.send(3, b"\x01")],
    )
    s["late_rx_after_tx_done"] = (
        _ver()
        + _send(1, "01", cfm=0) + [T(50, "+EVT:TX_DONE\r\n"), T(100, "+EVT:RX_C:-80:2:MULTICAST:20:0a0b\r\n")],
        lambda m: [len(m.send(1, b"\x01")), [_dl(d) for d in m.poll(500)]],
    )
    s["stray_tx_done_ignored"] = (
        [R("+EVT:TX_DONE\r\nOK\r\n")] + ok("AT+NJS=?", "AT+NJS=1"),
        lambda m: m.is_joined(),
    )
    s["send_timeout"] = (_ver() + _send(1, "01", cfm=0), lambda m: m.send(1, b"\x01", timeout_ms=3000))
    s["reboot_mid_send"] = (
        _ver()
        + _send(1, "01", cfm=0) + [T(300, BANNER)] + ok("AT+NJS=?", "AT+NJS=0"),
        lambda m: _raises_then(m, lambda: m.send(1, b"\x01"), lambda: m.is_joined()),
    )
    s["join_lost_after_join"] = (
        _join_ok() + _ver() + [W("AT+CFM=0"), R("OK\r\n"), W("AT+SEND=1:01"), R("AT_NO_NETWORK_JOINED\r\n")],
        lambda m: [m.join(), m.send(1, b"\x01")],
    )
    s["not_joined_fresh_driver"] = (
        _ver() + [W("AT+CFM=0"), R("OK\r\n"), W("AT+SEND=1:01"), R("AT_NO_NETWORK_JOINED\r\n")],
        lambda m: m.send(1, b"\x01"),
    )
    s["unexpected_joined_during_query"] = (
        [W("AT+DR=?"), R("+EVT:JOINED\r\nAT+DR=5\r\nOK\r\n")],
        lambda m: m.query("DR"),
    )
    s["banner_then_query_ok"] = (
        [R(BANNER)] + ok("AT+DR=?", "AT+DR=5") + ok("AT+DR=?", "AT+DR=5"),
        lambda m: _raises_then(m, lambda: m.query("DR"), lambda: m.query("DR")),
    )
    s["configure_nothing_to_do"] = (
        _ver() + ok("AT+NWM=?", "AT+NWM=1") + _configured(),
        lambda m: m.configure_otaa(DEVEUI.lower(), APPEUI, KEY),
    )
    s["configure_from_p2p"] = (
        _ver()
        + ok("AT+NWM=?", "AT+NWM=0")
        # "OK" without CR LF, then the restart (RUI3 atcmd_p2p.c At_NwMode, v3.5.2 .. v5.0.0)
        + [W("AT+NWM=1"), R("OK"), T(200, BANNER + "Current Work Mode: LoRaWAN.\r\n")]
        + ok("AT")
        + ok("AT+NJM=?", "AT+NJM=0")
        + ok("AT+NJM=1")
        + ok("AT+BAND=?", "AT+BAND=4")
        + ok("AT+CLASS=?", "AT+CLASS=B:S0")
        + ok("AT+CLASS=A")
        + ok("AT+DEVEUI=?", "AT+DEVEUI=0000000000000000")
        + ok("AT+DEVEUI=" + DEVEUI)
        + ok("AT+APPEUI=?", "AT+APPEUI=" + APPEUI)
        + [W("AT+APPKEY=?"), R("AT_ERROR\r\n")]
        + ok("AT+APPKEY=" + KEY),
        lambda m: m.configure_otaa(DEVEUI, APPEUI, KEY.lower()),
    )
    s["other_events"] = (
        [R("+EVT:LINKCHECK:0:12:2:-71:9\r\n+EVT:TIMEREQ_OK\r\n+EVT:SWITCH_FAILED\r\n+EVT:NEW_THING:1\r\n")],
        lambda m: [m.poll(10), list(m.last_linkcheck), m.last_event[0], m.garbage],
    )
    s["set_data_rate"] = (ok("AT+ADR=0") + ok("AT+DR=3"), lambda m: m.set_data_rate(3, False))
    s["bad_port"] = ([], lambda m: m.send(224, b"\x01"))
    _issue22(s)
    return s


def _old_send(v, port, hexs, dr="5", rx2dl="2", rx2dr="0"):
    # < 4.0.4: the driver reads the data rate and the RX2 window, then sends
    return (
        _ver(v)
        + ok("AT+DR=?", "AT+DR=" + dr)
        + ok("AT+RX2DL=?", "AT+RX2DL=" + rx2dl)
        + ok("AT+RX2DR=?", "AT+RX2DR=" + rx2dr)
        + _send(port, hexs, cfm=0)
    )


def _issue22(s):
    """Replays of issue 22: real RUI3 behaviour the driver must survive (docs/rak3172.md §5)."""
    # 1. no +EVT:TX_DONE before 4.0.4: done after OK + airtime + RX2DL + open window + the
    #    longest RX2 downlink (SF12: 2.8 s)
    s["old_send_unconfirmed_no_tx_done"] = (_old_send("4.0.1", 2, "0109C4"), lambda m: m.send(2, b"\x01\x09\xc4"))
    s["old_send_downlink_in_rx1"] = (
        _old_send("3.5.2", 1, "01") + [T(1100, "+EVT:RX_1:-70:5:UNICAST:10:0102\r\n")],
        lambda m: [_dl(d) for d in m.send(1, b"\x01")],
    )
    s["old_send_confirmed_failed_no_status"] = (
        _ver("4.0.3") + _send(1, "AA", cfm=1) + [T(4000, "+EVT:SEND_CONFIRMED_FAILED\r\n")],
        lambda m: m.send(1, b"\xaa", confirmed=True),
    )
    # 2. ATZ prints no status line: the banner is the answer
    s["reset_no_ok"] = (
        [W("ATZ"), T(60, BANNER_42 + "Current Work Mode: LoRaWAN.\r\n")] + ok("AT"),
        lambda m: m.reset(),
    )
    # 3. AT+NWM: "OK" without CR LF glued to the 4.2.x banner
    s["nwm_ok_glued_to_banner"] = (
        _ver("4.2.1")
        + ok("AT+NWM=?", "AT+NWM=0")
        + [W("AT+NWM=1"), R("OK"), T(150, BANNER_42 + "Current Work Mode: LoRaWAN.\r\n")]
        + ok("AT")
        + _configured(),
        lambda m: [m.configure_otaa(DEVEUI, APPEUI, KEY), m.garbage],
    )
    # 4. the module's own retries: one JOIN_FAILED per request, then JOINED
    s["join_module_retries"] = (
        [W("AT+JOIN=1:0:10:2"), R("OK\r\n"), T(6200, "+EVT:JOIN_FAILED_RX_TIMEOUT\r\n")]
        + [T(10000, "+EVT:JOIN_FAILED_RX_TIMEOUT\r\n"), T(10000, "+EVT:JOINED\r\n")],
        lambda m: [m.join(timeout_ms=8000, retries=2), m.join_requests, m._joined],
    )
    # join() gives up (7 s per request + the 10 s period); the module's retry then succeeds
    s["join_late_joined_is_a_result"] = (
        [W("AT+JOIN=1:0:10:1"), R("OK\r\n"), T(6200, "+EVT:JOIN_FAILED_RX_TIMEOUT\r\n")]
        + [W("AT+NJS=?"), R("+EVT:JOINED\r\nAT+NJS=1\r\nOK\r\n")],
        lambda m: [_exc(lambda: m.join(timeout_ms=7000, retries=1)), m.is_joined(), m.late_joins, m.join_requests],
    )
    # 5. RX after TX_DONE (LoRaMacProcess: confirm before indication) comes with the send
    s["rx_after_tx_done"] = (
        _ver("4.0.5")
        + _send(1, "01", cfm=0)
        + [T(1100, "+EVT:TX_DONE\r\n"), T(4, "+EVT:RX_1:-60:7:UNICAST:10:01\r\n")],
        lambda m: [_dl(d) for d in m.send(1, b"\x01")],
    )
    s["rx_after_confirmed_ok"] = (
        _ver("5.0.0")
        + _send(1, "01", cfm=1)
        + [T(1100, "+EVT:SEND_CONFIRMED_OK\r\n+EVT:RX_1:-60:7:UNICAST:10:0203\r\n")],
        lambda m: [_dl(d) for d in m.send(1, b"\x01", confirmed=True)],
    )
    # 6. duty-cycle refusal: the wait goes to the caller, no 3.1 s of busy retries
    s["send_restricted"] = (
        _ver("4.2.1") + _send(1, "01", cfm=0)[:-1] + [R("Restricted_Wait_81234_ms\r\nAT_BUSY_ERROR\r\n")],
        lambda m: m.send(1, b"\x01"),
    )
    s["join_restricted_then_rearmed"] = (
        [W("AT+JOIN=1:0:10:1"), R("Restricted_Wait_2500_ms\r\nAT_BUSY_ERROR\r\n")]
        + [T(10000, "+EVT:JOINED\r\n")]
        + ok("AT+NJS=?", "AT+NJS=1"),
        lambda m: [_exc(lambda: m.join(retries=1)), m.dc_wait_ms, m.poll(11000), m.is_joined(), m.late_joins],
    )
    # 7. echo per byte then LF CR; a stray TX_DONE of the module's own empty uplink with a
    #    short AT_BUSY_ERROR window (after a confirmed downlink or FPending)
    s["echo_lf_cr"] = ([W("AT+NJS=?"), R("AT+NJS=?\n\rAT+NJS=1\r\nOK\r\n")], lambda m: m.is_joined())
    s["own_empty_uplink_busy"] = (
        _ver("4.0.5")
        + _send(1, "01", cfm=0)
        + [T(1100, "+EVT:RX_1:-60:7:UNICAST:10:01\r\n+EVT:TX_DONE\r\n")]
        + [W("AT+SEND=1:02"), R("AT_BUSY_ERROR\r\n"), T(100, "+EVT:TX_DONE\r\n")]
        + [W("AT+SEND=1:02"), R("OK\r\n"), T(1500, "+EVT:TX_DONE\r\n")],
        lambda m: [len(m.send(1, b"\x01")), len(m.send(1, b"\x02"))],
    )
    # 8. pre-RUI3 firmware is refused with its version; a silent module names the baud rates
    s["pre_rui3_refused"] = ([W("AT+VER=?"), R("V1.0.4\r\nOK\r\n")], lambda m: m.configure_otaa(DEVEUI, APPEUI, KEY))
    s["pre_rui3_no_ok"] = ([W("AT+VER=?"), R("V1.0.4\r\n")], lambda m: m.firmware())
    s["silent_module"] = ([W("AT+VER=?")], lambda m: m.firmware())


def _exc(fn):
    try:
        fn()
    except rak3172.RakError as e:
        return [type(e).__name__, getattr(e, "wait_ms", None)]
    return None


def _failed_then_pending(m):
    try:
        m.send(1, b"\xaa", confirmed=True)
    except rak3172.SendFailed as e:
        return ["SendFailed", e.status, [_dl(d) for d in m.pop_downlinks()]]
    return "no exception"


def _raises_then(m, first, then):
    try:
        first()
    except rak3172.RakError as e:
        return [type(e).__name__, getattr(e, "reason", None), then()]
    return "no exception"


SCENARIOS = _scenarios()
CHUNKED = {"split_chunks": 3, "garbage_skipped": 5}


def run(name):
    script, action = SCENARIOS[name]
    clock = FakeClock()
    uart = FakeUart(script, clock, CHUNKED.get(name, 64))
    log = []
    m = rak3172.RAK3172(uart, ticks_ms=clock.ticks_ms, sleep_ms=clock.sleep_ms, log=log.append)
    out = {}
    try:
        out["result"] = action(m)
    except rak3172.RakError as e:
        out["exc"] = type(e).__name__
        out["msg"] = str(e)
        for attr in ("status", "reason", "wait_ms", "version"):
            if hasattr(e, attr):
                out[attr] = getattr(e, attr)
    out["problems"] = uart.problems
    out["left"] = uart.left()
    out["ms"] = clock.now
    text = "\n".join(log)
    out["secret_logged"] = KEY in text.upper()
    return out


def parsed(line):
    """parse_event() as JSON-able data (the parity tests compare runtimes with it)."""
    ev = rak3172.parse_event(line)
    if ev is None:
        return None
    if ev[0] == "RX":
        return ["RX", _dl(ev[1])]
    if isinstance(ev[1], tuple):
        return [ev[0], list(ev[1])]
    return [ev[0], ev[1]]
