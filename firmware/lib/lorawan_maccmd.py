# MAC commands of LoRaWAN 1.0.4 §5 for a Class A device: parse the network's requests (FOpts or
# an FPort-0 payload), apply them to the Session and queue the answers. RXParamSetupAns,
# RXTimingSetupAns and DlChannelAns are sticky: sent in every uplink until a downlink arrives.
# A contiguous block of LinkADRReq is applied atomically, one LinkADRAns per request (§5.3).

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


import lorawan_session as ls

_LINK_CHECK = const(0x02)
_LINK_ADR = const(0x03)
_DUTY_CYCLE = const(0x04)
_RX_PARAM_SETUP = const(0x05)
_DEV_STATUS = const(0x06)
_NEW_CHANNEL = const(0x07)
_RX_TIMING_SETUP = const(0x08)
_TX_PARAM_SETUP = const(0x09)
_DL_CHANNEL = const(0x0A)
_DEVICE_TIME = const(0x0D)
# payload length of each downlink (network -> device) command, indexed by CID; 0xFF: unknown
# (bytes, not a dict: one small object in the heap, docs/lorawan.md "RAM")
_DOWN_LEN = b"\xff\xff\x02\x04\x01\x04\x00\x05\x01\x01\x04\xff\xff\x05"
_UNKNOWN = const(0xFF)
_ANS_MAX = const(15)  # answers ride in FOpts (at most 15 bytes)


def _u24(b, o):
    return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)


class MacCommands:
    """Applies requests to ``session`` and collects answers for the next uplink."""

    def __init__(self, session, region):
        self.s = session
        self.region = region
        self.want_link_check = False
        self.want_device_time = False
        self.link_check = None  # (margin dB, gateway count) of the last LinkCheckAns
        self.device_time = None  # (GPS seconds, 1/256 s) of the last DeviceTimeAns
        self.battery = 255  # DevStatusAns battery: 0 external, 1..254, 255 unknown
        self.applied = []  # CIDs handled from the last downlink (for logs and tests)

    def _queue(self, cid, *payload):
        s = self.s  # answers live in the session: they survive deep sleep until the next uplink
        if s.answers_len + 1 + len(payload) > _ANS_MAX:
            return  # no room: the network repeats the request
        a = s.answers
        a[s.answers_len] = cid
        for i in range(len(payload)):
            a[s.answers_len + 1 + i] = payload[i]
        s.answers_len += 1 + len(payload)

    def handle(self, cmds, n, snr):
        """Apply downlink commands cmds[:n]; stops at an unknown CID (its length is unknown)."""
        self.applied = []
        i = 0
        while i < n:
            cid = cmds[i]
            ln = _DOWN_LEN[cid] if cid < len(_DOWN_LEN) else _UNKNOWN
            if ln == _UNKNOWN or i + 1 + ln > n:
                break
            if cid == _LINK_ADR:
                j = i
                while j < n and cmds[j] == _LINK_ADR and j + 5 <= n:
                    j += 5
                self._link_adr(cmds, i, (j - i) // 5)
                i = j
                self.applied.append(cid)
                continue
            self._one(cid, cmds, i + 1, snr)
            self.applied.append(cid)
            i += 1 + ln

    def _one(self, cid, c, o, snr):
        s = self.s
        r = self.region
        if cid == _LINK_CHECK:
            self.link_check = (c[o], c[o + 1])
            self.want_link_check = False
        elif cid == _DUTY_CYCLE:
            s.max_dcycle = c[o] & 0x0F
            self._queue(_DUTY_CYCLE)
        elif cid == _RX_PARAM_SETUP:
            off = (c[o] >> 4) & 0x07
            dr2 = c[o] & 0x0F
            khz = _u24(c, o + 1) // 10
            st = (4 if off <= r.MAX_RX1_DR_OFFSET else 0) | (2 if dr2 <= r.MAX_DR else 0) | (
                1 if r.valid_freq(khz) else 0)
            if st == 7:
                s.rx1_dr_offset = off
                s.rx2_dr = dr2
                s.rx2_freq_khz = khz
            s.rxparam_ans = st
            s.sticky |= ls.STICKY_RXPARAM
        elif cid == _DEV_STATUS:
            m = snr if -32 <= snr <= 31 else (-32 if snr < 0 else 31)
            self._queue(_DEV_STATUS, self.battery, m & 0x3F)
        elif cid == _NEW_CHANNEL:
            ch = c[o]
            khz = _u24(c, o + 1) // 10
            lo = c[o + 4] & 0x0F
            hi = c[o + 4] >> 4
            dr_ok = lo <= hi <= r.MAX_DR
            f_ok = khz == 0 or r.valid_freq(khz)
            if ch < len(r.DEFAULT_CHANNELS) or ch >= r.MAX_CHANNELS:
                dr_ok = f_ok = False  # default channels cannot be changed
            if dr_ok and f_ok:
                s.freqs[ch] = khz
                s.drs[ch] = c[o + 4] if khz else 0
                if khz:
                    s.ch_mask |= 1 << ch
                else:
                    s.ch_mask &= ~(1 << ch)
            self._queue(_NEW_CHANNEL, (2 if dr_ok else 0) | (1 if f_ok else 0))
        elif cid == _RX_TIMING_SETUP:
            d = c[o] & 0x0F
            s.rx_delay_s = d if d else 1
            s.sticky |= ls.STICKY_RXTIMING
        elif cid == _DL_CHANNEL:
            # RX1 on another frequency is not supported: refused, sticky as 1.0.4 requires
            ch = c[o]
            s.dlchannel_ans = 2 if ch < r.MAX_CHANNELS and s.freqs[ch] else 0
            s.sticky |= ls.STICKY_DLCHANNEL
        elif cid == _DEVICE_TIME:
            secs = c[o] | (c[o + 1] << 8) | (c[o + 2] << 16) | (c[o + 3] << 24)
            self.device_time = (secs, c[o + 4])
            self.want_device_time = False
        # _TX_PARAM_SETUP: not implemented in EU868 (RP002): no answer

    def _link_adr(self, c, start, count):
        s = self.s
        r = self.region
        mask = s.ch_mask
        ok_mask = True
        for k in range(count):
            o = start + 5 * k + 1
            m = r.link_adr_mask(s.freqs, mask, c[o + 1] | (c[o + 2] << 8), (c[o + 3] >> 4) & 0x07)
            if m < 0:
                ok_mask = False
            else:
                mask = m
        o = start + 5 * (count - 1) + 1  # DR, power and NbTrans come from the last request
        dr = c[o] >> 4
        pw = c[o] & 0x0F
        nb = c[o + 3] & 0x0F
        if dr == 0x0F:
            dr = s.dr
        if pw == 0x0F:
            pw = s.tx_power
        dr_ok = dr <= r.MAX_DR
        if dr_ok and ok_mask:
            dr_ok = False
            for i in range(r.MAX_CHANNELS):  # some enabled channel must allow the DR
                if mask & (1 << i) and (s.drs[i] & 0x0F) <= dr <= (s.drs[i] >> 4):
                    dr_ok = True
        pw_ok = pw <= r.MAX_TX_POWER_INDEX
        st = (4 if pw_ok else 0) | (2 if dr_ok else 0) | (1 if ok_mask else 0)
        if st == 7:
            s.ch_mask = mask
            s.dr = dr
            s.tx_power = pw
            if nb:
                s.nb_trans = nb
            s.adr_ack_cnt = 0
        for _ in range(count):
            self._queue(_LINK_ADR, st)

    def fopts(self, buf):
        """Write this uplink's FOpts into buf: sticky answers, queued answers, requests."""
        s = self.s
        n = 0
        if s.sticky & ls.STICKY_RXPARAM:
            buf[n] = _RX_PARAM_SETUP
            buf[n + 1] = s.rxparam_ans
            n += 2
        if s.sticky & ls.STICKY_RXTIMING:
            buf[n] = _RX_TIMING_SETUP
            n += 1
        if s.sticky & ls.STICKY_DLCHANNEL:
            buf[n] = _DL_CHANNEL
            buf[n + 1] = s.dlchannel_ans
            n += 2
        k = s.answers_len if s.answers_len <= _ANS_MAX - n else 0
        for i in range(k):
            buf[n + i] = s.answers[i]
        n += k
        if self.want_link_check and n < _ANS_MAX:
            buf[n] = _LINK_CHECK
            n += 1
        if self.want_device_time and n < _ANS_MAX:
            buf[n] = _DEVICE_TIME
            n += 1
        return n

    def sent(self):
        """The queued (non-sticky) answers went out."""
        self.s.answers_len = 0
