"""One error hierarchy for the codec (style.md §8).

CodecError derives from ValueError, so callers may catch either. On CPython
TruncatedError is also an EOFError; the MicroPython Unix port cannot combine
those native bases ("multiple bases have instance lay-out conflict"), so there
it is a plain DecodeError. The source is the same on both runtimes.
"""


class CodecError(ValueError):
    """Any error raised by payload_codec."""


class EncodeError(CodecError):
    """The values or command cannot be encoded (unknown name, out of range, NaN)."""


class DecodeError(CodecError):
    """The bytes are not a valid frame; the message says what and where."""


try:

    class TruncatedError(DecodeError, EOFError):
        """The frame ended before a field it announces."""

except TypeError:  # MicroPython: native bases cannot be combined

    class TruncatedError(DecodeError):  # type: ignore[no-redef]
        """The frame ended before a field it announces."""


class UnsupportedVersionError(DecodeError):
    """The frame carries a version this decoder does not know."""


class UnknownProfileError(DecodeError):
    """The frame names a profile this decoder does not know."""


class UnknownQuantityError(CodecError):
    """A quantity name or id is not in the registry (raised on encode and decode)."""


class UnknownLayoutError(DecodeError):
    """The frame names a node-announced layout the caller does not hold.

    ``layout_id`` is set so the bridge can ask the node to announce it again.
    """

    def __init__(self, layout_id: int) -> None:
        super().__init__(
            "unknown layout %d: the node has not announced it (send announce_layout)" % layout_id
        )
        self.layout_id = layout_id
