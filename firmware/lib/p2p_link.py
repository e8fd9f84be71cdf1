# P2P workshop mode on the node (docs/p2p.md §3): the modem the node cycle talks to
# (is_joined / send, like rak3172.RAK3172) sends each codec frame in an authenticated envelope
# (payload_codec.envelope) through a P2P radio instead of LoRaWAN. Nothing to join; the node's
# duty-cycle ledger counts the airtime as usual (an envelope adds 13 bytes, like LoRaWAN).

import os


from payload_codec import envelope
from payload_codec.airtime import EU868, time_on_air_us

class EnvelopeCounter:
    """The envelope counter: contiguous, and never repeated across resets and power loss.

    The flash file holds the next value. take() writes next + 1 (a temporary file, then a
    rename: LittleFS renames atomically) *before* the value is sent, so a reset between the
    write and the send skips one value but never reuses one. Unlike the sample counter's
    block reservation (node_state.py), every value is written: a deep-sleep wake restarts the
    interpreter, a reservation would skip a block per wake, and the receiver would report
    those skipped values as lost frames (docs/p2p.md §2).
    """

    def __init__(self, path="p2p_counter.dat"):
        self._path = path
        try:
            with open(path) as f:
                self.next = int(f.read())
        except (OSError, ValueError):
            self.next = 0

    def take(self):
        c = self.next
        tmp = self._path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d" % (c + 1))
        os.rename(tmp, self._path)
        self.next = c + 1
        return c


class P2PLink:
    """``radio`` is rak3172_p2p.RakP2P (configured); ``cipher`` the device key's AES block
    cipher (cryptolib.aes(key, 1) on the board); ``device_id`` the DevEUI's low 4 bytes."""

    def __init__(self, radio, cipher, device_id, counter, dr, log=None):
        self.radio = radio
        self.signer = envelope.Signer(cipher)
        self.device_id = device_id
        self.counter = counter
        self._sf, self._bw, _ = EU868[dr]
        self._log = log
        self.sent = 0

    def is_joined(self):
        return True  # P2P: no network to join

    def set_data_rate(self, dr, adr):
        pass  # the radio settings were fixed by configure()

    def request_link_check(self):
        pass  # P2P has no acknowledgement (docs/p2p.md)

    def link_checked(self, timeout_ms=0):
        return True  # a frame sent counts as delivered: store and forward needs LoRaWAN

    def send(self, port, frame, confirmed=False, timeout_ms=20000):
        """Seal ``frame`` (sent on ``port``) and transmit it; P2P brings no downlinks."""
        ctr = self.counter.take()
        data = envelope.seal(self.signer, self.device_id, ctr, port, frame)
        air_ms = (time_on_air_us(len(data), self._sf, self._bw) + 999) // 1000
        self.radio.send(data, air_ms, timeout_ms)
        self.sent += 1
        if self._log:
            self._log("p2p: envelope %d (%d B) sent" % (ctr, len(data)))
        return []


def open_link(rak, cfg, secrets_path, make_cipher=None, log=print):
    """(P2PLink, secrets) for the node's config and secrets file, or (rak, None) when P2P
    cannot start: the reason is logged by name and the node sleeps instead of transmitting.

    secrets.json holds "deveui" (16 hex; its low 4 bytes are the device id) and "p2p_key"
    (32 hex; the key the receiver's keys file holds for this DevEUI); values are never logged.
    """
    import json

    from payload_codec import p2p_radio
    from rak3172 import RakError
    from rak3172_p2p import RakP2P

    try:
        with open(secrets_path) as f:
            sec = json.load(f)
        eui = sec["deveui"]
        key = bytes.fromhex(sec["p2p_key"])
        dev = int(eui[-8:], 16)
        if len(eui) != 16 or len(key) != 16:
            raise ValueError
    except (OSError, ValueError, KeyError, TypeError):
        log("p2p: %s needs \"deveui\" (16 hex) and \"p2p_key\" (32 hex)" % secrets_path)
        return rak, None
    sf = cfg["p2p_sf"]
    bw = cfg["p2p_bw_khz"]
    try:
        radio = RakP2P(rak)
        radio.configure(cfg["p2p_freq_hz"], sf, bw)
    except (RakError, ValueError) as e:  # P2PConfigError names the key
        log("p2p: %s" % e)
        return rak, None
    if make_cipher is None:
        import cryptolib

        def make_cipher(k):
            return cryptolib.aes(k, 1)  # mode 1: ECB, one block per call

    dr = p2p_radio.data_rate(sf, bw)
    cfg["data_rate"] = dr  # the ledger counts the P2P airtime at this modulation
    link = P2PLink(radio, make_cipher(key), dev, EnvelopeCounter(), dr, log)
    log("p2p: device %08X on %d Hz SF%d %d kHz" % (dev, cfg["p2p_freq_hz"], sf, bw))
    return link, sec
