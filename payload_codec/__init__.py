"""TroSmart payload codec: the same pure-Python source on MicroPython and CPython.

Nodes encode with it, the bridge decodes with it (docs/codec.md). Submodules are
imported on first use so that ``import payload_codec`` stays small on a node.
"""

from .errors import (
    CodecError,
    DecodeError,
    EncodeError,
    TruncatedError,
    UnknownLayoutError,
    UnknownProfileError,
    UnknownQuantityError,
    UnsupportedVersionError,
)
from .fports import COMMAND, LAYOUT, MEASUREMENT, STATUS

__version__ = "1.0.0"
__all__ = [
    "COMMAND",
    "LAYOUT",
    "MEASUREMENT",
    "STATUS",
    "CodecError",
    "DecodeError",
    "EncodeError",
    "TruncatedError",
    "UnknownLayoutError",
    "UnknownProfileError",
    "UnknownQuantityError",
    "UnsupportedVersionError",
    "decode",
    "decode_downlink",
    "decode_uplink",
    "encode",
    "encode_batch",
    "encode_downlink",
    "encode_layout",
    "encode_status",
    "to_senml",
]


def encode(values: dict, layout=None) -> bytes:
    """One sample {quantity: value | None} -> measurement frame (fPort 1)."""
    from .measurement import encode as _encode

    return _encode(values, layout)


def encode_batch(samples, layout=None) -> bytes:
    """Samples [(offset_s <= 0, {quantity: value})] -> one batch frame (fPort 1)."""
    from .measurement import encode_batch as _encode_batch

    return _encode_batch(samples, layout)


_decoders: dict = {}  # name -> function, imported on first use (an import per call costs ~1 us)


def _decoder(name):
    f = _decoders.get(name)
    if f is None:
        if name == "measurement":
            from .measurement_decode import decode as f
        elif name == "senml":
            from .senml import to_senml as f
        _decoders[name] = f
    return f


def decode(data, layouts=None) -> dict:
    """Measurement frame -> {"profile", "layout", "quantities", "samples"}."""
    return _decoder("measurement")(data, layouts)


def encode_layout(layout_id: int, names) -> bytes:
    """Layout announcement (fPort 3) for a node-defined quantity list."""
    from .measurement import encode_layout as _encode_layout

    return _encode_layout(layout_id, names)


def encode_status(status: dict) -> bytes:
    """Status dict -> status frame (fPort 2)."""
    from .status import encode_status as _encode_status

    return _encode_status(status)


def encode_downlink(cmd: dict) -> bytes:
    """Command dict -> command frame (fPort 10)."""
    from .downlink import encode_downlink as _encode_downlink

    return _encode_downlink(cmd)


def decode_downlink(data) -> dict:
    """Command frame -> command dict; DecodeError names what the node cannot honour."""
    from .downlink import decode_downlink as _decode_downlink

    return _decode_downlink(data)


def decode_uplink(fport: int, data, layouts=None) -> dict:
    """Decode an uplink by its fPort; the result carries "kind".

    measurement: the decode() dict; status: {"status": {...}}; layout: {"layout", "quantities"}.
    An fPort outside the plan raises DecodeError naming it.
    """
    if fport == MEASUREMENT:
        d = decode(data, layouts)
        d["kind"] = "measurement"
        return d
    if fport == STATUS:
        from .status import decode_status

        return {"kind": "status", "status": decode_status(data)}
    if fport == LAYOUT:
        from .measurement import decode_layout

        d = decode_layout(data)
        d["kind"] = "layout"
        return d
    raise DecodeError("fPort %r carries no TroSmart uplink (measurement 1, status 2, layout 3)" % (fport,))


def to_senml(decoded: dict, base_name=None, base_time=None) -> list:
    """SenML records (RFC 8428) for a decode_uplink() result."""
    return _decoder("senml")(decoded, base_name, base_time)
