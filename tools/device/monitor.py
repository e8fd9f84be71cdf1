"""The node's serial console with every frame it sends decoded beside it (``trosmart monitor``).

A line "node: sample N at T sent <hex>" (firmware/lib/node.py) is followed by the frame decoded
with payload_codec (SenML names, units and values). When the USB device goes away the monitor
says so and waits for it to come back, then carries on; Ctrl-] leaves, as in mpremote and
miniterm. Keystrokes are passed to the board (Ctrl-C stops main.py and gives the REPL).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import sys
import termios
import tty
from collections.abc import Callable
from typing import Any, BinaryIO

from payload_codec import rxp2p  # a P2P receiver's packet line (RAK3172 or receiver node)

from .errors import NoPort, PortBusy

CTRL_RIGHT_BRACKET = 0x1D
FRAME_RX = re.compile(r"\bsent ([0-9a-fA-F]{2,})\b")
P2P_LISTEN = b"AT+PRECV=65534\r\n"  # RUI3: receive until AT+PRECV=0
RETRY_S = 0.2  # how often a vanished port is looked for again
BAUD = 115200


def describe_frame(hex_text: str, fport: int = 1) -> str:
    """One line for a frame: "temperature 21.4 Cel, humidity 48.5 %RH", or why it did not decode."""
    import payload_codec

    try:
        recs = payload_codec.to_senml(payload_codec.decode_uplink(fport, bytes.fromhex(hex_text)))
    except (payload_codec.CodecError, ValueError) as e:
        return f"undecodable frame ({e})"
    parts = []
    for r in recs:
        v = r.get("v", r.get("vb", r.get("vs", "")))
        parts.append(f"{r.get('n', '?')} {'invalid' if v is None else v}{' ' + r['u'] if r.get('u') else ''}")
    return ", ".join(parts) or "empty frame"


def describe_envelope(hex_text: str, signers: dict[int, Any] | None = None) -> str:
    """One line for a received P2P envelope: its device, counter and MIC check, then the frame."""
    from payload_codec import envelope

    try:
        data = bytes.fromhex(hex_text)
        dev, ctr, fport = envelope.peek(data)
    except ValueError as e:  # CodecError is a ValueError
        return f"not a TroSmart envelope ({e})"
    head = f"device {dev:08X} counter {ctr}"
    if signers is not None:
        try:
            envelope.open_envelope(data, signers.get)
            head += " MIC ok"
        except envelope.EnvelopeError as e:
            return f"{head}: refused, {e.reason} ({e})"
    else:
        head += " (MIC not checked: no --keys)"
    frame = data[envelope.HEADER_LEN:-envelope.MIC_LEN].hex()
    return f"{head}: {describe_frame(frame, fport)}"


def _open(port: str) -> Any:
    import serial

    if not os.path.exists(port):
        raise NoPort(f"no serial port {port}: check the cable, then 'mpremote connect list' for the name")
    try:
        return serial.Serial(port, BAUD, timeout=0, exclusive=True)
    except serial.SerialException as e:
        if not os.path.exists(port):
            raise NoPort(f"no serial port {port}: check the cable") from None
        raise PortBusy(f"cannot open {port} ({e.strerror or e}): close the program that uses it") from None


class Monitor:
    def __init__(self, port: str, *, out: Callable[[str], None] | None = None,
                 stdin: BinaryIO | None = None, signers: dict[int, Any] | None = None,
                 listen: bool = False) -> None:
        self.port = port
        self.signers = signers  # P2P device id -> envelope.Signer (--keys), or None
        self.listen = listen  # a RAK3172 receiver: switch P2P receive on at every (re)connect
        self.out = out or (lambda s: (sys.stdout.write(s + "\n"), sys.stdout.flush()))
        self.stdin = stdin if stdin is not None else sys.stdin.buffer
        self._buf = b""

    def _line(self, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip("\r")
        self.out(line)
        m = FRAME_RX.search(line)
        if m and len(m.group(1)) % 2 == 0:
            self.out(f"    -> {describe_frame(m.group(1))}")
            return
        at = line.find(rxp2p.PREFIX)
        if at >= 0:
            try:
                rssi, snr, data = rxp2p.parse_line(line[at:])
            except rxp2p.LineError:
                return
            self.out(f"    -> rssi {rssi} snr {snr}: {describe_envelope(data.hex(), self.signers)}")

    def _feed(self, data: bytes) -> None:
        self._buf += data
        while b"\n" in self._buf:
            raw, self._buf = self._buf.split(b"\n", 1)
            self._line(raw)
        if len(self._buf) > 4096:  # no newline for a long time: print what there is
            self._line(self._buf)
            self._buf = b""

    def run(self) -> int:
        """Until Ctrl-] (0 returned); NoPort/PortBusy when the port cannot be opened at the start."""
        ser = _open(self.port)
        self.out(f"--- monitor on {self.port}: Ctrl-] leaves ---")
        self._start_listening(ser)
        in_fd = self.stdin.fileno()
        old = None
        if os.isatty(in_fd):
            old = termios.tcgetattr(in_fd)
            tty.setcbreak(in_fd)
        stdin_open = True
        try:
            while True:
                fds = [in_fd] if stdin_open else []
                if ser is not None:
                    fds.append(ser.fileno())
                ready, _, _ = select.select(fds, [], [], RETRY_S if ser is None else None)
                if in_fd in ready:
                    keys = os.read(in_fd, 1024)
                    if not keys:
                        stdin_open = False  # stdin closed (not a terminal): keep monitoring
                    elif CTRL_RIGHT_BRACKET in keys:
                        return 0
                    elif ser is not None:
                        with contextlib.suppress(Exception):  # a lost port shows in the read below
                            ser.write(keys)
                if ser is None:
                    ser = self._reopen()
                    continue
                if ser.fileno() in ready:
                    try:
                        data = ser.read(4096)
                        if not data:
                            raise OSError("hang-up")
                    except Exception:
                        ser.close()
                        ser = None
                        if self._buf:
                            self._line(self._buf)
                            self._buf = b""
                        self.out(f"--- {self.port} disconnected: waiting for it to come back (Ctrl-] leaves) ---")
                        continue
                    self._feed(data)
        finally:
            if ser is not None:
                ser.close()
            if old is not None:
                termios.tcsetattr(in_fd, termios.TCSADRAIN, old)

    def _reopen(self) -> Any:
        if not os.path.exists(self.port):
            return None
        try:
            ser = _open(self.port)
        except (NoPort, PortBusy):
            return None
        self.out(f"--- {self.port} is back ---")
        self._start_listening(ser)
        return ser

    def _start_listening(self, ser: Any) -> None:
        if self.listen:
            with contextlib.suppress(Exception):  # a lost port shows in the next read
                ser.write(P2P_LISTEN)
