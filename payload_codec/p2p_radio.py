"""EU868 rules for LoRa P2P radio settings, shared by the node's drivers and the bridge.

docs/references.md §E: the LoRa modulations of EU868 DR0..DR6 (SF12..SF7 at 125 kHz, SF7 at
250 kHz), duty cycle per sub-band; data_rate() names the DR so the node's airtime ledger
counts a P2P packet exactly like an uplink of the same length (both add 13 bytes). The
whole channel (centre +- bandwidth / 2) must lie inside one sub-band of 1 % or more: the
node's airtime ledger (firmware/lib/duty_cycle.py) accounts 1 %, so 0.1 % sub-bands are
refused, and the 10 % sub-band is accounted conservatively at 1 %.
"""

from .errors import CodecError

# (low kHz, high kHz, duty cycle in 1/1000) of the EU868 sub-bands a P2P node may use
SUBBANDS = ((865000, 868000, 10), (868000, 868600, 10), (869400, 869650, 100), (869700, 870000, 10))


class RadioSettingsError(CodecError):
    """P2P radio settings outside the EU868 rules; the message names the setting."""


def check(freq_hz, sf, bw_khz):
    """The sub-band's duty cycle in 1/1000 for valid settings, else RadioSettingsError."""
    if isinstance(sf, bool) or sf not in (7, 8, 9, 10, 11, 12):
        raise RadioSettingsError("p2p_sf %r: EU868 LoRa uses SF7..SF12" % (sf,))
    if isinstance(bw_khz, bool) or bw_khz not in (125, 250) or (bw_khz == 250 and sf != 7):
        raise RadioSettingsError("p2p_bw_khz %r: EU868 LoRa uses 125 kHz, or 250 kHz at SF7" % (bw_khz,))
    if not isinstance(freq_hz, int) or isinstance(freq_hz, bool):
        raise RadioSettingsError("p2p_freq_hz %r is not an integer (Hz)" % (freq_hz,))
    lo = freq_hz - bw_khz * 500
    hi = freq_hz + bw_khz * 500
    for b_lo, b_hi, duty in SUBBANDS:
        if b_lo * 1000 <= lo and hi <= b_hi * 1000:
            return duty
    raise RadioSettingsError(
        "p2p_freq_hz %d: the %d kHz channel must lie inside an EU868 sub-band of 1 %% or more "
        "(865.0-868.0, 868.0-868.6, 869.4-869.65, 869.7-870.0 MHz)" % (freq_hz, bw_khz)
    )


def data_rate(sf, bw_khz):
    """The EU868 DR of checked settings: DR0 = SF12/125 .. DR5 = SF7/125, DR6 = SF7/250."""
    return 6 if bw_khz == 250 else 12 - sf
