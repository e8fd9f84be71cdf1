# The MAC's own frame/crypto code answering the cross-check requests of harness.js (same JSON),
# on CPython (tests/lorawan/conftest.py installs the host AES backend) and on the MicroPython
# Unix port (mpy_lorawan_driver.py, real cryptolib). No CPython-only syntax here.
import binascii

import lorawan_crypto as crypto
import lorawan_frames as fr
import lorawan_join as lj
import lorawan_network as net

_MTYPES = {"Unconfirmed Data Up": 2, "Unconfirmed Data Down": 3, "Confirmed Data Up": 4,
           "Confirmed Data Down": 5}


def _h(s):
    return binascii.unhexlify(s or "")


def _x(b):
    return binascii.hexlify(bytes(b)).decode()


def handle(r):
    op = r["op"]
    if op == "build_data":
        buf = bytearray(fr.MAX_PHY)
        b0 = bytearray(16 + fr.MAX_PHY)
        fctrl = ((fr.FCTRL_ADR if r["adr"] else 0) | (fr.FCTRL_ACK if r["ack"] else 0)
                 | (fr.FCTRL_ADRACKREQ if r["adrackreq"] else 0) | (fr.FCTRL_FPENDING if r["fpending"] else 0))
        fopts = _h(r["fopts"])
        key = r["nwk"] if r["fport"] == 0 else r["app"]
        n = fr.build_data(buf, _MTYPES[r["mtype"]], int(r["devaddr"], 16), fctrl, r["fcnt32"], fopts, len(fopts),
                          r["fport"], _h(r["payload"]), crypto.FrameCipher(_h(key)), crypto.Cmac(_h(r["nwk"])), b0)
        return {"phy": _x(buf[:n])}
    if op == "decode_data":
        phy = _h(r["phy"])
        f = fr.parse_data(phy)
        b0 = bytearray(16 + fr.MAX_PHY)
        fcnt = (r["fcnt32"] & 0xFFFF0000) | f.fcnt16
        ok = fr.data_mic_ok(phy, len(phy), f, crypto.Cmac(_h(r["nwk"])), b0, fcnt)
        buf = bytearray(phy)
        if f.payload_len:
            key = r["nwk"] if f.port == 0 else r["app"]
            crypto.FrameCipher(_h(key)).crypt(buf, f.payload_start, f.payload_len, f.direction, f.dev_addr, fcnt)
        return {"mtype": f.mtype, "devaddr": "%08x" % f.dev_addr, "fcnt": f.fcnt16, "fctrl": "%02x" % f.fctrl,
                "fopts": _x(phy[8:8 + f.fopts_len]), "fport": f.port, "mic_ok": ok,
                "payload": _x(buf[f.payload_start:f.payload_start + f.payload_len])}
    if op == "build_join_request":
        buf = bytearray(23)
        dn = _h(r["devnonce"])
        lj.build_join_request(buf, _h(r["joineui"]), _h(r["deveui"]), (dn[0] << 8) | dn[1],
                              crypto.Cmac(_h(r["appkey"])))
        return {"phy": _x(buf)}
    if op == "decode_join_request":
        phy = _h(r["phy"])
        je, de, dn, _ = net.parse_join_request(phy)
        return {"joineui": _x(je), "deveui": _x(de), "devnonce": "%04x" % dn,
                "mic_ok": net.join_request_mic_ok(phy, crypto.Cmac(_h(r["appkey"])))}
    if op == "decode_join_accept":
        cm = crypto.Cmac(_h(r["appkey"]))
        ja = lj.open_join_accept(_h(r["phy"]), cm.aes, cm)
        dn = _h(r["devnonce"])
        nwk, app = lj.session_keys(cm.aes, ja.join_nonce, ja.net_id, (dn[0] << 8) | dn[1])
        return {"joinnonce": "%06x" % ja.join_nonce, "netid": "%06x" % ja.net_id, "devaddr": "%08x" % ja.dev_addr,
                "dlsettings": ja.dl_settings, "rxdelay": ja.rx_delay, "cflist": _x(ja.cflist or b""),
                "mic_ok": True, "nwkskey": _x(nwk), "appskey": _x(app)}
    raise ValueError("unknown op " + op)


def answer(r):
    try:
        return handle(r)
    except (ValueError, crypto.CryptoError) as e:  # FrameError and MicError are ValueErrors
        return {"error": str(e)}
