# A LoRaWAN 1.0.4 Class A MAC on the micropython-lib `lora` modem API (docs/references.md §B:
# configure(), send() -> TX-done ticks_ms, recv(timeout_ms)). OTAA and ABP; RX1/RX2 timed from
# TX done with the session's RxDelay and RX2 data rate, sleeping (lightsleep) through the
# delays; confirmed uplinks with retransmission; NbTrans; ADR back-off (ADR_ACK_LIMIT/DELAY);
# MAC commands (lorawan_maccmd.py); per-sub-band duty cycle and DutyCycleReq (§E, §J).
# Persistence: lorawan_store.py. The radio, region, store and clocks are passed in.
# Every wait has a deadline: receive windows are bounded, duty-cycle waits longer than the
# caller's timeout raise DutyCycleBusy instead of sleeping.

import time

# ticks arithmetic of MicroPython; plain integers on CPython (host tests with a virtual clock)
_ticks_diff = getattr(time, "ticks_diff", lambda a, b: a - b)
_ticks_add = getattr(time, "ticks_add", lambda a, b: a + b)

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


import lorawan_crypto as crypto
import lorawan_frames as fr
import lorawan_session as ls

_RX_LEAD_MS = const(20)  # open a window this early (radio start-up and clock error)
_RX_MIN_SYMBOLS = const(8)  # the window lasts at least the 8-symbol preamble (§E)
_CONFIRMED_TRIES = const(4)  # transmissions of a confirmed uplink without an ACK
_RETRANSMIT_MIN_MS = const(1000)  # RETRANSMIT_TIMEOUT 2 s +- 1 s (§E), after RX2
_WORST_PHY = const(64)  # 51 B application payload + 13 (§J): band timers after a power loss
_BW = {125: "125", 250: "250", 500: "500"}  # lora_cfg bw strings (§B 1.3), no allocation per frame


def _drop_module(name):
    # a joined node never needs the join code again: let the collector take its bytecode
    import gc
    import sys

    sys.modules.pop(name, None)
    gc.collect()


class MacError(Exception):
    """Base of everything the MAC raises."""


class NotJoined(MacError):
    pass


class JoinFailed(MacError):
    def __init__(self, reason):
        self.reason = reason
        super().__init__(reason)


class SendFailed(MacError):
    """A confirmed uplink was not acknowledged after all its transmissions."""

    def __init__(self, status=-1):
        self.status = status
        super().__init__("SEND_CONFIRMED_FAILED(%d)" % status)


class DutyCycleBusy(MacError):
    """No channel may transmit for ``wait_ms`` (longer than the caller allows)."""

    def __init__(self, wait_ms):
        self.wait_ms = wait_ms
        super().__init__("duty cycle: next transmission in %d ms" % wait_ms)


class Downlink:
    """An application downlink; the same attributes as rak3172.Downlink."""

    def __init__(self, slot, rssi, snr, port, data, multicast=False):
        self.slot = slot
        self.rssi = rssi
        self.snr = snr
        self.port = port
        self.data = data
        self.multicast = multicast

    def __repr__(self):
        return "Downlink(%r, %r, %r, %r, %r)" % (self.slot, self.rssi, self.snr, self.port, self.data)


class Mac:
    def __init__(self, radio, region, store, now_ms, sleep_ms, ticks_ms=None, rand=None, log=None):
        self.radio = radio
        self.region = region
        self.store = store
        self.now_ms = now_ms  # board clock that keeps counting through deep sleep
        self.sleep_ms = sleep_ms  # lightsleep(ms): RAM and the radio's state kept
        self.ticks_ms = ticks_ms or time.ticks_ms  # the radio's time base (send() returns it)
        self._rand = rand
        self._log = log
        self.s = ls.Session(region)
        self._cmds = None  # lorawan_maccmd, imported when a command or an answer first needs it
        self._tx = bytearray(fr.MAX_PHY)
        self._txv = memoryview(self._tx)
        self._b0 = bytearray(16 + fr.MAX_PHY)
        self._fopts = bytearray(15)
        self._free = bytearray(region.MAX_CHANNELS)  # _pick_channel's candidates, no list per uplink
        self._accept_cb = self._accept  # one bound method, not a new one per uplink
        self._cfg = {"freq_khz": 0, "sf": 7, "bw": "125", "coding_rate": 5, "preamble_len": region.PREAMBLE,
                     "syncword": region.SYNCWORD, "output_power": 14, "crc_en": True,
                     "invert_iq_tx": False, "invert_iq_rx": True, "implicit_header": False}
        self._downlinks = []
        self._acked = False
        self._got = False
        self.confirmed_tries = _CONFIRMED_TRIES
        self._join_keys = None  # (join_eui, dev_eui, app aes, app cmac)
        self._keys = None  # session (nwk cmac, nwk cipher, app cipher)
        self.last_airtime_us = 0
        self.last_rx = None  # (slot, rssi, snr) of the last accepted downlink

    def _say(self, msg):
        if self._log:
            self._log("lorawan: " + msg)

    # --- set-up -----------------------------------------------------------------------
    def restore(self):
        """Load the persisted session; after a power loss, assume the bands are busy."""
        src = self.store.load(self.s)
        s = self.s
        if src != "rtc" and (s.dev_nonce or s.joined):
            # power loss: the band timers are gone; assume a largest frame (51 B) just went out at
            # the session's data rate in every sub-band (the radio computes its airtime)
            self._configure(self.region.DEFAULT_CHANNELS[0][0], s.dr, True)
            air_ms = (self.radio.get_time_on_air_us(_WORST_PHY) + 999) // 1000
            now = self.now_ms()
            for i in range(len(s.band_free)):
                s.band_free[i] = now + air_ms * self.region.BANDS[i][2]
            s.agg_free = 0
        if self.s.joined:
            self._session_keys()
        return src

    def set_otaa(self, join_eui, dev_eui, app_key):
        ak = crypto.Cmac(app_key)
        self._join_keys = (bytes(join_eui), bytes(dev_eui), ak.aes, ak)

    def set_abp(self, dev_addr, nwk_skey, app_skey):
        s = self.s
        if not (s.joined and s.flags & ls.FLAG_ABP and s.dev_addr == dev_addr):
            s.drop_session()
            s.dev_addr = dev_addr
            s.nwk_skey = bytes(nwk_skey)
            s.app_skey = bytes(app_skey)
            s.flags |= ls.FLAG_JOINED | ls.FLAG_ABP
            self.store.save_joined(s)
        self._session_keys()

    def _session_keys(self):
        s = self.s
        self._keys = (crypto.Cmac(s.nwk_skey), crypto.FrameCipher(s.nwk_skey), crypto.FrameCipher(s.app_skey))

    @property
    def cmds(self):
        # heap: MAC commands are rare (a joined node may never see one), so their module loads
        # on the first request, answer or application use, not at import (docs/lorawan.md "RAM")
        if self._cmds is None:
            from lorawan_maccmd import MacCommands

            self._cmds = MacCommands(self.s, self.region)
        return self._cmds

    @property
    def joined(self):
        return self.s.joined

    def set_adr(self, on):
        if on:
            self.s.flags |= ls.FLAG_ADR
        else:
            self.s.flags &= ~ls.FLAG_ADR

    # --- radio ------------------------------------------------------------------------
    def _configure(self, freq_khz, dr, tx):
        sf, bw = self.region.sf_bw(dr)
        c = self._cfg
        c["freq_khz"] = freq_khz
        c["sf"] = sf
        c["bw"] = _BW[bw]
        c["crc_en"] = tx  # uplinks carry a payload CRC, downlinks do not (§J)
        c["output_power"] = self.region.tx_power_dbm(self.s.tx_power)
        self.radio.configure(c)

    def _random(self, n):
        if self._rand:
            return self._rand(n)
        import random

        return random.getrandbits(16) % n

    def _pick_channel(self, join):
        """(channel index, 0) for a free channel, or (-1, ms until one is free)."""
        s = self.s
        r = self.region
        now = self.now_ms()
        best = -1
        free = self._free
        nfree = 0
        n = len(r.DEFAULT_CHANNELS) if join else r.MAX_CHANNELS
        mask = r.default_mask() if join else s.ch_mask
        for i in range(n):
            f = s.freqs[i]
            if not f or not mask & (1 << i):
                continue
            d = s.drs[i]
            if not ((d & 0x0F) <= s.dr <= (d >> 4)) and not join:
                continue
            b = r.band_of(f)
            at = s.band_free[b]
            if s.agg_free > at:
                at = s.agg_free
            if at <= now:
                free[nfree] = i
                nfree += 1
            elif best < 0 or at - now < best:
                best = at - now
        if nfree:
            return free[self._random(nfree)], 0
        return -1, (best if best > 0 else 1000)

    def _transmit(self, n, join, deadline):
        """Send tx[:n] on a free channel; returns (tx_done ticks, kHz). DutyCycleBusy if the
        band stays closed past ``deadline`` (board clock)."""
        while True:
            ch, wait = self._pick_channel(join)
            if ch >= 0:
                break
            if self.now_ms() + wait > deadline:
                raise DutyCycleBusy(wait)
            self.sleep_ms(wait)
        s = self.s
        f = s.freqs[ch]
        self._configure(f, s.dr, True)
        air_us = self.radio.get_time_on_air_us(n)
        start = self.now_ms()
        b = self.region.band_of(f)
        # ETSI Ton/Toff (§E): the sub-band closes for airtime x 1/dc; DutyCycleReq adds 2^max
        s.band_free[b] = start + (air_us * self.region.BANDS[b][2] + 999) // 1000
        if s.max_dcycle:
            s.agg_free = start + ((air_us << s.max_dcycle) + 999) // 1000
        self.store.save_rtc(s)  # the airtime is spent even if power fails during the send
        self.last_airtime_us = air_us
        done = self.radio.send(self._txv[:n])
        return done, f

    def _window(self, at_ticks, freq_khz, dr):
        """Open one receive window at ``at_ticks``; the packet, or None."""
        self._configure(freq_khz, dr, False)
        wait = _ticks_diff(at_ticks, self.ticks_ms()) - _RX_LEAD_MS
        if wait > 0:
            self.sleep_ms(wait)  # lightsleep through the receive delay
        sf, bw = self.region.sf_bw(dr)
        sym_ms = ((1 << sf) + bw - 1) // bw
        timeout = 2 * _RX_LEAD_MS + _RX_MIN_SYMBOLS * sym_ms
        if wait < -timeout:
            return None  # the window has passed already
        return self.radio.recv(timeout_ms=timeout)

    def _receive(self, tx_done, freq, delay_s, rx1_dr, accept):
        """RX1 then (if nothing for us arrived) RX2; returns the slot (0: nothing)."""
        s = self.s
        pkt = self._window(_ticks_add(tx_done, delay_s * 1000), freq, rx1_dr)
        if pkt is not None and accept(pkt, 1):
            return 1
        pkt = self._window(_ticks_add(tx_done, (delay_s + 1) * 1000), s.rx2_freq_khz, s.rx2_dr)
        if pkt is not None and accept(pkt, 2):
            return 2
        return 0

    # --- join -------------------------------------------------------------------------
    JoinFailed = JoinFailed  # for lorawan_join, which does not import this module

    def join(self, timeout_ms=30000):
        """One OTAA attempt; JoinFailed if no valid Join-Accept arrived in RX1/RX2. The join
        code (lorawan_join) is imported for the attempt and dropped after a join."""
        if self._join_keys is None:
            raise MacError("no OTAA keys (set_otaa)")
        import lorawan_join

        slot = lorawan_join.join(self, timeout_ms)
        self._session_keys()
        _drop_module("lorawan_join")
        return slot

    # --- uplinks ----------------------------------------------------------------------
    def _adr_step(self):
        """ADR back-off (1.0.4 §4.3.1.1): ADRACKReq from ADR_ACK_LIMIT on; every ADR_ACK_DELAY
        uplinks without a downlink: default TX power, then one DR lower, then all channels."""
        s = self.s
        r = self.region
        if not s.flags & ls.FLAG_ADR:
            return 0
        c = s.adr_ack_cnt
        if c >= r.ADR_ACK_LIMIT + r.ADR_ACK_DELAY and (c - r.ADR_ACK_LIMIT) % r.ADR_ACK_DELAY == 0:
            if s.tx_power:
                s.tx_power = 0
            elif s.dr > 0:
                s.dr -= 1
            else:
                s.ch_mask = r.default_mask()
                for i in range(r.MAX_CHANNELS):
                    if s.freqs[i]:
                        s.ch_mask |= 1 << i
            self._say("ADR back-off: DR%d, TX power %d" % (s.dr, s.tx_power))
        if c >= r.ADR_ACK_LIMIT and (s.dr > 0 or s.tx_power):
            return fr.FCTRL_ADRACKREQ
        return 0

    def max_payload(self):
        return self.region.max_payload(self.s.dr)

    def send(self, port, data, confirmed=False, timeout_ms=30000):
        """Uplink ``data`` on ``port`` (1..223, or 0 for MAC commands only); returns the
        application Downlinks. SendFailed if a confirmed uplink got no ACK."""
        s = self.s
        if not s.joined or self._keys is None:
            raise NotJoined("not joined")
        if port < 0 or port > 223:
            raise MacError("port must be 0..223")
        deadline = self.now_ms() + timeout_ms
        fctrl = self._adr_step()
        if s.flags & ls.FLAG_ADR:
            fctrl |= fr.FCTRL_ADR
        if s.flags & ls.FLAG_ACK_DUE:
            fctrl |= fr.FCTRL_ACK
        fo = self.cmds.fopts(self._fopts) if self._cmds or s.sticky or s.answers_len else 0
        limit = self.region.max_payload(s.dr)
        if len(data) > limit:
            raise MacError("payload of %d B exceeds %d B at DR%d" % (len(data), limit, s.dr))
        if len(data) + fo > limit or port == 0:
            fo = 0  # no room (or FPort 0): the answers wait for the next uplink
        fcnt = s.fcnt_up
        s.fcnt_up = fcnt + 1
        self.store.before_uplink(s)  # RTC (and every N uplinks flash) before the counter is used
        nwk_cmac, nwk_cipher, app_cipher = self._keys
        mtype = fr.CONFIRMED_UP if confirmed else fr.UNCONFIRMED_UP
        n = fr.build_data(self._tx, mtype, s.dev_addr, fctrl, fcnt, self._fopts, fo, port, data,
                          nwk_cipher if port == 0 else app_cipher, nwk_cmac, self._b0)
        tries = s.nb_trans
        if confirmed and tries < self.confirmed_tries:
            tries = self.confirmed_tries
        self._downlinks = []
        self._acked = False
        self._got = False
        up_dr = s.dr
        for attempt in range(tries):
            if attempt:
                self.sleep_ms(_RETRANSMIT_MIN_MS + self._random(2000))
                try:
                    done, freq = self._transmit(n, False, deadline)
                except DutyCycleBusy:
                    break  # no retransmission within the caller's time: as if unanswered
            else:
                done, freq = self._transmit(n, False, deadline)
            if self._cmds:
                self._cmds.sent()
            s.flags &= ~ls.FLAG_ACK_DUE
            self._receive(done, freq, s.rx_delay_s, self.region.rx1_dr(up_dr, s.rx1_dr_offset), self._accept_cb)
            if self._acked or (self._got and not confirmed):
                break
        if not self._got and s.adr_ack_cnt < 0xFFFF:
            s.adr_ack_cnt += 1
        self.store.save_rtc(s)
        if confirmed and not self._acked:
            raise SendFailed(tries)
        d = self._downlinks
        self._downlinks = []
        return d

    def pop_downlinks(self):
        d = self._downlinks
        self._downlinks = []
        return d

    def _accept(self, pkt, slot):
        """Check and apply one received frame; True if it was a downlink for this session."""
        s = self.s
        try:
            f = fr.parse_data(pkt)
        except fr.FrameError:
            return False
        if f.direction != fr.DOWN or f.dev_addr != s.dev_addr:
            return False
        nwk_cmac, nwk_cipher, app_cipher = self._keys
        fcnt = fr.full_fcnt(s.fcnt_down, f.fcnt16)
        if not fr.data_mic_ok(pkt, len(pkt), f, nwk_cmac, self._b0, fcnt):
            return False
        if f.port == 0 and f.fopts_len:
            return False  # MAC commands in both FOpts and FPort 0: the spec says ignore the frame
        s.fcnt_down = fcnt + 1
        s.adr_ack_cnt = 0
        self._got = True
        s.sticky = 0  # any Class A downlink acknowledges the sticky answers (§5)
        if f.confirmed:
            s.flags |= ls.FLAG_ACK_DUE
        if f.fctrl & fr.FCTRL_ACK:
            self._acked = True
        snr = pkt.snr // 4 if getattr(pkt, "snr", None) is not None else 0  # RxPacket.snr is dB x 4
        rssi = getattr(pkt, "rssi", None)
        self.last_rx = (slot, rssi, snr)
        if f.fopts_len:
            self.cmds.handle(pkt[8:8 + f.fopts_len], f.fopts_len, snr)
        if f.port >= 0:
            buf = bytearray(pkt[f.payload_start:f.payload_start + f.payload_len])
            (nwk_cipher if f.port == 0 else app_cipher).crypt(buf, 0, f.payload_len, fr.DOWN, s.dev_addr, fcnt)
            if f.port == 0:
                self.cmds.handle(buf, len(buf), snr)
            else:
                self._downlinks.append(Downlink(slot, rssi, snr, f.port, bytes(buf)))
        return True
