"""Host-side parsers and plans of the device package, against hostile and random input."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trosmart_tools.device import mpremote, selftest, stage, sync
from trosmart_tools.device.errors import DeviceError

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
                           max_leaves=20)


@given(st.dictionaries(st.sampled_from(["firmware", "sensors", "keys", "free", "config_errors", "modem", "modem_ok",
                                        "board", "board_error", "error"]) | st.text(), json_values))
def test_selftest_judge_never_raises_and_fails_safe(report: dict) -> None:
    res = selftest.judge(report)
    res.lines()
    if not res.passed:
        assert res.failures
    else:  # a pass needs every proof
        r = res.report
        assert r["modem_ok"] and all(r["keys"].get(k) for k in ("deveui", "appeui", "appkey"))
        assert all(v == "ok" for v in r["sensors"].values()) and not r["config_errors"]


@given(st.text())
def test_results_raise_only_device_errors(text: str) -> None:
    with contextlib.suppress(DeviceError):
        mpremote.results(text)


def test_results_reads_marker_lines() -> None:
    out = "cp a :a.tmp\n@@TROSMART {\"a\": 1}\nnoise @@TROSMART [2]\n"
    assert mpremote.results(out) == [{"a": 1}, [2]]
    with pytest.raises(DeviceError, match="unreadable answer"):
        mpremote.results("@@TROSMART {broken")


names = st.sampled_from(["main.py", "boot.py", "config.json", "secrets.json", "applied.json", "lib/node.mpy",
                         "lib/node.py", "lib/payload_codec/frame.mpy", "lib/old.mpy", "lib/node.mpy.tmp",
                         "main.py.tmp", "data/log.txt"])
hashes = st.sampled_from(["a", "b"])


@given(st.dictionaries(names.filter(lambda n: not n.endswith(".tmp")), hashes), st.dictionaries(names, hashes))
def test_plan_copies_what_differs_main_last_and_keeps_user_files(wanted: dict, have: dict) -> None:
    p = sync.plan(wanted, have)
    assert set(p.copy) == {f for f in wanted if have.get(f) != wanted[f]}
    if "main.py" in p.copy:
        assert p.copy[-1] == "main.py"
    for f in p.remove:
        assert f.endswith(".tmp") or (f.startswith("lib/") and f not in wanted)
    assert "applied.json" not in p.remove and "data/log.txt" not in p.remove  # the node's own files stay
    for f in p.copy:
        for i in range(1, f.count("/") + 1):
            assert "/".join(f.split("/")[:i]) in p.dirs


def test_copy_verifies_then_renames_main_last(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "lib").mkdir()
    (tmp_path / "main.py").write_text("print(1)\n")
    (tmp_path / "lib" / "a.mpy").write_bytes(bytes(range(256)) * 30)  # three chunks
    p = sync.plan({"main.py": "x", "lib/a.mpy": "y"}, {})
    execs = [c[1] for c in sync.commands(tmp_path, p) if c[0] == "exec"]
    writes = [e for e in execs if "a2b_base64" in e]
    assert len(writes) == 4 and sum("'wb'" in e for e in writes) == 2
    verify = next(i for i, e in enumerate(execs) if "is damaged" in e)
    renames = [i for i, e in enumerate(execs) if "os.rename" in e]
    assert verify > max(execs.index(e) for e in writes) and renames and min(renames) > verify
    assert json.dumps(["lib/a.mpy"]) in execs[renames[0]] and json.dumps(["main.py"]) in execs[renames[-1]]


@pytest.mark.parametrize(("value", "expect"), [(2822, (6, 3, "x64")), (6 | (3 << 8) | (10 << 10), (6, 3, "xtensawin")),
                                               (5, (5, 0, None))])
def test_decode_sys_mpy(value: int, expect: tuple) -> None:
    assert stage.decode_sys_mpy(value) == expect
