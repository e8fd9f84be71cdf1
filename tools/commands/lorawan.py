"""``trosmart lorawan decode|build``: LoRaWAN 1.0.4 frames with the node's own MAC code.

decode HEX [--appkey K] [--nwkskey K] [--appskey K] [--devnonce N] [--fcnt-msb N]
    prints JSON: message type; Join-Request JoinEUI/DevEUI/DevNonce; Join-Accept fields
    (decrypted with --appkey) and, given --devnonce, the session keys; data frames DevAddr,
    FCtrl, FCnt, FOpts, FPort, the decrypted payload and whether the MIC verifies.
build join-request --joineui --deveui --devnonce --appkey
build data --devaddr --fcnt --port --payload --nwkskey --appskey [--confirmed] [--down] ...
    prints the PHYPayload in hex.

The frame and crypto code is firmware/lib/lorawan_frames.py and lorawan_crypto.py, run on
CPython with the ``cryptography`` AES behind cryptolib's interface (trosmart_tools.lorawan).
Bad hex, a key of the wrong length or a frame too short: one line, exit 2.
"""

from __future__ import annotations

import argparse
import binascii
import json
from typing import Any

from ..errors import ToolError

NAME = "lorawan"
HELP = "decode or build LoRaWAN frames (the node's own MAC code)"


def _hex(value: str, what: str, length: int | None = None) -> bytes:
    v = value.strip().replace(" ", "").replace(":", "")
    if v[:2].lower() == "0x":
        v = v[2:]
    try:
        b = binascii.unhexlify(v)
    except (binascii.Error, ValueError):
        raise ToolError(f"{what}: not hex: {value!r}") from None
    if length is not None and len(b) != length:
        raise ToolError(f"{what}: must be {length} bytes ({2 * length} hex digits), got {len(b)}")
    return b


def _key(value: str | None, what: str) -> bytes | None:
    return None if value is None else _hex(value, what, 16)


def _int(value: str, what: str, bits: int) -> int:
    try:
        n = int(value, 0)
    except ValueError:
        raise ToolError(f"{what}: not a number: {value!r}") from None
    if not 0 <= n < (1 << bits):
        raise ToolError(f"{what}: must be 0..{(1 << bits) - 1}")
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lorawan_cmd", metavar="ACTION", required=True)
    d = sub.add_parser("decode", help="decode a PHYPayload (hex) to JSON")
    d.add_argument("phy", metavar="HEX", help="the PHYPayload as captured (hex)")
    d.add_argument("--appkey", help="AppKey: Join-Request MIC, Join-Accept decryption")
    d.add_argument("--nwkskey", help="NwkSKey: data-frame MIC, FPort 0 payload")
    d.add_argument("--appskey", help="AppSKey: application payload")
    d.add_argument("--devnonce", help="DevNonce of the Join-Request a Join-Accept answers: derive session keys")
    d.add_argument("--fcnt-msb", default="0", help="upper 16 bits of the 32-bit frame counter (default 0)")
    b = sub.add_parser("build", help="build a frame from fields and keys")
    bsub = b.add_subparsers(dest="frame", metavar="FRAME", required=True)
    j = bsub.add_parser("join-request", help="a Join-Request")
    j.add_argument("--joineui", required=True)
    j.add_argument("--deveui", required=True)
    j.add_argument("--devnonce", required=True)
    j.add_argument("--appkey", required=True)
    f = bsub.add_parser("data", help="a data frame")
    f.add_argument("--devaddr", required=True, help="DevAddr (8 hex digits, as printed)")
    f.add_argument("--fcnt", required=True, help="32-bit frame counter")
    f.add_argument("--port", default="1", help="FPort 0..223 (default 1); -1: no FPort")
    f.add_argument("--payload", default="", help="plaintext FRMPayload (hex)")
    f.add_argument("--fopts", default="", help="FOpts MAC commands (hex, at most 15 bytes)")
    f.add_argument("--nwkskey", required=True)
    f.add_argument("--appskey", required=True)
    f.add_argument("--confirmed", action="store_true")
    f.add_argument("--down", action="store_true", help="a downlink (network -> device)")
    f.add_argument("--adr", action="store_true")
    f.add_argument("--ack", action="store_true")


def _mods() -> tuple[Any, Any, Any]:
    from ..lorawan import load

    return load("lorawan_frames"), load("lorawan_crypto"), load("lorawan_network")


def _join() -> Any:
    from ..lorawan import load

    return load("lorawan_join")


def decode(phy: bytes, appkey: bytes | None = None, nwkskey: bytes | None = None, appskey: bytes | None = None,
           devnonce: int | None = None, fcnt_msb: int = 0) -> dict[str, Any]:
    fr, crypto, net = _mods()
    if not phy:
        raise ToolError("frame too short: empty")
    mtype = phy[0] >> 5
    out: dict[str, Any] = {"mtype": net.MTYPE_NAMES[mtype], "major": phy[0] & 3, "length": len(phy)}
    try:
        if mtype == fr.JOIN_REQUEST:
            je, de, dn, _ = net.parse_join_request(phy)
            out.update(join_eui=je.hex(), dev_eui=de.hex(), dev_nonce=dn, mic=phy[-4:].hex(), mic_ok=None)
            if appkey:
                out["mic_ok"] = net.join_request_mic_ok(phy, crypto.Cmac(appkey))
        elif mtype == fr.JOIN_ACCEPT:
            if len(phy) not in (17, 33):
                raise ToolError(f"frame too short: a Join-Accept has 17 or 33 bytes, got {len(phy)}")
            out["encrypted"] = phy[1:].hex()
            if appkey:
                cm = crypto.Cmac(appkey)
                try:
                    ja = _join().open_join_accept(phy, cm.aes, cm)
                    out["mic_ok"] = True
                except fr.MicError:
                    out["mic_ok"] = False
                    return out
                out.update(join_nonce="%06x" % ja.join_nonce, net_id="%06x" % ja.net_id, dev_addr="%08x" % ja.dev_addr,
                           rx1_dr_offset=ja.rx1_dr_offset, rx2_dr=ja.rx2_dr, rx_delay_s=ja.rx_delay_s,
                           cflist=ja.cflist.hex() if ja.cflist else None)
                if devnonce is not None:
                    nwk, app = _join().session_keys(cm.aes, ja.join_nonce, ja.net_id, devnonce)
                    out.update(nwk_skey=nwk.hex(), app_skey=app.hex())
        elif mtype in (fr.UNCONFIRMED_UP, fr.UNCONFIRMED_DOWN, fr.CONFIRMED_UP, fr.CONFIRMED_DOWN):
            f = fr.parse_data(phy)
            fcnt = (fcnt_msb << 16) | f.fcnt16
            down = f.direction == fr.DOWN
            out.update(
                direction="down" if down else "up", dev_addr="%08x" % f.dev_addr,
                fctrl={"adr": bool(f.fctrl & fr.FCTRL_ADR), "ack": bool(f.fctrl & fr.FCTRL_ACK),
                       ("fpending" if down else "adr_ack_req"): bool(f.fctrl & (fr.FCTRL_FPENDING if down
                                                                                else fr.FCTRL_ADRACKREQ)),
                       "fopts_len": f.fopts_len},
                fcnt=f.fcnt16, fcnt32=fcnt, fopts=phy[8:8 + f.fopts_len].hex(), fport=None if f.port < 0 else f.port,
                frm_payload=phy[f.payload_start:f.payload_start + f.payload_len].hex(), payload=None,
                mic=phy[-4:].hex(), mic_ok=None,
            )
            if nwkskey:
                out["mic_ok"] = fr.data_mic_ok(phy, len(phy), f, crypto.Cmac(nwkskey), bytearray(16 + 256), fcnt)
            key = nwkskey if f.port == 0 else appskey
            if key and f.payload_len:
                buf = bytearray(phy)
                crypto.FrameCipher(key).crypt(buf, f.payload_start, f.payload_len, f.direction, f.dev_addr, fcnt)
                out["payload"] = bytes(buf[f.payload_start:f.payload_start + f.payload_len]).hex()
        else:
            out["note"] = "no LoRaWAN 1.0.4 Class A layout for this message type"
    except fr.FrameError as e:
        raise ToolError(str(e)) from None
    return out


def build_join_request(joineui: bytes, deveui: bytes, devnonce: int, appkey: bytes) -> bytes:
    _, crypto, _ = _mods()
    buf = bytearray(23)
    _join().build_join_request(buf, joineui, deveui, devnonce, crypto.Cmac(appkey))
    return bytes(buf)


def build_data(devaddr: int, fcnt: int, port: int, payload: bytes, fopts: bytes, nwkskey: bytes, appskey: bytes,
               *, confirmed: bool = False, down: bool = False, adr: bool = False, ack: bool = False) -> bytes:
    fr, crypto, _ = _mods()
    if down:
        mtype = fr.CONFIRMED_DOWN if confirmed else fr.UNCONFIRMED_DOWN
    else:
        mtype = fr.CONFIRMED_UP if confirmed else fr.UNCONFIRMED_UP
    fctrl = (fr.FCTRL_ADR if adr else 0) | (fr.FCTRL_ACK if ack else 0)
    buf = bytearray(fr.MAX_PHY)
    try:
        n = fr.build_data(buf, mtype, devaddr, fctrl, fcnt, fopts, len(fopts), port, payload,
                          crypto.FrameCipher(nwkskey if port == 0 else appskey), crypto.Cmac(nwkskey),
                          bytearray(16 + fr.MAX_PHY))
    except fr.FrameError as e:
        raise ToolError(str(e)) from None
    return bytes(buf[:n])


def run(args: argparse.Namespace) -> int:
    if args.lorawan_cmd == "decode":
        out = decode(_hex(args.phy, "PHYPayload"), _key(args.appkey, "AppKey"), _key(args.nwkskey, "NwkSKey"),
                     _key(args.appskey, "AppSKey"),
                     None if args.devnonce is None else _int(args.devnonce, "DevNonce", 16),
                     _int(args.fcnt_msb, "--fcnt-msb", 16))
        print(json.dumps(out, indent=2))
        return 0
    if args.frame == "join-request":
        phy = build_join_request(_hex(args.joineui, "JoinEUI", 8), _hex(args.deveui, "DevEUI", 8),
                                 _int(args.devnonce, "DevNonce", 16), _hex(args.appkey, "AppKey", 16))
    else:
        port = int(args.port) if args.port.lstrip("-").isdigit() else -2
        if not -1 <= port <= 223:
            raise ToolError(f"--port: must be -1..223, got {args.port!r}")
        fopts = _hex(args.fopts, "FOpts")
        if len(fopts) > 15:
            raise ToolError(f"FOpts: at most 15 bytes, got {len(fopts)}")
        phy = build_data(int.from_bytes(_hex(args.devaddr, "DevAddr", 4), "big"), _int(args.fcnt, "FCnt", 32), port,
                         _hex(args.payload, "payload"), fopts, _hex(args.nwkskey, "NwkSKey", 16),
                         _hex(args.appskey, "AppSKey", 16), confirmed=args.confirmed, down=args.down, adr=args.adr,
                         ack=args.ack)
    print(phy.hex())
    return 0
