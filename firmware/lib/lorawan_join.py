# OTAA join of LoRaWAN 1.0.4 (§6.2): Join-Request (§6.2.4), Join-Accept decryption and fields
# (§6.2.3, §6.2.6), session keys (§6.2.5) and the MAC's join procedure. A module of its own so
# that a node with a session never loads it: lorawan_mac imports it for a join only and drops
# it afterwards (heap: docs/lorawan.md "RAM").

import struct

import lorawan_frames as fr
import lorawan_session as ls


# --- Join-Request (§6.2.4) -------------------------------------------------------------
def build_join_request(buf, join_eui, dev_eui, dev_nonce, app_cmac):
    """MHDR | JoinEUI | DevEUI | DevNonce | MIC into buf; returns 23."""
    buf[0] = fr.JOIN_REQUEST << 5
    fr.put_eui(buf, 1, join_eui)
    fr.put_eui(buf, 9, dev_eui)
    struct.pack_into("<H", buf, 17, dev_nonce & 0xFFFF)
    struct.pack_into("<I", buf, 19, app_cmac.mic(buf, 19))
    return fr.JOIN_REQUEST_LEN


# --- Join-Accept (§6.2.6) ----------------------------------------------------------------
class JoinAccept:
    """Decrypted Join-Accept fields; cflist is 16 bytes or None."""

    def __init__(self, join_nonce, net_id, dev_addr, dl_settings, rx_delay, cflist):
        self.join_nonce = join_nonce
        self.net_id = net_id
        self.dev_addr = dev_addr
        self.dl_settings = dl_settings
        self.rx_delay = rx_delay
        self.cflist = cflist
        self.rx1_dr_offset = (dl_settings >> 4) & 0x07
        self.rx2_dr = dl_settings & 0x0F
        d = rx_delay & 0x0F
        self.rx_delay_s = d if d else 1  # 0 means 1 s (§5.7)


def _u24(buf, off):
    return buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16)


def join_accept_decrypt(app_aes, buf, start, n):
    """Join-Accept 'decryption' (§6.2.3): the network encrypted with AES decrypt, so the
    device applies AES encrypt, in place over buf[start:start+n] (16 or 32 bytes)."""
    blk = bytearray(16)
    out = bytearray(16)
    for off in range(start, start + n, 16):
        for j in range(16):
            blk[j] = buf[off + j]
        app_aes.encrypt(blk, out)
        for j in range(16):
            buf[off + j] = out[j]


def open_join_accept(phy, app_aes, app_cmac):
    """Decrypt and verify a Join-Accept (17 or 33 bytes); MicError if the MIC fails."""
    n = len(phy)
    if n not in (17, 33) or phy[0] >> 5 != fr.JOIN_ACCEPT:
        raise fr.FrameError("not a Join-Accept (%d bytes)" % n)
    buf = bytearray(phy)
    join_accept_decrypt(app_aes, buf, 1, n - 1)
    if app_cmac.mic(buf, n - 4) != struct.unpack_from("<I", buf, n - 4)[0]:
        raise fr.MicError("Join-Accept MIC mismatch")
    cflist = bytes(buf[13:29]) if n == 33 else None
    return JoinAccept(_u24(buf, 1), _u24(buf, 4), struct.unpack_from("<I", buf, 7)[0], buf[11], buf[12], cflist)


def session_keys(app_aes, join_nonce, net_id, dev_nonce):
    """(NwkSKey, AppSKey) of LoRaWAN 1.0.x (§6.2.5): aes(AppKey, 0x01|0x02 | JoinNonce(3) |
    NetID(3) | DevNonce(2) | pad16); join_nonce and net_id are ints, little-endian on air."""
    blk = bytearray(16)
    for k in range(3):
        blk[1 + k] = (join_nonce >> (8 * k)) & 0xFF
        blk[4 + k] = (net_id >> (8 * k)) & 0xFF
    blk[7] = dev_nonce & 0xFF
    blk[8] = (dev_nonce >> 8) & 0xFF
    keys = []
    for tag in (0x01, 0x02):
        blk[0] = tag
        out = bytearray(16)
        app_aes.encrypt(blk, out)
        keys.append(bytes(out))
    return keys[0], keys[1]


# --- the MAC's join ----------------------------------------------------------------------
def join(mac, timeout_ms):
    """One OTAA attempt of ``mac`` (lorawan_mac.Mac); JoinFailed if no valid Join-Accept arrived."""
    join_eui, dev_eui, app_aes, app_cmac = mac._join_keys
    s = mac.s
    region = mac.region
    deadline = mac.now_ms() + timeout_ms
    dn = s.dev_nonce
    if dn > 0xFFFF:
        raise mac.JoinFailed("DevNonce space used up")
    s.dev_nonce = dn + 1
    mac.store.save_nonce(s)  # BEFORE the Join-Request goes out (1.0.4 §6.2.4)
    n = build_join_request(mac._tx, join_eui, dev_eui, dn, app_cmac)
    mac._say("Join-Request DevNonce %d" % dn)
    done, freq = mac._transmit(n, True, deadline)
    got = []

    def accept(pkt, slot):
        try:
            got.append(open_join_accept(pkt, app_aes, app_cmac))
        except fr.FrameError:
            return False
        return True

    # join: RX1 at JOIN_ACCEPT_DELAY1 with the uplink DR, RX2 on the region's defaults
    s.rx2_freq_khz = region.RX2_FREQ_KHZ
    s.rx2_dr = region.RX2_DR
    slot = mac._receive(done, freq, region.JOIN_ACCEPT_DELAY1_S, s.dr, accept)
    if not slot:
        mac.store.save_rtc(s)
        raise mac.JoinFailed("JOIN_FAILED_RX_TIMEOUT")
    ja = got[0]
    nwk, app = session_keys(app_aes, ja.join_nonce, ja.net_id, dn)
    dr, flags = s.dr, s.flags & ls.FLAG_ADR
    s.drop_session()
    s.flags = flags | ls.FLAG_JOINED
    s.dr = dr
    s.join_nonce = ja.join_nonce
    s.net_id = ja.net_id
    s.dev_addr = ja.dev_addr
    s.nwk_skey = nwk
    s.app_skey = app
    s.rx1_dr_offset = ja.rx1_dr_offset
    s.rx2_dr = ja.rx2_dr
    s.rx_delay_s = ja.rx_delay_s
    region.apply_cflist(s.freqs, s.drs, ja.cflist)
    for i in range(3, 8):
        if s.freqs[i]:
            s.ch_mask |= 1 << i
    mac.store.save_joined(s)
    mac._say("joined, DevAddr %08x (RX1 delay %d s, RX2 DR%d)" % (s.dev_addr, s.rx_delay_s, s.rx2_dr))
    return slot
