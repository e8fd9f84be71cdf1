"""The node on the virtual board against three RUI3 versions of the emulator (issue 22), and a
bad config.json on the virtual board (issue 11, firmware side): the real firmware under
MicroPython, the RAK3172 emulator, the simulated network server on a real mosquitto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import payload_codec
from trosmart_tools.broker import Mosquitto

from .test_virtual_board import RAMP, image  # noqa: F401 - the module-scoped flashed image
from .virtual_lab import Lab

# before +EVT:TX_DONE (4.0.1: the driver times the RX windows), with it (4.0.5), and the 4.2
# line (new banner, refused joins re-armed by the module)
RUI_VERSIONS = ("4.0.1", "4.0.5", "4.2.1")


@pytest.fixture
def labs(mosquitto: Mosquitto, image: Path, tmp_path: Path) -> Iterator[list[Lab]]:  # noqa: F811
    made: list[Lab] = []
    yield made
    for lab in made:
        lab.close()


def _lab(mosquitto: Mosquitto, flashed: Path, tmp_path: Path, made: list[Lab], config: dict,
         rui: str = "4.0.5") -> Lab:
    from trosmart_tools.virtual_lab.scenario import Scenario

    sc = Scenario(RAMP).save(tmp_path / "scenario.json")
    lab = Lab(mosquitto, flashed, tmp_path / f"node{len(made)}", config=config, scenario=sc, rui=rui)
    made.append(lab)
    return lab


@pytest.mark.parametrize("rui", RUI_VERSIONS)
def test_node_joins_sends_and_answers_a_command(rui: str, mosquitto: Mosquitto, image: Path,  # noqa: F811
                                                tmp_path: Path, labs: list[Lab]) -> None:
    lab = _lab(mosquitto, image, tmp_path, labs, {"interval_s": 30}, rui=rui).start()
    lab.node.wait_for(r"node: sample", count=2, timeout_s=90, fail_on=r"Traceback|runner: reset")
    lab.downlink({"set_interval_s": 20})
    st = lab.events.wait(lambda k, b: k == "up" and b["fPort"] == payload_codec.STATUS
                         and "command_result" in b["decoded"]["status"], what="status reply")
    assert st["decoded"]["status"]["command_result"] == {"command": "set_interval_s", "result": "ok"}
    console = list(lab.node.console)
    assert f"node: RAK3172 firmware RUI_{rui}_RAK3172-E" in console
    assert sum(1 for ln in console if ln == "node: joining") == 1 and lab.emulator.joins_sent == 1
    bad = [ln for ln in console if "modem error" in ln or "send failed" in ln or "ModuleRebooted" in ln]
    assert bad == [], bad  # no timeout for a missing TX_DONE, no false reboot
    assert lab.node.boots[0] == 1 and set(lab.node.boots[1:]) <= {4}  # deep-sleep wakes, no reset


def test_oversize_config_boots_with_defaults_and_says_why(mosquitto: Mosquitto, image: Path,  # noqa: F811
                                                          tmp_path: Path, labs: list[Lab]) -> None:
    lab = _lab(mosquitto, image, tmp_path, labs, {"interval_s": 30})
    # 200 KB of valid JSON: json.load alone exhausts the node's heap (a boot loop before)
    (lab.node.flash / "config.json").write_text('{"board": "virtual", "note": "' + "x" * 200_000 + '"}')
    lab.start()
    st = lab.events.wait(lambda k, b: k == "up" and b["fPort"] == payload_codec.STATUS, what="status")
    assert st["decoded"]["status"]["config_errors"] == ["config.json:size"]
    assert st["decoded"]["status"]["interval_s"] == 600  # the default
    assert lab.node.boots[0] == 1 and set(lab.node.boots[1:]) <= {4}  # deep-sleep wakes, no reset
