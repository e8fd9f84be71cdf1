"""bridge/paho_private.py: the installed paho has every private name the bridge relies on, a
missing one stops the bridge at start with one line naming the paho version, and no other
bridge module uses paho's private names."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from bridge import app, paho_private
from bridge.paho_private import PahoIncompatible

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"
LISTED = {*paho_private.CLIENT_METHODS, *paho_private.CLIENT_ATTRIBUTES, *paho_private.MESSAGE_SLOTS,
          *paho_private.INFO_SLOTS, *paho_private.INFO_METHODS, *paho_private.RECEIVE_TIME}
PRIVATE = {n for n in LISTED if n.startswith("_")}


@pytest.fixture(autouse=True)
def _fresh_check() -> Iterator[None]:
    paho_private.check.cache_clear()
    yield
    paho_private.check.cache_clear()


def test_the_installed_paho_has_every_name() -> None:
    assert paho_private.missing() == []
    assert paho_private.check() == paho_private.paho_version()
    # make test's second run sets this: the lowest release of the pin is the one imported
    expected = os.environ.get("TROSMART_PAHO_EXPECT")
    if expected:
        assert paho_private.paho_version() == expected


def _init_without(*attrs: str) -> object:
    init = paho.Client.__init__

    def patched(self: paho.Client, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        for a in attrs:
            if hasattr(self, a):
                delattr(self, a)

    return patched


@pytest.mark.parametrize(("remove", "named"), [
    (lambda mp: mp.delattr(paho.Client, "_packet_handle"), "Client._packet_handle()"),
    (lambda mp: mp.setattr(paho.Client, "_send_puback", lambda self, packet_id: None),
     "Client._send_puback(mid)"),
    (lambda mp: mp.setattr(paho.MQTTMessageInfo, "__slots__", ("mid", "rc")),
     "MQTTMessageInfo._published"),
    (lambda mp: mp.delattr(paho, "mqtt_ms_wait_for_puback"), "paho.mqtt.client.mqtt_ms_wait_for_puback"),
    (lambda mp: mp.setattr(paho.Client, "__init__", _init_without("_out_messages")),
     "Client._out_messages"),
    (lambda mp: mp.setattr(paho.Client, "__init__", _init_without(*paho_private.RECEIVE_TIME)),
     "Client._last_bytes_received or _last_msg_in"),
])
def test_a_missing_name_fails_in_one_line(monkeypatch: pytest.MonkeyPatch, remove: object,
                                          named: str) -> None:
    remove(monkeypatch)  # type: ignore[operator]
    with pytest.raises(PahoIncompatible) as e:
        paho_private.check()
    text = str(e.value)
    assert "\n" not in text and named in text
    assert text.startswith(f"paho-mqtt {paho_private.paho_version()} lacks")


def test_bridge_start_and_check_fail_with_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bridge.toml"
    cfg.write_text(f'[bridge]\nstate_dir = "{tmp_path / "state"}"\n[city]\nport = 1883\n'
                   '[[source]]\nname = "cs"\n')
    monkeypatch.delattr(paho.Client, "_handle_pubackcomp")
    for argv in (["--config", str(cfg)], ["--config", str(cfg), "--check"]):
        paho_private.check.cache_clear()
        assert app.main(argv) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"bridge: paho-mqtt {paho_private.paho_version()} lacks")
        assert "Client._handle_pubackcomp()" in err[0]
    assert not (tmp_path / "state").exists()  # nothing started


def _attributes(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute):
            yield node.lineno, node.attr


def _imports_paho(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import) and any(a.name.startswith("paho") for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("paho"):
            return True
    return False


def test_no_other_bridge_module_uses_a_private_paho_name() -> None:
    """Only mqtt.py (public API) and the adapter import paho; mqtt.py uses no listed name."""
    users = sorted(p.name for p in BRIDGE.glob("*.py") if _imports_paho(p))
    assert users == ["mqtt.py", "paho_private.py"]
    used = [(line, a) for line, a in _attributes(BRIDGE / "mqtt.py")
            if a in PRIVATE or a in paho_private.MODULE_NAMES]
    assert used == []


def test_every_private_name_the_adapter_uses_is_listed() -> None:
    own = set(paho_private.OWN_NAMES)
    unlisted = {a for _, a in _attributes(BRIDGE / "paho_private.py")
                if a.startswith("_") and not a.startswith("__") and a not in PRIVATE | own}
    assert unlisted == set()
