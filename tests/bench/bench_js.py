"""Generated TS013 JavaScript codec under node vs the Python decoder, same frames, same run.

Prints decodes/s for both (and the ratio), the worst single JS call against the 100 ms
budget (issue 3), and the size of index.js against The Things Stack's 40 KB limit.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from trosmart_tools.codec_js import reference
from trosmart_tools.codec_js.generate import BUDGET, MAX_SIZE, render
from trosmart_tools.codec_js.node import NodeCodec
from trosmart_tools.corpus import corpus_files, js_request, load

FRAMES = Path(__file__).resolve().parent.parent / "frames"
SECONDS = 2.0


def _frames() -> list[Any]:
    return [f for p in corpus_files([FRAMES]) for f in load(p)[1] if f.dir == "up" and "senml" in f.expect]


def _python_rate(frames: list[Any]) -> float:
    calls = [(f.codec, f.fport, f.data) for f in frames]
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + SECONDS
    while time.perf_counter() < deadline:
        for codec, fport, data in calls:
            if codec == "lpp":
                reference.lpp_uplink(data)
            else:
                reference.uplink(fport, data)
            n += 1
    return n / (time.perf_counter() - t0)


def run(args: list[str]) -> None:
    frames = _frames()
    size = len(render().encode())
    print("index.js: %d bytes (limit %d, %.1f %% used; budget %d, margin %d bytes to the budget, %d to the limit)"
          % (size, MAX_SIZE, 100 * size / MAX_SIZE, BUDGET, BUDGET - size, MAX_SIZE - size))
    reqs = [js_request(f) for f in frames]
    for r in reqs:
        r.pop("recvTime", None)
    with NodeCodec() as js:
        best = None
        for _ in range(3):
            out = js.call_many([{"fn": "bench", "requests": reqs, "seconds": SECONDS}])[0]
            if best is None or out["calls"] / out["seconds"] > best["calls"] / best["seconds"]:
                best = out
    assert best is not None
    js_rate = best["calls"] / best["seconds"]
    py_rate = max(_python_rate(frames) for _ in range(3))
    print("frames: %d valid uplinks from tests/frames (TroSmart + LPP), best of 3 x %.0f s" % (len(frames), SECONDS))
    print("JS under node (vm context): %10.0f decodes/s  (per call: median %.1f us, p99 %.1f us, "
          "worst %.0f us; budget 100 ms)" % (js_rate, best["p50_us"], best["p99_us"], best["worst_us"]))
    print("Python decoder + SenML:     %10.0f decodes/s" % py_rate)
    print("ratio JS/Python: %.2f" % (js_rate / py_rate))
    _quickjs_times(frames)


def _quickjs_times(frames: list[Any]) -> None:
    """Each call as ChirpStack makes it (a fresh QuickJS runtime that compiles the codec)."""
    from trosmart_tools.codec_js import chirpstack_js

    codec = render()
    times = []
    for f in frames:
        if f.codec == "lpp":
            continue
        t0 = time.perf_counter()
        chirpstack_js.call(codec, "decodeUplink", {"bytes": list(f.data), "fPort": f.fport}, f.recv_ms)
        times.append(time.perf_counter() - t0)
    times.sort()
    print("QuickJS as ChirpStack runs it: %d calls, median %.1f ms, worst %.1f ms (limit %.0f ms)"
          % (len(times), 1000 * times[len(times) // 2], 1000 * times[-1], 1000 * chirpstack_js.MAX_EXECUTION_S))
