# The MAC's persisted state as versioned, checksummed records (docs/lorawan.md "Persistence"):
#   session record  keys, DevAddr, counters, ADR state, channels, RX settings, sticky answers,
#                   band timers: RTC memory on every uplink; flash every N uplinks, holding the
#                   FCntUp ceiling (FCntUp + N), so a cold boot skips ahead and never reuses one
#   nonce record    DevNonce (next to use) and the last JoinNonce: flash BEFORE each Join-Request
# A record is magic, version, body, CRC-32. A record of an older version is migrated (an upgrade
# never forces a rejoin); a corrupt one is ignored (clean rejoin; the nonce record still holds
# the DevNonce). Flash writes are atomic (temporary file + rename, LittleFS renames atomically).

import binascii
import struct

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_MAGIC = const(0x4C57)  # "LW"
VERSION = const(2)
_NONCE_MAGIC = const(0x4E4C)  # "LN"
FLAG_JOINED = const(1)
FLAG_ABP = const(2)
FLAG_ADR = const(4)
FLAG_ACK_DUE = const(8)  # a confirmed downlink waits for FCtrl.ACK
# sticky answer bits (LoRaWAN 1.0.4 §5: repeated in every uplink until a downlink arrives)
STICKY_RXPARAM = const(1)
STICKY_RXTIMING = const(2)
STICKY_DLCHANNEL = const(4)

# v2 body: flags, dev_nonce, join_nonce, net_id, dev_addr, nwk_skey, app_skey, fcnt_up, fcnt_down,
# dr, tx_power, rx1_dr_offset, rx2_dr, rx2_freq_khz, rx_delay_s, max_dcycle, nb_trans,
# adr_ack_cnt, ch_mask, sticky, rxparam_ans, dlchannel_ans, 16 channel kHz, 16 DR ranges,
# 6 band free-at (ms of the board clock), aggregated free-at, FCntUp ceiling reserved on flash,
# queued MAC answers (length, 15 bytes)
_V2 = "<HBBHIII16s16sIIBBBBIBBBHHBBB" + "16I16B6qqIB15s"
# v1 (the first layout): flags, dev_nonce, join_nonce, dev_addr, keys, counters, dr,
# rx1_dr_offset, rx2_dr, rx_delay_s; no channels, ADR, sticky answers or band timers
_V1 = "<HBBHII16s16sIIBBBB"  # also written by lorawan_network.encode_v1 (tests)
_NONCE = "<HBBHI"


class RecordError(ValueError):
    """A record that is corrupt, of an unknown version or too short."""


class Session:
    """Everything the MAC must remember; region defaults come from ``region``."""

    def __init__(self, region):
        self.region = region
        self.reset()

    def reset(self):
        r = self.region
        self.flags = 0
        self.dev_nonce = 0
        self.join_nonce = -1
        self.net_id = 0
        self.dev_addr = 0
        self.nwk_skey = bytes(16)
        self.app_skey = bytes(16)
        self.fcnt_up = 0
        self.fcnt_down = 0
        self.dr = 0
        self.tx_power = 0
        self.rx1_dr_offset = 0
        self.rx2_dr = r.RX2_DR
        self.rx2_freq_khz = r.RX2_FREQ_KHZ
        self.rx_delay_s = r.RECEIVE_DELAY1_S
        self.max_dcycle = 0
        self.nb_trans = 1
        self.adr_ack_cnt = 0
        self.sticky = 0
        self.rxparam_ans = 0
        self.dlchannel_ans = 0
        self.answers = bytearray(15)
        self.answers_len = 0
        self.reset_channels()
        self.band_free = [0] * len(r.BANDS)
        self.agg_free = 0
        self.ceiling = 0  # FCntUp reserved on flash (the flash copy stores it as its fcnt_up)

    def reset_channels(self):
        r = self.region
        n = r.MAX_CHANNELS
        self.freqs = [0] * n
        self.drs = bytearray(n)
        for i in range(len(r.DEFAULT_CHANNELS)):
            f, lo, hi = r.DEFAULT_CHANNELS[i]
            self.freqs[i] = f
            self.drs[i] = (hi << 4) | lo
        self.ch_mask = r.default_mask()

    @property
    def joined(self):
        return bool(self.flags & FLAG_JOINED)

    def drop_session(self):
        """Forget the session (rejoin) but keep the nonces."""
        nonce, jn = self.dev_nonce, self.join_nonce
        self.reset()
        self.dev_nonce, self.join_nonce = nonce, jn

    # --- records ----------------------------------------------------------------------
    def encode(self, fcnt_up=None):
        fu = self.fcnt_up if fcnt_up is None else fcnt_up
        body = struct.pack(
            _V2, _MAGIC, VERSION, self.flags, self.dev_nonce & 0xFFFF, self.join_nonce & 0xFFFFFFFF,
            self.net_id, self.dev_addr, self.nwk_skey, self.app_skey, fu & 0xFFFFFFFF,
            self.fcnt_down & 0xFFFFFFFF, self.dr, self.tx_power, self.rx1_dr_offset, self.rx2_dr,
            self.rx2_freq_khz, self.rx_delay_s, self.max_dcycle, self.nb_trans, self.adr_ack_cnt & 0xFFFF,
            self.ch_mask, self.sticky, self.rxparam_ans, self.dlchannel_ans, *self.freqs, *self.drs,
            *self.band_free, self.agg_free, (self.ceiling if fcnt_up is None else fu) & 0xFFFFFFFF,
            self.answers_len, bytes(self.answers),
        )
        return body + struct.pack("<I", binascii.crc32(body))

    def decode(self, data):
        """Load a record (any known version); RecordError if it is not a valid one."""
        if data is None or len(data) < 8:
            raise RecordError("no record")
        body = memoryview(data)[: len(data) - 4]
        if binascii.crc32(body) != struct.unpack_from("<I", data, len(data) - 4)[0]:
            raise RecordError("checksum")
        magic, version = struct.unpack_from("<HB", data, 0)
        if magic != _MAGIC:
            raise RecordError("magic")
        self.reset()
        if version == 1 and len(body) == struct.calcsize(_V1):
            self._from_v1(struct.unpack(_V1, body))
        elif version == 2 and len(body) == struct.calcsize(_V2):
            self._from_v2(struct.unpack(_V2, body))
        else:
            raise RecordError("version %d" % version)
        return version

    def _from_v1(self, v):
        # migration v1 -> v2: region defaults for what v1 did not store
        (_, _, self.flags, self.dev_nonce, jn, self.dev_addr, self.nwk_skey, self.app_skey,
         self.fcnt_up, self.fcnt_down, self.dr, self.rx1_dr_offset, self.rx2_dr, self.rx_delay_s) = v
        self.join_nonce = -1 if jn == 0xFFFFFFFF else jn
        self.ceiling = self.fcnt_up

    def _from_v2(self, v):
        (_, _, self.flags, self.dev_nonce, jn, self.net_id, self.dev_addr, self.nwk_skey, self.app_skey,
         self.fcnt_up, self.fcnt_down, self.dr, self.tx_power, self.rx1_dr_offset, self.rx2_dr,
         self.rx2_freq_khz, self.rx_delay_s, self.max_dcycle, self.nb_trans, self.adr_ack_cnt,
         self.ch_mask, self.sticky, self.rxparam_ans, self.dlchannel_ans) = v[:24]
        n = self.region.MAX_CHANNELS
        self.freqs = list(v[24:24 + n])
        self.drs = bytearray(v[24 + n:24 + 2 * n])
        nb = len(self.region.BANDS)
        self.band_free = list(v[24 + 2 * n:24 + 2 * n + nb])
        self.agg_free = v[24 + 2 * n + nb]
        self.ceiling = v[25 + 2 * n + nb]
        self.answers_len = v[26 + 2 * n + nb] if v[26 + 2 * n + nb] <= 15 else 0
        self.answers = bytearray(v[27 + 2 * n + nb])
        self.join_nonce = -1 if jn == 0xFFFFFFFF else jn

    def encode_nonce(self):
        body = struct.pack(_NONCE, _NONCE_MAGIC, 1, 0, self.dev_nonce & 0xFFFF, self.join_nonce & 0xFFFFFFFF)
        return body + struct.pack("<I", binascii.crc32(body))


def decode_nonce(data):
    """(dev_nonce, join_nonce) of a nonce record; RecordError if corrupt."""
    n = struct.calcsize(_NONCE)
    if data is None or len(data) != n + 4:
        raise RecordError("no nonce record")
    if binascii.crc32(memoryview(data)[:n]) != struct.unpack_from("<I", data, n)[0]:
        raise RecordError("nonce checksum")
    magic, _, _, dn, jn = struct.unpack_from(_NONCE, data, 0)
    if magic != _NONCE_MAGIC:
        raise RecordError("nonce magic")
    return dn, (-1 if jn == 0xFFFFFFFF else jn)

