"""MSB-first bit packing over a bytearray (docs/codec.md §3).

Integer arithmetic only, so the bytes are identical on every runtime.
"""

from .errors import TruncatedError


class BitWriter:
    __slots__ = ("acc", "buf", "nacc")

    def __init__(self, buf: bytearray) -> None:
        self.buf = buf
        self.acc = 0
        self.nacc = 0

    def write(self, value: int, nbits: int) -> None:
        if nbits == 0:
            return
        self.acc = (self.acc << nbits) | (value & ((1 << nbits) - 1))
        self.nacc += nbits
        while self.nacc >= 8:
            self.nacc -= 8
            self.buf.append((self.acc >> self.nacc) & 0xFF)
        self.acc &= (1 << self.nacc) - 1

    def flush(self) -> None:
        """Pad the last byte with zero bits."""
        if self.nacc:
            self.buf.append((self.acc << (8 - self.nacc)) & 0xFF)
            self.acc = 0
            self.nacc = 0


class BitReader:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data, start_byte: int) -> None:
        self.data = data
        self.pos = start_byte * 8
        self.end = len(data) * 8

    def read(self, nbits: int, what: str) -> int:
        if self.pos + nbits > self.end:
            raise TruncatedError(
                "frame ends inside %s (needs bits %d..%d, frame has %d)"
                % (what, self.pos, self.pos + nbits - 1, self.end)
            )
        data = self.data
        v = 0
        pos = self.pos
        left = nbits
        while left:
            byte = data[pos >> 3]
            off = pos & 7
            take = 8 - off
            if take > left:
                take = left
            v = (v << take) | ((byte >> (8 - off - take)) & ((1 << take) - 1))
            pos += take
            left -= take
        self.pos = pos
        return v

    def remaining(self) -> int:
        return self.end - self.pos
