# RAK3172 LoRa P2P mode (RUI3 AT+NWM=0, AT+P2P, AT+PSEND, AT+PRECV; docs/references.md §C.5),
# on top of the RAK3172 AT driver (rak3172.py): the same UART, line reader and typed errors.
# Behaviour read in RUI3's atcmd_p2p.c and service_lora_p2p.c (RAK-STM32-RUI v5.0.0_329
# e5a28be8; docs/p2p.md §4 lists each one).

try:
    from micropython import const
except ImportError:  # CPython host tests

    def const(x):
        return x

from rak3172 import RakError, RakTimeout

from payload_codec import p2p_radio, rxp2p

_RX_NONSTOP = const(65534)  # AT+PRECV: receive until AT+PRECV=0 (service_lora_p2p_recv)
_SEND_TAIL_MS = const(2000)  # margin on top of the time on air for +EVT:TXP2P DONE
_RX_MAX = const(8)  # received packets kept until poll() takes them

_BW_INDEX = {125: 0, 250: 1, 500: 2}  # AT+P2P bandwidth; query answers the index (RUI3)


class P2PConfigError(RakError):
    """A P2P setting outside the EU868 rules or the module's ranges; names the setting."""


class RakP2P:
    """A RAK3172 in LoRa P2P mode. ``rak`` is a rak3172.RAK3172 on the module's UART."""

    Error = RakError  # what relay() catches around poll() (lora_p2p: LoraP2PError)

    def __init__(self, rak):
        self.rak = rak
        self.received = []  # (rssi, snr, bytes) of +EVT:RXP2P lines, oldest first
        self.lost = 0  # packets dropped because poll() was not called in time
        self.rx_errors = 0  # +EVT:RXP2P RECEIVE ERROR (CRC or header error)
        self._tx_done = False
        self.listening = False
        rak.on_other = self._event

    def _event(self, text):
        # service_lora_p2p.c OnTxDone / OnRxDone / OnRxTimeout / OnRxError (v5.0.0): the events
        # "+EVT:TXP2P DONE", "+EVT:RXP2P:<rssi>:<snr>:<HEX>", "+EVT:RXP2P RECEIVE TIMEOUT|ERROR"
        u = text.upper().replace(" ", "")
        if u.startswith("TXP2PDONE"):
            self._tx_done = True
            return True
        if u.startswith("RXP2PRECEIVETIMEOUT"):
            self.listening = False
            return True
        if u.startswith("RXP2PRECEIVEERROR"):
            self.rx_errors += 1
            return True
        if u.startswith("RXP2P:"):
            got = parse_rxp2p(text)
            if got is None:
                self.rak.garbage += 1
            elif len(self.received) < _RX_MAX:
                self.received.append(got)
            else:
                self.lost += 1
            return True
        return False

    def configure(self, freq_hz, sf, bw_khz, cr=0, preamble=8, txp=14):
        """P2P mode with these radio settings (EU868-checked); writes only what differs.

        Returns the number of commands that changed something (0: configured already).
        """
        try:
            p2p_radio.check(freq_hz, sf, bw_khz)  # EU868 (docs/references.md §E)
        except ValueError as e:
            raise P2PConfigError(str(e)) from None
        if not 0 <= cr <= 3 or not 5 <= preamble <= 65535 or not 5 <= txp <= 22:
            raise P2PConfigError("p2p cr 0..3, preamble 5..65535, txp 5..22 dBm (RUI3 AT+P2P)")
        r = self.rak
        r.firmware()
        n = 0
        if r.query("NWM") != "0":
            r._reboot_command("AT+NWM=0")  # prints OK and reboots (atcmd_p2p.c At_NwMode)
            n += 1
        self.stop()
        want = "%d:%d:%d:%d:%d:%d" % (freq_hz, sf, _BW_INDEX[bw_khz], cr, preamble, txp)
        if r.query("P2P") != want:
            r.command("AT+P2P=%d:%d:%d:%d:%d:%d" % (freq_hz, sf, bw_khz, cr, preamble, txp))
            n += 1
        return n

    def stop(self):
        """AT+PRECV=0: receiving off (settings and AT+PSEND are refused while RX is on)."""
        self.rak.command("AT+PRECV=0")
        self.listening = False

    def listen(self):
        """Receive until stop(): AT+PRECV=65534; packets arrive through poll()."""
        self.rak.command("AT+PRECV=%d" % _RX_NONSTOP)
        self.listening = True

    def send(self, data, airtime_ms, timeout_ms=0):
        """AT+PSEND=<hex> (at most 239 bytes) and wait for +EVT:TXP2P DONE.

        ``airtime_ms`` is the packet's time on air; the wait ends after it plus a margin.
        """
        if not 0 < len(data) <= 239:
            raise P2PConfigError("AT+PSEND carries 1..239 bytes, not %d" % len(data))
        r = self.rak
        self._tx_done = False
        r.command("AT+PSEND=" + bytes(data).hex().upper())
        deadline = r._deadline(airtime_ms + (timeout_ms or _SEND_TAIL_MS))
        while not self._tx_done:
            line = r._readline(deadline)
            if line is None:
                raise RakTimeout("AT+PSEND: no +EVT:TXP2P DONE")
            if not r._async(line):
                r._noise(line)
        r._check_reboot()

    def poll(self, timeout_ms=0):
        """Lines for up to ``timeout_ms``; returns and clears the packets received."""
        self.rak.poll(timeout_ms)
        out = self.received
        self.received = []
        return out


def parse_rxp2p(text):
    """(rssi, snr, bytes) of the text after "+EVT:" of an RXP2P line, or None if it is bad."""
    try:
        return rxp2p.parse_line(text)
    except rxp2p.LineError:
        return None
