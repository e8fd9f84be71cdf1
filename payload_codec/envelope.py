"""The P2P envelope: a codec frame with a device id, a counter and a truncated AES-CMAC.

Layout (docs/p2p.md §1), all integers big-endian:

    0      header   high nibble: envelope version (1); low nibble: the codec fPort (1..15)
    1..4   device   32-bit device id (the low 4 bytes of the node's DevEUI by default)
    5..8   counter  32-bit message counter, strictly increasing per device
    9..n-4 frame    the codec frame exactly as it would travel on that fPort over LoRaWAN
    n-4..n mic      the first 4 bytes of AES-CMAC(key, bytes 0..n-4) (RFC 4493)

The AES-128 block cipher is an argument (an object with ``encrypt(block16)``), so this
module imports nothing a runtime lacks (see cmac.py).
"""

from .cmac import cmac, subkeys
from .errors import DecodeError, EncodeError, TruncatedError

VERSION = 1
HEADER_LEN = 9
MIC_LEN = 4
OVERHEAD = HEADER_LEN + MIC_LEN
# RUI3 AT+PSEND takes at most 239 bytes (docs/references.md §C.5)
MAX_LEN = 239
MAX_FRAME = MAX_LEN - OVERHEAD


class EnvelopeError(DecodeError):
    """The bytes are not an envelope this receiver accepts; ``reason`` is a short tag."""

    reason = "malformed"


class BadMicError(EnvelopeError):
    """The MIC does not match: the envelope was altered or sealed with another key."""

    reason = "bad_mic"


class UnknownDeviceError(EnvelopeError):
    """No key is known for the envelope's device id."""

    reason = "unknown_device"

    def __init__(self, device_id):
        super().__init__("no key for device %08X" % device_id)
        self.device_id = device_id


class Signer:
    """One device's key: the block cipher and its CMAC subkeys, computed once."""

    def __init__(self, aes):
        self.aes = aes
        self.keys = subkeys(aes)

    def mic(self, data):
        return cmac(self.aes, data, self.keys)[:MIC_LEN]


def _u32(value, what):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFFFFFF:
        raise EncodeError("%s %r is not a 32-bit unsigned integer" % (what, value))
    return value


def seal(signer, device_id, counter, fport, frame):
    """Envelope bytes for a codec ``frame`` sent on ``fport`` by ``device_id``."""
    _u32(device_id, "device id")
    _u32(counter, "counter")
    if not isinstance(fport, int) or isinstance(fport, bool) or not 1 <= fport <= 15:
        raise EncodeError("fPort %r does not fit the envelope (1..15)" % (fport,))
    if len(frame) > MAX_FRAME:
        raise EncodeError("frame of %d bytes exceeds the envelope's %d" % (len(frame), MAX_FRAME))
    out = bytearray(HEADER_LEN + len(frame) + MIC_LEN)
    out[0] = (VERSION << 4) | fport
    out[1:5] = device_id.to_bytes(4, "big")
    out[5:9] = counter.to_bytes(4, "big")
    end = HEADER_LEN + len(frame)
    out[HEADER_LEN:end] = frame
    out[end:] = signer.mic(memoryview(out)[:end])
    return bytes(out)


def peek(data):
    """(device_id, counter, fport) of an envelope, before its MIC is checked."""
    if len(data) < OVERHEAD:
        raise TruncatedError(
            "envelope of %d bytes is shorter than its %d-byte overhead" % (len(data), OVERHEAD)
        )
    if len(data) > MAX_LEN:
        raise EnvelopeError("envelope of %d bytes exceeds %d" % (len(data), MAX_LEN))
    version = data[0] >> 4
    if version != VERSION:
        raise EnvelopeError("envelope version %d (this receiver knows %d)" % (version, VERSION))
    fport = data[0] & 0x0F
    if fport == 0:
        raise EnvelopeError("envelope fPort 0")
    return int.from_bytes(data[1:5], "big"), int.from_bytes(data[5:9], "big"), fport


def open_envelope(data, signer_for):
    """Verify an envelope -> (device_id, counter, fport, frame).

    ``signer_for(device_id)`` returns that device's Signer or None. Raises
    TruncatedError, EnvelopeError, UnknownDeviceError or BadMicError; replay checks
    are the receiver's (the counter is authenticated, its freshness is not).
    """
    device_id, counter, fport = peek(data)
    signer = signer_for(device_id)
    if signer is None:
        raise UnknownDeviceError(device_id)
    end = len(data) - MIC_LEN
    expected = signer.mic(memoryview(data)[:end])
    diff = 0
    for i in range(MIC_LEN):
        diff |= expected[i] ^ data[end + i]
    if diff:
        raise BadMicError(
            "MIC mismatch for device %08X counter %d: altered, or sealed with another key"
            % (device_id, counter)
        )
    return device_id, counter, fport, bytes(data[HEADER_LEN:end])


def derive_key(master, device_id):
    """A device key from a workshop master cipher: AES(master, 'P2P' 0x00.. || device id).

    One secret on the workshop laptop yields every node's key (docs/p2p.md §3).
    """
    block = bytearray(16)
    block[0:3] = b"P2P"
    block[12:16] = _u32(device_id, "device id").to_bytes(4, "big")
    return bytes(master.encrypt(bytes(block)))
