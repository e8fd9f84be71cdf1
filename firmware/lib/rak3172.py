# RAK3172 (RUI3 firmware) LoRaWAN modem driver over AT commands, for MicroPython.
# Facts: docs/references.md §C (RUI3 AT set: framing §C.1, status strings §C.2, commands §C.3,
# events §C.4), §E (EU868 join back-off, see join_backoff.py). Version differences read in RUI3's
# own source (RAKWireless/RAK-STM32-RUI, tags v3.5.2 .. v5.0.0_329): docs/rak3172.md §5.
# The UART-like object is passed in; no pins here.
# Runs unchanged on CPython for host tests (inject ticks_ms / sleep_ms there).

import binascii
import time

try:
    from micropython import const
except ImportError:  # CPython host tests

    def const(x):
        return x


try:
    from join_backoff import JoinBackoff, join_airtime_ms  # noqa: F401 (re-exported)
except ImportError:
    from lib.join_backoff import JoinBackoff, join_airtime_ms  # noqa: F401

_LINE_MAX = const(600)  # longest RUI3 line: +EVT:RX_1:-120:-20:UNICAST:223:<484 hex> = 518 chars
_CHUNK = const(64)  # UART read granularity
_POLL_MS = const(5)  # idle poll period while waiting for bytes
_BUSY_RETRIES = const(5)  # AT_BUSY_ERROR retries: 100, 200, 400, 800, 1600 ms (3.1 s in all)
_BUSY_FIRST_MS = const(100)
_REBOOT_MS = const(3000)  # banner after AT+NWM / ATZ (§C.3: AT+NWM "reboots the module")
_PROBE_MS = const(1000)
_JOIN_PERIOD_S = const(10)  # AT+JOIN period 7..255 s (§C.3) between the module's own retries
_EV_TAIL_MS = const(2000)  # margin on top of the caller's timeout for the closing event
# After +EVT:TX_DONE / SEND_CONFIRMED_*: LoRaMacProcess handles the confirm before the
# indication (docs/rak3172.md §5), so an +EVT:RX_<n> of the same MAC pass follows at once.
_IND_GRACE_MS = const(200)  # a 518-char RX line takes 45 ms at 115200 baud
_LINKCHECK_MS = const(1000)  # +EVT:LINKCHECK follows the send's closing event (MlmeConfirm)
_RX_OPEN_MS = const(500)  # an RX window without a preamble closes within this
_DL_PHY_MAX = const(64)  # largest downlink this node takes: 51 B payload + 13 B overhead (§J)
_V_RUI3 = const(30000)  # version codes: major * 10000 + minor * 100 + patch
_V_TX_DONE = const(40004)  # +EVT:TX_DONE and SEND_CONFIRMED_FAILED(<n>) exist from 4.0.4 on

_EXP_NONE = const(0)
_EXP_JOIN = const(1)
_EXP_SEND = const(2)

_SECRET_CMDS = ("AT+APPKEY", "AT+NWKSKEY", "AT+APPSKEY")
# Lines that only a booting module prints: "RAKwireless RAK3172-E[ Example]", a dash line,
# "Version: RUI_<v>_RAK3172-E" (is_banner), "Current Work Mode: LoRaWAN." (strings of
# RAK-STM32-RUI prebuilt/RUI_5.0.0_RAK3172-E.bin; rui_inner_main.c; 4.0.x forum logs).
BANNER_MARKERS = ("RAKWIRELESS", "CURRENT WORK MODE")


class RakError(Exception):
    """Base of everything this driver raises."""


class AtError(RakError):
    """The module answered a command with an error status (§C.2); ``status`` is the string."""

    status = "AT_ERROR"

    def __init__(self, status=None, command=""):
        if status:
            self.status = status
        self.command = command
        super().__init__("%s: %s" % (command, self.status) if command else self.status)


class AtGenericError(AtError):
    status = "AT_ERROR"


class AtParamError(AtError):
    status = "AT_PARAM_ERROR"


class AtBusyError(AtError):
    status = "AT_BUSY_ERROR"


class AtTestParamOverflow(AtError):
    status = "AT_TEST_PARAM_OVERFLOW"


class AtNoClassBEnable(AtError):
    status = "AT_NO_CLASSB_ENABLE"


class AtNoNetworkJoined(AtError):
    status = "AT_NO_NETWORK_JOINED"


class AtRxError(AtError):
    status = "AT_RX_ERROR"


class AtModeNoSupport(AtError):
    status = "AT_MODE_NO_SUPPORT"


class AtCommandNotFound(AtError):
    status = "AT_COMMAND_NOT_FOUND"


class AtUnsupportedBand(AtError):
    status = "AT_UNSUPPORTED_BAND"


# §C.2 enum AT_ERRNO_E, value 1..10
AT_ERRORS = {
    "AT_ERROR": AtGenericError,
    "AT_PARAM_ERROR": AtParamError,
    "AT_BUSY_ERROR": AtBusyError,
    "AT_TEST_PARAM_OVERFLOW": AtTestParamOverflow,
    "AT_NO_CLASSB_ENABLE": AtNoClassBEnable,
    "AT_NO_NETWORK_JOINED": AtNoNetworkJoined,
    "AT_RX_ERROR": AtRxError,
    "AT_MODE_NO_SUPPORT": AtModeNoSupport,
    "AT_COMMAND_NOT_FOUND": AtCommandNotFound,
    "AT_UNSUPPORTED_BAND": AtUnsupportedBand,
}


class DutyCycleRestricted(AtBusyError):
    """``Restricted_Wait_<ms>_ms`` then AT_BUSY_ERROR: the module's duty cycle forbids the
    join or send for ``wait_ms`` (RUI3 service_lora.c, every version); not retried."""

    def __init__(self, wait_ms, command=""):
        self.wait_ms = wait_ms
        super().__init__("AT_BUSY_ERROR", command)


class UnsupportedFirmware(RakError):
    """The module runs firmware this driver refuses (pre-RUI3 V1.0.x); ``version`` is its text."""

    def __init__(self, version):
        self.version = version
        super().__init__(
            "RAK3172 firmware %s predates RUI3 (V1.0.x AT firmware, 9600 baud): flash RUI3 >= 3.5 "
            "with RAK's WisToolBox or RAK DFU tool, see docs/rak3172.md" % version
        )


class RakTimeout(RakError):
    """A deadline passed without the expected answer or event."""


class JoinFailed(RakError):
    """+EVT:JOIN_FAILED_*; ``reason`` is e.g. "JOIN_FAILED_RX_TIMEOUT"."""

    def __init__(self, reason):
        self.reason = reason
        super().__init__(reason)


class SendFailed(RakError):
    """+EVT:SEND_CONFIRMED_FAILED(<n>): no ACK; ``status`` is n (-1 if not printed)."""

    def __init__(self, status):
        self.status = status
        super().__init__("SEND_CONFIRMED_FAILED(%d)" % status)


class ModuleRebooted(RakError):
    """The module restarted (banner), joined on its own, or lost its join: re-join."""

    def __init__(self, reason):
        self.reason = reason
        super().__init__(reason)


class Downlink:
    """One +EVT:RX_<slot>:<rssi>:<snr>:UNICAST|MULTICAST:<port>:<hex> event (§C.4)."""

    def __init__(self, slot, rssi, snr, port, data, multicast=False):
        self.slot = slot
        self.rssi = rssi
        self.snr = snr
        self.port = port
        self.data = data
        self.multicast = multicast

    def __eq__(self, other):
        return isinstance(other, Downlink) and self.as_tuple() == other.as_tuple()

    def as_tuple(self):
        return (self.slot, self.rssi, self.snr, self.port, self.data, self.multicast)

    def __repr__(self):
        return "Downlink(%r, %r, %r, %r, %r)" % (self.slot, self.rssi, self.snr, self.port, self.data)


def status_of(line):
    """'OK', one of the §C.2 error strings, or None. Lenient: spaces and case."""
    u = line.strip().upper()
    if u == "OK" or u in AT_ERRORS:
        return u
    return None


def _number(tok):
    # "-70", "RSSI -70", "RSSI:-70", "SNR 8.5" -> int or float (§C.4 caveat: labels and spaces)
    i = 0
    n = len(tok)
    while i < n and tok[i] not in "-+0123456789":
        i += 1
    tok = tok[i:].strip()
    try:
        return int(tok)
    except ValueError:
        return float(tok)


def _digits(s):
    # the first run of digits in s as an int, -1 if none
    v = -1
    for c in s:
        if "0" <= c <= "9":
            v = (0 if v < 0 else v * 10) + ord(c) - 48
        elif v >= 0:
            break
    return v


def _parse_rx(body):
    # body: "RX_1:-70:8:UNICAST:2:01ff" (RUI3 >= 3.2) or a spaced/labelled variant:
    # "RX_1, RSSI -70, SNR 8, UNICAST, 2:01ff" (commas, labels, spaces are all accepted).
    j = 3 if body[2:3] == "_" else 2
    slot = body[j : j + 1].upper()
    toks = body[j + 1 :].replace(",", ":").split(":")
    vals = []
    for t in toks:
        t = t.strip()
        if t:
            vals.append(t)
    if len(vals) < 4:
        raise ValueError("short RX event")
    rssi = _number(vals[0])
    snr = _number(vals[1])
    cast = vals[2].upper()
    if cast not in ("UNICAST", "MULTICAST"):
        raise ValueError("RX cast")
    port = _number(vals[3])
    if not isinstance(port, int) or port < 0 or port > 255:
        raise ValueError("RX port")
    hexs = vals[4].replace(" ", "") if len(vals) > 4 else ""
    if len(vals) > 5 or len(hexs) % 2:
        raise ValueError("RX payload")
    data = binascii.unhexlify(hexs) if hexs else b""
    return Downlink(slot, rssi, snr, port, data, cast == "MULTICAST")


def parse_event(line):
    """Parse a RUI3 asynchronous event line (§C.4).

    Returns None when the line holds no "+EVT:", else (kind, value) with kind one of
    "JOINED", "JOIN_FAILED" (value: "JOIN_FAILED_<why>"), "TX_DONE", "CONFIRMED_OK",
    "CONFIRMED_FAILED" (value: status int, -1 if absent), "RX" (value: Downlink),
    "LINKCHECK" (value: (status, margin, gateways, rssi, snr)), "TIMEREQ" (value: True/False),
    "SWITCH_FAILED", "BAD" (an RX/LINKCHECK event that does not parse; value: text) or
    "OTHER" (an event this driver does not know; value: text).
    Lenient (§C.4 caveats): case, spaces, '_' and leading noise before "+EVT:" are ignored.
    """
    i = line.upper().find("+EVT:")
    if i < 0:
        return None
    body = line[i + 5 :].strip()
    key = body.upper().replace(" ", "").replace("_", "")
    if key.startswith("RX") and len(key) > 2 and key[2] in "12BC":
        try:
            return ("RX", _parse_rx(body.replace(" ", "")))
        except (ValueError, IndexError):
            return ("BAD", body)
    if key.startswith("JOINED"):
        return ("JOINED", None)
    if key.startswith("JOINFAILED"):
        why = body.upper().replace(" ", "")
        j = why.find("FAILED")
        return ("JOIN_FAILED", "JOIN_FAILED" + why[j + 6 :])
    if key.startswith("TXDONE"):
        return ("TX_DONE", None)
    if key.startswith("SENDCONFIRMEDOK"):
        return ("CONFIRMED_OK", None)
    if key.startswith("SENDCONFIRMEDFAILED"):
        return ("CONFIRMED_FAILED", _digits(key[19:]))
    if key.startswith("LINKCHECK"):
        # LINKCHECK:<0 ok|1 failed>:<demod margin>:<gateways>:<rssi>:<snr>
        vals = [t.strip() for t in body[9:].replace(",", ":").split(":") if t.strip()]
        try:
            if len(vals) != 5:
                raise ValueError("LINKCHECK fields")
            return ("LINKCHECK", tuple(_number(v) for v in vals))
        except ValueError:
            return ("BAD", body)
    if key.startswith("TIMEREQOK"):
        return ("TIMEREQ", True)
    if key.startswith("TIMEREQFAILED"):
        return ("TIMEREQ", False)
    if key.startswith("SWITCHFAILED"):
        return ("SWITCH_FAILED", None)
    return ("OTHER", body)


def version_code(text):
    """'RUI_4.0.5_RAK3172-E', '4.0.5', '3.2.0-p2_22q1_final.87' -> 40005, 40005, 30200;
    'V1.0.4' (pre-RUI3) -> 10004; -1 when no a.b.c is found."""
    parts = []
    v = -1
    for c in text + " ":
        if "0" <= c <= "9":
            v = (0 if v < 0 else v * 10) + ord(c) - 48
            continue
        if v >= 0:
            parts.append(v)
            v = -1
            if c == "." and len(parts) < 3:
                continue
            if len(parts) == 3:
                return parts[0] * 10000 + parts[1] * 100 + parts[2]
        parts = []
    return -1


def restricted_wait_ms(line):
    """The <ms> of RUI3's 'Restricted_Wait_<ms>_ms' line, else -1."""
    if line[:1] not in "Rr":
        return -1  # most lines: no allocation
    u = line.strip().upper()
    if not u.startswith("RESTRICTED_WAIT_"):
        return -1
    return _digits(u[16:])


def toa_ms(phy_len, dr):
    """LoRa time on air (ms, rounded up) of a ``phy_len``-byte PHY payload at EU868 ``dr``:
    DR0..5 SF12..7 at 125 kHz, DR6 SF7 at 250 kHz; CR 4/5, explicit header, CRC, 8-symbol
    preamble (§J; checked against payload_codec.airtime in the tests)."""
    sf = 12 - dr if dr < 6 else 7
    bw = 250 if dr == 6 else 125
    de = 2 if sf >= 11 and bw == 125 else 0  # 2 * DE (low data-rate optimisation)
    num = 8 * phy_len - 4 * sf + 44  # + 28 + 16 (CRC), header explicit
    den = 4 * (sf - de)
    n = (num + den - 1) // den * 5
    n = 8 + (n if n > 0 else 0)
    # symbols: preamble 8 + 4.25, then n; T_sym = 2^sf / bw; in quarter symbols: 49 + 4 n
    us = ((49 + 4 * n) << sf) * 1000 // (4 * bw)
    return (us + 999) // 1000


def is_banner(line):
    u = line.upper()
    if u.startswith("-----") or u.startswith("VERSION: RUI_"):
        return True  # the banner's dash and version lines (prebuilt/RUI_5.0.0_RAK3172-E.bin)
    for m in BANNER_MARKERS:
        if m in u:
            return True
    return False


def _name_of(cmd):
    # "at+deveui=?" -> "AT+DEVEUI"
    u = cmd.upper()
    for i in range(len(u)):
        if u[i] in "=?":
            return u[:i]
    return u


def _safe(cmd):
    # the command as it may be logged: key material never is
    name = _name_of(cmd)
    if name in _SECRET_CMDS and len(cmd) > len(name) + 1 and not cmd.endswith("?"):
        return name + "=<hidden>"
    return cmd


class RAK3172:
    """Blocking RUI3 AT driver. Every wait is bounded; errors are typed (RakError tree)."""

    def __init__(self, uart, ticks_ms=None, sleep_ms=None, log=None, rx_grace_ms=_IND_GRACE_MS):
        self._uart = uart
        self._readinto = getattr(uart, "readinto", None)
        if ticks_ms is None:
            ticks_ms = getattr(time, "ticks_ms", None) or (lambda: int(time.monotonic() * 1000))
        if sleep_ms is None:
            sleep_ms = getattr(time, "sleep_ms", None) or (lambda ms: time.sleep(ms / 1000))
        self._ticks = ticks_ms
        self._sleep = sleep_ms
        self._tadd = getattr(time, "ticks_add", None)
        self._tdiff = getattr(time, "ticks_diff", None)
        self._log_fn = log
        self._grace = rx_grace_ms  # listening after TX_DONE for an RX event of the same MAC pass
        self._line = bytearray(_LINE_MAX)
        self._n = 0
        self._overflow = False
        self._chunk = bytearray(_CHUNK)
        self._cpos = 0
        self._clen = 0
        self._rx = []  # downlinks received and not yet returned
        self._bare = []  # unprefixed lines of the last command
        self._expect = _EXP_NONE
        self._expect_reboot = False
        self._result = None
        self._reboot = None  # reason string once a reboot/lost join was seen
        self._banner_at = None  # deadline until which banner lines belong to the last restart
        self._joined = None  # None: unknown until is_joined()/join()
        self._cfm = -1
        self.rui = None  # version code (firmware()): AT+VER is read once per boot
        self.rui_text = ""
        self._restricted = -1  # <ms> of a Restricted_Wait_<ms>_ms line of this command
        self.dc_wait_ms = 0  # the last duty-cycle wait the module announced
        self._join_left = 0  # Join-Requests the module may still send by itself
        self.join_requests = 0  # Join-Requests the module reported (+EVT:JOINED / JOIN_FAILED_*)
        self.late_joins = 0  # joins completed by the module's own retry after join() returned
        self.last_event = None
        self.last_linkcheck = None  # (status, margin, gateways, rssi, snr) of +EVT:LINKCHECK
        self.garbage = 0  # lines skipped as noise (count, for diagnostics)
        self.on_other = None  # text of an "OTHER" event -> True when handled (rak3172_p2p)

    # ---- time -------------------------------------------------------------------------
    def _deadline(self, ms):
        t = self._ticks()
        return self._tadd(t, ms) if self._tadd else t + ms

    def _left(self, deadline):
        t = self._ticks()
        return self._tdiff(deadline, t) if self._tdiff else deadline - t

    def _log(self, msg):
        if self._log_fn:
            self._log_fn(msg)

    # ---- line reader ------------------------------------------------------------------
    def _fill(self):
        # read what the UART holds into the chunk buffer; False when nothing is waiting
        if not self._uart.any():
            return False
        if self._readinto is not None:
            n = self._readinto(self._chunk)
        else:
            b = self._uart.read(_CHUNK)
            n = len(b) if b else 0
            self._chunk[:n] = b
        if not n:
            return False
        self._cpos = 0
        self._clen = n
        return True

    def _take(self):
        n = self._n
        over = self._overflow
        self._n = 0
        self._overflow = False
        if over:
            self.garbage += 1
            self._log("skipped an over-long line")
            return None
        if not n:
            return None
        line = bytes(self._line[:n]).decode()
        return line.strip() or None

    def _readline(self, deadline):
        """Next non-empty line (str, CR/LF stripped) or None once ``deadline`` passed."""
        while True:
            buf = self._chunk
            while self._cpos < self._clen:
                b = buf[self._cpos]
                self._cpos += 1
                if b == 10:  # LF ends a line (§C.1: CR LF)
                    line = self._take()
                    if line is not None:
                        return line
                elif 32 <= b < 127:
                    if self._n < _LINE_MAX:
                        self._line[self._n] = b
                        self._n += 1
                    else:
                        self._overflow = True
                # CR, NUL, 0xFF and other noise bytes are dropped
            if not self._fill():
                if self._left(deadline) <= 0:
                    return None
                self._sleep(_POLL_MS)

    # ---- asynchronous lines -----------------------------------------------------------
    def _async(self, line):
        """Handle an event or banner line; True when the line was one."""
        ev = parse_event(line)
        if ev is not None:
            self._on_event(ev)
            return True
        w = restricted_wait_ms(line)
        if w >= 0:
            # printed before AT_BUSY_ERROR when the duty cycle refuses a join or send
            # (RUI3 service_lora.c service_lora_join / service_lora_send, v3.2.0 .. v5.0.0)
            self._restricted = w
            self.dc_wait_ms = w
            return True
        if is_banner(line):
            # a banner spans several lines: lines within _REBOOT_MS belong to one restart
            fresh = self._banner_at is None or self._left(self._banner_at) <= 0
            self._banner_at = self._deadline(_REBOOT_MS)
            if fresh:
                self._saw_reboot("module banner")
            return True
        return False

    def _saw_reboot(self, reason):
        self._log("module reboot: " + reason)
        self._joined = False
        self._cfm = -1
        self._join_left = 0
        if self._reboot is None:
            self._reboot = reason

    def _on_event(self, ev):
        kind = ev[0]
        self.last_event = ev
        if kind == "RX":
            self._rx.append(ev[1])  # kept whenever it arrives (before TX_DONE or late)
            self._log("downlink port %d, %d bytes" % (ev[1].port, len(ev[1].data)))
        elif kind == "JOINED" or kind == "JOIN_FAILED":
            # one event per Join-Request: RUI3 MlmeConfirm (service_lora.c) prints JOINED or
            # JOIN_FAILED_* for each, then re-arms its timer while ++retry_cnt <= max_cnt
            self.join_requests += 1
            if self._expect == _EXP_JOIN:
                if kind == "JOIN_FAILED" and self._join_left > 1:
                    self._join_left -= 1
                    self._log("join attempt failed (%s); the module retries" % ev[1])
                else:
                    self._join_left = 0
                    self._result = ev
            elif self._join_left > 0:
                # the module's own retry of a join() that gave up or was refused: a result
                self._join_left = 0 if kind == "JOINED" else self._join_left - 1
                if kind == "JOINED":
                    self._joined = True
                    self.late_joins += 1
                    self._log("joined by the module's own retry")
                else:
                    self._log("retry " + ev[1])
            elif kind == "JOINED":
                # auto-join after a restart we did not ask for
                self._saw_reboot("unexpected +EVT:JOINED")
            else:
                self._log("stray " + ev[1])
        elif kind == "TX_DONE" or kind == "CONFIRMED_OK" or kind == "CONFIRMED_FAILED":
            if self._expect == _EXP_SEND:
                self._result = ev
            else:
                self._log("stray send event " + kind)
        elif kind == "LINKCHECK":
            self.last_linkcheck = ev[1]
        elif kind == "BAD":
            self.garbage += 1
            self._log("unparsable event")
        elif self.on_other is not None and self.on_other(ev[1]):
            pass  # an event of the P2P mode (rak3172_p2p.RakP2P)
        else:
            self._log("event " + kind)

    def _check_reboot(self):
        if self._reboot is not None and not self._expect_reboot:
            reason = self._reboot
            self._reboot = None
            raise ModuleRebooted(reason)

    def _pump(self, timeout_ms):
        # process unsolicited lines until the deadline (status lines here are stray: dropped)
        deadline = self._deadline(timeout_ms)
        while True:
            line = self._readline(deadline)
            if line is None:
                return
            if not self._async(line) and status_of(line) is None:
                self._noise(line)

    def poll(self, timeout_ms=0):
        """Process unsolicited lines for up to ``timeout_ms``; returns pending downlinks."""
        self._pump(timeout_ms)
        self._check_reboot()
        return self.pop_downlinks()

    def pop_downlinks(self):
        out = self._rx
        self._rx = []
        return out

    def _noise(self, line):
        self.garbage += 1
        self._log("skipped %d-char line" % len(line))

    # ---- commands ---------------------------------------------------------------------
    def _write(self, cmd):
        self._log("> " + _safe(cmd))
        self._uart.write(cmd.encode() + b"\r\n")

    def _command_once(self, cmd, name, timeout_ms):
        self._pump(0)  # what arrived since the last exchange, without waiting
        self._restricted = -1
        self._write(cmd)
        deadline = self._deadline(timeout_ms)
        values = []
        self._bare = []
        ucmd = cmd.upper()
        while True:
            line = self._readline(deadline)
            if line is None:
                raise RakTimeout("%s: no status within %d ms" % (_safe(cmd), timeout_ms))
            st = status_of(line)
            if st == "OK":
                return values
            if st is not None:
                raise AT_ERRORS[st](st, _safe(cmd))
            if self._async(line):
                continue
            u = line.upper()
            if u == ucmd:
                continue  # echo (ATE on, §C.1)
            if u.startswith(name):
                rest = line[len(name) :].strip()
                if rest[:1] in ("=", ":"):
                    rest = rest[1:]
                values.append(rest.strip())
            else:
                self._bare.append(line)  # a bare value (older RUI3) or noise

    def command(self, cmd, timeout_ms=2000):
        """Send one AT command; returns its value lines (the text after "AT+X=").

        Raises the AtError subclass of the status line, RakTimeout, or ModuleRebooted when
        a banner / unexpected join event appeared meanwhile. AT_BUSY_ERROR is retried
        _BUSY_RETRIES times with doubling back-off while unsolicited lines are processed.
        """
        name = _name_of(cmd)
        delay = _BUSY_FIRST_MS
        tries = 0
        while True:
            try:
                values = self._command_once(cmd, name, timeout_ms)
            except AtBusyError:
                self._check_reboot()
                if self._restricted >= 0:  # the duty cycle, not a busy MAC: retrying is futile
                    wait = self._restricted
                    self._restricted = -1
                    raise DutyCycleRestricted(wait, _safe(cmd)) from None
                tries += 1
                if tries > _BUSY_RETRIES:
                    raise
                self._log("busy; retry in %d ms" % delay)
                self._pump(delay)
                delay *= 2
                continue
            except (AtError, RakTimeout):
                self._check_reboot()
                raise
            self._check_reboot()
            return values

    def query(self, name):
        """Value of ``AT+<name>=?``, e.g. query("DEVEUI") -> "0011223344556677"."""
        n = name.upper()
        if not n.startswith("AT+"):
            n = "AT+" + n
        values = self.command(n + "=?")
        if values:
            return values[0]
        for line in self._bare:
            if status_of(line) is None:
                return line.strip()  # lenient: a version that prints the bare value
        raise RakError(n + ": no value line")

    def version(self):
        return self.query("VER")

    def firmware(self):
        """The module's RUI3 version code (4.0.5 -> 40005), read with AT+VER once per boot.

        Raises UnsupportedFirmware for the pre-RUI3 AT firmware (V1.0.x), and RakTimeout
        naming the baud rates when the module does not answer at all.
        """
        if self.rui is None:
            try:
                text = self.version()
            except RakTimeout:
                for line in self._bare:
                    if version_code(line) >= 0:
                        raise UnsupportedFirmware(line.strip()) from None
                raise RakTimeout(
                    "no answer to AT+VER=? (RUI3 talks at 115200 baud, pre-RUI3 V1.0.x at 9600)"
                ) from None
            if version_code(text) < _V_RUI3:
                raise UnsupportedFirmware(text)
            self.rui = version_code(text)
            self.rui_text = text
            self._log("firmware " + text)
        return self.rui

    def _reboot_command(self, cmd):
        # ATZ restarts before any status line (RUI3 atcmd_general.c At_Reboot calls
        # udrv_system_reboot() before "return AT_OK", every version); AT+NWM=<n> prints "OK"
        # without CR LF and restarts (atcmd_p2p.c At_NwMode, v3.5.2 .. v5.0.0; v3.2.0 no OK).
        # So: write, wait for the banner (an "OK" glued to it or alone is skipped), then probe.
        self._expect_reboot = True
        try:
            self._pump(0)
            self._reboot = None
            self._write(cmd)
            deadline = self._deadline(_REBOOT_MS)
            while self._reboot is None:
                line = self._readline(deadline)
                if line is None:
                    break
                st = status_of(line)
                if st is not None and st != "OK":
                    raise AT_ERRORS[st](st, _safe(cmd))  # refused: no restart follows
                if st is None and not self._async(line):
                    self._noise(line)
            self._reboot = None
            self._joined = False
            self._cfm = -1
            for _ in range(3):
                try:
                    self.command("AT", _PROBE_MS)
                    return
                except RakTimeout:
                    pass
            raise RakTimeout("module silent after " + cmd)
        finally:
            self._expect_reboot = False
            self._reboot = None

    def reset(self):
        """ATZ: restart the module and wait until it answers again."""
        self._reboot_command("ATZ")

    def configure_otaa(self, deveui, appeui, appkey, band=4, lora_class="A"):
        """Put the module into LoRaWAN OTAA with these ids; writes only what differs.

        Returns the number of settings written (0: the module was configured already).
        """
        for val, n in ((deveui, 16), (appeui, 16), (appkey, 32)):
            if len(val) != n:
                raise AtParamError("AT_PARAM_ERROR", "id/key length")
            binascii.unhexlify(val)  # ValueError on non-hex, before anything is written
        self.firmware()  # refuses pre-RUI3 modules before anything is written
        written = 0
        if self.query("NWM").strip() != "1":
            self._reboot_command("AT+NWM=1")  # LoRaWAN mode; the module restarts
            written += 1
        want = (
            ("NJM", "1"),
            ("BAND", str(band)),
            ("CLASS", lora_class.upper()),
            ("DEVEUI", deveui.upper()),
            ("APPEUI", appeui.upper()),
            ("APPKEY", appkey.upper()),
        )
        for name, value in want:
            try:
                cur = self.query(name).strip().upper()
            except AtError:
                cur = ""  # e.g. a locked key read: write it
            if name == "CLASS":
                cur = cur[:1]  # class B prints "B:S0" (§C.3)
            if cur != value:
                self.command("AT+%s=%s" % (name, value))
                written += 1
        if written:
            self._joined = False
        return written

    def is_joined(self):
        v = self.query("NJS").strip()
        self._joined = v[:1] == "1"
        return self._joined

    def _wait_result(self, what, timeout_ms):
        deadline = self._deadline(timeout_ms)
        while self._result is None:
            self._check_reboot()
            line = self._readline(deadline)
            if line is None:
                raise RakTimeout("no %s event within %d ms" % (what, timeout_ms))
            if not self._async(line) and status_of(line) is None:
                self._noise(line)
        self._check_reboot()
        return self._result

    def join(self, timeout_ms=30000, retries=0):
        """OTAA join: AT+JOIN=1:0:<period>:<retries>, then +EVT:JOINED or JoinFailed.

        The module sends 1 + ``retries`` Join-Requests, _JOIN_PERIOD_S apart (RUI3
        service_lora.c MlmeConfirm: it stops once ++auto_join_retry_cnt > max_cnt); each
        counts in ``join_requests``. ``timeout_ms`` is per request. A JOINED printed after
        join() gave up (timeout, or a refused join that RUI3 >= 4.1.0 re-arms) is taken as a
        late result (``late_joins``), not as a reboot. DutyCycleRestricted has ``wait_ms``.
        """
        if retries < 0 or retries > 255:
            raise AtParamError("AT_PARAM_ERROR", "join retries must be 0..255")
        self._result = None
        self._join_left = 0
        try:
            self.command("AT+JOIN=1:0:%d:%d" % (_JOIN_PERIOD_S, retries))
        except DutyCycleRestricted:
            # v4.1.0_258 .. v5.0.0 service_lora_join: the refused request counts as one try
            # and the retry timer is re-armed while tries remain
            self._join_left = retries
            raise
        self._join_left = retries + 1
        self._expect = _EXP_JOIN
        try:
            ev = self._wait_result("join", timeout_ms * (retries + 1) + retries * _JOIN_PERIOD_S * 1000)
        finally:
            self._expect = _EXP_NONE
            self._result = None
        if ev[0] == "JOIN_FAILED":
            self._joined = False
            raise JoinFailed(ev[1])
        self._joined = True

    def send(self, port, data, confirmed=False, timeout_ms=30000):
        """Uplink ``data`` on ``port`` (1..223); returns the downlinks received meanwhile.

        Waits for +EVT:TX_DONE / SEND_CONFIRMED_OK; SendFailed on SEND_CONFIRMED_FAILED(n)
        (downlinks stay available via pop_downlinks()). ModuleRebooted when the module
        restarted or answers AT_NO_NETWORK_JOINED although it was joined.
        """
        if port < 1 or port > 223:
            raise AtParamError("AT_PARAM_ERROR", "port must be 1..223")
        if not data or len(data) > 250:
            raise AtParamError("AT_PARAM_ERROR", "payload must be 1..250 bytes")
        silent = self.firmware() < _V_TX_DONE and not confirmed
        if silent:
            # before 4.0.4 an unconfirmed send prints no closing event (RUI3 service_lora.c
            # McpsConfirm, v4.0.3_233 and older): it is over when RX2 has closed. The module's
            # own values, read now (ADR and the network's RXParamSetupReq change them).
            dr = _digits(self.query("DR"))
            rx2_s = _digits(self.query("RX2DL"))  # seconds (atcmd_nwk_management.c)
            rx2_dr = _digits(self.query("RX2DR"))
            dr = dr if 0 <= dr <= 6 else 0  # an odd answer: assume the slowest
            rx2_dr = rx2_dr if 0 <= rx2_dr <= 6 else 0
            rx2_s = rx2_s if 0 < rx2_s <= 16 else 16
            windows_ms = toa_ms(len(data) + 13, dr) + rx2_s * 1000 + _RX_OPEN_MS + toa_ms(_DL_PHY_MAX, rx2_dr)
        cfm = 1 if confirmed else 0
        if self._cfm != cfm:
            self.command("AT+CFM=%d" % cfm)
            self._cfm = cfm
        self._result = None
        n_rx = len(self._rx)
        hexs = binascii.hexlify(data).decode().upper()
        try:
            self.command("AT+SEND=%d:%s" % (port, hexs))
        except AtNoNetworkJoined:
            if self._joined:
                self._joined = False
                raise ModuleRebooted("join lost (AT_NO_NETWORK_JOINED)") from None
            raise
        self._expect = _EXP_SEND
        try:
            if silent:
                self._listen(windows_ms, n_rx)  # a downlink ends it early (class A: one)
                ev = ("TX_DONE", None)
            else:
                ev = self._wait_result("send", timeout_ms + _EV_TAIL_MS)
                # the confirm comes before the indication of the same MAC pass (LoRaMac.c
                # LoRaMacProcess): an RX event may still follow TX_DONE
                self._listen(self._grace, n_rx)
        finally:
            self._expect = _EXP_NONE
            self._result = None
        self._check_reboot()
        if ev[0] == "CONFIRMED_FAILED":
            raise SendFailed(ev[1])
        return self.pop_downlinks()

    def _listen(self, ms, n_rx):
        # process lines for up to ``ms`` or until a downlink beyond the first n_rx arrived
        deadline = self._deadline(ms)
        while len(self._rx) <= n_rx:
            self._check_reboot()
            line = self._readline(deadline)
            if line is None:
                return
            if not self._async(line) and status_of(line) is None:
                self._noise(line)

    # ---- proof of delivery (docs/firmware.md §12) ---------------------------------------
    def request_link_check(self):
        """The next uplink carries a LinkCheckReq: AT+LINKCHECK=1 ("once", §C.3)."""
        self.last_linkcheck = None
        self.command("AT+LINKCHECK=1")

    def link_checked(self, timeout_ms=_LINKCHECK_MS):
        """True when the network answered the last uplink's LinkCheckReq
        (+EVT:LINKCHECK:0:<margin>:<gateways>:..., §C.4); False on LINKCHECK:1 or silence."""
        deadline = self._deadline(timeout_ms)
        while self.last_linkcheck is None:
            line = self._readline(deadline)
            if line is None:
                break
            if not self._async(line) and status_of(line) is None:
                self._noise(line)
        lc = self.last_linkcheck
        return lc is not None and lc[0] == 0 and lc[2] > 0

    def set_data_rate(self, dr, adr):
        """AT+ADR=<0|1> then AT+DR=<dr> (EU868 0..7, §C.3)."""
        if dr < 0 or dr > 7:
            raise AtParamError("AT_PARAM_ERROR", "data rate must be 0..7")
        self.command("AT+ADR=%d" % (1 if adr else 0))
        self.command("AT+DR=%d" % dr)
