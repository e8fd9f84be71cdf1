"""LoRa time on air (Semtech AN1200.13; docs/references.md §J) and LoRaWAN payload limits.

Integer microseconds, so firmware (single-precision floats) and host agree.
"""

LORAWAN_OVERHEAD = 13  # MHDR 1 + DevAddr 4 + FCtrl 1 + FCnt 2 + FPort 1 + MIC 4 (no FOpts)

# EU868 (RP002-1.0.3): DR -> (SF, BW kHz, max application payload N)
EU868 = ((12, 125, 51), (11, 125, 51), (10, 125, 51), (9, 125, 115), (8, 125, 242), (7, 125, 242), (7, 250, 242))
# US915 uplink DR0..DR4
US915 = ((10, 125, 11), (9, 125, 53), (8, 125, 125), (7, 125, 242), (8, 500, 242))


def time_on_air_us(phy_len: int, sf: int, bw_khz: int = 125, cr: int = 1, preamble: int = 8,
                   crc: bool = True, explicit_header: bool = True, ldro=None) -> int:
    """Time on air in microseconds of a LoRa frame of ``phy_len`` PHY bytes.

    cr is 1..4 for 4/5..4/8; LDRO defaults to on for SF11/SF12 at 125 kHz (as TTS).
    """
    if ldro is None:
        ldro = bw_khz == 125 and sf >= 11
    de = 1 if ldro else 0
    ih = 0 if explicit_header else 1
    t_sym_ns = (1 << sf) * 1000000 // bw_khz  # 2^SF / BW, in ns
    num = 8 * phy_len - 4 * sf + 28 + (16 if crc else 0) - 20 * ih
    den = 4 * (sf - 2 * de)
    n = (num + den - 1) // den if num > 0 else 0
    n_payload = 8 + n * (cr + 4)
    # (preamble + 4.25) * T_sym + n_payload * T_sym, kept integral via quarters
    total_ns = ((4 * preamble + 17) * t_sym_ns) // 4 + n_payload * t_sym_ns
    return total_ns // 1000


def uplink_time_on_air_us(app_len: int, sf: int, bw_khz: int = 125) -> int:
    """Time on air of a LoRaWAN uplink carrying ``app_len`` application bytes (CR 4/5)."""
    return time_on_air_us(app_len + LORAWAN_OVERHEAD, sf, bw_khz)


def max_payload(dr: int, region=EU868) -> int:
    """Largest application payload at a data rate (no FOpts)."""
    return region[dr][2]
