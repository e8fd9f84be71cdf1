"""A simulated gateway + network server + join server for nodes running the firmware's LoRaWAN MAC.

It works on PHYPayloads from a simulated radio (board/lora_sim.py): it checks every MIC,
rejects a reused DevNonce and a replayed FCntUp, decrypts FRMPayload, parses the MAC answers,
and schedules Join-Accepts and downlinks in RX1 (uplink frequency, DR - RX1DROffset, uplink end
+ delay) or RX2 (the device's RX2 frequency and DR, one second later) exactly on time - the
radio's window check supplies the timing tolerance. Application events go to an optional
``SimNetworkServer`` (network_server.py), which publishes them ChirpStack-shaped on a real
broker, so the bridge sees these nodes as it sees RAK3172 nodes.

Frames are built and opened with the firmware's own lorawan_frames/lorawan_crypto (checked
against lora-packet in tests/lorawan); the network side's AES decrypt (Join-Accept) is
``cryptography``'s. Differences from a real LNS: one gateway, no deduplication, no Class B/C,
ADR only when a test asks for it (``link_adr``), JoinNonce per device from 0.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from payload_codec.airtime import EU868

from ..lorawan import HostAes, load
from . import network_server as chirpstack
from .p2p_air import SYNC_PUBLIC, sync8
from .udp_json import UdpJsonServer

fr = load("lorawan_frames")
crypto = load("lorawan_crypto")
lj = load("lorawan_join")
eu868 = load("lorawan_eu868")
net = load("lorawan_network")

NET_ID = 0x000013
Downlink = tuple  # (phy, start_ms, freq_khz, sf, bw, invert_iq, rssi, snr_x4)


@dataclass
class DeviceRecord:
    dev_eui: bytes
    join_eui: bytes
    app_key: bytes
    used_nonces: set[int] = field(default_factory=set)
    join_nonce: int = 0
    dev_addr: int = 0
    nwk_skey: bytes = b""
    app_skey: bytes = b""
    fcnt_up: int = -1
    fcnt_down: int = 0
    rx1_delay_s: int = 1
    rx1_dr_offset: int = 0
    rx2_dr: int = 0
    rx2_freq_khz: int = 869525
    mac_queue: bytearray = field(default_factory=bytearray)  # MAC commands for the next downlink
    app_queue: list[tuple[int, bytes, bool]] = field(default_factory=list)
    answers: list[tuple[int, bytes]] = field(default_factory=list)  # (CID, payload) from uplinks
    last_phy: bytes = b""
    # the session before the last join, kept until the new one is used (as The Things Stack
    # keeps a pending session): a device that lost the Join-Accept goes on with the old one
    previous: tuple[int, bytes, bytes, int, int, bytes] | None = None

    def session(self) -> tuple[int, bytes, bytes, int, int, bytes]:
        return (self.dev_addr, self.nwk_skey, self.app_skey, self.fcnt_up, self.fcnt_down, self.last_phy)

    def use(self, s: tuple[int, bytes, bytes, int, int, bytes]) -> None:
        self.dev_addr, self.nwk_skey, self.app_skey, self.fcnt_up, self.fcnt_down, self.last_phy = s


class LoRaWANServer:
    def __init__(self, *, rx_delay_s: int = 1, rx2_dr: int = 0, rx1_dr_offset: int = 0, cflist: bool = False,
                 events: chirpstack.SimNetworkServer | None = None) -> None:
        self.rx_delay_s = rx_delay_s
        self.rx2_dr = rx2_dr
        self.rx1_dr_offset = rx1_dr_offset
        self.cflist = cflist
        self.events = events
        self.devices: dict[bytes, DeviceRecord] = {}
        self.by_addr: dict[int, DeviceRecord] = {}
        self.rejected: list[tuple[str, str]] = []  # (reason, DevEUI hex)
        self.uplinks: list[dict[str, Any]] = []
        self.joins: list[tuple[str, int]] = []  # (DevEUI hex, DevNonce) accepted
        self.unheard = 0  # transmissions with a private sync word (P2P), not demodulated
        self.skip_rx1 = False  # answer in RX2 only (a missed RX1)
        self.silent = False  # answer nothing (gateway out of reach)
        self._lock = threading.Lock()
        self._udp: UdpJsonServer | None = None
        self.udp_port = 0  # where serve_udp() listens, once it does

    # --- registry -------------------------------------------------------------------------
    def register(self, dev_eui: bytes, join_eui: bytes, app_key: bytes) -> DeviceRecord:
        rec = self.devices[dev_eui] = DeviceRecord(dev_eui, join_eui, app_key)
        return rec

    def register_abp(self, dev_eui: bytes, dev_addr: int, nwk_skey: bytes, app_skey: bytes) -> DeviceRecord:
        rec = self.register(dev_eui, bytes(8), bytes(16))
        rec.dev_addr, rec.nwk_skey, rec.app_skey = dev_addr, nwk_skey, app_skey
        self.by_addr[dev_addr] = rec
        return rec

    def _reject(self, reason: str, rec: DeviceRecord | None) -> list[Downlink]:
        self.rejected.append((reason, rec.dev_eui.hex() if rec else ""))
        return []

    # --- the air ----------------------------------------------------------------------------
    def uplink(self, meta: dict[str, Any]) -> list[Downlink]:
        """One transmission heard by the gateway; the downlinks scheduled in answer."""
        with self._lock:
            if meta.get("invert_iq"):
                return []  # an uplink with inverted IQ is not heard by a gateway
            if sync8(int(meta.get("syncword", SYNC_PUBLIC))) != SYNC_PUBLIC:
                # a gateway's demodulators search for the public sync word only (sx1302_hal
                # sx1302_lora_syncword with lorawan_public; docs/p2p.md §4a): P2P frames pass by
                self.unheard += 1
                return []
            phy = bytes(meta["phy"])
            mtype = phy[0] >> 5 if phy else -1
            if mtype == fr.JOIN_REQUEST:
                out = self._join(phy, meta)
            elif mtype in (fr.UNCONFIRMED_UP, fr.CONFIRMED_UP):
                out = self._data(phy, meta)
            else:
                out = self._reject("not an uplink", None)
            return [] if self.silent else out

    def _dr_of(self, meta: dict[str, Any]) -> int:
        for dr, (sf, bw, _) in enumerate(EU868):
            if sf == meta["sf"] and bw == meta["bw"]:
                return dr
        raise ValueError(f"no EU868 DR for SF{meta['sf']}/{meta['bw']}")

    def _schedule(self, rec: DeviceRecord, phy: bytes, meta: dict[str, Any], delay_s: int,
                  rx1_offset: int, rx2_dr: int) -> list[Downlink]:
        up_dr = self._dr_of(meta)
        out: list[Downlink] = []
        if not self.skip_rx1:
            sf, bw, _ = EU868[eu868.rx1_dr(up_dr, rx1_offset)]
            out.append((phy, meta["end_ms"] + delay_s * 1000, meta["freq_khz"], sf, bw, True, -60, 40))
        else:
            sf, bw, _ = EU868[rx2_dr]
            out.append((phy, meta["end_ms"] + (delay_s + 1) * 1000, rec.rx2_freq_khz, sf, bw, True, -60, 40))
        return out

    def _join(self, phy: bytes, meta: dict[str, Any]) -> list[Downlink]:
        try:
            join_eui, dev_eui, nonce, _ = net.parse_join_request(phy)
        except fr.FrameError:
            return self._reject("malformed Join-Request", None)
        rec = self.devices.get(dev_eui)
        if rec is None:
            return self._reject("unknown DevEUI", None)
        cm = crypto.Cmac(rec.app_key)
        if join_eui != rec.join_eui or not net.join_request_mic_ok(phy, cm):
            return self._reject("Join-Request MIC", rec)
        if nonce in rec.used_nonces:
            return self._reject("DevNonce reused", rec)  # what TTS and ChirpStack do (§E)
        rec.used_nonces.add(nonce)
        if self.events is not None:
            self.events.join(dev_eui.hex())
            dev_addr = int(self.events.devices[dev_eui.hex()].dev_addr, 16)
        else:
            dev_addr = 0x260B0000 | (len(self.joins) + 1)
        if rec.previous is not None and rec.fcnt_up < 0:
            self.by_addr.pop(rec.dev_addr, None)  # the last join was never used: forget it
        else:
            if rec.previous is not None:
                self.by_addr.pop(rec.previous[0], None)
            rec.previous = rec.session() if rec.dev_addr else None
        rec.join_nonce += 1
        rec.dev_addr = dev_addr
        rec.nwk_skey, rec.app_skey = lj.session_keys(cm.aes, rec.join_nonce, NET_ID, nonce)
        rec.fcnt_up, rec.fcnt_down = -1, 0
        rec.rx1_delay_s, rec.rx1_dr_offset, rec.rx2_dr = self.rx_delay_s, self.rx1_dr_offset, self.rx2_dr
        rec.rx2_freq_khz = 869525
        rec.mac_queue = bytearray()
        rec.answers = []
        self.by_addr[dev_addr] = rec
        self.joins.append((dev_eui.hex(), nonce))
        cf = None
        if self.cflist:  # TTN's five extra channels 867.1-867.9 MHz (§E)
            cf = bytearray(16)
            for i in range(5):
                f = (867100 + 200 * i) * 10
                cf[3 * i:3 * i + 3] = f.to_bytes(3, "little")
        ja = lj.JoinAccept(rec.join_nonce, NET_ID, dev_addr, (self.rx1_dr_offset << 4) | self.rx2_dr,
                           self.rx_delay_s, bytes(cf) if cf else None)
        buf = bytearray(33)
        dec = HostAes(rec.app_key, 1)
        n = net.build_join_accept(buf, ja, dec.decrypt, cm)
        return self._schedule(rec, bytes(buf[:n]), meta, 5, 0, 0)  # JOIN_ACCEPT_DELAY1, RX2 defaults

    def _data(self, phy: bytes, meta: dict[str, Any]) -> list[Downlink]:
        try:
            f = fr.parse_data(phy)
        except fr.FrameError:
            return self._reject("malformed data frame", None)
        rec = self.by_addr.get(f.dev_addr)
        if rec is None:
            return self._reject("unknown DevAddr", None)
        if f.dev_addr != rec.dev_addr and rec.previous is not None and rec.previous[0] == f.dev_addr:
            pending = rec.session()
            self.by_addr.pop(pending[0], None)
            rec.use(rec.previous)  # the device never got the Join-Accept: the old session goes on
            rec.previous = None
        elif rec.previous is not None and f.dev_addr == rec.dev_addr:
            self.by_addr.pop(rec.previous[0], None)  # the new session is in use: drop the old
            rec.previous = None
        fcnt = fr.full_fcnt(rec.fcnt_up if rec.fcnt_up >= 0 else 0, f.fcnt16)
        b0 = bytearray(16 + fr.MAX_PHY)
        if not fr.data_mic_ok(phy, len(phy), f, crypto.Cmac(rec.nwk_skey), b0, fcnt):
            # a counter far behind the last one wraps to the next 64 Ki block: check the reuse case
            low = (rec.fcnt_up & 0xFFFF0000) | f.fcnt16 if rec.fcnt_up >= 0 else -1
            if 0 <= low <= rec.fcnt_up and fr.data_mic_ok(phy, len(phy), f, crypto.Cmac(rec.nwk_skey), b0, low):
                return self._reject("FCntUp reused", rec)
            return self._reject("MIC", rec)
        retransmission = fcnt == rec.fcnt_up
        if fcnt < rec.fcnt_up:
            return self._reject("FCntUp reused", rec)
        if retransmission and rec.last_phy != phy:
            return self._reject("FCntUp reused", rec)  # same counter, different frame
        rec.fcnt_up = fcnt
        rec.last_phy = phy
        buf = bytearray(phy)
        payload = b""
        if f.payload_len:
            key = rec.nwk_skey if f.port == 0 else rec.app_skey
            crypto.FrameCipher(key).crypt(buf, f.payload_start, f.payload_len, fr.UP, f.dev_addr, fcnt)
            payload = bytes(buf[f.payload_start:f.payload_start + f.payload_len])
        fopts = bytes(phy[8:8 + f.fopts_len])
        if not retransmission:
            self._answers(rec, payload if f.port == 0 else fopts)
        up = {"dev_eui": rec.dev_eui.hex(), "fcnt": fcnt, "port": f.port, "payload": payload, "fopts": fopts,
              "confirmed": f.confirmed, "fctrl": f.fctrl, "freq_khz": meta["freq_khz"], "dr": self._dr_of(meta),
              "retransmission": retransmission, "phy": phy, "end_ms": meta["end_ms"], "power": meta.get("power")}
        self.uplinks.append(up)
        app = None
        if self.events is not None and f.port > 0 and not retransmission:
            app = self.events.uplink(rec.dev_eui.hex(), f.port, payload, fcnt, f.confirmed, up["dr"],
                                     frequency=meta["freq_khz"] * 1000, adr=bool(f.fctrl & fr.FCTRL_ADR))
        elif rec.app_queue and not retransmission:
            port, data, _ = rec.app_queue.pop(0)
            app = (port, data)
        want = f.confirmed or app is not None or rec.mac_queue or f.fctrl & fr.FCTRL_ADRACKREQ
        if not want:
            return []
        return self._downlink(rec, f, meta, app)

    def _answers(self, rec: DeviceRecord, cmds: bytes) -> None:
        lens = {0x02: 0, 0x03: 1, 0x04: 0, 0x05: 1, 0x06: 2, 0x07: 1, 0x08: 0, 0x0A: 1, 0x0D: 0}
        i = 0
        while i < len(cmds):
            cid = cmds[i]
            n = lens.get(cid)
            if n is None:
                break
            rec.answers.append((cid, bytes(cmds[i + 1:i + 1 + n])))
            if cid == 0x02:  # LinkCheckReq: margin 20 dB, one gateway
                rec.mac_queue += bytes((0x02, 20, 1))
            if cid == 0x0D:  # DeviceTimeReq: GPS seconds of the uplink's end (virtual clock)
                secs = 1_400_000_000 + self.uplinks_end_s()
                rec.mac_queue += bytes((0x0D,)) + secs.to_bytes(4, "little") + bytes((0x80,))
            i += 1 + n

    def uplinks_end_s(self) -> int:
        return self.uplinks[-1]["end_ms"] // 1000 if self.uplinks else 0

    def _downlink(self, rec: DeviceRecord, f: Any, meta: dict[str, Any],
                  app: tuple[int, bytes] | None) -> list[Downlink]:
        fopts = bytes(rec.mac_queue[:15])
        del rec.mac_queue[:len(fopts)]
        fctrl = fr.FCTRL_ACK if f.confirmed else 0
        port, data = app if app else (-1, b"")
        buf = bytearray(fr.MAX_PHY)
        b0 = bytearray(16 + fr.MAX_PHY)
        key = rec.app_skey if port > 0 else rec.nwk_skey
        n = fr.build_data(buf, fr.UNCONFIRMED_DOWN, rec.dev_addr, fctrl, rec.fcnt_down, fopts, len(fopts), port,
                          data, crypto.FrameCipher(key), crypto.Cmac(rec.nwk_skey), b0)
        rec.fcnt_down += 1
        return self._schedule(rec, bytes(buf[:n]), meta, rec.rx1_delay_s, rec.rx1_dr_offset, rec.rx2_dr)

    # --- the network's side of MAC commands -------------------------------------------------
    def queue_mac(self, dev_eui: bytes, cmd: bytes) -> None:
        with self._lock:
            self.devices[dev_eui].mac_queue += cmd

    def queue_app(self, dev_eui: bytes, port: int, data: bytes) -> None:
        with self._lock:
            self.devices[dev_eui].app_queue.append((port, data, False))

    def apply_answer_effects(self, rec: DeviceRecord, rx1_dr_offset: int | None = None, rx2_dr: int | None = None,
                             rx2_freq_khz: int | None = None, rx1_delay_s: int | None = None) -> None:
        """The NS uses the settings it asked for once the device's answer acknowledged them."""
        with self._lock:
            if rx1_dr_offset is not None:
                rec.rx1_dr_offset = rx1_dr_offset
            if rx2_dr is not None:
                rec.rx2_dr = rx2_dr
            if rx2_freq_khz is not None:
                rec.rx2_freq_khz = rx2_freq_khz
            if rx1_delay_s is not None:
                rec.rx1_delay_s = rx1_delay_s

    # --- loopback UDP for the virtual board ------------------------------------------------
    def serve_udp(self) -> int:
        """Answer lora_sim.UdpLink datagrams on 127.0.0.1; returns the port."""
        self._udp = UdpJsonServer("lorawan-gw", self._datagram)
        self.udp_port = self._udp.start()
        return self.udp_port

    def _datagram(self, meta: dict[str, Any], addr: Any) -> list[list[Any]]:
        meta["phy"] = bytes.fromhex(meta["phy"])
        return [[d[0].hex(), *d[1:]] for d in self.uplink(meta)]

    def close(self) -> None:
        u, self._udp = self._udp, None
        if u is not None:
            u.close()
