# Store and forward, the part every wake imports (docs/firmware.md §12): every sample is kept
# as a record until a proof of delivery (a LinkCheckAns or a confirmed uplink's ack) covers
# it. Records wait in RTC memory (survives deep sleep, not power loss; docs/references.md §F)
# and go to flash in blocks of BLOCK records (catch_up.py, imported only when there is
# something to commit or catch up), so a power cut loses at most one block. Everything here
# is preallocated: one 1,024-byte image of the node's half of RTC memory, shared with the node
# state's slot (RtcView), written back whole (RTC.memory(data) sets the length too).
#
# RTC memory layout (docs/firmware.md §12):
#   [0, 256)      node state (node_state.py), 2-byte length + record
#   [256, 1024)   this store: _HDR header bytes, then records: t:u32 board second, n:u8, and
#                 n bytes of (quantity id u8, type, value) per quantity (SampleStore.append)
#   [1024, 2048)  the MAC's session record (bare radio, lorawan_store.py); unused with a RAK3172

import os
import struct

from micropython import const

BLOCK = const(12)  # records per flash block (docs/firmware.md §12: why 12)
IMAGE = const(1024)  # the node's half of RTC memory
STATE_SLOT = (0, 254)
STORE_OFF = const(256)
MAC_OFF = const(1024)  # first byte another writer (the MAC's RtcSlot) owns on a bare radio
_HDR = const(20)
_MAGIC = const(0x5353)  # "SS"
_VERSION = const(1)
# magic, version, records in RTC, bytes used, dropped samples (saturating), uplinks since the
# last proof, flags, oldest block number, next block number, board second of the next live
# cycle, records already delivered from the oldest block
_HFMT = "<HBBHHBBHHIH"
FLAG_DOWN = const(1)  # the last proof failed (or a send did): probe before sending live
REC_HEAD = const(5)


class RtcImage:
    """A preallocated copy of RTC memory bytes [0, IMAGE); views write into it and flush()
    writes it back. ``foreign``: another writer (the MAC's RtcSlot) owns the bytes after it,
    so RTC memory is read and written whole then (a transient copy, as RtcSlot does)."""

    def __init__(self, rtc, foreign=False):
        self.rtc = rtc
        self.buf = bytearray(IMAGE)
        self._foreign = foreign
        cur = rtc.memory()
        n = len(cur) if len(cur) < IMAGE else IMAGE
        if n:
            self.buf[:n] = memoryview(cur)[:n]

    def flush(self):
        if self._foreign:
            cur = self.rtc.memory()
            if len(cur) > IMAGE:
                out = bytearray(cur)
                out[:IMAGE] = self.buf
                self.rtc.memory(out)
                return
        self.rtc.memory(self.buf)


class RtcView:
    """A slot of an RtcImage with the record format of lorawan_store.RtcSlot (2-byte length)."""

    def __init__(self, img, off, size):
        self._img = img
        self._off = off
        self._size = size

    def memory(self, data=None):
        b = self._img.buf
        o = self._off
        if data is None:
            n = b[o] | (b[o + 1] << 8)
            if n == 0 or n > self._size:
                return b""
            return bytes(memoryview(b)[o + 2:o + 2 + n])
        n = len(data)
        if n > self._size:
            raise ValueError("record of %d B exceeds its RTC slot of %d B" % (n, self._size))
        b[o] = n & 0xFF
        b[o + 1] = n >> 8
        b[o + 2:o + 2 + n] = data
        self._img.flush()


class SampleStore:
    """Records kept until proven delivered: in RTC memory (this class) and flash blocks
    (catch_up.py). ``size``: the RTC bytes from STORE_OFF this store may use."""

    def __init__(self, img, size, flash_dir="", max_blocks=24):
        self.img = img
        self.mv = memoryview(img.buf)
        self.cap = size - _HDR
        self.dir = flash_dir
        self.max_blocks = max_blocks
        self.flash_writes = 0  # block files written since boot (bench figure)
        if not self.load():  # power-on: RTC memory is gone; the flash blocks are not
            self.reset()
            for name in os.listdir(flash_dir or "."):
                if name.startswith("ss") and name.endswith(".dat"):
                    self.call("recover")
                    break

    def reset(self):
        self.n = 0
        self.used = 0
        self.dropped = 0
        self.since_proof = 0
        self.flags = 0
        self.blk_first = 0
        self.blk_next = 0
        self.next_live_s = 0
        self.blk_done = 0

    def load(self):
        v = struct.unpack_from(_HFMT, self.img.buf, STORE_OFF)
        if v[0] != _MAGIC or v[1] != _VERSION or v[3] > self.cap or v[2] > 255:
            return False
        (_, _, self.n, self.used, self.dropped, self.since_proof, self.flags, self.blk_first,
         self.blk_next, self.next_live_s, self.blk_done) = v
        return True

    def save(self):
        struct.pack_into(_HFMT, self.img.buf, STORE_OFF, _MAGIC, _VERSION, self.n, self.used,
                         self.dropped if self.dropped < 0xFFFF else 0xFFFF, self.since_proof & 0xFF,
                         self.flags, self.blk_first, self.blk_next, self.next_live_s, self.blk_done)
        self.img.flush()

    def blocks(self):
        return (self.blk_next - self.blk_first) & 0xFFFF

    def kept(self):
        """Records waiting (flash blocks counted full)."""
        return self.n + self.blocks() * BLOCK - self.blk_done

    def backlog(self):
        """True when records are waiting on flash (a catch-up is due once the link is up)."""
        return self.blk_next != self.blk_first

    def append(self, t_s, values):
        """Keep one sample {quantity: value or None} measured at board second ``t_s``; a full
        RTC block goes to flash first. Per quantity: id, then "f" float32 (an ESP32's float),
        "i" int64, "s" length + text (a meter's decimal string, exact) or "n" (invalid)."""
        from payload_codec.registry import by_name

        need = REC_HEAD
        for q in values:
            v = values[q]
            need += 2 + (0 if v is None else 4 if isinstance(v, float) else 1 + len(v)
                         if isinstance(v, str) else 8)
        if self.n >= BLOCK or self.used + need > self.cap:
            self.call("commit")
        b = self.img.buf
        o = STORE_OFF + _HDR + self.used
        struct.pack_into("<IB", b, o, t_s, need - REC_HEAD)
        o += REC_HEAD
        for q in values:
            v = values[q]
            b[o] = by_name(q)[0]
            if v is None:
                b[o + 1] = 110  # "n"
                o += 2
            elif isinstance(v, float):
                b[o + 1] = 102  # "f"
                struct.pack_into("<f", b, o + 2, v)
                o += 6
            elif isinstance(v, str):
                b[o + 1] = 115  # "s"
                b[o + 2] = len(v)
                self.mv[o + 3:o + 3 + len(v)] = v.encode()
                o += 3 + len(v)
            else:
                b[o + 1] = 105  # "i": int or bool
                struct.pack_into("<q", b, o + 2, int(v))
                o += 10
        self.n += 1
        self.used += need
        self.save()

    def call(self, what, *args):
        """Run catch_up.<what>(self, *args); the module is dropped again afterwards
        (as lorawan_join: a node with nothing to catch up never keeps it in its heap)."""
        import gc
        import sys

        gc.collect()  # room for the module in one piece
        import catch_up

        try:
            return getattr(catch_up, what)(self, *args)
        finally:
            del sys.modules["catch_up"]
