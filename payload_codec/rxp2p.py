"""The receiver's console line for one P2P packet: ``+EVT:RXP2P:<rssi>:<snr>:<HEX>``.

The one home of that format (docs/p2p.md §3): a RAK3172 prints it (RUI3 service_lora_p2p.c
OnRxDone, docs/references.md §C.5: rssi and snr as signed decimals, snr in dB, the payload as
upper-case hex); a TroSmart receiver node prints the same line whichever radio it has
(firmware/lib/p2p_receiver.py); the RAK3172 driver (firmware/lib/rak3172_p2p.py), the bridge's
serial source and ``trosmart monitor`` parse it here. Runs on MicroPython and CPython.
"""

from .errors import DecodeError

PREFIX = "+EVT:RXP2P:"
MAX_HEX = 478  # AT+PSEND carries at most 239 bytes (§C.5)


class LineError(DecodeError):
    """Not an ``+EVT:RXP2P:<rssi>:<snr>:<hex>`` line; the message says why."""


def format_line(rssi, snr, data):
    """The line a receiver prints for a packet (``snr`` in whole dB)."""
    return PREFIX + "%d:%d:%s" % (rssi, snr, bytes(data).hex().upper())


def parse_line(line):
    """(rssi, snr, payload bytes) of a line, with or without its "+EVT:" prefix. Spaces are
    ignored (RUI3 before v3.2.0 printed some, §C.4). LineError for anything else."""
    text = line.replace(" ", "").rstrip("\r\n")
    if text.startswith("+EVT:"):
        text = text[5:]
    parts = text.split(":")
    if len(parts) != 4 or parts[0] != "RXP2P":
        raise LineError("not +EVT:RXP2P:<rssi>:<snr>:<hex> (%d fields)" % len(parts))
    h = parts[3]
    if len(h) % 2 or len(h) > MAX_HEX:
        raise LineError("payload of %d hex digits (even, at most %d)" % (len(h), MAX_HEX))
    try:
        rssi = _int(parts[1])
        snr = _int(parts[2])
        data = bytes.fromhex(h)
    except ValueError as e:
        raise LineError("not +EVT:RXP2P:<rssi>:<snr>:<hex> (%s)" % e) from None
    return rssi, snr, data


def _int(s):
    # int() takes "+5", "٣" (CPython) or "1_0": a radio prints [-]digits only
    d = s[1:] if s.startswith("-") else s
    if not d or len(d) > 4 or not all("0" <= c <= "9" for c in d):
        raise ValueError("%r is not a decimal" % s)
    return int(s)
