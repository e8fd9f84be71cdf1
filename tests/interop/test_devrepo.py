"""``trosmart codec export-ttn``: the vendor tree passes every rule of TheThingsNetwork/
lorawan-devices' validation (devrepo_rules.py, docs/references.md §I.2.3) and its prettier 2
format check, and each rule really rejects what it should."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from payload_codec import registry
from tests.conftest import _missing
from tests.interop import devrepo_rules
from trosmart_tools.codec_js import devrepo, generate
from trosmart_tools.codec_js.node import NodeCodec, find_node
from trosmart_tools.errors import ToolError

PRETTIER = Path(__file__).resolve().parent / "node_modules" / ".bin" / "prettier"
CLI = [sys.executable, "-m", "trosmart_tools.cli"]
VID = "trosmart"


def node_runner(codec: Path, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    with NodeCodec(codec) as js:
        return js.call_many([{"fn": fn, "input": inp} for fn, inp in calls])


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        find_node()
    except ToolError as e:
        _missing("node", e)
    out = tmp_path_factory.mktemp("ttn")
    devrepo.export_ttn(out, VID)
    return out


@pytest.fixture
def copy(tree: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "tree"
    shutil.copytree(tree, dst)
    return dst


def _prettier(root: Path) -> subprocess.CompletedProcess[str]:
    if not PRETTIER.exists():
        _missing("prettier", "tests/interop/node_modules lacks prettier: run make setup (npm ci)")
    # the repository's root .prettierrc (docs/references.md §I.2.3)
    (root / ".prettierrc").write_text(json.dumps({"printWidth": 200, "singleQuote": True}), encoding="utf-8")
    return subprocess.run([str(PRETTIER), "--check", "vendor/**/*.yaml"], cwd=root, capture_output=True,
                          text=True, timeout=120)


def test_export_passes_every_rule_with_its_examples_run(tree: Path) -> None:
    assert devrepo_rules.problems(tree, node_runner) == []
    codec = yaml.safe_load((tree / "vendor" / VID / "trosmart-codec.yaml").read_text())
    runs = sum(len(codec[s]["examples"]) for s, _ in devrepo_rules.ROUTINES)
    assert runs >= 100
    assert all(e["input"]["bytes"] for s in ("uplinkDecoder", "downlinkDecoder") for e in codec[s]["examples"])


def test_export_has_one_device_per_node_type_and_one_profile_per_radio(tree: Path) -> None:
    folder = tree / "vendor" / VID
    index = yaml.safe_load((folder / "index.yaml").read_text())
    assert index["endDevices"] == [n.stem for n in devrepo.NODE_TYPES]
    for node in devrepo.NODE_TYPES:
        dev = yaml.safe_load((folder / f"{node.stem}.yaml").read_text())
        assert dev["sensors"] == devrepo.sensors_of(node)
        assert {p["id"] for fw in dev["firmwareVersions"] for p in fw["profiles"].values()} == \
            {r.stem for r in devrepo.RADIOS}
    assert sorted(p.stem for p in folder.glob("*-eu868.yaml")) == sorted(r.stem for r in devrepo.RADIOS)


def test_prettier_2_accepts_every_yaml_file(copy: Path) -> None:
    out = _prettier(copy)
    assert out.returncode == 0, out.stdout + out.stderr


def test_prettier_check_rejects_another_layout(copy: Path) -> None:
    p = copy / "vendor" / VID / "index.yaml"
    p.write_text(p.read_text().replace("'", '"'), encoding="utf-8")
    out = _prettier(copy)
    assert out.returncode != 0 and "index.yaml" in out.stdout + out.stderr


def test_export_is_deterministic(tree: Path, tmp_path: Path) -> None:
    devrepo.export_ttn(tmp_path, VID)
    for p in tree.rglob("*"):
        if p.is_file() and p.name != ".prettierrc":
            assert (tmp_path / p.relative_to(tree)).read_bytes() == p.read_bytes(), p


def _edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    obj = yaml.safe_load(path.read_text())
    change(obj)
    path.write_text(yaml.safe_dump(obj, sort_keys=False), encoding="utf-8")


def _first_device(root: Path) -> Path:
    return root / "vendor" / VID / (devrepo.NODE_TYPES[0].stem + ".yaml")


def _codec(root: Path) -> Path:
    return root / "vendor" / VID / "trosmart-codec.yaml"


def _empty_payload(root: Path) -> None:
    _edit_yaml(_codec(root), lambda c: c["uplinkDecoder"]["examples"][0]["input"].update(bytes=[]))


def _wrong_output(root: Path) -> None:
    _edit_yaml(_codec(root), lambda c: c["uplinkDecoder"]["examples"][0]["output"].update(warnings=["x"]))


def _vendor_in_name(root: Path) -> None:
    _edit_yaml(_first_device(root), lambda d: d.update(name="TroSmart Air Node"))


def _unknown_sensor(root: Path) -> None:
    _edit_yaml(_first_device(root), lambda d: d["sensors"].append("pm2_5"))


def _bad_identifier(root: Path) -> None:
    _edit_yaml(_first_device(root), lambda d: d["firmwareVersions"][0]["profiles"]["EU863-870"].update(id="RAK_3172"))


def _rp_mismatch(root: Path) -> None:
    _edit_yaml(root / "vendor" / VID / (devrepo.RADIOS[0].stem + ".yaml"),
               lambda p: p.update(regionalParametersVersion="RP002-1.0.1"))


def _hardware_one_sided(root: Path) -> None:
    _edit_yaml(_first_device(root), lambda d: d.pop("hardwareVersions"))


def _photo_is_jpeg(root: Path) -> None:
    p = root / "vendor" / VID / (devrepo.NODE_TYPES[0].stem + ".png")
    Image.new("RGB", (8, 8)).save(p, format="JPEG")


def _photo_too_large(root: Path) -> None:
    Image.new("RGB", (2001, 10)).save(root / "vendor" / VID / (devrepo.NODE_TYPES[0].stem + ".png"), format="PNG")


def _uppercase_file(root: Path) -> None:
    _edit_yaml(_first_device(root), lambda d: d["photos"].update(main="Air.png"))


def _unlisted_vendor(root: Path) -> None:
    (root / "vendor" / "stray").mkdir()


@pytest.mark.parametrize(("break_it", "message"), [
    (_empty_payload, "should be non-empty"),
    (_wrong_output, "does not match"),
    (_vendor_in_name, "contains the vendor id"),
    (_unknown_sensor, "is not one of"),
    (_bad_identifier, "does not match"),
    (_rp_mismatch, "is not one of"),
    (_hardware_one_sided, "hardware versions used in one place"),
    (_photo_is_jpeg, "content is jpg"),
    (_photo_too_large, "over 2000x2000"),
    (_uppercase_file, "photos/main"),
    (_unlisted_vendor, "not listed"),
])
def test_each_rule_rejects_what_it_should(copy: Path, break_it: Callable[[Path], None], message: str) -> None:
    break_it(copy)
    # only a wrong output needs the examples run (node); the other rules are static
    found = devrepo_rules.problems(copy, node_runner if break_it is _wrong_output else None)
    assert any(message in p for p in found), found


def test_every_registry_quantity_has_a_sensor_word_of_the_vocabulary() -> None:
    for row in registry.QUANTITIES:
        words = devrepo.SENSOR_WORDS.get(row[1])
        assert words, f"{row[1]}: add it to devrepo.SENSOR_WORDS"
        assert set(words) <= set(devrepo_rules.SENSOR_VOCABULARY), row[1]


def test_codec_size_within_the_limit_and_the_budget() -> None:
    size = len(generate.render().encode("utf-8"))
    assert size <= generate.MAX_SIZE, f"index.js is {size} bytes, over The Things Stack's {generate.MAX_SIZE}"
    assert size <= generate.BUDGET, f"index.js is {size} bytes, over the generator's budget {generate.BUDGET}"


def test_export_refuses_a_codec_over_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devrepo, "render", lambda *a: "x" * (generate.MAX_SIZE + 1))
    with pytest.raises(ToolError, match="over The Things Stack's 40960-byte limit"):
        devrepo.export_ttn(tmp_path, VID)


def test_cli_exports_and_names_a_bad_vendor_id(tmp_path: Path) -> None:
    ok = subprocess.run([*CLI, "codec", "export-ttn", "--out", str(tmp_path / "x")], capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert re.search(r"codec: \d+ bytes, [\d.]+ % of The Things Stack's 40960-byte limit", ok.stdout)
    assert (tmp_path / "x" / "vendor" / "trosmart" / "trosmart-codec.js").is_file()
    bad = subprocess.run([*CLI, "codec", "export-ttn", "--out", str(tmp_path / "y"), "--vendor-id", "Tro_Smart"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "trosmart: --vendor-id 'Tro_Smart': lowercase letters and digits, single dashes, 3 to 36 characters "
        "(the Device Repository's identifier rule)"]
    assert not (tmp_path / "y").exists()
