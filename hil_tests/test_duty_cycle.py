"""Scenario "duty-cycle limit over a burst": the node is asked for a measurement every 10 s
at DR0 (SF12, about 1.3 s on air per frame), far more than the 1 % of sub-band M allows
(36 s per hour, docs/references.md §E). The module would send a burst of about 27 frames; the node's
own account (firmware/lib/duty_cycle.py, ETSI Ton/Toff) must space every transmission by
100 times its airtime, so no hour ever carries more than 36 s (plus the Ton/Toff rule's
one-frame edge). Timing is read on the network side, on the node's clock."""

from __future__ import annotations

from itertools import pairwise

import payload_codec
from payload_codec.airtime import EU868, time_on_air_us

from .expect import RAMP, airtime_s

DR = 0
ASKED_INTERVAL_S = 10
UPLINKS = 30  # > 27: the run crosses the first full hour of the budget
DUTY = 0.01
WINDOW_S = 3600.0
JOIN_REQUEST_PHY = 23  # docs/references.md §C/§E: MHDR + JoinEUI + DevEUI + DevNonce + MIC


def test_duty_cycle_limit_over_a_burst(start_node, uplinks) -> None:
    node = start_node({"interval_s": ASKED_INTERVAL_S, "data_rate": DR, "adr": False, "status_every": 0},
                      RAMP, speedup=400)
    sf, bw, _ = EU868[DR]
    per_frame = airtime_s(9, DR)
    budget = node.budget(UPLINKS * 100 * per_frame * 1.2, 2 * UPLINKS + 4)
    ups = uplinks.wait(lambda e: e.kind == "up", budget, "uplinks", count=UPLINKS)
    tx = [(e.vt, time_on_air_us(JOIN_REQUEST_PHY, sf, bw) / 1e6) for e in uplinks.of("join")]
    tx += [(e.vt, airtime_s(len(e.frame), e.dr if e.dr is not None else DR)) for e in ups]
    tx.sort()
    assert all(e.dr == DR for e in ups if e.dr is not None)
    span = tx[-1][0] - tx[0][0]
    assert span > WINDOW_S, f"the run must cross a full hour, spanned {span:.0f} s"
    # Ton/Toff: a transmission of T closes the band for 100 T (1 s slack for clock reading)
    for (t0, a0), (t1, _) in pairwise(tx):
        assert t1 - t0 >= a0 / DUTY - 1.0, f"sent {t1 - t0:.1f} s after a {a0:.2f} s frame"
    # every hour-long window: at most 1 % (the Ton/Toff rule may end one frame past it; since
    # store and forward that frame can be a batch, longer than a single measurement)
    longest = max(a for _, a in tx)
    for i, (start, _) in enumerate(tx):
        used = sum(a for t, a in tx[i:] if t < start + WINDOW_S)
        assert used <= DUTY * WINDOW_S + longest, f"{used:.1f} s on air in the hour from {start:.0f} s"
    # the node really was throttled: far fewer uplinks than the 10 s interval asked for
    asked = span / ASKED_INTERVAL_S
    assert len(ups) < asked / 5, (len(ups), asked)
    assert all(e.fport in (payload_codec.MEASUREMENT, payload_codec.STATUS) for e in ups)
