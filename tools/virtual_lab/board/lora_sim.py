# A simulated LoRa radio with the micropython-lib `lora` SyncModem API (docs/references.md §B 1.4,
# the minimal drop-in interface of §B 1.5): configure(dict), send(packet, tx_at_ms) -> TX-done
# ticks_ms, recv(timeout_ms, rx_length, rx_packet) -> RxPacket or None, standby(), sleep(),
# is_idle(), get_time_on_air_us(n), crc_errors, rx_crc_error. Runs on MicroPython and CPython.
#
# The air is a ``link``: link.uplink(meta) hands the gateway one transmission and returns the
# downlinks it schedules, each (phy bytes, start ticks_ms, freq kHz, sf, bw, invert_iq). recv()
# delivers a downlink only if the receiver is configured to its freq/sf/bw with IQ inverted
# and is listening when its preamble starts (from _PREAMBLE_LATE_MS before the window opened to
# the end of the window) - so a window opened at the wrong time, or with the wrong RX2 data
# rate, misses it, as on air. Differences from a real SX126x/SX127x: no noise, no collisions,
# no CRC errors unless the gateway marks one; rssi/snr are the gateway's values.
# P2P: on an AirLink (the shared air of tools/virtual_lab/p2p_air.py, same UDP datagrams) a
# receiving radio asks the air every _AIR_POLL_MS for a packet another radio sent with its
# frequency, SF, bandwidth, IQ and sync word while it was listening (docs/p2p.md §4a).

import time

# ticks arithmetic of MicroPython; plain integers on CPython (host tests with a virtual clock)
_ticks_diff = getattr(time, "ticks_diff", lambda a, b: a - b)
_ticks_add = getattr(time, "ticks_add", lambda a, b: a + b)

try:
    from lora import RxPacket  # the real class when micropython-lib `lora` is installed
except ImportError:

    class RxPacket(bytearray):  # type: ignore[no-redef]  # same constructor and attributes as lora.modem.RxPacket (§B 1.4)
        def __init__(self, payload, ticks_ms=None, snr=None, rssi=None, valid_crc=True):
            super().__init__(payload)
            self.ticks_ms = ticks_ms
            self.snr = snr
            self.rssi = rssi
            self.valid_crc = valid_crc
            self.crc_error = not valid_crc  # the drivers set both (§B 1.4)

        def __repr__(self):
            return "RxPacket(%r, %r, %r, %r, %r)" % (bytes(self), self.ticks_ms, self.snr, self.rssi, self.valid_crc)


from payload_codec.airtime import time_on_air_us  # noqa: E402 - after the RxPacket fallback

_PREAMBLE_LATE_MS = 5  # a window opened this late still catches the preamble (8 symbols >= 8 ms)
# answers are at most a few packets of <= 255 B in hex; a smaller buffer keeps the simulator's
# own allocation (it counts against the node's heap on the virtual board) small
_DATAGRAM_MAX = 1536
_AIR_POLL_MS = 20  # a receiver on the shared air (AirLink) asks it for packets this often


class SimRadio:
    def __init__(self, link, ticks_ms=None, sleep_ms=None):
        self.link = link
        self._ticks = ticks_ms or time.ticks_ms  # type: ignore[attr-defined]  # MicroPython's time
        self._sleep = sleep_ms or time.sleep_ms  # type: ignore[attr-defined]
        self.cfg = {}  # type: dict
        self.cfg.update({"freq_khz": None, "sf": 7, "bw": "125", "coding_rate": 5, "preamble_len": 12,
                    "crc_en": True, "invert_iq_tx": False, "invert_iq_rx": False, "syncword": 0x12,
                    "output_power": 14, "implicit_header": False})
        self._pending = []  # scheduled downlinks from the gateway
        self.crc_errors = 0
        self.rx_crc_error = False
        self.state = "standby"
        self.sent = 0
        self.tx_log = []  # (start ticks, airtime us, freq kHz) of every transmission

    # --- configuration ----------------------------------------------------------------
    def configure(self, cfg):
        for k in cfg:
            if k not in self.cfg:
                raise ValueError("unknown lora_cfg key %r" % k)  # lora.ConfigError is a ValueError
            self.cfg[k] = cfg[k]

    def _bw(self):
        return int(float(self.cfg["bw"]))

    def get_time_on_air_us(self, payload_len):
        c = self.cfg
        return time_on_air_us(payload_len, c["sf"], self._bw(), c["coding_rate"] - 4, c["preamble_len"],
                              c["crc_en"], not c["implicit_header"])

    # --- transmit ---------------------------------------------------------------------
    def send(self, packet, tx_at_ms=None):
        """Blocks until TX done; returns its ticks_ms (§B 1.4)."""
        if self.cfg["freq_khz"] is None:
            raise ValueError("freq_khz not configured")
        if tx_at_ms is not None:
            w = _ticks_diff(tx_at_ms, self._ticks())
            if w > 0:
                self._sleep(w)
        start = self._ticks()
        air = self.get_time_on_air_us(len(packet))
        self.state = "tx"
        self._sleep((air + 999) // 1000)
        done = self._ticks()
        self.state = "standby"
        self.sent += 1
        self.tx_log.append((start, air, self.cfg["freq_khz"]))
        c = self.cfg
        meta = {"phy": bytes(packet), "freq_khz": c["freq_khz"], "sf": c["sf"], "bw": self._bw(),
                "start_ms": start, "end_ms": done, "invert_iq": c["invert_iq_tx"], "power": c["output_power"],
                "syncword": c["syncword"], "preamble": c["preamble_len"], "cr": c["coding_rate"]}
        self._pending = list(self.link.uplink(meta) or ())
        return done

    # --- receive ----------------------------------------------------------------------
    def recv(self, timeout_ms=None, rx_length=0xFF, rx_packet=None):
        """The first matching downlink whose preamble starts while listening, else None."""
        if timeout_ms is None:
            timeout_ms = 60000  # the simulation never blocks forever
        opened = self._ticks()
        close = _ticks_add(opened, timeout_ms)
        self.state = "rx"
        listen = getattr(self.link, "listen", None)  # AirLink: packets of other radios (P2P)
        while True:
            if listen is not None:
                self._pending.extend(listen(self._rx_meta()))
            best = self._match(opened, close)
            if best is not None or listen is None:
                break
            left = _ticks_diff(close, self._ticks())
            if left <= 0:
                break
            self._sleep(left if left < _AIR_POLL_MS else _AIR_POLL_MS)
        if best is None:
            if listen is None:
                self._sleep(timeout_ms)
            self.state = "standby"
            return None
        self._pending.remove(best)
        phy, start = best[0], best[1]
        end = _ticks_add(start, (time_on_air_us(len(phy), best[3], best[4], 1, 8, False) + 999) // 1000)
        w = _ticks_diff(end, self._ticks())
        if w > 0:
            self._sleep(w)
        self.state = "standby"
        rssi = best[6] if len(best) > 6 else -60
        snr = best[7] if len(best) > 7 else 40  # dB x 4, as RxPacket.snr
        return RxPacket(phy[:rx_length], end, snr, rssi, True)

    def _match(self, opened, close):
        c = self.cfg
        best = None
        for d in self._pending:
            _phy, start, freq, sf, bw, inv = d[:6]
            if freq != c["freq_khz"] or sf != c["sf"] or bw != self._bw() or inv != c["invert_iq_rx"]:
                continue
            if _ticks_diff(start, opened) < -_PREAMBLE_LATE_MS or _ticks_diff(start, close) > 0:
                continue
            if best is None or _ticks_diff(start, best[1]) < 0:
                best = d
        return best

    def _rx_meta(self):
        c = self.cfg
        return {"freq_khz": c["freq_khz"], "sf": c["sf"], "bw": self._bw(), "invert_iq": c["invert_iq_rx"],
                "syncword": c["syncword"], "now_ms": self._ticks()}

    def standby(self):
        self.state = "standby"

    def sleep(self):
        self.state = "sleep"

    def is_idle(self):
        return self.state in ("standby", "sleep")


class UdpLink:
    """The air over loopback UDP: one JSON datagram per uplink, the gateway answers with the
    downlinks it schedules (hex phy). For the virtual board on the MicroPython Unix port."""

    def __init__(self, host, port, timeout_s=10):
        import socket

        self._addr = socket.getaddrinfo(host, port)[0][-1]
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.settimeout(timeout_s)

    def uplink(self, meta):
        import binascii
        import json

        m = dict(meta)
        m["phy"] = binascii.hexlify(meta["phy"]).decode()
        self._sock.sendto(json.dumps(m).encode(), self._addr)
        try:
            data = self._sock.recv(_DATAGRAM_MAX)
        except OSError:
            return []  # no gateway answer in time: nothing scheduled
        out = []
        for d in json.loads(data):
            out.append((binascii.unhexlify(d[0]),) + tuple(d[1:]))  # noqa: RUF005 - MicroPython syntax
        return out


class AirLink(UdpLink):
    """The shared air of P2P radios over the same loopback UDP (tools/virtual_lab/p2p_air.py
    Air.serve_udp): a transmission goes to every other radio listening with the same settings
    (RAK3172 emulators in P2P receive among them); listen() reports this radio receiving with
    its settings and returns what it heard since, as downlink tuples with the air's RSSI/SNR."""

    def listen(self, meta):
        import binascii
        import json

        self._sock.sendto(json.dumps({"listen": meta}).encode(), self._addr)
        try:
            data = self._sock.recv(_DATAGRAM_MAX)
        except OSError:
            return []
        out = []
        for d in json.loads(data):
            out.append((binascii.unhexlify(d[0]),) + tuple(d[1:]))  # noqa: RUF005 - MicroPython syntax
        return out
