"""lns = "serial": a P2P receiver on USB (docs/p2p.md §5), fed to the pipeline like an LNS.

A thread owns the port: it opens it (again and again while the device is absent), sets a
RAK3172 up for P2P receive (``receiver = "rak3172"``; a TroSmart node in receiver mode,
``"node"``, prints the same lines by itself), and reads ``+EVT:RXP2P:<rssi>:<snr>:<HEX>`` lines
(RUI3 service_lora_p2p.c OnRxDone; docs/references.md §C.5). Each envelope is verified here
(MIC with the device's key, replay guard with the last counter on disk) and handed to the
pipeline as one JSON message; bridge/p2p_uplink.py makes it an Uplink or a dead letter.

Serial input is hostile like any other: lines are bounded, non-ASCII bytes dropped, every
refusal becomes a dead letter with the raw bytes and its reason, never an exception.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import serial

from payload_codec import envelope, rxp2p
from payload_codec.errors import CodecError

from . import jsonio, p2p_keys
from .config import Source
from .errors import InputError
from .logs import event
from .model import InMessage
from .replay import DUPLICATE, ReplayGuard

LINE_MAX = 600  # +EVT:RXP2P:-120:-20: and 478 hex digits fit
SETUP_TIMEOUT_S = 3.0
REBOOT_TIMEOUT_S = 5.0  # AT+NWM prints OK and reboots (atcmd_p2p.c At_NwMode)
RX_NONSTOP = 65534  # AT+PRECV: receive until AT+PRECV=0 (service_lora_p2p_recv)
READ_TIMEOUT_S = 0.2


class SerialSource:
    """The MqttConnection interface the Bridge uses (start, stop, ack, publish, connected)."""

    def __init__(self, settings: Source, state_dir: Path, on_message: Callable[[InMessage], None],
                 on_state: Callable[[str, bool], None]) -> None:
        self.s = self.settings = settings
        self.name = settings.name
        self.refused: dict[int, str] = {}  # as MqttConnection's; a serial receiver takes no downlinks
        self.keys = p2p_keys.load(settings.keys_file, f"source {settings.name}")
        self.guard = ReplayGuard(state_dir / f"p2p-counters-{settings.name}.json")
        self.on_message = on_message
        self.on_state = on_state
        self.connected = threading.Event()
        self.topic = f"serial/{settings.name}/rx"
        self.duplicates = 0
        self.connects = 0
        self.gaps: list[tuple[float, float]] = []  # (lost at, back at) of each disconnection
        self._mid = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"serial-{settings.name}", daemon=True)

    # --- the Bridge's connection interface -------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        self.connected.clear()

    def ack(self, acks: list[tuple[int, int, int]]) -> None:
        """Nothing to acknowledge: a radio packet cannot be redelivered."""

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """P2P has no downlinks: a command for a P2P device stays queued (logged once)."""
        event(logging.WARNING, "no downlinks over a P2P receiver", source=self.name, topic=topic)
        return -1

    # --- the port ---------------------------------------------------------------------------
    def _run(self) -> None:
        lost_at: float | None = None
        while not self._stop.is_set():
            try:
                port = serial.Serial(self.s.device, self.s.baud, timeout=READ_TIMEOUT_S)
            except (serial.SerialException, OSError, ValueError):
                if self._stop.wait(self.s.reconnect_s):
                    return
                continue
            try:
                if self.s.receiver == "rak3172":
                    self._setup_rak3172(port)
                self.connects += 1
                if lost_at is not None:
                    self.gaps.append((lost_at, time.time()))
                    event(logging.WARNING, "receiver back", source=self.name,
                          gap_s=round(time.time() - lost_at, 1))
                self.connected.set()
                self.on_state(self.name, True)
                self._read(port)
            except (serial.SerialException, OSError, TimeoutError) as e:
                event(logging.WARNING, "receiver lost", source=self.name, error=str(e))
            finally:
                if self.connected.is_set():
                    lost_at = time.time()
                self.connected.clear()
                self.on_state(self.name, False)
                with contextlib.suppress(serial.SerialException, OSError):
                    port.close()
            self._stop.wait(self.s.reconnect_s)

    def _readline(self, port: serial.Serial, deadline: float | None) -> str | None:
        buf = bytearray()
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("the receiver does not answer")
            b = port.read(1)
            if not b:
                if deadline is None and not buf:
                    return None  # idle: the caller checks for stop
                continue
            if b == b"\n":
                text = buf.decode("ascii", "replace").strip()
                if text:
                    return text
                buf.clear()
            elif 32 <= b[0] < 127 and len(buf) < LINE_MAX:
                buf += b
        return None

    def _command(self, port: serial.Serial, cmd: str, timeout_s: float = SETUP_TIMEOUT_S) -> list[str]:
        port.write(cmd.encode() + b"\r\n")
        deadline = time.monotonic() + timeout_s
        lines: list[str] = []
        while True:
            line = self._readline(port, deadline)
            if line is None:
                raise TimeoutError("stopping")
            if line == "OK":
                return lines
            if line.startswith("AT_"):  # AT_ERROR, AT_PARAM_ERROR, AT_BUSY_ERROR, ...
                raise serial.SerialException(f"{cmd}: {line}")
            if line.startswith("+EVT:RXP2P:"):
                self._packet(line)  # a packet heard meanwhile is kept
            else:
                lines.append(line)

    def _setup_rak3172(self, port: serial.Serial) -> None:
        """P2P receive with the configured settings (docs/references.md §C.5)."""
        port.reset_input_buffer()
        for _ in range(3):  # a module still booting hears nothing
            try:
                self._command(port, "AT", 1.0)
                break
            except TimeoutError:
                continue
        if "AT+NWM=0" not in self._command(port, "AT+NWM=?"):
            port.write(b"AT+NWM=0\r\n")  # OK without CR LF, then the module reboots
            deadline = time.monotonic() + REBOOT_TIMEOUT_S
            while True:
                line = self._readline(port, deadline)
                if line is not None and "CURRENT WORK MODE" in line.upper():
                    break
        self._command(port, "AT+PRECV=0")
        s = self.s
        self._command(port, f"AT+P2P={s.p2p_freq_hz}:{s.p2p_sf}:{s.p2p_bw_khz}:0:8:14")
        self._command(port, f"AT+PRECV={RX_NONSTOP}")
        event(logging.INFO, "receiver listening", source=self.name, device=s.device,
              frequency=s.p2p_freq_hz, sf=s.p2p_sf, bw_khz=s.p2p_bw_khz)

    def _read(self, port: serial.Serial) -> None:
        while not self._stop.is_set():
            line = self._readline(port, None)
            if line is None:  # idle; a vanished device raises SerialException from read()
                continue
            if line.startswith("+EVT:RXP2P:"):
                self._packet(line)
            elif line.upper().startswith(("RAKWIRELESS", "CURRENT WORK MODE")) and self.s.receiver == "rak3172":
                raise serial.SerialException("the receiver rebooted")  # set it up again

    # --- one packet ----------------------------------------------------------------------------
    def _packet(self, line: str) -> None:
        at = time.time()
        doc: dict[str, object] = {"receiver": f"serial:{self.name}", "at": round(at, 3),
                                  "line": line[:LINE_MAX]}
        try:
            rssi, snr, data = _parse_line(line)
            doc.update(rssi=rssi, snr=snr, hex=data.hex(), frequency=self.s.p2p_freq_hz,
                       spreading_factor=self.s.p2p_sf, bandwidth=self.s.p2p_bw_khz * 1000)
            dev, ctr, fport, frame = envelope.open_envelope(data, self._signer)
            doc.update(device=f"{dev:08X}", counter=ctr)
            if self.guard.check(dev, ctr, data[-envelope.MIC_LEN:]) == DUPLICATE:
                self.duplicates += 1
                return
            doc.update(dev_eui=self.keys[dev][0], fport=fport, frame=frame.hex())
        except envelope.BadMicError as e:
            doc["error"] = self._bad_mic(data, e)
        except envelope.EnvelopeError as e:
            doc["error"] = {"reason": e.reason, "detail": str(e)}
        except CodecError as e:  # TruncatedError
            doc["error"] = {"reason": "malformed", "detail": str(e)}
        except InputError as e:  # replayed, bad line
            doc["error"] = {"reason": e.reason, "detail": e.detail}
        self._mid += 1
        self.on_message(InMessage(self.name, self.topic, jsonio.dumps(doc), 0, self._mid, 0))

    def _bad_mic(self, data: bytes, e: envelope.BadMicError) -> dict[str, str]:
        """wrong_key when another workshop device's key verifies it (a node flashed with its
        neighbour's key), else bad_mic (altered on the way, or forged)."""
        dev = int.from_bytes(data[1:5], "big")
        for other, (eui, signer) in self.keys.items():
            if other != dev:
                try:
                    envelope.open_envelope(data, lambda _d, s=signer: s)
                except CodecError:
                    continue
                return {"reason": "wrong_key", "detail": f"{e}: it verifies with the key of {eui}"}
        return {"reason": e.reason, "detail": str(e)}

    def _signer(self, device_id: int) -> envelope.Signer | None:
        got = self.keys.get(device_id)
        return got[1] if got else None


def _parse_line(line: str) -> tuple[int, int, bytes]:
    try:
        return rxp2p.parse_line(line)
    except rxp2p.LineError as e:
        raise InputError("bad_line", str(e)) from None
