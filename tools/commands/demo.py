"""``trosmart demo``: the whole chain on this machine, live, in the first five minutes."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

NAME = "demo"
HELP = "run three virtual nodes, the simulated network server, mosquitto, the bridge and the portal with a live view"
DESCRIPTION = """\
Runs the whole TroSmart chain on this machine: three virtual nodes (air quality, water level and
parking profiles) run the real firmware on the MicroPython Unix port and talk AT to emulated
RAK3172 modems; a simulated ChirpStack v4 publishes their uplinks on a local mosquitto
(127.0.0.1 only); the bridge decodes them and publishes SenML on the city topics
(trosmart/v1/{deveui}/senml, retained trosmart/v1/{deveui}/{quantity}). The view shows per node
the decoded values, the last uplink, the airtime used and the battery, and the SenML that landed.
On a terminal it redraws in place; piped, it prints one line per event.
The portal (trosmart portal) consumes the city topics too: its address is printed at start
(http://127.0.0.1:8080/ unless that port is taken): a map, charts and downloads of the nodes.
Ctrl-C (or SIGTERM, or closing the terminal: SIGHUP) stops everything; no process is left running."""

DEFAULT_TIME_SCALE = 60.0
DEFAULT_INTERVAL_S = 300
REDRAW_S = 0.25


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--time-scale", type=float, default=DEFAULT_TIME_SCALE, metavar="X",
                   help="virtual time runs X times faster than real time while nodes sleep (default %(default)g)")
    p.add_argument("--interval", type=int, default=DEFAULT_INTERVAL_S, metavar="S",
                   help="measurement interval of the nodes in virtual seconds, 10..86400 (default %(default)s)")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop by itself after S real seconds (default: run until Ctrl-C)")
    p.add_argument("--lines", action="store_true",
                   help="print one line per event even on a terminal (the default when stdout is not a TTY)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep flash images, bridge state and demo.log here (default: a temporary folder, removed)")


def run(args: argparse.Namespace) -> int:
    from ..demo.fleet import PREFIX, Fleet, default_workdir
    from ..demo.portal import FLEET_ACCOUNT, DemoPortal
    from ..demo.view import Screen
    from ..errors import ToolError

    if args.time_scale <= 0:
        raise ToolError("--time-scale must be > 0")
    if not 10 <= args.interval <= 86400:
        raise ToolError("--interval must be 10..86400 virtual seconds (the firmware's interval_s range)")
    own_dir = args.workdir is None
    workdir = default_workdir() if own_dir else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # SIGHUP: the terminal was closed; stop everything as for Ctrl-C (mosquitto would
    # only reload its configuration on the SIGHUP it gets too, and go on running)
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    fleet = Fleet(workdir, speedup=args.time_scale, interval_s=args.interval)
    screen = Screen(fleet.state, tty=False if args.lines else None)
    portal = DemoPortal(workdir, PREFIX)
    started = time.monotonic()
    try:
        try:
            fleet.start(progress=lambda s: print(s, flush=True))
        except ToolError:
            if stop.is_set():  # Ctrl-C reached the children while they started: not an error
                return 130
            raise
        assert fleet.broker is not None
        if not stop.is_set():
            print("demo: starting the portal (trosmart portal)", flush=True)
            url = portal.start(fleet.broker.host, fleet.broker.port, abort=stop.is_set)
            if url:
                print(f"demo: portal on {url} (map, charts, downloads; open it in a browser)", flush=True)
                print(f"demo: fleet view on {url}en/fleet/ (account {FLEET_ACCOUNT}, its password is in "
                      f"{portal.password_file})", flush=True)
                with fleet.state.lock:
                    fleet.state.log(f"portal: {url}")
        screen.open()
        while not stop.wait(REDRAW_S):
            fleet.poll()
            if not portal.alive() and not stop.is_set():
                raise ToolError(f"the portal exited; see {workdir / 'portal.log'}")
            screen.draw()
            if args.duration is not None and time.monotonic() - started >= args.duration:
                break
    finally:
        screen.close()
        print("demo: stopping nodes, modems, bridge, network server and broker", flush=True)
        portal.stop()
        fleet.stop()
        for s, h in old.items():
            signal.signal(s, h)
        st = fleet.state
        print(f"demo: {sum(r.uplinks for r in st.rows)} uplinks, {st.city_messages} SenML packs on the city "
              f"topics, {st.deadletters} dead letters; everything stopped", flush=True)
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"demo: log and state kept in {workdir}", file=sys.stderr)
    return 0
