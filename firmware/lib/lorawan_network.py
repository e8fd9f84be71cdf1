# The network's and the tools' side of lorawan_frames.py (never imported by a node, so it costs
# the node no heap): Join-Request parsing and MIC check, Join-Accept building, MType names.
# Used by tools/virtual_lab/lorawan_server.py and `trosmart lorawan` (docs/lorawan.md).

import binascii
import struct

import lorawan_session as ls
from lorawan_frames import JOIN_ACCEPT, JOIN_REQUEST, JOIN_REQUEST_LEN, FrameError

MTYPE_NAMES = ("JoinRequest", "JoinAccept", "UnconfirmedDataUp", "UnconfirmedDataDown",
               "ConfirmedDataUp", "ConfirmedDataDown", "RejoinRequest", "Proprietary")


def _get_eui(buf, off):
    return bytes(buf[off + 7 - i] for i in range(8))


def _get_mic(buf, off):
    return struct.unpack_from("<I", buf, off)[0]


def _put_u24(buf, off, v):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF
    buf[off + 2] = (v >> 16) & 0xFF


def parse_join_request(phy):
    """(JoinEUI, DevEUI, DevNonce, MIC) of a Join-Request."""
    if len(phy) != JOIN_REQUEST_LEN or phy[0] >> 5 != JOIN_REQUEST:
        raise FrameError("not a Join-Request (%d bytes)" % len(phy))
    return _get_eui(phy, 1), _get_eui(phy, 9), struct.unpack_from("<H", phy, 17)[0], _get_mic(phy, 19)


def join_request_mic_ok(phy, app_cmac):
    return app_cmac.mic(phy, 19) == _get_mic(phy, 19)


def build_join_accept(buf, ja, app_decrypt, app_cmac):
    """Network side: the encrypted Join-Accept into buf; app_decrypt(block16_in, out) is
    AES-128 decrypt with the AppKey (§6.2.6). Returns the length (17 or 33)."""
    n = 33 if ja.cflist else 17
    buf[0] = JOIN_ACCEPT << 5
    _put_u24(buf, 1, ja.join_nonce)
    _put_u24(buf, 4, ja.net_id)
    struct.pack_into("<I", buf, 7, ja.dev_addr)
    buf[11] = ja.dl_settings
    buf[12] = ja.rx_delay
    if ja.cflist:
        if len(ja.cflist) != 16:
            raise FrameError("CFList must be 16 bytes")
        buf[13:29] = ja.cflist
    struct.pack_into("<I", buf, n - 4, app_cmac.mic(buf, n - 4))
    blk = bytearray(16)
    out = bytearray(16)
    for off in range(1, n, 16):
        blk[:] = buf[off:off + 16]
        app_decrypt(blk, out)
        buf[off:off + 16] = out
    return n


def encode_v1(s):
    """The version-1 session record an older firmware wrote for ``s`` (migration tests)."""
    body = struct.pack(ls._V1, 0x4C57, 1, s.flags & 0x07, s.dev_nonce, s.join_nonce & 0xFFFFFFFF, s.dev_addr,
                       s.nwk_skey, s.app_skey, s.fcnt_up, s.fcnt_down, s.dr, s.rx1_dr_offset, s.rx2_dr,
                       s.rx_delay_s)
    return body + struct.pack("<I", binascii.crc32(body))
