// Runs a generated TS013 codec under node for the tests, the corpus runner and the benchmark.
// usage: node harness.js CODEC.js  (JSON lines on stdin -> JSON lines on stdout)
// A request is {"fn": "decodeUplink"|"decodeLppUplink"|"encodeDownlink"|"decodeDownlink",
// "input": {...}, "recvTime": ISO-8601 or null}, or {"fn": "bench", "requests": [...],
// "seconds": S}. The codec runs in a fresh vm context: no require, no process, as on an LNS.
"use strict";
const fs = require("fs");
const vm = require("vm");
const readline = require("readline");

const source = fs.readFileSync(process.argv[2], "utf8");
const ctx = vm.createContext({});
// --es5: remove the built-ins ECMAScript 2015+ added, so a codec using one fails here
// as it would on an ES5.1 runtime (The Things Stack, docs/references.md §I)
const ES5_PRELUDE = `
  ["Map", "Set", "WeakMap", "WeakSet", "Symbol", "Promise", "Proxy", "Reflect", "ArrayBuffer",
   "DataView", "Uint8Array", "Int8Array", "Uint16Array", "Int16Array", "Uint32Array", "Int32Array",
   "Float32Array", "Float64Array", "BigInt", "TextDecoder", "TextEncoder", "globalThis"
  ].forEach(function (n) { delete this[n]; }, this);
  delete Object.assign; delete Object.entries; delete Object.values; delete Array.from;
  delete Array.of; delete Array.prototype.includes; delete Array.prototype.find;
  delete Array.prototype.fill; delete String.prototype.codePointAt; delete String.prototype.padStart;
  delete String.prototype.includes; delete String.prototype.startsWith; delete String.prototype.repeat;
  delete Number.isInteger; delete Number.isFinite; delete Math.trunc; delete Math.sign;
`;
if (process.argv[3] === "--es5") vm.runInContext(ES5_PRELUDE, ctx);
vm.runInContext(source, ctx, { filename: process.argv[2] });
const CtxDate = vm.runInContext("Date", ctx);

function call(req) {
  // inputs are built inside the codec's realm, as an LNS does
  const input = vm.runInContext("(" + JSON.stringify(req.input) + ")", ctx);
  if (req.recvTime) input.recvTime = new CtxDate(req.recvTime);
  return ctx[req.fn](input);
}

function bench(req) {
  const inputs = req.requests.map((r) => [r.fn, vm.runInContext("(" + JSON.stringify(r.input) + ")", ctx)]);
  const deadline = process.hrtime.bigint() + BigInt(Math.round(req.seconds * 1e9));
  let n = 0;
  const t0 = process.hrtime.bigint();
  const fns = inputs.map(([fn]) => ctx[fn]);
  const samples = new Float64Array(1 << 20); // per-call times of the first 2^20 calls
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < inputs.length; i++) {
      const t = process.hrtime.bigint();
      fns[i](inputs[i][1]);
      if (n < samples.length) samples[n] = Number(process.hrtime.bigint() - t) / 1000;
      n++;
    }
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const kept = Array.from(samples.subarray(0, Math.min(n, samples.length))).sort((a, b) => a - b);
  return {
    calls: n, seconds: secs, worst_us: kept[kept.length - 1],
    p99_us: kept[Math.floor(kept.length * 0.99)], p50_us: kept[Math.floor(kept.length * 0.5)],
  };
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const req = JSON.parse(line);
  let out;
  try {
    out = req.fn === "bench" ? bench(req) : call(req);
  } catch (e) {
    out = { thrown: String(e) }; // a TS013 codec must never throw: the tests fail on this
  }
  process.stdout.write(JSON.stringify(out) + "\n");
});
