# The node's own airtime account for EU868 sub-band M (868.0-868.6 MHz, the three default
# channels): 1 % duty cycle (ETSI EN 300 220; docs/references.md §E, §J). Rule (ETSI Ton/Toff):
# a transmission of airtime T starting at t blocks the band until t + T / 1 %, so the
# node never exceeds 1 % over any window, whatever the module would allow.
# The state is one integer (State.dc_free_ms) kept in RTC memory.

from micropython import const

from payload_codec.airtime import EU868, LORAWAN_OVERHEAD, time_on_air_us

_DUTY_DIV = const(100)  # 1 % -> off-time factor 100 (T_on + T_off = 100 * T_on)
_JOIN_REQUEST_PHY = const(23)  # MHDR 1 + JoinEUI 8 + DevEUI 8 + DevNonce 2 + MIC 4
FRAME_CAP = const(51)  # largest frame this node sends: fits every EU868 DR (docs/references.md §J)


def airtime_us(app_len, dr):
    """Time on air of an uplink with ``app_len`` application bytes at EU868 ``dr``."""
    sf, bw, _ = EU868[dr]
    return time_on_air_us(app_len + LORAWAN_OVERHEAD, sf, bw)


def join_airtime_us(dr):
    sf, bw, _ = EU868[dr]
    return time_on_air_us(_JOIN_REQUEST_PHY, sf, bw)


class Ledger:
    def __init__(self, state):
        self._s = state

    def wait_ms(self, now_ms):
        """How long the band stays closed from ``now_ms`` (0 = transmit now)."""
        w = self._s.dc_free_ms - now_ms
        return w if w > 0 else 0

    def record(self, now_ms, airtime):
        """Account a transmission of ``airtime`` microseconds that started at ``now_ms``."""
        start = now_ms if now_ms > self._s.dc_free_ms else self._s.dc_free_ms
        self._s.dc_free_ms = start + (airtime * _DUTY_DIV + 999) // 1000

    def defer(self, now_ms, wait_ms):
        """The module refused to transmit for ``wait_ms`` (RUI3 Restricted_Wait_<ms>_ms)."""
        if now_ms + wait_ms > self._s.dc_free_ms:
            self._s.dc_free_ms = now_ms + wait_ms

    def assume_worst(self, now_ms, dr):
        """After power loss the account is gone: assume a full frame just went out."""
        self.record(now_ms, airtime_us(FRAME_CAP, dr))
