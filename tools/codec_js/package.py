"""The complete codec package (docs/references.md §I): index.js, metadata.json, examples.json,
uplink.schema.json, downlink.schema.json and a TTN device-repository codec YAML.

Examples come from the corpus (tests/frames), their outputs from the Python reference,
so a package never documents an output the bridge would not give.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import payload_codec
from payload_codec import downlink, registry

from .. import corpus
from . import reference
from .generate import MAX_SIZE, render

CORPUS_DIR = Path(__file__).resolve().parent.parent.parent / "tests" / "frames"
SENML_NAME = "^[A-Za-z0-9][A-Za-z0-9:./_-]*$"  # RFC 8428 §4.5.1 name characters
YAML_NAME = "trosmart-codec.yaml"


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _quantity_value_schema(row: tuple) -> dict[str, Any]:
    if row[7] == registry.BOOL:
        return {"type": ["boolean", "null"]}
    lo = row[3] * row[5] / row[6] if row[6] != 1 else row[3] * row[5]
    hi = row[4] * row[5] / row[6] if row[6] != 1 else row[4] * row[5]
    return {"type": ["number", "null"], "minimum": lo, "maximum": hi}


def _senml_schema() -> dict[str, Any]:
    return {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["n"],
            "additionalProperties": False,
            "properties": {
                "n": {"type": "string", "pattern": SENML_NAME},
                "u": {"type": "string"},
                "v": {"type": "number"},
                "vs": {"type": "string"},
                "vb": {"type": "boolean"},
                "t": {"type": "number", "maximum": 0},
                "bt": {"type": "number"},
                "bver": {"type": "integer"},
            },
            "oneOf": [{"required": ["v"]}, {"required": ["vs"]}, {"required": ["vb"]}],
        },
    }


def uplink_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of decodeUplink's ``data``, generated from the registry."""
    names = [r[1] for r in registry.QUANTITIES]
    values = {r[1]: _quantity_value_schema(r) for r in registry.QUANTITIES}
    number = {"type": "number"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://trosmart.invalid/codec/%s/uplink.schema.json" % payload_codec.__version__,
        "title": "TroSmart decodeUplink data",
        "type": "object",
        "required": ["kind", "senml"],
        "oneOf": [
            {
                "properties": {
                    "kind": {"const": "measurement"},
                    "version": {"type": "integer"},
                    "profile": {"enum": [p[1] for p in registry.PROFILES] + [None]},
                    "layout": {"type": ["integer", "null"]},
                    "quantities": {"type": "array", "items": {"enum": names}, "minItems": 1},
                    "samples": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["offset_s", "values"],
                            "additionalProperties": False,
                            "properties": {
                                "offset_s": {"type": "integer", "maximum": 0},
                                "values": {"type": "object", "properties": values,
                                           "additionalProperties": False},
                            },
                        },
                    },
                    "senml": _senml_schema(),
                },
                "required": ["version", "profile", "layout", "quantities", "samples"],
                "additionalProperties": False,
            },
            {
                "properties": {
                    "kind": {"const": "status"},
                    "status": {"type": "object"},
                    "senml": _senml_schema(),
                },
                "required": ["status"],
                "additionalProperties": False,
            },
            {
                "properties": {
                    "kind": {"const": "layout"},
                    "layout": {"type": "integer", "minimum": 1, "maximum": 255},
                    "quantities": {"type": "array", "items": {"enum": names}, "minItems": 1},
                    "senml": _senml_schema(),
                },
                "required": ["layout", "quantities"],
                "additionalProperties": False,
            },
            {
                "properties": {
                    "kind": {"const": "lpp"},
                    "records": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["channel", "type", "name", "value"],
                            "additionalProperties": False,
                            "properties": {
                                "channel": {"type": "integer", "minimum": 0, "maximum": 255},
                                "type": {"type": "integer", "minimum": 0, "maximum": 255},
                                "name": {"type": "string"},
                                "value": {"oneOf": [number, {"type": "object",
                                                             "additionalProperties": number}]},
                            },
                        },
                    },
                    "senml": _senml_schema(),
                },
                "required": ["records"],
                "additionalProperties": False,
            },
        ],
    }


def downlink_schema() -> dict[str, Any]:
    """JSON Schema of encodeDownlink's ``data`` (= decodeDownlink's), from downlink.py's ranges."""
    names = [r[1] for r in registry.QUANTITIES]
    flag = {"type": "boolean"}
    qlist = {"type": "array", "items": {"enum": names}, "minItems": 1}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://trosmart.invalid/codec/%s/downlink.schema.json" % payload_codec.__version__,
        "title": "TroSmart command (fPort 10)",
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            "set_interval_s": {"type": "integer", "minimum": downlink.INTERVAL_MIN,
                               "maximum": downlink.INTERVAL_MAX},
            "set_confirmed_every": {"type": "integer", "minimum": 0, "maximum": 255},
            "enable": qlist,
            "disable": qlist,
            "request_status": flag,
            "reboot": flag,
            "announce_layout": flag,
            "set_data_rate": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"dr": {"type": "integer", "minimum": 0, "maximum": 15}, "adr": flag},
            },
        },
    }


def examples(corpus_dir: Path = CORPUS_DIR) -> list[dict[str, Any]]:
    """TS013 examples for every corpus frame: input, and the output the bridge's Python gives."""
    out: list[dict[str, Any]] = []
    for path in corpus.corpus_files([corpus_dir]):
        for f in corpus.load(path)[1]:
            data = f.data
            inp: dict[str, Any] = {"bytes": list(data), "fPort": f.fport}
            if f.dir == "down":
                typ, output = "downlink-decode", reference.decode_cmd(f.fport, data)
                out.append({"type": typ, "description": f.id, "input": inp, "output": output})
                if "data" in output:
                    out.append({"type": "downlink-encode", "description": f.id,
                                "input": {"data": output["data"]},
                                "output": reference.encode_cmd(output["data"])})
                continue
            if f.codec == "lpp":
                typ, output = "uplink-lpp", reference.lpp_uplink(data)
            else:
                typ, output = "uplink", reference.uplink(f.fport, data)
            out.append({"type": typ, "description": f.id, "input": inp, "output": output})
    return out


def metadata(size: int, lpp_fports: tuple[int, ...]) -> dict[str, Any]:
    return {
        "name": "trosmart",
        "description": "TroSmart sensor nodes (Troisdorf Smart City): measurement, status, layout "
                       "uplinks and command downlinks; optional Cayenne LPP fPorts",
        "version": payload_codec.__version__,
        "codecApi": "LoRa Alliance TS013 (decodeUplink, encodeDownlink, decodeDownlink)",
        "runtime": "ECMAScript 5.1, no require, no dependencies",
        "generator": "trosmart codec export-js",
        "files": {"codec": "index.js", "examples": "examples.json", "uplinkSchema": "uplink.schema.json",
                  "downlinkSchema": "downlink.schema.json", "ttnCodec": YAML_NAME},
        "fPorts": {"measurement": 1, "status": 2, "layout": 3, "command": 10,
                   "cayenneLpp": list(lpp_fports)},
        "sizeBytes": size,
        "quantities": len(registry.QUANTITIES),
        "profiles": len(registry.PROFILES),
    }


def ttn_yaml(exs: list[dict[str, Any]]) -> str:
    """TheThingsNetwork/lorawan-devices codec YAML (docs/references.md §I.2.1) for index.js,
    laid out as that repository's prettier check wants; outputs spell out errors/warnings as
    its exact comparison needs."""
    from . import devrepo, yaml_layout

    return yaml_layout.dump(devrepo.codec_yaml(exs, "index.js"), (
        "TroSmart codec for TheThingsNetwork/lorawan-devices; generated by",
        "`trosmart codec export-js` from payload_codec %s and tests/frames: do not edit."
        % payload_codec.__version__))


def export(out_dir: str | Path, lpp_fports: tuple[int, ...] = (),
           corpus_dir: Path = CORPUS_DIR) -> dict[str, int]:
    """Write the package; returns {file name: size in bytes}."""
    from ..errors import ToolError

    for p in lpp_fports:
        if not 1 <= p <= 223:
            raise ToolError(f"--lpp-fport {p}: application fPorts are 1..223")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    js = render(lpp_fports)
    size = len(js.encode("utf-8"))
    if size >= MAX_SIZE:
        raise ToolError(f"index.js is {size} bytes, over The Things Stack's {MAX_SIZE}-byte limit")
    exs = examples(corpus_dir)
    files = {
        "index.js": js,
        "metadata.json": _dump(metadata(size, tuple(sorted(set(lpp_fports))))),
        "examples.json": _dump(exs),
        "uplink.schema.json": _dump(uplink_schema()),
        "downlink.schema.json": _dump(downlink_schema()),
        YAML_NAME: ttn_yaml(exs),
    }
    sizes = {}
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
        sizes[name] = len(text.encode("utf-8"))
    return sizes
