# LoRa P2P on a bare SX126x/SX127x through micropython-lib's `lora` modem API (docs/references.md
# §B.3, §B.4): the methods of rak3172_p2p.RakP2P (configure, send, listen, stop, poll), so
# p2p_link.P2PLink and p2p_receiver.relay run on either backend unchanged (docs/p2p.md §4a).
#
# Radio settings: those of a RAK3172 in P2P mode (RUI3 v5.0.0 service_nvm.c defaults, applied in
# service_lora_p2p.c service_lora_p2p_config), so a RAK3172 receiver hears this node and a node
# on a bare radio hears RAK3172 nodes: private sync word, IQ not inverted, explicit header, CRC
# on, coding rate 4/5, preamble 8. The private sync word is what keeps P2P frames away from
# LoRaWAN: gateways search for the public one only (docs/p2p.md §4a).

try:
    from micropython import const
except ImportError:  # CPython host tests

    def const(x):
        return x


from payload_codec import p2p_radio

SYNCWORD = const(0x12)  # private; SX126x drivers write it as 0x1424 (§B.3); LoRaWAN uses 0x34
PREAMBLE = const(8)  # RUI3's P2P default and LoRaWAN's: the ledger's airtime stays exact
MAX_LEN = const(239)  # what AT+PSEND carries (§C.5): every envelope, and a RAK3172 can relay it
_MAX_DBM = const(16)  # EU868 default max EIRP (docs/references.md §E)
_BW = {125: "125", 250: "250", 500: "500"}  # lora_cfg bandwidth strings (§B.3)


class LoraP2PError(Exception):
    """Base of everything this backend raises."""


class P2PConfigError(LoraP2PError):
    """A P2P setting outside the EU868 rules or the radio's ranges; names the setting."""


class LoraP2P:
    """A bare LoRa radio in P2P mode. ``modem`` is a `lora` SyncModem (lora.SX1262, lora.SX1276,
    or the virtual board's lora_sim.SimRadio): configure(dict), send(bytes), recv(timeout_ms)."""

    Error = LoraP2PError  # what relay() catches around poll() (rak3172_p2p: RakError)

    def __init__(self, modem):
        self.modem = modem
        self.listening = False
        self.rx_errors = 0  # packets with a CRC error (the driver's crc_errors counter)
        self.lost = 0  # (the RAK3172 path counts packets dropped by a full queue; none here)
        self.sent = 0
        self._configured = False

    def configure(self, freq_hz, sf, bw_khz, cr=0, preamble=PREAMBLE, txp=14):
        """P2P with these settings (EU868-checked); ``cr`` 0..3 means 4/5..4/8 as in AT+P2P.

        Returns 1 (the radio is always written: `lora` drivers keep no settings over a reset)."""
        try:
            p2p_radio.check(freq_hz, sf, bw_khz)  # EU868 (docs/references.md §E)
        except ValueError as e:
            raise P2PConfigError(str(e)) from None
        if not 0 <= cr <= 3 or not 5 <= preamble <= 65535 or not 2 <= txp <= _MAX_DBM:
            raise P2PConfigError("p2p cr 0..3, preamble 5..65535, txp 2..%d dBm (EU868 EIRP)" % _MAX_DBM)
        khz = freq_hz // 1000 if freq_hz % 1000 == 0 else freq_hz / 1000
        cfg = {"freq_khz": khz, "sf": sf, "bw": _BW[bw_khz], "coding_rate": cr + 5,
               "preamble_len": preamble, "output_power": txp, "syncword": SYNCWORD, "crc_en": True,
               "implicit_header": False, "invert_iq_tx": False, "invert_iq_rx": False}
        try:
            self.modem.configure(cfg)
        except ValueError as e:  # lora.ConfigError names the key (§B.3)
            raise P2PConfigError("lora_cfg %s" % e) from None
        self._configured = True
        return 1

    def stop(self):
        self.modem.standby()
        self.listening = False

    def listen(self):
        """Receive until stop(); packets arrive through poll()."""
        if not self._configured:
            raise LoraP2PError("configure() first")
        self.listening = True

    def send(self, data, airtime_ms, timeout_ms=0):
        """Transmit ``data`` (1..239 bytes) and return when it is on air entirely.

        The `lora` driver's send() blocks for the time on air (``airtime_ms``) and returns at TX
        done; a receiver that was listening goes on listening afterwards."""
        if not 0 < len(data) <= MAX_LEN:
            raise P2PConfigError("P2P carries 1..%d bytes, not %d" % (MAX_LEN, len(data)))
        if not self._configured:
            raise LoraP2PError("configure() first")
        self.modem.send(data)
        self.sent += 1

    def poll(self, timeout_ms=0):
        """Receive for up to ``timeout_ms``: [] or [(rssi dBm, snr dB, bytes)] of one packet."""
        if not self.listening:
            return []
        p = self.modem.recv(timeout_ms if timeout_ms > 0 else 1)
        n = getattr(self.modem, "crc_errors", 0)
        if n != self.rx_errors:
            self.rx_errors = n
        if p is None:
            return []
        if not getattr(p, "valid_crc", True):
            return []  # the driver hands these on only with rx_crc_error set (§B.4)
        snr = p.snr or 0
        return [(p.rssi, int(snr / 4), bytes(p))]  # RxPacket.snr is dB x 4 (§B.4); RUI3 prints dB
