"""A RAK3172 (RUI3 firmware) emulated on a pseudo-terminal: the AT dialect of docs/references.md §C,
in the version given (``rui="4.0.5"``; see ``VERSIONS``).

Every version-dependent behaviour was read in RUI3's own source, RAKWireless/RAK-STM32-RUI (the
RUI3 SDK; read only, nothing copied), at the tag and commit ``VERSIONS`` names; each one cites
the file it comes from where it is emulated. docs/rak3172.md §5 has the table.

The emulator serves one pty in a thread. Its LoRaWAN side is simulated: joins and uplinks
go to a ``SimNetworkServer`` (or an always-accepting stand-in when none is given), with
EU868 timing, airtime and per-sub-band duty cycle (docs/references.md §E, §J) on a simulated clock
that runs ``1 / time_scale`` times faster than the wall clock.

Known differences from a real module (choices written down here, see docs/rak3172.md):

* The 3.5.x banner is assumed to be the 4.0.x one (no console log of it was found), and the
  3.5.x ``AT+VER=?`` answer is assumed to follow the ``RUI_<v>_RAK3172-E`` pattern.
* The module's own empty uplinks (after an oversize payload, a confirmed downlink or FPending)
  reach no network server; they only cost airtime, a frame counter and a busy MAC.
* Not produced: ``AT_TEST_PARAM_OVERFLOW`` and ``AT_RX_ERROR`` (RF test is
  not emulated); P2P commands answer ``AT_MODE_NO_SUPPORT`` in LoRaWAN mode; in P2P mode
  ``AT+P2P``, ``AT+PSEND`` and ``AT+PRECV`` work (p2p_air.py), the others answer ``AT_ERROR``
  in P2P mode; class-B commands answer ``AT_NO_CLASSB_ENABLE`` unless class B is set.
* ``AT+BAND`` 0 (EU433) and 1 (CN470) answer ``AT_UNSUPPORTED_BAND`` (RAK3172 high-band
  variant); other bands are accepted but timing and duty cycle stay EU868.
* ABP (``AT+NJM=0``) is stored but ``AT+JOIN`` then answers ``AT_ERROR``; class C, multicast,
  link check and device-time requests are not simulated.
* A confirmed uplink whose ACK is dropped (``drop_next_acks``) is retransmitted ``AT+RETY``
  times (airtime counted each time) and ends in ``+EVT:SEND_CONFIRMED_FAILED(4)``
  (4 = LoRaMac RX2 timeout status).
"""

from __future__ import annotations

import heapq
import logging
import os
import random
import select
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from payload_codec.airtime import EU868, time_on_air_us

from .p2p_air import Air, P2PError, P2PRadio

log = logging.getLogger(__name__)

# RUI3 versions reproduced -> the RAK-STM32-RUI tag and commit their behaviour was read at
VERSIONS = {
    "3.5.2": "v3.5.2 66772fa4",
    "4.0.1": "v4.0.1 95c6d532",
    "4.0.5": "v4.0.5_241 65e8e336",
    "4.2.1": "v4.2.1_313 a8dcbdfb",
    "5.0.0": "v5.0.0_329 e5a28be8",
}
VERSION = "4.0.5"  # the default
DASH = "-" * 54
TX_DONE_SINCE = (4, 0, 4)  # service_lora.c McpsConfirm prints +EVT:TX_DONE and (<status>) from v4.0.4_236
JOIN_REARM_SINCE = (4, 1, 0)  # service_lora_join re-arms after a refused join from v4.1.0_258
JOIN_REQUEST_PHY = 23  # MHDR 1 + JoinEUI 8 + DevEUI 8 + DevNonce 2 + MIC 4
JOIN_ACCEPT_PHY = 17  # MHDR 1 + 12 + MIC 4 (no CFList)
LORAWAN_OVERHEAD = 13
DC_WINDOW_S = 3600.0  # ETSI observation period (docs/references.md §E)
BOOT_S = 0.05  # simulated boot time before the banner
RX_WINDOW_S = 0.2  # how long an RX window stays open when nothing arrives
ACK_STATUS_RX2_TIMEOUT = 4
SECRET_NAMES = ("APPKEY", "NWKSKEY", "APPSKEY")
MAX_NAME = 32  # §C.1: command name <= 32 chars
MAX_ARGS = 25

# EU868 channels: default join channels 868.1/.3/.5 in sub-band M, CFList channels
# 867.1..867.9 in sub-band L (docs/references.md §E); both sub-bands allow 1 % (36 s per hour).
SUBBANDS = {"L": 0.01, "M": 0.01}
CHANNELS_JOIN = ((868100000, "M"), (868300000, "M"), (868500000, "M"))
CHANNELS_SESSION = CHANNELS_JOIN + tuple((867100000 + 200000 * i, "L") for i in range(5))

OK = "OK"
AT_ERROR = "AT_ERROR"
PARAM = "AT_PARAM_ERROR"
BUSY = "AT_BUSY_ERROR"
NO_CLASSB = "AT_NO_CLASSB_ENABLE"
NOT_JOINED = "AT_NO_NETWORK_JOINED"
MODE = "AT_MODE_NO_SUPPORT"
NOT_FOUND = "AT_COMMAND_NOT_FOUND"
BAND_ERR = "AT_UNSUPPORTED_BAND"


class NetworkLike(Protocol):
    def join(self, deveui: str) -> bool: ...

    def uplink(
        self, deveui: str, fport: int, payload: bytes, fcnt: int, confirmed: bool, dr: int, *,
        frequency: int = 868100000, rssi: int = -57, snr: float = 10.5, adr: bool = False,
    ) -> tuple[int, bytes] | None: ...


class _AcceptAll:
    """Stand-in network: every join accepted, no downlinks."""

    def join(self, deveui: str) -> bool:
        return True

    def uplink(
        self, deveui: str, fport: int, payload: bytes, fcnt: int, confirmed: bool, dr: int, *,
        frequency: int = 868100000, rssi: int = -57, snr: float = 10.5, adr: bool = False,
    ) -> tuple[int, bytes] | None:
        return None


class CommandError(Exception):
    """An AT status other than OK; args[0] is the §C.2 string. ``lines`` are printed before
    it, ``after`` runs after it (the module acts although the command failed)."""

    def __init__(self, status: str, lines: tuple[str, ...] = (), after: Callable[[], None] | None = None) -> None:
        super().__init__(status)
        self.lines = lines
        self.after = after


def version_tuple(rui: str) -> tuple[int, int, int]:
    parts = rui.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"RUI3 version must look like 4.0.5, not {rui!r}")
    v = (int(parts[0]), int(parts[1]), int(parts[2]))
    if not (3, 5, 0) <= v < (5, 1, 0):
        raise ValueError(f"RUI3 {rui} is not emulated (3.5.0 .. 5.0.x; see VERSIONS)")
    return v


def banner(rui: str) -> tuple[str, ...]:
    """The boot lines of stock RUI3 AT firmware on a RAK3172-E."""
    # >= 4.2: strings of prebuilt/RUI_5.0.0_RAK3172-E.bin (e5a28be8), 4.2.1 as in the forum logs;
    # 4.0.x: forum logs quoted in issue 22 ("... Example"); 3.5.x assumed the same
    first = "RAKwireless RAK3172-E" if version_tuple(rui) >= (4, 2, 0) else "RAKwireless RAK3172-E Example"
    # "Current Work Mode: " + mode: variants/WisDuo_RAK3172_Evaluation_Board/rui_inner_main.c
    return (first, DASH, "Version: RUI_%s_RAK3172-E" % rui)


def _hex_value(n: int) -> tuple[Callable[[str], str], Callable[[str], str]]:
    def parse(v: str) -> str:
        if len(v) != n:
            raise CommandError(PARAM)
        try:
            bytes.fromhex(v)
        except ValueError:
            raise CommandError(PARAM) from None
        return v.upper()

    return parse, lambda v: v


def _int_value(lo: int, hi: int) -> tuple[Callable[[str], int], Callable[[int], str]]:
    def parse(v: str) -> int:
        if not v.isdigit():
            raise CommandError(PARAM)
        x = int(v)
        if not lo <= x <= hi:
            raise CommandError(PARAM)
        return x

    return parse, str


def _class_value() -> tuple[Callable[[str], str], Callable[[str], str]]:
    def parse(v: str) -> str:
        v = v.upper()
        if v not in ("A", "B", "C"):
            raise CommandError(PARAM)
        return v

    return parse, lambda v: v


# name -> (permission, help text, (parse, format)); settings kept in "NVM" across reboots
SETTINGS: dict[str, tuple[str, str, tuple[Callable[[str], Any], Callable[[Any], str]]]] = {
    "DEVEUI": ("RW", "get or set the device EUI (8 bytes in hex)", _hex_value(16)),
    "APPEUI": ("RW", "get or set the application EUI (8 bytes in hex)", _hex_value(16)),
    "APPKEY": ("RW", "get or set the application key (16 bytes in hex)", _hex_value(32)),
    "DEVADDR": ("RW", "get or set the device address (4 bytes in hex)", _hex_value(8)),
    "NWKSKEY": ("RW", "get or set the network session key (16 bytes in hex)", _hex_value(32)),
    "APPSKEY": ("RW", "get or set the application session key (16 bytes in hex)", _hex_value(32)),
    "NJM": ("RW", "get or set the network join mode (0 = ABP, 1 = OTAA)", _int_value(0, 1)),
    "CLASS": ("RW", "get or set the device class (A, B, C)", _class_value()),
    "BAND": ("RW", "get or set the active region (0..12)", _int_value(0, 12)),
    "CFM": ("RW", "get or set the confirm mode (0 = off, 1 = on)", _int_value(0, 1)),
    "RETY": ("RW", "get or set the number of retransmissions of confirmed packets", _int_value(0, 7)),
    "DR": ("RW", "get or set the data rate", _int_value(0, 7)),
    "ADR": ("RW", "get or set the adaptive data rate setting", _int_value(0, 1)),
    "TXP": ("RW", "get or set the transmit power index", _int_value(0, 7)),
    "RX1DL": ("RW", "get or set the RX1 window delay (s)", _int_value(1, 15)),
    "RX2DL": ("RW", "get or set the RX2 window delay (s)", _int_value(2, 16)),
    "JN1DL": ("RW", "get or set the join accept delay 1 (s)", _int_value(1, 14)),
    "JN2DL": ("RW", "get or set the join accept delay 2 (s)", _int_value(2, 15)),
    "RX2DR": ("RW", "get or set the RX2 window data rate", _int_value(0, 7)),
    "LINKCHECK": ("RW", "get or set the link check setting", _int_value(0, 2)),
    "LPM": ("RW", "get or set the low power mode", _int_value(0, 1)),
    "LPMLVL": ("RW", "get or set the low power mode level", _int_value(1, 2)),
}
READ_ONLY = {
    "VER": "get the version of the firmware",
    "NJS": "get the join status",
    "CFS": "get the confirmation status of the last AT+SEND",
    "RECV": "print the last received data in hex format",
    "RSSI": "get the RSSI of the last received packet",
    "SNR": "get the SNR of the last received packet",
    "DCS": "get the ETSI duty cycle setting",
    "RX2FQ": "get the RX2 window frequency (Hz)",
}
MODE_FREE = {"VER", "NWM", "LPM", "LPMLVL"}  # answer in LoRaWAN and P2P mode
P2P_NAMES = {"P2P", "PSEND", "PRECV", "PFREQ", "PSF", "PBW", "PCR", "PPL", "PTP", "CAD"}
CLASSB_NAMES = {"PGSLOT", "BFREQ", "BTIME"}

DEFAULTS: dict[str, Any] = {
    "APPEUI": "0000000000000000",
    "APPKEY": "0" * 32,
    "DEVADDR": "00000000",
    "NWKSKEY": "0" * 32,
    "APPSKEY": "0" * 32,
    "NJM": 1,
    "CLASS": "A",
    "BAND": 4,
    "CFM": 0,
    "RETY": 0,
    "ADR": 0,
    "TXP": 0,
    "RX1DL": 1,
    "RX2DL": 2,
    "JN1DL": 5,
    "JN2DL": 6,
    "RX2DR": 0,
    "LINKCHECK": 0,
    "LPM": 0,
    "LPMLVL": 1,
}


def airtime_ms(phy_len: int, dr: int) -> float:
    sf, bw, _ = EU868[min(dr, 6)]
    return time_on_air_us(phy_len, sf, bw) / 1000.0


class Rak3172Emulator:
    """One emulated RAK3172 on a pty. ``start()`` returns the device path for the host side."""

    def __init__(
        self,
        deveui: str = "",
        *,
        network: NetworkLike | None = None,
        time_scale: float = 1.0,
        dr: int = 5,
        echo: bool = False,
        seed: int | None = None,
        rui: str = VERSION,
        air: Air | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.rui = rui
        self.v = version_tuple(rui)
        self.banner = banner(rui)
        self.network: NetworkLike = network if network is not None else _AcceptAll()
        self.time_scale = time_scale
        self._rng = random.Random(seed)
        self.nvm: dict[str, Any] = dict(DEFAULTS)
        self.nvm["DEVEUI"] = (deveui or "AC1F09FFFE%06X" % self._rng.getrandbits(24)).upper()
        self.nvm["DR"] = dr
        self.nvm["ECHO"] = bool(echo)
        self.nvm["NWM"] = 1
        self.nvm["JOIN"] = (0, 0, 8, 0)  # start, auto_join, period_s, max retries
        # counters
        self.uplinks = 0
        self.fcnt_up = 0
        self.airtime_ms_total = 0.0
        self.joins_sent = 0
        self.empty_uplinks = 0  # uplinks the module sent by itself (send_null, oversize payload)
        self.reboots = 0
        self.dropped_bytes = 0
        self.trace: deque[tuple[float, str]] = deque(maxlen=512)  # (sim s, +EVT/banner line)
        # volatile state
        self.joined = False
        self._busy: str | None = None
        self._booting = False
        self._last_rx: tuple[int, bytes] | None = None
        self._rssi, self._snr = 0, 0
        self._cfs = 0
        self._join_cnt = 0  # service_lora.c auto_join_retry_cnt
        self._join_gen = 0  # bumped to cancel the join retry timer
        self._fail_joins = 0
        self._pending_next = 0
        self._drop_acks = 0
        # no gateway hears the uplinks (a gateway without power): the network gets nothing,
        # confirmed sends fail, link checks fail; joins are refused too
        self.gateway_outage = False
        self._heard = False
        self._dc: dict[str, list[tuple[float, float]]] = {b: [] for b in SUBBANDS}
        # machinery
        self._lock = threading.RLock()
        self._events: list[tuple[float, int, int, Callable[[], None]]] = []
        self._seq = 0
        self._epoch = 0
        self._inbuf = bytearray()
        self._t0 = time.monotonic()
        self._master = -1
        self._slave = -1
        self._wake_r = -1
        self._wake_w = -1
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.path = ""
        self.p2p = P2PRadio(self, air)  # LoRa P2P (AT+NWM=0), packets through ``air``

    # ---- lifecycle ------------------------------------------------------------------
    def start(self) -> str:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self._wake_r, self._wake_w = os.pipe()
        self.path = os.ttyname(self._slave)
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="rak3172-emulator", daemon=True)
        self._thread.start()
        return self.path

    def stop(self) -> None:
        self._stopping = True
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = self._wake_r = self._wake_w = -1

    def __enter__(self) -> Rak3172Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- test hooks -----------------------------------------------------------------
    def reboot(self) -> None:
        """Restart like a brown-out: the join and anything in flight are lost, NVM is kept."""
        with self._lock:
            self._restart()

    def fail_next_joins(self, n: int) -> None:
        """The next ``n`` Join-Requests get no Join-Accept (+EVT:JOIN_FAILED_RX_TIMEOUT)."""
        with self._lock:
            self._fail_joins = n

    def frame_pending_next(self, n: int) -> None:
        """The next ``n`` downlinks carry FPending: the module answers each with an empty uplink."""
        with self._lock:
            self._pending_next = n

    def drop_next_acks(self, n: int) -> None:
        """The ACKs of the next ``n`` confirmed uplinks are lost (with retransmissions)."""
        with self._lock:
            self._drop_acks = n

    def sim_time_s(self) -> float:
        return (time.monotonic() - self._t0) / self.time_scale

    # ---- serving thread -------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stopping:
            with self._lock:
                timeout = 0.5
                if self._events:
                    timeout = max(0.0, min(timeout, self._events[0][0] - time.monotonic()))
            ready, _, _ = select.select([self._master, self._wake_r], [], [], timeout)
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            if self._master in ready:
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    data = b""
                if data:
                    with self._lock:
                        self._feed(data)
            self._run_due()

    def _run_due(self) -> None:
        while True:
            with self._lock:
                if not self._events or self._events[0][0] > time.monotonic():
                    return
                _, _, epoch, fn = heapq.heappop(self._events)
                if epoch == self._epoch:
                    fn()

    def _after(self, sim_s: float, fn: Callable[[], None]) -> None:
        self._seq += 1
        due = time.monotonic() + sim_s * self.time_scale
        heapq.heappush(self._events, (due, self._seq, self._epoch, fn))
        if self._wake_w >= 0 and threading.current_thread() is not self._thread:
            os.write(self._wake_w, b"x")

    def _out(self, text: str, end: str = "\r\n") -> None:
        if text.startswith(("+EVT:", "Restricted_Wait_")) or text == self.banner[0]:
            self.trace.append((self.sim_time_s(), text))
        data = (text + end).encode()
        try:
            n = os.write(self._master, data)
        except BlockingIOError:
            n = 0
        except OSError:
            return
        self.dropped_bytes += len(data) - n  # a UART whose host does not read loses bytes

    # ---- line discipline --------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        for b in data:
            if b in (13, 10):
                if self._inbuf:
                    line = self._inbuf.decode("ascii", "replace")
                    self._inbuf.clear()
                    if self._booting:
                        continue  # a booting module hears nothing
                    if self.nvm["ECHO"]:
                        self._out("", "\n\r")  # service_mode_cli.c (v3.5.2 .. v5.0.0): Enter echoes LF CR
                    self._line(line)
            elif len(self._inbuf) < 1024 and not self._booting:
                self._inbuf.append(b)
                if self.nvm["ECHO"]:
                    self._out(chr(b), "")  # service_mode_cli.c: each byte echoed as it arrives

    def _line(self, line: str) -> None:
        log.debug("< %s", _masked(line))
        try:
            values, after = self._dispatch(line.strip())
        except CommandError as e:
            self._print_refusal(e)
            self._out(e.args[0])
            if e.after is not None:
                e.after()
            return
        if values is not None:  # None: the command prints no status line
            for v in values:
                self._out(v)
            self._out(OK)
        if after is not None:
            after()

    # ---- command dispatch --------------------------------------------------------------
    def _dispatch(self, line: str) -> tuple[list[str] | None, Callable[[], None] | None]:
        u = line.upper()
        if u == "AT":
            return [], None
        if u == "ATE":
            self.nvm["ECHO"] = not self.nvm["ECHO"]
            return [], None
        if u == "ATZ":
            # atcmd_general.c At_Reboot (v3.5.2 .. v5.0.0): udrv_system_reboot() before
            # "return AT_OK": no status line
            return None, self._restart
        if u == "ATR":
            keep = {k: self.nvm[k] for k in ("DEVEUI", "ECHO", "NWM")}
            self.nvm.update(DEFAULTS, **keep)
            return [], None
        if not u.startswith("AT+"):
            raise CommandError(AT_ERROR)
        body = line[3:]
        cut = len(body)
        for i, c in enumerate(body):
            if c in "=?":
                cut = i
                break
        name, rest = body[:cut].upper(), body[cut:]
        if len(name) > MAX_NAME or not name:
            raise CommandError(AT_ERROR)
        known = name in SETTINGS or name in READ_ONLY or name in ("NWM", "JOIN", "SEND")
        if not known and name not in P2P_NAMES and name not in CLASSB_NAMES:
            raise CommandError(NOT_FOUND)
        if rest == "?":
            return [self._help(name)], None
        if name in P2P_NAMES:
            if self.nvm["NWM"] == 0 and name in ("P2P", "PSEND", "PRECV"):
                try:
                    return self.p2p.command(name, rest), None
                except P2PError as e:
                    raise CommandError(e.args[0], e.lines) from None
            raise CommandError(MODE if self.nvm["NWM"] == 1 else AT_ERROR)
        if self.nvm["NWM"] != 1 and name not in MODE_FREE:
            raise CommandError(MODE)
        if name in CLASSB_NAMES:
            raise CommandError(NO_CLASSB if self.nvm["CLASS"] != "B" else AT_ERROR)
        if rest == "=?":
            return ["AT+%s=%s" % (name, self._get(name))], None
        if not rest.startswith("="):
            if name == "JOIN":  # bare AT+JOIN = AT+JOIN=1 (§C.3)
                return self._join(["1"])
            raise CommandError(PARAM)
        args = rest[1:].split(":")
        if rest == "=" or len(args) > MAX_ARGS:
            raise CommandError(PARAM)
        return self._set(name, args)

    def _help(self, name: str) -> str:
        if name in SETTINGS:
            perm, text, _ = SETTINGS[name]
        elif name in READ_ONLY:
            perm, text = "R", READ_ONLY[name]
        elif name == "SEND":
            perm, text = "W", "send data with the application port"
        elif name == "JOIN":
            perm, text = "RW", "join network"
        elif name == "NWM":
            perm, text = "RW", "get or set the network working mode (0 = P2P_LORA, 1 = LoRaWAN, 2 = P2P_FSK)"
        else:
            perm, text = "RW", "not emulated"
        return "AT+%s,%s: %s" % (name, perm, text)

    def _get(self, name: str) -> str:
        if name in SETTINGS:
            return SETTINGS[name][2][1](self.nvm[name])
        if name == "NWM":
            return str(self.nvm["NWM"])
        if name == "JOIN":
            return "%d:%d:%d:%d" % self.nvm["JOIN"]
        if name == "VER":
            return "RUI_%s_RAK3172-E" % self.rui  # atcmd_general.c At_GetFwVersion: sw_version (version.c)
        if name == "NJS":
            return "1" if self.joined else "0"
        if name == "CFS":
            return str(self._cfs)
        if name == "RECV":
            port, data = self._last_rx or (0, b"")
            return "%d:%s" % (port, data.hex())
        if name == "RSSI":
            return str(self._rssi)
        if name == "SNR":
            return str(self._snr)
        if name == "DCS":
            return "1"
        if name == "RX2FQ":
            return "869525000"
        raise CommandError(PARAM)  # SEND has no query form

    def _set(self, name: str, args: list[str]) -> tuple[list[str] | None, Callable[[], None] | None]:
        if name == "SEND":
            return self._send(args)
        if name == "JOIN":
            return self._join(args)
        if name == "NWM":
            if len(args) != 1 or args[0] not in ("0", "1", "2"):
                raise CommandError(PARAM)
            self.nvm["NWM"] = int(args[0])
            # atcmd_p2p.c At_NwMode (v3.5.2 .. v5.0.0): atcmd_printf("OK") without CR LF, then
            # udrv_system_reboot(): the status line never completes
            return None, self._ok_then_restart
        if name not in SETTINGS or len(args) != 1:
            raise CommandError(PARAM)
        value = SETTINGS[name][2][0](args[0])
        if name == "BAND" and value in (0, 1):
            raise CommandError(BAND_ERR)
        if self._busy and name in ("DEVEUI", "APPEUI", "APPKEY", "NJM", "BAND"):
            raise CommandError(BUSY)
        self.nvm[name] = value
        if name in ("DEVEUI", "APPEUI", "APPKEY", "NJM", "BAND"):
            self.joined = False  # the session no longer matches the identity
        return [], None

    # ---- reboot -----------------------------------------------------------------------
    def _ok_then_restart(self) -> None:
        self._out(OK, "")
        self._restart()

    def _restart(self) -> None:
        self._epoch += 1  # drops every scheduled event
        self._events.clear()
        self.joined = False
        self._busy = None
        self._join_cnt = 0
        self._booting = True
        self.p2p.reset()
        self._inbuf.clear()
        self.reboots += 1
        self._after(BOOT_S, self._booted)

    def _booted(self) -> None:
        self._booting = False
        for line in self.banner:
            self._out(line)
        mode = {0: "LoRa P2P", 1: "LoRaWAN", 2: "FSK P2P"}[self.nvm["NWM"]]
        self._out("Current Work Mode: %s." % mode)
        _start, auto, _period, _retries = self.nvm["JOIN"]
        if auto and self.nvm["NWM"] == 1 and self.nvm["NJM"] == 1:
            self._join_request(from_timer=True)  # service_lora_start: auto join

    # ---- duty cycle (ETSI, 1 h observation window per sub-band) -------------------------
    def _band_used_ms(self, band: str, now: float) -> float:
        hist = self._dc[band]
        while hist and hist[0][0] <= now - DC_WINDOW_S:
            hist.pop(0)
        return sum(a for _, a in hist)

    def _pick_channel(self, toa_ms: float, session: bool) -> tuple[int, str]:
        now = self.sim_time_s()
        chans = [
            c
            for c in (CHANNELS_SESSION if session else CHANNELS_JOIN)
            if self._band_used_ms(c[1], now) + toa_ms <= SUBBANDS[c[1]] * DC_WINDOW_S * 1000
        ]
        if not chans:
            # service_lora.c (every version): LORAMAC_STATUS_DUTYCYCLE_RESTRICTED prints
            # "Restricted_Wait_%d_ms" (ReqReturn.DutyCycleWaitTime), the command AT_BUSY_ERROR
            raise CommandError(BUSY, ("Restricted_Wait_%d_ms" % self._dc_wait_ms(toa_ms, session, now),))
        return self._rng.choice(chans)

    def _print_refusal(self, e: CommandError) -> None:
        for text in e.lines:  # e.g. Restricted_Wait_<ms>_ms, printed whether or not a status follows
            self._out(text)

    def _dc_wait_ms(self, toa_ms: float, session: bool, now: float) -> int:
        """Simulated ms until some sub-band of these channels has room for ``toa_ms``."""
        best = DC_WINDOW_S
        for band in {c[1] for c in (CHANNELS_SESSION if session else CHANNELS_JOIN)}:
            limit = SUBBANDS[band] * DC_WINDOW_S * 1000
            used = self._band_used_ms(band, now)
            for t, a in self._dc[band]:  # oldest first: each expiry frees its airtime
                if used + toa_ms <= limit:
                    break
                used -= a
                best = min(best, t + DC_WINDOW_S - now) if used + toa_ms <= limit else best
        return max(1, int(best * 1000))

    def _transmit(self, band: str, toa_ms: float) -> None:
        self._dc[band].append((self.sim_time_s(), toa_ms))
        self.airtime_ms_total += toa_ms

    # ---- join (§C.3 AT+JOIN, §C.4 events, §E JOIN_ACCEPT_DELAY1/2) ----------------------
    # service_lora.c service_lora_join / MlmeConfirm and atcmd_join_send.c At_Join, at every
    # tag of VERSIONS: AT+JOIN=<start>:<auto>:<period>:<max>; after each failed request
    # ++auto_join_retry_cnt > max stops, else the timer sends the next one `period` s later,
    # so max = n gives 1 + n Join-Requests. The MAC is busy only while a request is in flight.
    def _join(self, args: list[str]) -> tuple[list[str] | None, Callable[[], None] | None]:
        if not 1 <= len(args) <= 4 or not all(a.isdigit() for a in args):
            raise CommandError(PARAM)
        vals = [int(a) for a in args] + [0, 8, 0][len(args) - 1 :]
        start, auto, period, retries = vals
        if start > 1 or auto > 1 or not 7 <= period <= 255 or retries > 255:
            raise CommandError(PARAM)
        self.nvm["JOIN"] = (start, auto, period, retries)
        if start == 0:  # stop joining: the retry timer stops, a request in flight goes on
            self._join_gen += 1
            self._join_cnt = 0
            return [], None
        if self.nvm["NJM"] != 1:
            raise CommandError(AT_ERROR)
        if self._busy:
            raise CommandError(BUSY)
        self.joined = False
        self._join_gen += 1
        self._join_request(from_timer=False)  # raises CommandError when refused
        return [], None

    def _join_timer(self, period: int) -> None:
        gen = self._join_gen

        def fire() -> None:
            if gen == self._join_gen and not self._busy:
                self._join_request(from_timer=True)

        self._after(period, fire)

    def _join_request(self, from_timer: bool) -> None:
        """One Join-Request now, or the duty-cycle refusal (raised for AT+JOIN, printed for the timer)."""
        _start, _auto, period, retries = self.nvm["JOIN"]
        dr = min(self.nvm["DR"], 5)
        toa = airtime_ms(JOIN_REQUEST_PHY, dr)
        try:
            _, band = self._pick_channel(toa, session=False)
        except CommandError as e:
            if self.v >= JOIN_REARM_SINCE:
                # v4.1.0_258 .. v5.0.0 service_lora_join: the refusal counts as a try; the
                # one-shot timer is re-armed while ++auto_join_retry_cnt <= max
                self._join_cnt += 1
                if self._join_cnt > retries:
                    self._join_cnt = 0
                else:
                    self._join_timer(period)
            elif from_timer:
                self._join_timer(period)  # < 4.1.0: the timer is periodic (HTMR_PERIODIC)
            if not from_timer:
                raise
            self._print_refusal(e)
            return
        self._busy = "join"
        self._transmit(band, toa)
        self.joins_sent += 1
        accept_at = toa / 1000 + self.nvm["JN1DL"]
        if self._fail_joins > 0:
            self._fail_joins -= 1
            accepted = False
        else:
            accepted = not self.gateway_outage and bool(self.network.join(self.nvm["DEVEUI"].lower()))
        if accepted:
            ja = airtime_ms(JOIN_ACCEPT_PHY, dr) / 1000
            self._after(accept_at + ja, self._joined_ok)
        else:
            fail_at = toa / 1000 + self.nvm["JN2DL"] + RX_WINDOW_S
            self._after(fail_at, self._join_failed)

    def _joined_ok(self) -> None:
        self.joined = True
        self._busy = None
        self._join_cnt = 0
        self._join_gen += 1
        self.fcnt_up = 0
        self.nvm["DEVADDR"] = "%08X" % self._rng.getrandbits(32)
        self._out("+EVT:JOINED")

    def _join_failed(self) -> None:
        self._busy = None
        self._out("+EVT:JOIN_FAILED_RX_TIMEOUT")
        _start, _auto, period, retries = self.nvm["JOIN"]
        self._join_cnt += 1  # MlmeConfirm: if (++auto_join_retry_cnt > max) stop
        if self._join_cnt > retries:
            self._join_cnt = 0
        else:
            self._join_timer(period)

    # ---- send (§C.3 AT+SEND, §C.4 events, §E RECEIVE_DELAY1/2) --------------------------
    def _send(self, args: list[str]) -> tuple[list[str] | None, Callable[[], None] | None]:
        if len(args) != 2 or not args[0].isdigit():
            raise CommandError(PARAM)
        port, hexs = int(args[0]), args[1]
        if not 1 <= port <= 223 or not 2 <= len(hexs) <= 500 or len(hexs) % 2:
            raise CommandError(PARAM)
        try:
            payload = bytes.fromhex(hexs)
        except ValueError:
            raise CommandError(PARAM) from None
        if not self.joined:
            raise CommandError(NOT_JOINED)
        if self._busy:
            raise CommandError(BUSY)
        dr = self.nvm["DR"]
        if len(payload) > EU868[min(dr, 6)][2]:
            # service_lora.c service_lora_send (v3.5.2 .. v5.0.0): LoRaMacMcpsRequest goes ahead
            # without the payload (tx_possible false), -UDRV_WRONG_ARG -> AT_PARAM_ERROR
            # (atcmd_join_send.c At_Send); the empty frame still goes out
            raise CommandError(PARAM, after=self._empty_uplink)
        toa = airtime_ms(len(payload) + LORAWAN_OVERHEAD, dr)
        freq, band = self._pick_channel(toa, session=True)
        confirmed = self.nvm["CFM"] == 1
        self._busy = "send"
        return [], lambda: self._uplink(port, payload, confirmed, dr, toa, freq, band)

    def _uplink(self, port: int, payload: bytes, confirmed: bool, dr: int, toa: float,
                freq: int, band: str) -> None:
        self._transmit(band, toa)
        fcnt = self.fcnt_up
        self.fcnt_up += 1
        self.uplinks += 1
        rssi = -60 - self._rng.randrange(40)
        snr = self._rng.randrange(-5, 11)
        self._heard = not self.gateway_outage
        self._rssi, self._snr = rssi, snr
        down = None
        if self._heard:
            down = self.network.uplink(
                self.nvm["DEVEUI"].lower(), port, payload, fcnt, confirmed, dr,
                frequency=freq, rssi=rssi, snr=snr, adr=bool(self.nvm["ADR"]),
            )
        rx1 = toa / 1000 + self.nvm["RX1DL"]
        if confirmed and (self._drop_acks > 0 or not self._heard):
            self._drop_acks -= 1 if self._heard else 0
            self._after(toa / 1000 + self.nvm["RX2DL"] + RX_WINDOW_S,
                        lambda: self._retransmit(payload, dr, self.nvm["RETY"]))
            return
        if down is not None and down[1]:
            d_port, d_data = down[0], down[1]
            d_confirmed = len(down) > 2 and bool(down[2])
            d_toa = airtime_ms(len(d_data) + LORAWAN_OVERHEAD, dr) / 1000
            self._after(rx1 + d_toa, lambda: self._downlink(d_port, d_data, rssi, snr, confirmed, d_confirmed))
        elif confirmed:  # ACK-only downlink in RX1: no RX event (§C.4)
            self._after(rx1 + 0.05, lambda: self._tx_end(confirmed, acked=True))
        else:
            self._after(toa / 1000 + self.nvm["RX2DL"] + RX_WINDOW_S,
                        lambda: self._tx_end(False, acked=False))

    def _retransmit(self, payload: bytes, dr: int, left: int) -> None:
        if left <= 0:
            self._cfs = 0
            self._busy = None
            if self.v >= TX_DONE_SINCE:  # McpsConfirm prints the status from v4.0.4_236 on
                self._out("+EVT:SEND_CONFIRMED_FAILED(%d)" % ACK_STATUS_RX2_TIMEOUT)
            else:
                self._out("+EVT:SEND_CONFIRMED_FAILED")
            self._link_check()
            return
        toa = airtime_ms(len(payload) + LORAWAN_OVERHEAD, dr)
        try:
            _, band = self._pick_channel(toa, session=True)
        except CommandError:
            left = 0  # the duty cycle forbids the retransmission: give up now
        else:
            self._transmit(band, toa)
        self._after(toa / 1000 + self.nvm["RX2DL"] + RX_WINDOW_S,
                    lambda: self._retransmit(payload, dr, left - 1))

    def _downlink(self, port: int, data: bytes, rssi: int, snr: int, confirmed: bool,
                  d_confirmed: bool = False) -> None:
        self._last_rx = (port, data)
        self._rssi, self._snr = rssi, snr
        # LoRaMac.c LoRaMacProcess (LoRaMac-node 4.4.7 bundled in every tag of VERSIONS) runs
        # LoRaMacHandleMcpsRequest (-> McpsConfirm: TX_DONE / SEND_CONFIRMED_OK) before
        # LoRaMacHandleIndicationEvents (-> McpsIndication: +EVT:RX_<slot>): confirm first
        self._tx_end(confirmed, acked=True)
        self._out("+EVT:RX_1:%d:%d:UNICAST:%d:%s" % (rssi, snr, port, data.hex()))  # hex %02x
        pending = self._pending_next > 0
        if pending:
            self._pending_next -= 1
        if pending or d_confirmed:
            # service_lora.c McpsIndication (v3.5.2 .. v5.0.0): FramePending (class A) or a
            # confirmed downlink -> service_lora_send_null, an unconfirmed empty uplink
            self._empty_uplink()

    def _empty_uplink(self) -> None:
        """service_lora_send_null / an oversize payload: an unconfirmed frame without payload."""
        dr = self.nvm["DR"]
        toa = airtime_ms(LORAWAN_OVERHEAD, dr)
        try:
            _, band = self._pick_channel(toa, session=True)
        except CommandError as e:
            self._print_refusal(e)
            return
        self._busy = "send"
        self._transmit(band, toa)
        self.fcnt_up += 1
        self.empty_uplinks += 1
        self._after(toa / 1000 + self.nvm["RX2DL"] + RX_WINDOW_S, lambda: self._tx_end(False, acked=False))

    def _tx_end(self, confirmed: bool, acked: bool) -> None:
        self._busy = None
        if confirmed:
            self._cfs = 1 if acked else 0
            self._out("+EVT:SEND_CONFIRMED_OK")
        elif self.v >= TX_DONE_SINCE:
            self._out("+EVT:TX_DONE")  # service_lora.c McpsConfirm, from v4.0.4_236 (27d728b0)
        self._link_check()

    def _link_check(self) -> None:
        """AT+LINKCHECK=1 (once) or 2 (every uplink): the LinkCheckAns of this uplink as
        +EVT:LINKCHECK (docs/references.md §C.4), after the McpsConfirm line (LoRaMac.c
        LoRaMacProcess handles the MCPS confirm before the MLME confirm). The network's
        answer: margin 20 dB, one gateway (as lorawan_server.py)."""
        mode = self.nvm["LINKCHECK"]
        if not mode:
            return
        if mode == 1:
            self.nvm["LINKCHECK"] = 0
        if self._heard:
            self._out("+EVT:LINKCHECK:0:20:1:%d:%d" % (self._rssi, self._snr))
        else:
            self._out("+EVT:LINKCHECK:1:0:0:0:0")


def _masked(line: str) -> str:
    u = line.upper()
    for name in SECRET_NAMES:
        if u.startswith("AT+" + name + "=") and not u.endswith("?"):
            return "AT+%s=<hidden>" % name
    return line
