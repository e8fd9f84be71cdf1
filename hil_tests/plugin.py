"""pytest plugin for the HIL scenarios: ``--target`` picks the board, ``--uplinks`` the network.

    pytest hil_tests                                   # virtual board (default), nothing skips
    pytest hil_tests --target serial:/dev/ttyUSB0 --uplinks mqtts://eu1.cloud.thethings.network:8883/tts

The challenger/target pattern (style.md §13): the board runs the real firmware; the host
deploys it with mpremote, configures it per scenario, and asserts only on what comes out of
the network (``uplinks``) plus the board's console. Without the board named by
``--target serial:...`` every test is skipped with the same reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trosmart_tools.errors import ToolError

from .targets import IN_CI, Node, SerialTarget, VirtualTarget, prompt_operator
from .uplinks import UplinkObserver, UplinkUrlError, parse_url

DEFAULT_SPEEDUP = 100.0


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("hil", "TroSmart hardware-in-the-loop scenarios")
    g.addoption("--target", default="virtual",
                help="'virtual' (default: the firmware on the MicroPython Unix port) or 'serial:/dev/ttyUSB0'")
    g.addoption("--uplinks", default=None,
                help="mqtt[s]://host:port[/chirpstack|/tts]: the LNS integration to watch (virtual default: "
                     "the simulated network server on a mosquitto the plugin starts); credentials from "
                     "TROSMART_MQTT_USERNAME / TROSMART_MQTT_PASSWORD")
    g.addoption("--hil-speedup", type=float, default=DEFAULT_SPEEDUP,
                help="virtual board: sleep runs this many times faster than real time (default 100)")
    g.addoption("--soak-hours", type=float, default=1.0,
                help="real board: hours of the heap soak scenario (the virtual board always runs 24)")


def _secrets_from_env() -> dict[str, str]:
    names = {"deveui": "TROSMART_HIL_DEVEUI", "appeui": "TROSMART_HIL_APPEUI", "appkey": "TROSMART_HIL_APPKEY"}
    missing = [v for v in names.values() if not os.environ.get(v)]
    if missing:
        pytest.fail("a real board needs the keys it is registered with in the LNS: set " + ", ".join(missing))
    return {k: os.environ[v] for k, v in names.items()}


@pytest.fixture(scope="session")
def hil_target(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    spec = str(pytestconfig.getoption("--target"))
    uplinks = pytestconfig.getoption("--uplinks")
    try:
        if spec == "virtual":
            target: VirtualTarget | SerialTarget = VirtualTarget(
                tmp_path_factory.mktemp("hil"), float(pytestconfig.getoption("--hil-speedup")), uplinks)
        elif spec.startswith("serial:"):
            port = spec.partition(":")[2]
            if not Path(port).exists():
                pytest.skip(f"no board at {port}: connect an ESP32 + RAK3172 node (hil_tests/README.md)")
            if not uplinks:
                pytest.fail("--target serial:... needs --uplinks mqtt[s]://host:port/chirpstack|tts of your LNS")
            target = SerialTarget(port, uplinks, _secrets_from_env())
        else:
            raise pytest.UsageError(f"--target {spec!r}: use 'virtual' or 'serial:/dev/ttyUSB0'")
    except ToolError as e:  # mosquitto, micropython, socat or mpremote missing or failing
        if IN_CI or spec == "virtual":
            pytest.fail(f"HIL target {spec}: {e}")
        pytest.skip(f"HIL target {spec}: {e}")
    try:
        yield target
    finally:
        target.close()


@pytest.fixture(scope="session")
def uplinks(hil_target: Any) -> Iterator[UplinkObserver]:
    try:
        obs = UplinkObserver(parse_url(hil_target.uplinks_url)).start()
    except (UplinkUrlError, ConnectionError) as e:
        pytest.fail(str(e))
    try:
        yield obs
    finally:
        obs.stop()


@pytest.fixture
def start_node(hil_target: Any, uplinks: UplinkObserver,
               request: pytest.FixtureRequest) -> Iterator[Callable[..., Node]]:
    """``start_node(config, scenario=None, heapsize=None, speedup=None)``: configure, power on; stopped afterwards."""
    nodes: list[Node] = []
    capman = request.config.pluginmanager.getplugin("capturemanager")

    def start(config: dict, scenario: dict | None = None, heapsize: str | None = None,
              speedup: float | None = None) -> Node:
        name = re.sub(r"\W", "_", request.node.name)[:60] + f"_{len(nodes)}"
        kw: dict[str, Any] = {"scenario": scenario, "heapsize": heapsize, "speedup": speedup}
        if isinstance(hil_target, SerialTarget):
            kw["operator"] = lambda msg: prompt_operator(msg, capman)
        node = hil_target.node(name, config, **kw)
        nodes.append(node)
        uplinks.watch(node.deveui)
        uplinks.clock = node.clock_at
        return node.start()

    yield start
    for n in nodes:
        n.stop()
