"""The exported codec package: JSON Schemas hold for every decoded corpus frame, examples and
the TTN YAML equal what the generated JavaScript returns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.interop.conftest import NodeSession  # the fixture skips/fails without node
from trosmart_tools.codec_js import package, reference
from trosmart_tools.codec_js.node import NodeCodec
from trosmart_tools.corpus import same_json


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pkg")
    package.export(out)
    return out


def test_package_files_and_determinism(pkg: Path, tmp_path: Path) -> None:
    names = {"index.js", "metadata.json", "examples.json", "uplink.schema.json", "downlink.schema.json",
             package.YAML_NAME}
    assert {p.name for p in pkg.iterdir()} == names
    package.export(tmp_path)
    for n in names:
        assert (pkg / n).read_bytes() == (tmp_path / n).read_bytes(), n
    meta = json.loads((pkg / "metadata.json").read_text())
    assert meta["sizeBytes"] == len((pkg / "index.js").read_bytes()) < 40 * 1024


def test_schemas_accept_every_decoded_corpus_frame(pkg: Path) -> None:
    up = json.loads((pkg / "uplink.schema.json").read_text())
    down = json.loads((pkg / "downlink.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(up)
    jsonschema.Draft202012Validator.check_schema(down)
    uv, dv = jsonschema.Draft202012Validator(up), jsonschema.Draft202012Validator(down)
    checked = 0
    for ex in json.loads((pkg / "examples.json").read_text()):
        data = ex["output"].get("data")
        if data is None:
            continue
        if ex["type"].startswith("uplink"):
            uv.validate(data)
        elif ex["type"] == "downlink-decode":
            dv.validate(data)
        else:
            dv.validate(ex["input"]["data"])
        checked += 1
    assert checked >= 100


def test_schemas_reject_wrong_data(pkg: Path) -> None:
    uv = jsonschema.Draft202012Validator(json.loads((pkg / "uplink.schema.json").read_text()))
    dv = jsonschema.Draft202012Validator(json.loads((pkg / "downlink.schema.json").read_text()))
    from payload_codec import encode

    d = reference.uplink(1, encode({"temperature": 21.4, "humidity": 50, "co2": 400, "battery_level": 90}))["data"]
    uv.validate(d)
    d["samples"][0]["values"]["temperature"] = 400.0  # above the registry's 100 Cel
    assert not uv.is_valid(d)
    assert not dv.is_valid({"set_interval_s": 5}) and not dv.is_valid({"enable": ["nope"]})


def test_examples_and_yaml_equal_the_javascript(pkg: Path, node: NodeSession) -> None:
    exs = json.loads((pkg / "examples.json").read_text())
    fn = {"uplink": "decodeUplink", "uplink-lpp": "decodeLppUplink", "downlink-decode": "decodeDownlink",
          "downlink-encode": "encodeDownlink"}
    with NodeCodec(pkg / "index.js") as js:
        answers = js.call_many([{"fn": fn[e["type"]], "input": e["input"]} for e in exs])
    for e, a in zip(exs, answers, strict=True):
        assert same_json(e["output"], a), (e["description"], a)
    doc = yaml.safe_load((pkg / package.YAML_NAME).read_text())
    assert set(doc) == {"uplinkDecoder", "downlinkEncoder", "downlinkDecoder"}
    # the Device Repository wants 1..256 payload bytes per example: empty frames stay in examples.json
    ups = [e for e in exs if e["type"] == "uplink" and e["input"]["bytes"]]
    assert any(e["type"] == "uplink" and not e["input"]["bytes"] for e in exs)
    assert doc["uplinkDecoder"]["fileName"] == "index.js"
    assert [x["output"] for x in doc["uplinkDecoder"]["examples"]] == [e["output"] for e in ups]
    assert len(doc["downlinkEncoder"]["examples"]) >= 5


def test_export_js_command(tmp_path: Path, node: NodeSession) -> None:
    cli = [sys.executable, "-m", "trosmart_tools.cli", "codec", "export-js"]
    out = subprocess.run([*cli, "--out", str(tmp_path / "p"), "--lpp-fport", "99"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "index.js" in out.stdout
    meta = json.loads((tmp_path / "p" / "metadata.json").read_text())
    assert meta["fPorts"]["cayenneLpp"] == [99]
    with NodeCodec(tmp_path / "p" / "index.js") as js:
        got = js.call_many([{"fn": "decodeUplink", "input": {"bytes": [3, 0x67, 1, 0x10], "fPort": 99}},
                            {"fn": "decodeUplink", "input": {"bytes": [3, 0x67, 1, 0x10], "fPort": 98}}])
    assert got[0]["data"]["senml"] == [{"n": "temperature/3", "u": "Cel", "v": 27.2}]
    assert got[1]["errors"] == ["DecodeError: fPort 98 carries no TroSmart uplink (measurement 1, status 2, "
                                "layout 3)"]
    bad = subprocess.run([*cli, "--out", str(tmp_path / "q"), "--lpp-fport", "0"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "1..223" in bad.stderr and "Traceback" not in bad.stderr
