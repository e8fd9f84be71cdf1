"""The checks TheThingsNetwork/lorawan-devices' validation applies (``bin/validate.js`` and
``schema.json``; docs/references.md §I.2.3), restated as our own JSON Schemas and checks, for
an exported vendor tree. ``problems(root, run_examples)`` lists every rule a tree breaks.

What is not restated: the repository's full vendor schema (only the keys we write are checked
against it), video URLs, compliances, and resellers (we write none); examples are run in node
(tests/interop) where the repository runs its Go ``runscript`` in goja (see test_engines.py
for the ES5.1-only run).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from trosmart_tools.corpus import same_json

IDENTIFIER = {"type": "string", "pattern": r"^[a-z0-9](?:[-]?[a-z0-9]){2,}$", "maxLength": 36}
LOCAL_FILE = {"type": "string", "pattern": r"^(([a-z0-9-]+/)+)?([a-z0-9_-]+\.)+[a-z0-9]{1,}$"}
PHOTO = {"allOf": [LOCAL_FILE, {"pattern": r"\.(png|jpg|jpeg)$"}]}
REGIONS = ["EU863-870", "US902-928", "CN779-787", "EU433", "AU915-928", "CN470-510", "AS923",
           "KR920-923", "IN865-867", "RU864-870", "ISM2400"]
SENSOR_VOCABULARY = [
    "4-20 ma", "accelerometer", "altitude", "analog input", "auxiliary", "barometer", "battery", "button",
    "bvoc", "co", "co2", "conductivity", "current", "digital input", "dissolved oxygen", "distance", "dust",
    "energy", "gps", "gyroscope", "h2s", "humidity", "iaq", "level", "light", "lightning", "link",
    "magnetometer", "moisture", "motion", "no", "no2", "o3", "optical meter", "particulate matter", "ph",
    "pir", "pm2.5", "pm10", "potentiometer", "power", "precipitation", "pressure", "proximity",
    "pulse count", "pulse frequency", "radar", "rainfall", "rssi", "smart valve", "snr", "so2",
    "solar radiation", "sound", "strain", "surface temperature", "temperature", "tilt", "time", "tvoc",
    "uv", "vapor pressure", "velocity", "vibration", "voltage", "water potential", "water", "weight",
    "wifi ssid", "wind direction", "wind speed",
]
# macVersion -> the regional-parameters versions the schema pairs with it
RP_FOR_MAC = {"1.0": ["TS001-1.0"], "1.0.1": ["TS001-1.0.1"], "1.0.2": ["RP001-1.0.2", "RP001-1.0.2-RevB"],
              "1.0.3": ["RP001-1.0.3-RevA"], "1.0.4": ["RP002-1.0.0", "RP002-1.0.1", "RP002-1.0.2", "RP002-1.0.3",
                                                       "RP002-1.0.4"],
              "1.1": ["RP001-1.1-RevA", "RP001-1.1-RevB"]}

FRM_PAYLOAD = {"type": "array", "minItems": 1, "maxItems": 256,
               "items": {"type": "integer", "minimum": 0, "maximum": 255}}
FPORT = {"type": "integer", "minimum": 1, "maximum": 255}
_STRINGS = {"type": "array", "items": {"type": "string"}}
DECODE_INPUT = {"type": "object", "required": ["bytes", "fPort"], "properties": {"bytes": FRM_PAYLOAD, "fPort": FPORT}}
ENCODE_INPUT = {"type": "object", "required": ["data"], "properties": {"data": {"type": "object"}}}
# an output without errors must carry its result
DECODE_OUTPUT = {"type": "object", "properties": {"data": {"type": "object"}, "errors": _STRINGS, "warnings": _STRINGS},
                 "if": {"properties": {"errors": {"maxItems": 0}}}, "then": {"required": ["data"]}}
ENCODE_OUTPUT = {"type": "object",
                 "properties": {"bytes": FRM_PAYLOAD, "fPort": FPORT, "errors": _STRINGS, "warnings": _STRINGS},
                 "if": {"properties": {"errors": {"maxItems": 0}}}, "then": {"required": ["bytes"]}}


def _script(inp: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["fileName"], "properties": {
        "fileName": {"allOf": [LOCAL_FILE, {"pattern": r"\.js$"}]},
        "examples": {"type": "array", "items": {
            "type": "object", "required": ["input", "output"],
            "properties": {"description": {"type": "string"}, "input": inp, "output": out}}}}}


SCHEMAS: dict[str, dict[str, Any]] = {
    "vendors": {"type": "object", "required": ["vendors"], "properties": {"vendors": {"type": "array", "items": {
        "type": "object", "required": ["id", "name"],
        "properties": {"id": IDENTIFIER, "name": {"type": "string", "minLength": 1}, "description": {"type": "string"},
                       "website": {"type": "string", "format": "uri"}, "logo": LOCAL_FILE}}}}},
    "vendor": {"type": "object", "required": ["endDevices"],
               "properties": {"endDevices": {"type": "array", "items": IDENTIFIER}}},
    "endDevice": {
        "type": "object", "required": ["name", "firmwareVersions"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "hardwareVersions": {"type": "array", "uniqueItems": True, "items": {
                "type": "object", "required": ["version"],
                "properties": {"version": {"type": "string", "minLength": 1},
                               "numeric": {"type": "integer", "minimum": 0, "maximum": 4294967295}}}},
            "firmwareVersions": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {
                "type": "object", "required": ["version", "profiles"],
                "properties": {
                    "version": {"type": "string", "minLength": 1},
                    "numeric": {"type": "integer", "minimum": 0, "maximum": 4294967295},
                    "hardwareVersions": _STRINGS,
                    "profiles": {"type": "object", "propertyNames": {"enum": REGIONS},
                                 "additionalProperties": {"type": "object", "required": ["id"], "properties": {
                                     "id": IDENTIFIER, "lorawanCertified": {"type": "boolean"},
                                     "codec": IDENTIFIER}}}}}},
            "sensors": {"type": "array", "items": {"enum": SENSOR_VOCABULARY}},
            "deviceType": {"enum": ["devkit", "module", "cots"]},
            "keyProvisioning": {"type": "array", "minItems": 1, "uniqueItems": True,
                                "items": {"enum": ["custom", "join server", "manifest"]}},
            "keyProgramming": {"type": "array", "uniqueItems": True,
                               "items": {"enum": ["bluetooth", "nfc", "wifi", "serial", "firmware"]}},
            "firmwareProgramming": {"type": "array", "uniqueItems": True,
                                    "items": {"enum": ["serial", "fuota lorawan", "fuota other"]}},
            "productURL": {"type": "string", "format": "uri", "pattern": "^https?://"},
            "dataSheetURL": {"type": "string", "format": "uri"},
            "photos": {"type": "object", "required": ["main"],
                       "properties": {"main": PHOTO, "other": {"type": "array", "items": PHOTO}}},
        }},
    "endDeviceProfile": {
        "type": "object",
        "required": ["supportsClassB", "supportsClassC", "macVersion", "regionalParametersVersion", "supportsJoin",
                     "maxEIRP"],
        "properties": {
            "supportsClassB": {"type": "boolean"}, "supportsClassC": {"type": "boolean"},
            "macVersion": {"enum": list(RP_FOR_MAC)}, "regionalParametersVersion": {"type": "string"},
            "supportsJoin": {"type": "boolean"}, "maxEIRP": {"type": "integer", "minimum": 0},
            "supports32bitFCnt": {"type": "boolean"}, "maxDutyCycle": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "allOf": [{"if": {"properties": {"macVersion": {"const": mac}}},
                   "then": {"properties": {"regionalParametersVersion": {"enum": rps}}}}
                  for mac, rps in RP_FOR_MAC.items()]
        + [{"if": {"properties": {"supportsJoin": {"const": False}}},
            "then": {"required": ["rx1Delay", "rx1DataRateOffset", "rx2DataRateIndex", "rx2Frequency",
                                  "factoryPresetFrequencies"]}}],
    },
    "endDevicePayloadCodec": {"type": "object", "properties": {
        "uplinkDecoder": _script(DECODE_INPUT, DECODE_OUTPUT),
        "downlinkEncoder": _script(ENCODE_INPUT, ENCODE_OUTPUT),
        "downlinkDecoder": _script(DECODE_INPUT, DECODE_OUTPUT),
    }},
}
ROUTINES = (("uplinkDecoder", "decodeUplink"), ("downlinkEncoder", "encodeDownlink"),
            ("downlinkDecoder", "decodeDownlink"))

Runner = Callable[[Path, list[tuple[str, dict[str, Any]]]], list[Any]]


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # a safe loader


def _schema_errors(kind: str, obj: Any, where: str) -> list[str]:
    v = jsonschema.Draft7Validator(SCHEMAS[kind], format_checker=jsonschema.FormatChecker())
    return ["%s: %s invalid at %s: %s" % (where, kind, "/".join(map(str, e.absolute_path)) or ".", e.message)
            for e in v.iter_errors(obj)]


def _file_problem(folder: Path, name: str) -> str | None:
    if name.lower() != name:
        return f"{name} is not lowercase"
    if not (folder / name).is_file():
        return f"{folder.name}/{name} does not exist"
    return None


def _photo_problems(path: Path) -> list[str]:
    from PIL import Image

    magic = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg"}
    head = path.read_bytes()[:8]
    kind = next((k for m, k in magic.items() if head.startswith(m)), None)
    ext = path.suffix[1:].replace("jpeg", "jpg")
    if kind != ext:
        return [f"{path.name}: extension .{path.suffix[1:]} but the content is {kind or 'not an image'}"]
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        w, h = img.size
    return [f"{path.name}: {w}x{h} is over 2000x2000"] if w > 2000 or h > 2000 else []


def problems(root: Path, run: Runner | None = None) -> list[str]:
    """Every rule the vendor tree under ``root`` breaks; ``run`` executes codec examples
    (codec path, [(routine, input)]) -> outputs, compared with deep equality as validate.js does."""
    out: list[str] = []
    vendor_dir = root / "vendor"
    vendors = _load(vendor_dir / "index.yaml")
    out += _schema_errors("vendors", vendors, "vendor/index.yaml")
    if out:
        return out
    listed = {v["id"] for v in vendors["vendors"]}
    for d in sorted(p.name for p in vendor_dir.iterdir() if p.is_dir()):
        if d not in listed:
            out.append(f"vendor/{d} is not listed in vendor/index.yaml")
    for v in vendors["vendors"]:
        vid, folder = v["id"], vendor_dir / v["id"]
        if not (folder / "index.yaml").is_file():
            continue
        index = _load(folder / "index.yaml")
        out += _schema_errors("vendor", index, f"{vid}/index.yaml")
        names: set[str] = set()
        codecs: set[str] = set()
        for stem in index.get("endDevices", []):
            key = f"{vid}: {stem}"
            if not (folder / f"{stem}.yaml").is_file():
                out.append(f"{key}: {stem}.yaml does not exist")
                continue
            dev = _load(folder / f"{stem}.yaml")
            errs = _schema_errors("endDevice", dev, key)
            out += errs
            if errs:
                continue
            if re.search(r"\b%s\b" % re.escape(vid), dev["name"], re.IGNORECASE):
                out.append(f"{key}: name {dev['name']!r} contains the vendor id")
            if dev["name"] in names:
                out.append(f"{key}: name {dev['name']!r} is not unique")
            names.add(dev["name"])
            hw = {h["version"] for h in dev.get("hardwareVersions", [])}
            for fw in dev["firmwareVersions"]:
                if bool(fw.get("hardwareVersions")) != bool(dev.get("hardwareVersions")):
                    out.append(f"{key}: {fw['version']}: hardware versions used in one place but not the other")
                out += [f"{key}: {fw['version']}: hardware version {h} not declared"
                        for h in fw.get("hardwareVersions", []) if h not in hw]
                for region, prof in fw["profiles"].items():
                    rkey = f"{key}: {region}"
                    pp = folder / f"{prof['id']}.yaml"
                    if not pp.is_file():
                        out.append(f"{rkey}: profile {prof['id']}.yaml does not exist")
                    else:
                        out += _schema_errors("endDeviceProfile", _load(pp), f"{rkey}: profile {prof['id']}")
                    if "codec" in prof:
                        codecs.add(prof["codec"])
            photos = dev.get("photos", {})
            for p in [photos["main"], *photos.get("other", [])] if photos else []:
                problem = _file_problem(folder, p)
                out += [f"{key}: {problem}"] if problem else _photo_problems(folder / p)
        for stem in sorted(codecs):
            out += _codec_problems(folder, stem, run)
    return out


def _codec_problems(folder: Path, stem: str, run: Runner | None) -> list[str]:
    key = f"{folder.name}: codec {stem}"
    if not (folder / f"{stem}.yaml").is_file():
        return [f"{key}: {stem}.yaml does not exist"]
    codec = _load(folder / f"{stem}.yaml")
    errs = _schema_errors("endDevicePayloadCodec", codec, key)
    if errs:
        return errs
    out: list[str] = []
    for section, routine in ROUTINES:
        if section not in codec:
            continue
        problem = _file_problem(folder, codec[section]["fileName"])
        if problem:
            out.append(f"{key}: {problem}")
            continue
        exs = codec[section].get("examples") or []
        if run is None or not exs:
            continue
        got = run(folder / codec[section]["fileName"], [(routine, e["input"]) for e in exs])
        for e, actual in zip(exs, got):
            if not same_json(actual, e["output"]):  # lodash.isequal: deep, exact
                out.append(f"{key}: {routine}: {e.get('description')}: output {actual} does not match {e['output']}")
    return out
