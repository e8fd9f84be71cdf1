# LoRaWAN 1.0.4 join-request back-off for EU868 (docs/references.md §E, "retransmission back-off",
# as LoRaMac-node RegionCommon.c implements it). Pure integer maths, MicroPython and CPython.
# Time is seconds since the device powered up (the epoch the spec counts from); keep it in
# RTC memory / flash across deep sleep and persist ``state()`` with it.

try:
    from micropython import const
except ImportError:  # CPython host tests

    def const(x):
        return x


_HOUR_S = const(3600)
_FIRST_END_S = const(3600)  # hour 0: <= 36 s aggregated join airtime
_SECOND_END_S = const(39600)  # hours 1-11: <= 36 s per 10 h
_DAY_S = const(86400)  # after 11 h: <= 8.7 s per 24 h
_BUDGET_FIRST_MS = const(36000)
_BUDGET_SECOND_MS = const(36000)
_BUDGET_DAY_MS = const(8700)
_DC_FACTOR = const(100)  # 1 % duty cycle on the join channels (868.0-868.6 MHz, docs/references.md §E)

# Time on air of a Join-Request (PHY 23 bytes: MHDR 1 + JoinEUI 8 + DevEUI 8 + DevNonce 2
# + MIC 4) at EU868 DR0..DR5, rounded up to ms; docs/references.md §J table (10 B app + 13 = 23 B PHY).
_JOIN_TOA_MS = (1483, 824, 371, 206, 114, 62)


def join_airtime_ms(dr):
    """Airtime of one Join-Request at EU868 data rate ``dr`` (0..5)."""
    if dr < 0 or dr > 5:
        raise ValueError("join data rate must be 0..5")
    return _JOIN_TOA_MS[dr]


def _window(now_s):
    # -> (index, start_s, length_s, budget_ms) of the back-off window holding now_s
    if now_s < _FIRST_END_S:
        return 0, 0, _HOUR_S, _BUDGET_FIRST_MS
    if now_s < _SECOND_END_S:
        return 1, _FIRST_END_S, _SECOND_END_S - _FIRST_END_S, _BUDGET_SECOND_MS
    k = (now_s - _SECOND_END_S) // _DAY_S
    return 2 + k, _SECOND_END_S + k * _DAY_S, _DAY_S, _BUDGET_DAY_MS


class JoinBackoff:
    """Aggregated Join-Request airtime per back-off window, plus the 1 % per-request off time.

    state() -> (window_index, used_ms, next_ok_s): persist it and pass it back to __init__.
    """

    def __init__(self, state=None):
        if state:
            self._win, self._used, self._next = int(state[0]), int(state[1]), int(state[2])
        else:
            self._win, self._used, self._next = 0, 0, 0

    def allowed_at_s(self, now_s, airtime_ms):
        """Earliest time (s since power-up, >= now_s) a join of ``airtime_ms`` is allowed."""
        t = now_s if now_s > self._next else self._next
        while True:
            idx, start, length, budget = _window(t)
            if airtime_ms > budget:
                raise ValueError("join airtime exceeds every back-off budget")
            used = self._used if idx == self._win else 0
            if used + airtime_ms <= budget:
                return t
            t = start + length

    def record(self, now_s, airtime_ms):
        """Account a Join-Request sent at ``now_s``."""
        idx = _window(now_s)[0]
        if idx != self._win:
            self._win = idx
            self._used = 0
        self._used += airtime_ms
        # ETSI 1 %: the sub-band stays silent for 99x the airtime (ceil to whole seconds)
        self._next = now_s + (airtime_ms * _DC_FACTOR + 999) // 1000

    def state(self):
        return (self._win, self._used, self._next)
