"""`trosmart flash` installs the micropython-lib `lora` packages a bare-radio profile needs
(docs/references.md §B 1.1) with mpremote's mip, and says in one line what to do when the
package index cannot be reached. No network: the real mpremote runs against a virtual board
with its downloads sent to a closed local port, and a fake mpremote prints what mpremote 1.29
prints offline (mpremote/mip.py: CommandError("<reason> requesting <url>"), exit 1)."""

from __future__ import annotations

import socket
import stat
import sys
from pathlib import Path

import pytest

from trosmart_tools.device import boards, mpremote, packages, sync
from trosmart_tools.device.errors import PackageIndexUnreachable

from .conftest import Board

BARE_RADIO = {"heltec_v2": "lora-sx127x", "ttgo_lora32": "lora-sx127x", "heltec_v3": "lora-sx126x",
              "rak11200_rak13300": "lora-sx126x"}
OFFLINE_ERR = ("mpremote: [Errno -3] Temporary failure in name resolution requesting "
               "https://micropython.org/pi/v2/package/6/lora/latest.json")


def test_bare_radio_profiles_need_the_lora_api_and_their_driver_and_virtual_boards_none() -> None:
    for name, driver in BARE_RADIO.items():
        assert boards.profile(name).packages == ("lora", "lora-sync", driver), name
    assert boards.profile("virtual_heltec_v3").packages == ()  # the simulated radio is built in
    assert boards.profile("virtual").packages == () == boards.profile("esp32_devkit_rak3172").packages


def test_the_firmware_profiles_list_the_same_packages() -> None:
    src = (Path(__file__).resolve().parents[2] / "firmware" / "lib" / "boards.py").read_text()
    for driver in set(BARE_RADIO.values()):
        assert f'PACKAGES = ("lora-sync", "{driver}")' in src


def test_missing_reads_the_board_files() -> None:
    need = boards.profile("heltec_v3").packages
    assert packages.missing(need, {}) == list(need)
    have = {"lib/lora/__init__.py": "h", "lib/lora/modem.mpy": "h", "lib/lora/sync_modem.mpy": "h"}
    assert packages.missing(need, have) == ["lora-sx126x"]
    assert packages.missing(need, {**have, "lib/lora/sx126x.mpy": "h"}) == []
    assert packages.missing(need, {"lib/sx126x.mpy": "h"}) == list(need)  # not in the package folder
    assert packages.missing((), {}) == []


def test_a_board_with_the_packages_needs_no_mpremote_call() -> None:
    calls: list[list[str]] = []
    have = {f"lib/lora/{m}.mpy": "h" for m in ("__init__", "modem", "sync_modem", "sx127x")}
    assert packages.ensure("/dev/x", "ttgo_lora32", boards.profile("ttgo_lora32").packages, have,
                           run=lambda port, args: calls.append(args) or "") == []
    assert calls == []
    assert packages.ensure("/dev/x", "ttgo_lora32", boards.profile("ttgo_lora32").packages,
                           {"lib/lora/sx127x.mpy": "h"}, run=lambda port, args: calls.append(args) or "") \
        == ["lora", "lora-sync"]
    assert calls == [["mip", "install", "lora", "lora-sync"]]


def test_a_reflash_keeps_the_installed_packages() -> None:
    p = sync.plan({"main.py": "a"}, {"lib/lora/sx126x.mpy": "h", "lib/old.mpy": "h"})
    assert p.remove == ["lib/old.mpy"]


def _fake_mpremote(tmp_path: Path) -> str:
    exe = tmp_path / "mpremote"
    exe.write_text(f"#!{sys.executable}\nimport sys\nif 'mip' in sys.argv:\n"
                   "    print('Install lora')\n    print('Package may be partially installed')\n"
                   f"    print({OFFLINE_ERR!r}, file=sys.stderr)\n    sys.exit(1)\nsys.exit(3)\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe)


def test_offline_gives_one_line_with_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = tmp_path / "ttyUSB0"
    port.touch()
    monkeypatch.setattr(mpremote, "find_mpremote", lambda: _fake_mpremote(tmp_path))
    with pytest.raises(PackageIndexUnreachable) as e:
        packages.ensure(str(port), "heltec_v3", boards.profile("heltec_v3").packages, {})
    msg = str(e.value)
    assert "\n" not in msg
    assert "lora, lora-sync, lora-sx126x" in msg and "Temporary failure in name resolution" in msg
    assert "connect this computer to the internet and run the same command again" in msg
    assert f"mpremote connect {port} mip install lora lora-sync lora-sx126x" in msg


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it is closed


def test_real_mpremote_without_an_index_on_a_board(board: Board, monkeypatch: pytest.MonkeyPatch) -> None:
    # mip downloads on the host with urllib, which honours https_proxy: a closed local port is
    # an unreachable index without touching the network
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    proxy = f"http://127.0.0.1:{_closed_port()}"
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, proxy)
    with pytest.raises(PackageIndexUnreachable) as e:
        packages.ensure(board.port, "heltec_v3", boards.profile("heltec_v3").packages, {})
    msg = str(e.value)
    assert "\n" not in msg and "micropython.org" in msg and "run the same command again" in msg
    assert not any(p.name == "lora" for p in board.flash.rglob("*"))  # nothing half-installed
