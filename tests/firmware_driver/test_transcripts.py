"""The RAK3172 driver against byte-exact RUI3 transcripts, on CPython and on the real MicroPython.

Each scenario (tests/firmware_driver/mpy/rak_scenarios.py) plays a scripted UART with a fake
clock; the same module runs under both interpreters and must give the expected outcome.
"""

from __future__ import annotations

from typing import Any

import pytest

from trosmart_tools.mpy import MicroPythonBatch

from .conftest import LIB, MPY

ERR = {
    "AT_ERROR": "AtGenericError",
    "AT_PARAM_ERROR": "AtParamError",
    "AT_TEST_PARAM_OVERFLOW": "AtTestParamOverflow",
    "AT_NO_CLASSB_ENABLE": "AtNoClassBEnable",
    "AT_NO_NETWORK_JOINED": "AtNoNetworkJoined",
    "AT_RX_ERROR": "AtRxError",
    "AT_MODE_NO_SUPPORT": "AtModeNoSupport",
    "AT_COMMAND_NOT_FOUND": "AtCommandNotFound",
    "AT_UNSUPPORTED_BAND": "AtUnsupportedBand",
}

# scenario -> expected subset of run()'s answer
EXPECTED: dict[str, dict[str, Any]] = {
    "version": {"result": [40005, 40005, "RUI_4.0.5_RAK3172-E"]},
    "query_echo": {"result": "70B3D57ED0000001"},
    "query_spaces_case": {"result": "70b3d57ed0000001"},
    "query_bare_value": {"result": "3.2.0-p2_22q1_final.87"},
    "query_no_value": {"exc": "RakError"},
    **{f"error_{s}": {"exc": c, "status": s} for s, c in ERR.items()},
    "error_lowercase": {"exc": "AtParamError", "status": "AT_PARAM_ERROR"},
    "busy_retry_then_ok": {"result": [], "ms": 300},
    "busy_gives_up": {"exc": "AtBusyError", "status": "AT_BUSY_ERROR", "ms": 3100},
    "timeout": {"exc": "RakTimeout", "ms": 2000},
    "garbage_skipped": {"result": ["1", 1]},
    "split_chunks": {"result": "0000000000000000"},
    "join_ok": {"result": [None, True], "ms": 5500},
    "join_failed": {"exc": "JoinFailed", "reason": "JOIN_FAILED_RX_TIMEOUT"},
    "join_failed_status": {"exc": "JoinFailed", "reason": "JOIN_FAILED_7"},
    "join_timeout": {"exc": "RakTimeout", "ms": 8000},
    "join_event_after_noise": {"result": None},
    "send_unconfirmed": {"result": [], "ms": 1700},  # + _IND_GRACE_MS after TX_DONE
    "send_confirmed_rx_before_ok": {"result": [["1", -70, 8, 10, "01ff", False]]},
    "send_confirmed_failed": {"result": ["SendFailed", 4, [["2", -99, -3, 10, "00", False]]]},
    "send_cfm_cached": {"result": [0, 0]},
    "send_rx_before_status": {"result": [["1", -50, 9, 3, "beef", False]]},
    "late_rx_after_tx_done": {"result": [1, []]},  # the RX after TX_DONE comes with the send
    "stray_tx_done_ignored": {"result": True},
    "send_timeout": {"exc": "RakTimeout", "ms": 5000},
    "reboot_mid_send": {"result": ["ModuleRebooted", "module banner", False]},
    "join_lost_after_join": {"exc": "ModuleRebooted", "reason": "join lost (AT_NO_NETWORK_JOINED)"},
    "not_joined_fresh_driver": {"exc": "AtNoNetworkJoined"},
    "unexpected_joined_during_query": {"exc": "ModuleRebooted", "reason": "unexpected +EVT:JOINED"},
    "banner_then_query_ok": {"result": ["ModuleRebooted", "module banner", "5"]},
    "configure_nothing_to_do": {"result": 0},
    "configure_from_p2p": {"result": 5, "secret_logged": False},
    "set_data_rate": {"result": None},
    "other_events": {"result": [[], [0, 12, 2, -71, 9], "OTHER", 0]},
    "bad_port": {"exc": "AtParamError"},
    # issue 22 replays (rak_scenarios._issue22)
    # OK at 0 ms; 16 B at SF7 = 57 ms, RX2DL 2 s, open 500 ms, a 64 B RX2 downlink at SF12 2793 ms
    "old_send_unconfirmed_no_tx_done": {"result": [], "ms": 57 + 2000 + 500 + 2793},
    "old_send_downlink_in_rx1": {"result": [["1", -70, 5, 10, "0102", False]], "ms": 1100},
    "old_send_confirmed_failed_no_status": {"exc": "SendFailed", "status": -1},
    "reset_no_ok": {"result": None},
    "nwm_ok_glued_to_banner": {"result": [1, 0]},
    "join_module_retries": {"result": [None, 3, True]},
    "join_late_joined_is_a_result": {"result": [["RakTimeout", None], True, 1, 2]},
    "rx_after_tx_done": {"result": [["1", -60, 7, 10, "01", False]], "ms": 1105},  # not 1300
    "rx_after_confirmed_ok": {"result": [["1", -60, 7, 10, "0203", False]]},
    "send_restricted": {"exc": "DutyCycleRestricted", "status": "AT_BUSY_ERROR", "wait_ms": 81234, "ms": 0},
    "join_restricted_then_rearmed": {"result": [["DutyCycleRestricted", 2500], 2500, [], True, 1]},
    "echo_lf_cr": {"result": True},
    "own_empty_uplink_busy": {"result": [1, 0]},
    "pre_rui3_refused": {"exc": "UnsupportedFirmware", "version": "V1.0.4"},
    "pre_rui3_no_ok": {"exc": "UnsupportedFirmware", "version": "V1.0.4"},
    "silent_module": {"exc": "RakTimeout", "ms": 2000},
}


def _check(name: str, got: dict[str, Any]) -> None:
    assert got["problems"] == [], f"{name}: the driver wrote other bytes than the transcript"
    assert got["left"] == 0, f"{name}: transcript not played to its end"
    assert got["secret_logged"] is False
    want = EXPECTED[name]
    if "exc" not in want:
        assert "exc" not in got, f"{name} raised {got.get('exc')}: {got}"
    assert {k: got.get(k) for k in want} == want, f"{name}: {got}"


def test_every_scenario_has_an_expectation() -> None:
    import rak_scenarios

    assert set(rak_scenarios.SCENARIOS) == set(EXPECTED)


def test_every_status_string_has_its_exception() -> None:
    import rak3172

    assert set(rak3172.AT_ERRORS) == {*ERR, "AT_BUSY_ERROR"}
    for status, cls in rak3172.AT_ERRORS.items():
        assert cls.__name__ == ERR.get(status, "AtBusyError")
        assert cls().status == status
        assert issubclass(cls, rak3172.AtError) and issubclass(cls, rak3172.RakError)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_transcript_cpython(name: str) -> None:
    import rak_scenarios

    _check(name, rak_scenarios.run(name))


@pytest.mark.micropython
def test_transcripts_micropython(micropython: str) -> None:
    # 160k: the driver (26.5 KB from source) plus 60 scenarios of transcript text
    batch = MicroPythonBatch(MPY / "rak_batch.py", path=[LIB, MPY], heapsize="160k")
    names = sorted(EXPECTED)
    answers = batch.call_many([{"names": 1}] + [{"run": n} for n in names])
    assert answers[0] == names
    for name, got in zip(names, answers[1:], strict=True):
        _check(name, got)


def test_secret_masked_in_log() -> None:
    """The key goes over the wire byte-exact but never into the log."""
    import rak3172
    import rak_scenarios

    log: list[str] = []
    script, action = rak_scenarios.SCENARIOS["configure_from_p2p"]
    clock = rak_scenarios.FakeClock()
    uart = rak_scenarios.FakeUart(script, clock)
    m = rak3172.RAK3172(uart, ticks_ms=clock.ticks_ms, sleep_ms=clock.sleep_ms, log=log.append)
    action(m)
    assert "> AT+APPKEY=<hidden>" in log
    assert "> AT+DEVEUI=70B3D57ED0000001" in log
    assert not any(rak_scenarios.KEY in line.upper() for line in log)
