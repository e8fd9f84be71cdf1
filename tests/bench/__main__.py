"""``make bench``: run every tests/bench/bench_*.py module's ``run(args)`` in turn.

Each benchmark prints its own figures and the ratio against the baseline its issue
names, measured in the same run. ``make bench BENCH_ARGS="codec"`` runs only the
modules whose name contains "codec".
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import tests.bench as pkg


def main(argv: list[str]) -> int:
    wanted = argv[1:]
    names = sorted(i.name for i in pkgutil.iter_modules(pkg.__path__) if i.name.startswith("bench_"))
    failed = 0
    for name in names:
        if wanted and not any(w in name for w in wanted):
            continue
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        mod = importlib.import_module(f"tests.bench.{name}")
        try:
            mod.run(wanted)
        except Exception as e:  # a broken benchmark is reported, the others still run
            failed += 1
            print(f"{name} FAILED: {type(e).__name__}: {e}", flush=True)
        print(f"({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
