"""LoRa P2P for the RAK3172 emulator: the AT+P2P/PSEND/PRECV commands and a shared air.

Read in RUI3's source, RAKWireless/RAK-STM32-RUI at v5.0.0_329 (e5a28be8; read only, nothing
copied): ``cores/STM32WLE/component/service/mode/cli/atcmd_p2p.c`` (argument checks) and
``cores/STM32WLE/component/service/lora/service_lora_p2p.c`` (radio states, events). The same
behaviour is assumed for the older versions the emulator offers (``AT+PRECV=65533`` exists
from v3.4.0, docs/references.md §C.5). Differences from a module: see docs/p2p.md §4.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from payload_codec.airtime import time_on_air_us

from .udp_json import UdpJsonServer

if TYPE_CHECKING:
    from .rak3172_emulator import Rak3172Emulator

RX_ON_MSG = "P2P_RX_ON already, please disable P2P RX before setting."  # atcmd_p2p.c, every setter
BW_INDEX = {125: 0, 250: 1, 500: 2}  # service_lora_p2p_set_bandwidth: kHz or index 0..9
BW_KHZ = {0: 125, 1: 250, 2: 500, 3: 7.8, 4: 10.4, 5: 15.6, 6: 20.8, 7: 31.25, 8: 41.7, 9: 62.5}
DEFAULTS = {"freq": 868000000, "sf": 7, "bw": 0, "cr": 0, "preamble": 8, "txp": 14}
RX_OFF, RX_ONCE, RX_TIMED, RX_NONSTOP, RX_COMPAT = range(5)


SYNC_PRIVATE = 0x12  # RUI3's P2P sync word: LORA_MAC_PRIVATE_SYNCWORD 0x1424 (service_nvm.c defaults)
SYNC_PUBLIC = 0x34  # LoRaWAN's (docs/references.md §B.3, §E)
LEASE_S = 2.0  # a bare radio that has not asked the air for packets this long is not receiving


def sync8(word: int) -> int:
    """The SX127x form of a sync word: SX126x 0xY4Z4 is 0xYZ (micropython-lib sx126x.py)."""
    return ((word >> 8) & 0xF0) | ((word >> 4) & 0x0F) if word > 0xFF else word


Settings = tuple  # (freq kHz, sf, bw kHz, invert_iq, sync word 8-bit): what must match to hear


@dataclass
class Listener:
    settings: Settings
    until: float  # time.monotonic() when the lease ends
    queue: list[bytes] = field(default_factory=list)


class Air:
    """The ether between emulators and simulated bare radios: a packet reaches every other radio
    listening with the same frequency, SF, bandwidth, IQ and sync word, with the RSSI/SNR set
    here (``link``). RAK3172 emulators use RUI3's P2P defaults (private sync word, IQ not
    inverted); bare radios (board/lora_sim.py AirLink) reach it over loopback UDP with the
    datagrams the MAC's simulated gateway answers (serve_udp). A ``gateway`` (LoRaWANServer)
    hears what it would hear on air: transmissions with the public sync word only."""

    def __init__(self, gateway: Any = None) -> None:
        self._radios: list[P2PRadio] = []
        self._lock = threading.Lock()
        self.rssi, self.snr = -60, 9
        self.sent: list[bytes] = []  # every packet transmitted, in order
        self.gateway = gateway
        self.listeners: dict[Any, Listener] = {}  # UDP address -> a bare radio receiving
        self.missed = 0  # packets a bare radio would have heard, sent after its lease ended
        self._udp: UdpJsonServer | None = None

    def join(self, radio: P2PRadio) -> None:
        with self._lock:
            self._radios.append(radio)

    def transmit(self, sender: P2PRadio, params: tuple[int, int, int], payload: bytes) -> None:
        """An emulated RAK3172's packet (RUI3 P2P settings)."""
        freq, sf, bw = params
        with self._lock:
            self.sent.append(payload)
            others = [r for r in self._radios if r is not sender]
            self._to_listeners(None, (freq / 1000, sf, BW_KHZ[bw], False, SYNC_PRIVATE), payload)
        for r in others:
            r.hear(params, payload, self.rssi, self.snr)
        if self.gateway is not None:  # RUI3 P2P uses the private sync word: a gateway does not hear it
            self.gateway.uplink({"phy": payload, "freq_khz": freq / 1000, "sf": sf, "bw": BW_KHZ[bw],
                                 "invert_iq": False, "syncword": SYNC_PRIVATE, "start_ms": 0, "end_ms": 0})

    def listening(self) -> int:
        """How many bare radios receive now."""
        now = time.monotonic()
        with self._lock:
            return sum(1 for x in self.listeners.values() if x.until >= now)

    def _to_listeners(self, sender: Any, settings: Settings, payload: bytes) -> None:
        now = time.monotonic()
        for addr, x in list(self.listeners.items()):
            if addr == sender or x.settings != settings:
                continue
            if x.until < now:
                self.missed += 1
                del self.listeners[addr]  # gone (powered off, unplugged): what it missed is lost
                continue
            x.queue.append(payload)

    # ---- bare radios over loopback UDP -------------------------------------------------
    def serve_udp(self) -> int:
        """Answer lora_sim.AirLink datagrams on 127.0.0.1; returns the port."""
        self._udp = UdpJsonServer("p2p-air", self._datagram)
        return self._udp.start()

    @staticmethod
    def _settings(m: dict[str, Any]) -> Settings:
        return (m["freq_khz"], int(m["sf"]), int(m["bw"]), bool(m["invert_iq"]), sync8(int(m.get("syncword", 0x12))))

    def _datagram(self, d: dict[str, Any], addr: Any) -> list[list[Any]]:
        if "listen" in d:  # a bare radio receiving: one packet it heard, stamped on its clock
            m = d["listen"]
            st = self._settings(m)
            with self._lock:
                x = self.listeners.get(addr)
                if x is None or x.settings != st:
                    x = self.listeners[addr] = Listener(st, 0.0)
                x.until = time.monotonic() + LEASE_S
                if not x.queue:
                    return []
                phy = x.queue.pop(0)
            return [[phy.hex(), m["now_ms"], st[0], st[1], st[2], st[3], self.rssi, self.snr * 4]]
        payload = bytes.fromhex(d["phy"])  # a bare radio transmitting
        st = self._settings(d)
        freq_khz, sf, bw, inv, sync = st
        with self._lock:
            self.sent.append(payload)
            self._to_listeners(addr, st, payload)
            emus = list(self._radios)
        if sync == SYNC_PRIVATE and not inv and bw in BW_INDEX:  # what a RAK3172 in P2P mode hears
            params = (round(freq_khz * 1000), sf, BW_INDEX[bw])
            for r in emus:
                r.hear(params, payload, self.rssi, self.snr)
        if self.gateway is not None:
            meta = dict(d)
            meta["phy"] = payload
            return [[x[0].hex(), *x[1:]] for x in self.gateway.uplink(meta)]
        return []

    def close(self) -> None:
        u, self._udp = self._udp, None
        if u is not None:
            u.close()


class P2PError(Exception):
    def __init__(self, status: str, lines: tuple[str, ...] = ()) -> None:
        super().__init__(status)
        self.lines = lines


class P2PRadio:
    """The P2P side of one emulated module; the emulator calls ``command`` under its lock."""

    def __init__(self, emu: Rak3172Emulator, air: Air | None) -> None:
        self.emu = emu
        self.air = air
        self.rx = RX_OFF
        self.tx_busy = False
        self._rx_gen = 0
        self.received = 0
        self.missed = 0  # packets that arrived while this radio was not receiving
        if air is not None:
            air.join(self)

    @property
    def cfg(self) -> dict[str, Any]:
        return self.emu.nvm.setdefault("P2P", dict(DEFAULTS))

    def reset(self) -> None:
        """A reboot ends receiving and sending (volatile radio state)."""
        self.rx = RX_OFF
        self.tx_busy = False
        self._rx_gen += 1

    def params(self) -> tuple[int, int, int]:
        c = self.cfg
        return c["freq"], c["sf"], c["bw"]

    # ---- commands -------------------------------------------------------------------
    def command(self, name: str, rest: str) -> list[str] | None:
        """Value lines (then OK) or None; raises P2PError(status, lines printed before it)."""
        if name == "P2P":
            return self._p2p(rest)
        if name == "PSEND":
            return self._psend(rest)
        return self._precv(rest)

    def _p2p(self, rest: str) -> list[str]:
        c = self.cfg
        if rest == "=?":  # At_P2p: freq:sf:bw(index):cr:preamble:txp
            return ["AT+P2P=%d:%d:%d:%d:%d:%d" % (c["freq"], c["sf"], c["bw"], c["cr"], c["preamble"], c["txp"])]
        args = rest[1:].split(":") if rest.startswith("=") else []
        if len(args) == 7 and args[6] == "0":  # At_P2p accepts a 7th argument "0"
            args = args[:6]
        if len(args) != 6 or not all(a.isdigit() for a in args):
            raise P2PError("AT_PARAM_ERROR")
        f, sf, bw, cr, pl, txp = (int(a) for a in args)
        # At_P2p range checks, in its order
        if not 150_000_000 <= f <= 960_000_000 or not 5 <= sf <= 12 or cr > 3 or not 5 <= pl <= 65535 \
                or not 5 <= txp <= 22:
            raise P2PError("AT_PARAM_ERROR")
        if self.rx != RX_OFF:
            raise P2PError("AT_BUSY_ERROR", (RX_ON_MSG,))
        bw = BW_INDEX.get(bw, bw)
        if bw > 9:  # service_lora_p2p_set_bandwidth: -UDRV_WRONG_ARG
            raise P2PError("AT_PARAM_ERROR")
        c.update(freq=f, sf=sf, bw=bw, cr=cr, preamble=pl, txp=txp)
        return []

    def _psend(self, rest: str) -> list[str]:
        data = rest[1:] if rest.startswith("=") else ""
        # At_P2pSend: even length, <= 2 * 239 hex chars, hex digits only
        if not data or len(data) % 2 or len(data) > 478:
            raise P2PError("AT_PARAM_ERROR")
        try:
            payload = bytes.fromhex(data)
        except ValueError:
            raise P2PError("AT_PARAM_ERROR") from None
        # service_lora_p2p_send: busy while the radio is (RX on counts) unless RX is 65533
        if self.tx_busy or self.rx not in (RX_OFF, RX_COMPAT):
            raise P2PError("AT_BUSY_ERROR")
        self.tx_busy = True
        c = self.cfg
        toa_s = time_on_air_us(len(payload), c["sf"], int(BW_KHZ[c["bw"]]), cr=c["cr"] + 1,
                               preamble=c["preamble"]) / 1e6
        params = self.params()
        self.emu.airtime_ms_total += toa_s * 1000
        self.emu._after(toa_s, lambda: self._tx_done(params, payload))
        return []

    def _tx_done(self, params: tuple[int, int, int], payload: bytes) -> None:
        self.tx_busy = False
        if self.air is not None:  # on air before TX done is reported (a test may look at once)
            self.air.transmit(self, params, payload)
        self.emu._out("+EVT:TXP2P DONE")  # OnTxDone

    def _precv(self, rest: str) -> list[str] | None:
        if rest == "=?":
            # At_P2pRecv prints the bare state, then OK
            self.emu._out("P2P_RX_ON" if self.rx != RX_OFF else "P2P_RX_OFF")
            return []
        arg = rest[1:] if rest.startswith("=") else ""
        if not arg.isdigit() or int(arg) > 65535:
            raise P2PError("AT_PARAM_ERROR")
        ms = int(arg)
        # service_lora_p2p_recv: a continuous mode must be left (=0) before another starts
        if ms and self.rx in (RX_ONCE, RX_NONSTOP, RX_COMPAT):
            raise P2PError("AT_BUSY_ERROR", ("P2P_RX_ON already",))
        self._rx_gen += 1
        if ms == 0:
            self.rx = RX_OFF
        elif ms == 65535:
            self.rx = RX_ONCE
        elif ms == 65534:
            self.rx = RX_NONSTOP
        elif ms == 65533:
            self.rx = RX_COMPAT
        else:
            self.rx = RX_TIMED
            gen = self._rx_gen
            self.emu._after(max(ms, 15) / 1000, lambda: self._rx_timeout(gen))  # "at least 15 ms"
        return []

    def _rx_timeout(self, gen: int) -> None:
        if gen == self._rx_gen and self.rx == RX_TIMED:
            self.rx = RX_OFF
            self.emu._out("+EVT:RXP2P RECEIVE TIMEOUT")  # OnRxTimeout

    # ---- reception ------------------------------------------------------------------
    def hear(self, params: tuple[int, int, int], payload: bytes, rssi: int, snr: int) -> None:
        with self.emu._lock:
            if self.emu.nvm["NWM"] != 0 or params != self.params():
                return
            if self.rx == RX_OFF or self.tx_busy or self.emu._master < 0:
                self.missed += 1
                return
            self.received += 1
            # OnRxDone: "+EVT:RXP2P:%d:%d:" then %02X per byte
            self.emu._out("+EVT:RXP2P:%d:%d:%s" % (rssi, snr, payload.hex().upper()))
            if self.rx in (RX_ONCE, RX_TIMED):  # one packet, then standby
                self.rx = RX_OFF
                self._rx_gen += 1
