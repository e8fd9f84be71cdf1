# EU863-870 regional parameters for the MAC (docs/references.md §E, §J; RP002-1.0.3): data
# rates, default channels, RX1/RX2, TX power, duty-cycle sub-bands, CFList and LinkADR channel
# masks. Other regions provide the same names (the region interface): the MAC imports none of
# these constants directly. US915 can follow as lorawan_us915.py.

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


NAME = "EU868"
# DR -> (SF, BW kHz); DR7 (FSK) is not a LoRa rate: the `lora` modem API has no FSK
DATA_RATES = ((12, 125), (11, 125), (10, 125), (9, 125), (8, 125), (7, 125), (7, 250))
MAX_DR = const(6)
# largest FRMPayload+FOpts per DR (N of §J, M - 8): 51 at DR0-2, 115 at DR3, 242 above
_MAX_N = b"\x33\x33\x33\x73\xf2\xf2\xf2"  # 51, 51, 51, 115, 242, 242, 242 (bytes: one small object)
DEFAULT_CHANNELS = ((868100, 0, 5), (868300, 0, 5), (868500, 0, 5))  # (kHz, min DR, max DR)
MAX_CHANNELS = const(16)
RX2_FREQ_KHZ = const(869525)
RX2_DR = const(0)  # by the spec; TTN's plan sets DR3 in the join-accept (§E)
RECEIVE_DELAY1_S = const(1)
JOIN_ACCEPT_DELAY1_S = const(5)
ADR_ACK_LIMIT = const(64)
ADR_ACK_DELAY = const(32)
MAX_EIRP_DBM = const(16)
MAX_TX_POWER_INDEX = const(7)  # TXPower n -> MaxEIRP - 2n dB
MAX_RX1_DR_OFFSET = const(5)
FREQ_MIN_KHZ = const(863000)
FREQ_MAX_KHZ = const(870000)
SYNCWORD = const(0x34)  # public LoRaWAN network (§B 1.3)
PREAMBLE = const(8)

# duty-cycle sub-bands (§E, LoRaMac-node bands): (low kHz, high kHz, off-time factor 1/dc)
BANDS = (
    (863000, 865000, 1000),  # 0.1 %
    (865000, 868000, 100),  # 1 %
    (868000, 868600, 100),  # 1 % (the default channels)
    (868700, 869200, 1000),  # 0.1 %
    (869400, 869650, 10),  # 10 %
    (869700, 870000, 100),  # 1 %
)


def sf_bw(dr):
    return DATA_RATES[dr]


def max_payload(dr):
    return _MAX_N[dr]


def rx1_dr(up_dr, offset):
    d = up_dr - offset
    return d if d > 0 else 0


def tx_power_dbm(index):
    return MAX_EIRP_DBM - 2 * index


def band_of(freq_khz):
    """Index into BANDS of the sub-band holding freq_khz, or -1 (may not transmit)."""
    for i in range(len(BANDS)):
        lo, hi, _ = BANDS[i]
        if lo <= freq_khz < hi:
            return i
    return -1


def valid_freq(freq_khz):
    return FREQ_MIN_KHZ <= freq_khz <= FREQ_MAX_KHZ and band_of(freq_khz) >= 0


def apply_cflist(freqs, drs, cflist):
    """Join-Accept CFList type 0 (§E): five frequencies (x100 Hz, 24 bit) for channels 3..7."""
    if cflist is None or cflist[15] != 0:
        return
    for i in range(5):
        f100 = cflist[3 * i] | (cflist[3 * i + 1] << 8) | (cflist[3 * i + 2] << 16)
        khz = f100 // 10
        if f100 and valid_freq(khz):
            freqs[3 + i] = khz
            drs[3 + i] = 0x50  # DR0..DR5
        else:
            freqs[3 + i] = 0
            drs[3 + i] = 0


def link_adr_mask(freqs, mask, ch_mask, cntl):
    """The channel mask after one LinkADRReq's (ChMask, ChMaskCntl), or -1 if refused."""
    if cntl == 0:
        new = ch_mask
    elif cntl == 6:
        new = 0
        for i in range(MAX_CHANNELS):
            if freqs[i]:
                new |= 1 << i
    else:
        return -1  # RFU in EU868
    for i in range(MAX_CHANNELS):
        if new & (1 << i) and not freqs[i]:
            return -1  # enables an undefined channel
    return new if new else -1


def default_mask():
    return (1 << len(DEFAULT_CHANNELS)) - 1
