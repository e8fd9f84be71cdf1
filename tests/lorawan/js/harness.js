// lora-packet (npm, pinned in package.json) as an independent LoRaWAN implementation for
// tests/lorawan: one JSON request per stdin line, one JSON answer per stdout line.
// Quirk (lora-packet 0.9.3 crypto.js/mic.js): FCntMSBytes is appended after the reversed
// 16-bit FCnt, so it must be the counter's upper two bytes in wire (little-endian) order.
"use strict";
const lp = require("lora-packet");
const readline = require("readline");

const hex = (s) => Buffer.from(s || "", "hex");
const msb = (fcnt) => { const b = Buffer.alloc(2); b.writeUInt16LE((fcnt >>> 16) & 0xffff, 0); return b; };

function handle(r) {
  if (r.op === "decode_data") {
    const p = lp.fromWire(hex(r.phy));
    const m = msb(r.fcnt32);
    return {
      mtype: p.getMType(), dir: p.getDir(), devaddr: p.DevAddr.toString("hex"), fcnt: p.getFCnt(),
      fctrl: p.FCtrl.toString("hex"), fopts: p.FOpts.toString("hex"), fport: p.getFPort(),
      mic_ok: lp.verifyMIC(p, hex(r.nwk), undefined, m),
      payload: p.FRMPayload && p.FRMPayload.length ? lp.decrypt(p, hex(r.app), hex(r.nwk), m).toString("hex") : "",
    };
  }
  if (r.op === "build_data") {
    const f = {
      MType: r.mtype, DevAddr: hex(r.devaddr), FCnt: r.fcnt32 & 0xffff, FPort: r.fport, payload: hex(r.payload),
      FCtrl: { ADR: r.adr, ACK: r.ack, ADRACKReq: r.adrackreq, FPending: r.fpending }, FOpts: hex(r.fopts),
    };
    return { phy: lp.fromFields(f, hex(r.app), hex(r.nwk), undefined, msb(r.fcnt32)).getPHYPayload().toString("hex") };
  }
  if (r.op === "decode_join_request") {
    const p = lp.fromWire(hex(r.phy));
    return { joineui: p.AppEUI.toString("hex"), deveui: p.DevEUI.toString("hex"),
      devnonce: p.DevNonce.toString("hex"), mic_ok: lp.verifyMIC(p, undefined, hex(r.appkey)) };
  }
  if (r.op === "build_join_request") {
    const p = lp.fromFields({ MType: "Join Request", AppEUI: hex(r.joineui), DevEUI: hex(r.deveui),
      DevNonce: hex(r.devnonce) }, undefined, undefined, hex(r.appkey));
    return { phy: p.getPHYPayload().toString("hex") };
  }
  if (r.op === "build_join_accept") {
    const f = { MType: "Join Accept", AppNonce: hex(r.joinnonce), NetID: hex(r.netid), DevAddr: hex(r.devaddr),
      DLSettings: r.dlsettings, RxDelay: r.rxdelay };
    if (r.cflist) f.CFList = hex(r.cflist);
    return { phy: lp.fromFields(f, undefined, undefined, hex(r.appkey)).getPHYPayload().toString("hex") };
  }
  if (r.op === "decode_join_accept") {
    const p = lp.fromWire(lp.decryptJoinAccept(lp.fromWire(hex(r.phy)), hex(r.appkey)));
    const k = lp.generateSessionKeys10(hex(r.appkey), p.NetID, p.AppNonce, hex(r.devnonce));
    return { joinnonce: p.AppNonce.toString("hex"), netid: p.NetID.toString("hex"), devaddr: p.DevAddr.toString("hex"),
      dlsettings: p.DLSettings.readUInt8(0), rxdelay: p.RxDelay.readUInt8(0),
      cflist: p.CFList ? p.CFList.toString("hex") : "", mic_ok: lp.verifyMIC(p, undefined, hex(r.appkey)),
      nwkskey: k.NwkSKey.toString("hex"), appskey: k.AppSKey.toString("hex") };
  }
  throw new Error("unknown op " + r.op);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  let out;
  try { out = handle(JSON.parse(line)); } catch (e) { out = { error: String(e.message || e) }; }
  process.stdout.write(JSON.stringify(out) + "\n");
});
