# P2P workshop mode on the node (docs/p2p.md §3): the modem the node cycle talks to
# (is_joined / send, like rak3172.RAK3172) sends each codec frame in an authenticated envelope
# (payload_codec.envelope) through a P2P radio instead of LoRaWAN. Nothing to join; the node's
# duty-cycle ledger counts the airtime as usual (an envelope adds 13 bytes, like LoRaWAN).

import binascii
import struct

from payload_codec import envelope
from payload_codec.airtime import EU868, time_on_air_us

COUNTER_FILE = "p2p_counter.dat"
_MAGIC = 0x5032  # "P2"
_FMT = "<HBxII"  # magic, version 1, pad, next counter, ceiling reserved on flash; then CRC-32


class _CounterRecord:
    """The envelope counter as a record lorawan_store.Store keeps like the MAC's FCntUp
    (``fcnt_up`` is the next value, ``ceiling`` the value reserved on flash)."""

    dev_nonce = 0  # Store.load also restores a join nonce; P2P has none
    join_nonce = -1

    def __init__(self):
        self.reset()

    def reset(self):
        self.fcnt_up = 0
        self.ceiling = 0

    def encode(self, fcnt_up=None):
        body = struct.pack(_FMT, _MAGIC, 1, self.fcnt_up if fcnt_up is None else fcnt_up, self.ceiling)
        return body + struct.pack("<I", binascii.crc32(body))

    def decode(self, data):
        """0 for a current record; 1 for the earlier firmware's flash file (the next value as
        decimal text), which Store.load then rewrites at once in this format."""
        from lorawan_session import RecordError

        if data and len(data) <= 10 and all(0x30 <= b <= 0x39 for b in data):
            self.fcnt_up = self.ceiling = int(data)
            return 1
        n = struct.calcsize(_FMT)
        if data is None or len(data) != n + 4 or binascii.crc32(memoryview(data)[:n]) != \
                struct.unpack_from("<I", data, n)[0]:
            raise RecordError("no P2P counter record")
        magic, version, self.fcnt_up, self.ceiling = struct.unpack_from(_FMT, data, 0)
        if magic != _MAGIC or version != 1:
            raise RecordError("not a P2P counter record")
        return 0  # one version so far: nothing to migrate


class EnvelopeCounter:
    """The envelope counter: never repeated across resets and power loss, contiguous across
    deep sleep. Persisted exactly as the MAC persists FCntUp (lorawan_store.Store): RTC memory
    on every take(), flash every FLASH_EVERY values holding a ceiling, so a cold boot skips
    ahead to the ceiling and never reuses a value (docs/p2p.md §2). ``rtc`` is a slice of RTC
    memory (lorawan_store.RtcSlot), ``folder`` where the flash file lives."""

    def __init__(self, rtc, folder="", every=None, log=None):
        from lorawan_store import FLASH_EVERY, FileFlash, Store

        self._store = Store(rtc, FileFlash(folder), every or FLASH_EVERY, log,
                            files=(COUNTER_FILE, COUNTER_FILE + ".nonce"))  # no nonce is ever written
        self._rec = _CounterRecord()
        self.source = self._store.load(self._rec)  # "rtc", "flash" (skipped ahead) or "" (new)
        import sys

        if "lorawan_mac" not in sys.modules:  # no MAC: the records' module is not needed again
            sys.modules.pop("lorawan_session", None)

    @property
    def next(self):
        return self._rec.fcnt_up

    @property
    def flash_writes(self):
        return self._store.flash_writes

    def take(self):
        """The next value; persisted (RTC, and flash when past the ceiling) before it is used."""
        r = self._rec
        c = r.fcnt_up
        r.fcnt_up = c + 1
        self._store.before_uplink(r)
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


def radio_for(board, modem):
    """The P2P radio of ``board``: rak3172_p2p.RakP2P around the RAK3172 driver ``modem``, or
    lora_p2p.LoraP2P on the board's bare SX126x/SX127x (no MAC is built in P2P mode)."""
    if board.radio == "rak3172":
        from rak3172_p2p import RakP2P

        return RakP2P(modem)
    from lora_p2p import LoraP2P

    return LoraP2P(board.lora_modem())


def open_link(radio, cfg, secrets_path, rtc, make_cipher=None, log=print):
    """(P2PLink, secrets) for the node's config and secrets file, or (radio, None) when P2P
    cannot start: the reason is logged by name and the node sleeps instead of transmitting.

    ``radio`` is an unconfigured RakP2P or LoraP2P (radio_for); ``rtc`` the slice of RTC memory
    for the envelope counter. secrets.json holds "deveui" (16 hex; its low 4 bytes are the device
    id) and "p2p_key" (32 hex; the key the receiver's keys file holds for this DevEUI); values
    are never logged.
    """
    import json

    from payload_codec import p2p_radio

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
        return radio, None
    sf = cfg["p2p_sf"]
    bw = cfg["p2p_bw_khz"]
    try:
        radio.configure(cfg["p2p_freq_hz"], sf, bw)
    except Exception as e:  # noqa: BLE001 - P2PConfigError names the key; RakError, SPI OSError
        log("p2p: %s" % e)
        return radio, None
    if make_cipher is None:
        import cryptolib

        def make_cipher(k):
            return cryptolib.aes(k, 1)  # mode 1: ECB, one block per call

    dr = p2p_radio.data_rate(sf, bw)
    cfg["data_rate"] = dr  # the ledger counts the P2P airtime at this modulation
    link = P2PLink(radio, make_cipher(key), dev, EnvelopeCounter(rtc), dr, log)
    log("p2p: device %08X on %d Hz SF%d %d kHz" % (dev, cfg["p2p_freq_hz"], sf, bw))
    return link, sec
