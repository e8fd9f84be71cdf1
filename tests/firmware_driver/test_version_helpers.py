"""The driver's RUI3 version parsing, Restricted_Wait parsing and time-on-air arithmetic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from payload_codec.airtime import EU868, time_on_air_us


@given(st.integers(1, 255), st.integers(0, 6))
def test_toa_matches_payload_codec(phy_len: int, dr: int) -> None:
    import rak3172

    sf, bw, _ = EU868[dr]
    want_ms = time_on_air_us(phy_len, sf, bw) / 1000
    assert want_ms <= rak3172.toa_ms(phy_len, dr) < want_ms + 1  # rounded up to the ms


@given(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99),
       st.sampled_from(["RUI_{}_RAK3172-E", "{}", "{}-p2_22q1_final.87", "AT+VER={}", " V{} "]))
def test_version_code(a: int, b: int, c: int, form: str) -> None:
    import rak3172

    assert rak3172.version_code(form.format(f"{a}.{b}.{c}")) == a * 10000 + b * 100 + c


def test_version_code_rejects_what_is_no_version() -> None:
    import rak3172

    for text in ("", "OK", "1.2", "RAK3172-E", "AT_ERROR", "..."):
        assert rak3172.version_code(text) == -1, text


@given(st.integers(0, 10**9), st.sampled_from(["Restricted_Wait_{}_ms", "restricted_wait_{}_ms "]))
def test_restricted_wait(ms: int, form: str) -> None:  # the driver strips lines first
    import rak3172

    assert rak3172.restricted_wait_ms(form.format(ms)) == ms
    assert rak3172.restricted_wait_ms("+EVT:TX_DONE") == -1
