# Store and forward, the part imported only when there is something to commit or catch up
# (sample_store.SampleStore.call drops it again): flash blocks and catch-up batches
# (docs/firmware.md §12).
#   commit   the RTC records become one block file ss<k>.dat (the records as in RTC memory),
#            written atomically (temporary file, then rename: LittleFS renames atomically);
#            beyond max_blocks the oldest block is deleted and its samples counted dropped
#   batch    the oldest kept records (oldest block first, then RTC; up to 64) of one quantity
#            set as one codec batch frame (docs/codec.md §4: per-sample offsets) under the
#            payload limit
#   proven   a proof covered the batch: its records are removed (a block delivered in part is
#            rewritten without them, so a power cut never resends what was proven)
#   send     one batch with a link check from node.py; the answer removes its records
#   acked    a confirmed uplink's ack proves the newest record

import os
import struct

import payload_codec
from micropython import const
from payload_codec.registry import BOOL, by_id
from sample_store import BLOCK, REC_HEAD, STORE_OFF

_HDR = const(20)  # as sample_store._HDR
_MAX_BATCH = const(32)  # records per catch-up batch (heap: docs/firmware.md §12; the codec takes 64)


def _path(st, k):
    name = "ss%d.dat" % (k & 0xFFFF)
    return st.dir + "/" + name if st.dir else name


def _write(st, k, data):
    p = _path(st, k)
    with open(p + ".tmp", "wb") as f:
        f.write(data)
    os.rename(p + ".tmp", p)
    st.flash_writes += 1


def _records(data, start, end):
    """[(t_s, {quantity: value}, record bytes)] of the records in data[start:end]."""
    out = []
    p = start
    if end > len(data):
        end = len(data)
    while p + REC_HEAD <= end:
        t, n = struct.unpack_from("<IB", data, p)
        if p + REC_HEAD + n > end:
            break  # a torn record (never written whole): ignored
        vals = {}
        o = p + REC_HEAD
        while o < p + REC_HEAD + n:  # the types of SampleStore.append
            row = by_id(data[o])
            kind = data[o + 1]
            if kind == 102:  # "f"
                v = struct.unpack_from("<f", data, o + 2)[0]
                o += 6
            elif kind == 105:  # "i"
                v = struct.unpack_from("<q", data, o + 2)[0]
                if row[7] == BOOL:
                    v = v != 0
                o += 10
            elif kind == 115:  # "s"
                v = bytes(data[o + 3:o + 3 + data[o + 2]]).decode()
                o += 3 + data[o + 2]
            else:  # "n": invalid
                v = None
                o += 2
            vals[row[1]] = v
        out.append((t, vals, REC_HEAD + n))
        p += REC_HEAD + n
    return out


def commit(st):
    """The RTC records become the newest flash block."""
    if st.n:
        o = STORE_OFF + _HDR
        _write(st, st.blk_next, st.mv[o:o + st.used])
        st.blk_next = (st.blk_next + 1) & 0xFFFF
        st.n = 0
        st.used = 0
    while st.blocks() > st.max_blocks:  # full: the oldest samples go first
        p = _path(st, st.blk_first)
        try:
            with open(p, "rb") as f:
                lost = len(_records(f.read(), 0, 1 << 30))
            os.remove(p)
        except OSError:
            lost = BLOCK
        st.dropped += lost - st.blk_done if lost > st.blk_done else 0
        st.blk_first = (st.blk_first + 1) & 0xFFFF
        st.blk_done = 0
    st.save()


def _block(st, k):
    try:
        with open(_path(st, k), "rb") as f:
            data = f.read()
        return data, _records(data, 0, len(data))
    except OSError:
        return b"", []


def _oldest(st):
    """Up to _MAX_BATCH of the oldest records: the flash blocks (oldest first), then RTC."""
    recs = []
    k = st.blk_first
    while k != st.blk_next and len(recs) < _MAX_BATCH:
        recs.extend(_block(st, k)[1])
        k = (k + 1) & 0xFFFF
    if len(recs) < _MAX_BATCH:
        o = STORE_OFF + _HDR
        recs.extend(_records(st.mv, o, o + st.used))
    return recs[:_MAX_BATCH]


def batch(st, now_s, limit):
    """(frame, count) of the oldest records that fit ``limit`` bytes, or None."""
    recs = _oldest(st)
    if not recs:
        return None
    # a board whose clock restarted (power loss, no time source): the newest is "now"
    newest = recs[-1][0]
    shift = newest - now_s if newest > now_s else 0
    samples = []
    names = None
    for t, vals, _ in recs:
        if names is None:
            names = sorted(vals)
        elif sorted(vals) != names:
            break  # one quantity set per batch
        samples.append((t - shift - now_s, vals))
    lo, hi = 1, len(samples)
    best = None
    while lo <= hi:  # the most samples that fit, oldest first
        mid = (lo + hi) // 2
        f = payload_codec.encode_batch(samples[:mid])
        if len(f) <= limit:
            best = (f, mid)
            lo = mid + 1
        else:
            hi = mid - 1
    if best is None:  # a sample that filled its live frame: as a plain frame (reception time)
        return payload_codec.encode(recs[0][1]), 1
    return best


def proven(st, count):
    """The oldest ``count`` records reached the network: whole blocks are deleted, a block
    delivered in part is rewritten with the rest, then RTC records are removed."""
    while count > 0 and st.backlog():
        p = _path(st, st.blk_first)
        data, recs = _block(st, st.blk_first)
        if count >= len(recs):
            try:
                os.remove(p)
            except OSError:
                pass
            st.blk_first = (st.blk_first + 1) & 0xFFFF
            st.blk_done = 0
            count -= len(recs)
        else:
            cut = 0
            for r in recs[:count]:
                cut += r[2]
            _write(st, st.blk_first, memoryview(data)[cut:])
            st.blk_done += count
            count = 0
    if count > 0 and st.n:
        o = STORE_OFF + _HDR
        recs = _records(st.mv, o, o + st.used)
        cut = 0
        for r in recs[:count]:
            cut += r[2]
        st.mv[o:o + st.used - cut] = st.mv[o + cut:o + st.used]
        st.used -= cut
        st.n -= count if count < st.n else st.n
    st.save()


def recover(st):
    """After a power loss: the blocks on flash, oldest first (numbers wrap at 65536: the
    widest gap between two numbers in use is where the run starts)."""
    ks = []
    for name in os.listdir(st.dir or "."):
        if name.startswith("ss") and name.endswith(".dat") and name[2:-4].isdigit():
            ks.append(int(name[2:-4]))
    if not ks:
        return
    ks.sort()
    start = ks[0]
    gap = (ks[0] - ks[-1]) & 0xFFFF
    for i in range(1, len(ks)):
        if ks[i] - ks[i - 1] > gap:
            gap = ks[i] - ks[i - 1]
            start = ks[i]
    st.blk_first = start
    st.blk_next = (ks[ks.index(start) - 1] + 1) & 0xFFFF
    st.save()


def send(st, node, whole):
    """Send the oldest records as one batch with a link check (node: node.Node). ``whole``:
    only if the batch holds every record (it then stands for the live frames). True if sent."""
    from sample_store import FLAG_DOWN

    b = batch(st, node.board.now_ms() // 1000, node._batch_limit())
    if b is None or (whole and (b[1] != st.n or st.backlog())):
        return False
    frame, count = b
    m = node.modem
    ok = False
    try:
        m.request_link_check()
        node._send(payload_codec.MEASUREMENT, frame, False)
        ok = m.link_checked()
    except Exception as e:  # typed driver errors: the records stay, the link counts as down
        node.state.tx_errors += 1
        node.log("node: catch-up send failed (%s: %s)" % (e.__class__.__name__, e))
    node.wdt.feed()
    if ok:
        proven(st, count)
        st.flags &= ~FLAG_DOWN
        st.since_proof = 0 if not st.kept() else node.cfg["proof_every"]
    else:
        st.flags |= FLAG_DOWN
    st.save()
    node.log("node: batch of %d at %d sent %s %s" % (count, node.board.now_ms(), frame.hex(),
                                                     "proven" if ok else "unproven"))
    return True


def acked(st):
    """Remove the newest record (its confirmed uplink was acknowledged)."""
    if st.n:
        o = STORE_OFF + _HDR
        recs = _records(st.mv, o, o + st.used)
        st.used -= recs[-1][2]
        st.n -= 1
        st.save()
