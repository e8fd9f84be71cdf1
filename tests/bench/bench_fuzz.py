"""The full live fuzz run of issue 11: 1,000,000 messages mutated from ChirpStack/TTS messages
and random ones, on random source and city topics, through mosquitto into the bridge, then
10,000 normal uplinks (tests/bridge/fuzz.py; ``make bench BENCH_ARGS=fuzz``). Prints the
accounting (every delivered message once, by outcome), the dead-letter reasons and peak RSS."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.bridge import fuzz

N_FUZZ = 1_000_000
N_NORMAL = 10_000


def run(_args: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="trosmart-fuzz-") as tmp:
        rep = fuzz.run(Path(tmp), N_FUZZ, N_NORMAL, progress=True)
    for line in rep.lines():
        print(line)
