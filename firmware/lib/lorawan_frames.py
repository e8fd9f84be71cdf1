# LoRaWAN 1.0.4 PHYPayload layouts (LoRaWAN 1.0.4 §4): MHDR, FHDR (DevAddr, FCtrl, FCnt, FOpts),
# FPort, FRMPayload, MIC; Join-Request and Join-Accept (§6.2). Multi-octet fields are little-endian
# on air; EUIs are given and returned big-endian (as printed on labels and in consoles).
# Frames are built into a caller's buffer (no allocation); parse() returns a small DataFrame.
# 32-bit counters: the frame carries FCnt's low 16 bits; MIC and cipher use all 32.

import struct

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


import lorawan_crypto as crypto

JOIN_REQUEST = const(0)
JOIN_ACCEPT = const(1)
UNCONFIRMED_UP = const(2)
UNCONFIRMED_DOWN = const(3)
CONFIRMED_UP = const(4)
CONFIRMED_DOWN = const(5)
_REJOIN_REQUEST = const(6)  # not used by a 1.0.4 Class A device
_PROPRIETARY = const(7)

UP = const(0)
DOWN = const(1)
# FCtrl bits (§4.3.1)
FCTRL_ADR = const(0x80)
FCTRL_ADRACKREQ = const(0x40)  # uplink only
FCTRL_ACK = const(0x20)
FCTRL_FPENDING = const(0x10)  # downlink only
MAX_PHY = const(255)
JOIN_REQUEST_LEN = const(23)  # Join-Request and Join-Accept: lorawan_join.py
_MIN_DATA = const(12)  # MHDR 1 + FHDR 7 + MIC 4


class FrameError(ValueError):
    """A PHYPayload that is too short, of the wrong type or inconsistent."""


class MicError(FrameError):
    """The MIC does not verify with the given key."""


def direction_of(mtype):
    return DOWN if mtype in (JOIN_ACCEPT, UNCONFIRMED_DOWN, CONFIRMED_DOWN) else UP


def put_eui(buf, off, eui):
    if len(eui) != 8:
        raise FrameError("EUI must be 8 bytes, got %d" % len(eui))
    for i in range(8):
        buf[off + i] = eui[7 - i]


def _put_mic(buf, off, mic):
    struct.pack_into("<I", buf, off, mic)


def _get_mic(buf, off):
    return struct.unpack_from("<I", buf, off)[0]


# --- data frames (§4.3) ------------------------------------------------------------------
class DataFrame:
    """A parsed data frame's header; offsets point into the PHYPayload it came from."""

    def __init__(self, mtype, dev_addr, fctrl, fcnt16, fopts_len, port, payload_len, mic):
        self.mtype = mtype
        self.dev_addr = dev_addr
        self.fctrl = fctrl
        self.fcnt16 = fcnt16
        self.fopts_len = fopts_len
        self.port = port  # -1: no FPort (and no FRMPayload)
        self.payload_len = payload_len
        self.mic = mic
        self.direction = direction_of(mtype)
        self.confirmed = mtype == CONFIRMED_UP or mtype == CONFIRMED_DOWN
        self.payload_start = 9 + fopts_len


def build_data(buf, mtype, dev_addr, fctrl, fcnt, fopts, fopts_len, port, payload, cipher, cmac, b0):
    """A data frame into buf; port < 0 sends no FPort/FRMPayload (FOpts only).

    cipher: FrameCipher of AppSKey (port > 0) or NwkSKey (port 0); cmac: Cmac of NwkSKey;
    b0: scratch buffer of 16 + MAX_PHY bytes. Returns the PHYPayload length.
    """
    if fopts_len > 15:
        raise FrameError("FOpts holds at most 15 bytes")
    plen = len(payload) if port >= 0 else 0
    n = 8 + fopts_len + (1 + plen if port >= 0 else 0) + 4
    if n > MAX_PHY:
        raise FrameError("frame of %d bytes exceeds %d" % (n, MAX_PHY))
    if port == 0 and fopts_len:
        raise FrameError("MAC commands go either in FOpts or on port 0, not both")
    direction = direction_of(mtype)
    buf[0] = mtype << 5
    struct.pack_into("<I", buf, 1, dev_addr)
    buf[5] = (fctrl & 0xF0) | fopts_len
    struct.pack_into("<H", buf, 6, fcnt & 0xFFFF)
    for i in range(fopts_len):
        buf[8 + i] = fopts[i]
    p = 8 + fopts_len
    if port >= 0:
        buf[p] = port
        for i in range(plen):
            buf[p + 1 + i] = payload[i]
        if plen:
            cipher.crypt(buf, p + 1, plen, direction, dev_addr, fcnt)
        p += 1 + plen
    _put_mic(buf, p, crypto.data_mic(cmac, b0, buf, p, direction, dev_addr, fcnt))
    return p + 4


def parse_data(phy, n=-1):
    """The header of a data frame phy[:n]; FrameError if it is not one or is inconsistent."""
    if n < 0:
        n = len(phy)
    if n < _MIN_DATA:
        raise FrameError("frame too short (%d bytes, a data frame has at least 12)" % n)
    mtype = phy[0] >> 5
    if mtype not in (UNCONFIRMED_UP, UNCONFIRMED_DOWN, CONFIRMED_UP, CONFIRMED_DOWN):
        raise FrameError("not a data frame (MType %d)" % mtype)
    if phy[0] & 0x03:
        raise FrameError("unknown LoRaWAN major version %d" % (phy[0] & 0x03))
    fctrl = phy[5]
    fopts_len = fctrl & 0x0F
    rest = n - 12 - fopts_len  # bytes for FPort + FRMPayload
    if rest < 0:
        raise FrameError("FOptsLen %d longer than the frame" % fopts_len)
    port = phy[8 + fopts_len] if rest else -1
    plen = rest - 1 if rest else 0
    return DataFrame(mtype, struct.unpack_from("<I", phy, 1)[0], fctrl, struct.unpack_from("<H", phy, 6)[0],
                     fopts_len, port, plen, _get_mic(phy, n - 4))


def data_mic_ok(phy, n, frame, cmac, b0, fcnt):
    return crypto.data_mic(cmac, b0, phy, n - 4, frame.direction, frame.dev_addr, fcnt) == frame.mic


def full_fcnt(last, fcnt16):
    """The 32-bit counter whose low 16 bits are fcnt16, closest at or above ``last`` (§4.3.1.5)."""
    c = (last & 0xFFFF0000) | fcnt16
    if c < last:
        c += 0x10000
    return c & 0xFFFFFFFF
