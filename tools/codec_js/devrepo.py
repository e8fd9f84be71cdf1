"""A TheThingsNetwork/lorawan-devices vendor package: ``trosmart codec export-ttn``.

The tree it writes is copied as it is into a checkout of that repository (docs/interop.md §4):

    vendor/index.yaml              the vendors list with TroSmart's one entry
    vendor/<id>/index.yaml         endDevices: one device per node type
    vendor/<id>/<node>.yaml        device definition (sensors, provisioning, profiles)
    vendor/<id>/<node>.png         a drawing of the node, made here
    vendor/<id>/<mac>-eu868.yaml   one EU868 profile per LoRaWAN MAC the firmware ships
    vendor/<id>/trosmart-codec.yaml + trosmart-codec.js   the codec and its examples

ChirpStack v4 imports the same tree as device-profile templates. The rules the repository's
validation applies are in docs/references.md §I.2.3; tests/interop/test_devrepo.py applies
each of them to an export.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import payload_codec
from payload_codec import registry

from ..errors import ToolError
from . import yaml_layout
from .generate import MAX_SIZE, render

REGION = "EU863-870"
CODEC_STEM = "trosmart-codec"
IDENTIFIER = re.compile(r"^[a-z0-9](?:-?[a-z0-9]){2,}$")  # the repository's identifier rule
PLACEHOLDER_URL = "https://trosmart.invalid/docs/interop.md"
PHOTO_SIZE = 480  # px; the repository allows up to 2000 x 2000


@dataclass(frozen=True)
class RadioProfile:
    """A LoRaWAN MAC the firmware ships, as one EU868 end-device profile."""

    stem: str
    hardware: str  # hardware version naming the radio the node is built with
    description: str
    mac_version: str
    regional_parameters: str


@dataclass(frozen=True)
class NodeType:
    """A node the firmware builds: a codec profile and the sensors fitted for it."""

    stem: str
    name: str
    description: str
    profile: str  # payload_codec registry profile name: its quantities are what the node sends
    parts: tuple[str, ...]  # rows of the firmware's sensor table (firmware/lib/sensor_table.py) it fits


# RUI3 implements LoRaWAN 1.0.3 with RP001-1.0.3-RevA (docs/rak3172.md); the MicroPython MAC on
# bare SX126x/SX127x radios is LoRaWAN 1.0.4 with RP002-1.0.3 (firmware/lib/lorawan_eu868.py).
RADIOS = (
    RadioProfile("rak3172-eu868", "esp32-rak3172", "ESP32 with a RAK3172 module (RUI3 AT firmware)",
                 "1.0.3", "RP001-1.0.3-RevA"),
    RadioProfile("micropython-mac-eu868", "esp32-sx126x-sx127x",
                 "ESP32 with a bare SX126x/SX127x radio and the TroSmart LoRaWAN MAC (docs/lorawan.md)",
                 "1.0.4", "RP002-1.0.3"),
)

NODE_TYPES = (
    NodeType("air-quality-node", "Air Quality Node",
             "Citizen air-quality station: temperature, humidity, pressure, PM2.5 and PM10.",
             "air_quality", ("bme280", "sds011", "battery")),
    NodeType("water-level-node", "Water Level Node",
             "River or basin gauge: water level by ultrasound and water temperature.",
             "water_level", ("a02yyuw", "ds18b20", "battery")),
    NodeType("parking-node", "Parking Bay Node",
             "Parking-bay occupancy from an ultrasonic ranger on the ceiling.",
             "parking", ("a02yyuw", "battery")),
    NodeType("water-meter-node", "Water Meter Node",
             "Water meter reader: a reed contact on the meter's pulse output, the meter's own index in m3.",
             "water_meter", ("meter", "battery")),
    NodeType("gas-meter-node", "Gas Meter Node",
             "Gas meter reader: a reed contact on the meter's pulse output, the meter's own index in m3.",
             "gas_meter", ("meter", "battery")),
)

# quantity name -> words of the repository's sensor vocabulary (docs/references.md §I.2.3)
SENSOR_WORDS = {
    "temperature": ("temperature",), "humidity": ("humidity",), "pressure": ("barometer",),
    "pm1": ("particulate matter",), "pm2_5": ("pm2.5", "particulate matter"),
    "pm4": ("particulate matter",), "pm10": ("pm10", "particulate matter"), "co2": ("co2",),
    "voc_index": ("tvoc",), "nox_index": ("iaq",), "no2": ("no2",), "o3": ("o3",),
    "noise_laeq": ("sound",), "noise_lamax": ("sound",), "illuminance": ("light",), "uv_index": ("uv",),
    "battery_voltage": ("battery", "voltage"), "battery_level": ("battery",),
    "water_level": ("level", "water"), "water_temperature": ("temperature", "water"),
    "soil_moisture": ("moisture",), "soil_temperature": ("temperature",), "distance": ("distance",),
    "wind_speed": ("wind speed",), "wind_gust": ("wind speed",), "wind_direction": ("wind direction",),
    "precipitation": ("precipitation", "rainfall"), "counter": ("pulse count",),
    "occupancy": ("proximity",), "door_open": ("digital input",), "energy": ("energy", "pulse count"),
    "power": ("power",), "latitude": ("gps",), "longitude": ("gps",), "altitude": ("altitude", "gps"),
    "solar_radiation": ("solar radiation",),
    "volume_index": ("water", "pulse count"), "pulse_count": ("pulse count",), "gas_index": ("pulse count",),
}


def sensor_table() -> dict[str, str]:
    """The firmware's sensor table (the one list of sensors a node can fit): name -> driver class."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "firmware" / "lib" / "sensor_table.py"
    spec = importlib.util.spec_from_file_location("trosmart_sensor_table", path)
    if spec is None or spec.loader is None:
        raise ToolError(f"no sensor table at {path}: run from a source checkout")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {r[0]: r[3] for r in mod.TABLE}


def part_names(node: NodeType) -> list[str]:
    """The parts a node fits, as the sensor table names their drivers (BME280, SDS011, ...)."""
    table = sensor_table()
    missing = [p for p in node.parts if p not in table]
    if missing:
        raise ToolError(f"node type {node.stem}: {', '.join(missing)} not in firmware/lib/sensor_table.py")
    return [table[p] for p in node.parts]


def sensors_of(node: NodeType) -> list[str]:
    """The repository's sensor words for a node, in the order its quantities come."""
    row = next((p for p in registry.PROFILES if p[1] == node.profile), None)
    if row is None:
        raise ToolError(f"node type {node.stem}: unknown codec profile {node.profile!r}")
    words: list[str] = []
    for qid in row[2]:
        name = registry.by_id(qid)[1]
        if name not in SENSOR_WORDS:
            raise ToolError(f"quantity {name!r} has no Device Repository sensor word: add it to SENSOR_WORDS")
        words += [w for w in SENSOR_WORDS[name] if w not in words]
    return words


def _firmware_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trosmart")
    except PackageNotFoundError:  # a source checkout that was not installed
        return payload_codec.__version__


def _numeric(version: str) -> int:
    """1.2.3 -> 10203 (the repository's optional numeric firmware version)."""
    parts = [int(p) for p in re.findall(r"\d+", version)[:3]] + [0, 0, 0]
    return parts[0] * 10000 + parts[1] * 100 + parts[2]


def vendor_index(vendor_id: str) -> dict[str, Any]:
    return {"vendors": [{
        "id": vendor_id,
        "name": "TroSmart",
        "description": "Open-source LoRaWAN sensor nodes of the Smart City / Smart Citizen programme of "
                       "Troisdorf, built and flashed by Stadtwerke technicians and citizens.",
    }]}


def device(node: NodeType, product_url: str) -> dict[str, Any]:
    fw = _firmware_version()
    return {
        "name": node.name,
        "description": node.description + " Parts: " + ", ".join(part_names(node)) + ". Same payload codec on the node "
                       "(MicroPython) and in the network server (this JavaScript).",
        "hardwareVersions": [{"version": r.hardware, "numeric": i + 1} for i, r in enumerate(RADIOS)],
        "firmwareVersions": [{
            "version": fw + "-" + r.hardware,
            "numeric": _numeric(fw),
            "hardwareVersions": [r.hardware],
            "profiles": {REGION: {"id": r.stem, "lorawanCertified": False, "codec": CODEC_STEM}},
        } for r in RADIOS],
        "sensors": sensors_of(node),
        "deviceType": "devkit",
        "keyProvisioning": ["custom"],
        "keyProgramming": ["serial"],
        "firmwareProgramming": ["serial"],
        "productURL": product_url,
        "photos": {"main": node.stem + ".png"},
    }


def profile(radio: RadioProfile) -> dict[str, Any]:
    # Class A only; EU868 default EIRP 16 dBm (docs/references.md §E); 32-bit counters on the node
    return {
        "supportsClassB": False,
        "supportsClassC": False,
        "macVersion": radio.mac_version,
        "regionalParametersVersion": radio.regional_parameters,
        "supportsJoin": True,
        "maxEIRP": 16,
        "supports32bitFCnt": True,
    }


def codec_yaml(exs: list[dict[str, Any]], file_name: str) -> dict[str, Any]:
    """The codec definition. Examples with an empty payload are left out: the repository's
    schema wants 1..256 bytes (docs/references.md §I.2.3); the project's own tests cover them."""
    def pick(kind: str) -> list[dict[str, Any]]:
        return [{"description": e["description"], "input": e["input"], "output": e["output"]}
                for e in exs if e["type"] == kind and e["input"].get("bytes", [0])]

    return {
        "uplinkDecoder": {"fileName": file_name, "examples": pick("uplink")},
        "downlinkEncoder": {"fileName": file_name, "examples": pick("downlink-encode")},
        "downlinkDecoder": {"fileName": file_name, "examples": pick("downlink-decode")},
    }


def photo(node: NodeType) -> bytes:
    """A PNG drawing of the node: a board, its parts as labelled boxes, an antenna."""
    from PIL import Image, ImageDraw

    s = PHOTO_SIZE
    img = Image.new("RGB", (s, s), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((40, 120, s - 40, s - 60), radius=24, fill=(24, 96, 64), outline=(10, 40, 28), width=4)
    d.line((s - 90, 120, s - 90, 30), fill=(60, 60, 60), width=8)  # antenna
    d.ellipse((s - 102, 18, s - 78, 42), fill=(60, 60, 60))
    d.rectangle((70, 150, 190, 230), fill=(40, 40, 40))  # the ESP32 module
    d.text((82, 180), "ESP32", fill=(255, 255, 255))
    y = 250
    for part in part_names(node):
        d.rectangle((70, y, s - 70, y + 36), fill=(230, 230, 210), outline=(90, 90, 70), width=2)
        d.text((84, y + 12), part, fill=(20, 20, 20))
        y += 46
    d.text((40, 70), node.name, fill=(20, 20, 20))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def export_ttn(out_dir: str | Path, vendor_id: str = "trosmart", product_url: str = PLACEHOLDER_URL,
               corpus_dir: Path | None = None) -> dict[str, int]:
    """Write the vendor tree under ``out_dir``; returns {relative path: size in bytes}."""
    from .package import CORPUS_DIR, examples

    if not IDENTIFIER.match(vendor_id) or len(vendor_id) > 36:
        raise ToolError(f"--vendor-id {vendor_id!r}: lowercase letters and digits, single dashes, "
                        "3 to 36 characters (the Device Repository's identifier rule)")
    for node in NODE_TYPES:
        if re.search(r"\b%s\b" % re.escape(vendor_id), node.name, re.IGNORECASE):
            raise ToolError(f"device name {node.name!r} contains the vendor id {vendor_id!r}")
    js = render()
    size = len(js.encode("utf-8"))
    if size > MAX_SIZE:
        raise ToolError(f"index.js is {size} bytes, over The Things Stack's {MAX_SIZE}-byte limit")
    header = ("TroSmart for TheThingsNetwork/lorawan-devices, generated by `trosmart codec export-ttn`",
              "from payload_codec %s: regenerate instead of editing." % payload_codec.__version__)
    folder = "vendor/" + vendor_id + "/"
    files: dict[str, str | bytes] = {
        "vendor/index.yaml": yaml_layout.dump(vendor_index(vendor_id), header),
        folder + "index.yaml": yaml_layout.dump({"endDevices": [n.stem for n in NODE_TYPES]}, header),
        folder + CODEC_STEM + ".js": js,
        folder + CODEC_STEM + ".yaml": yaml_layout.dump(
            codec_yaml(examples(corpus_dir or CORPUS_DIR), CODEC_STEM + ".js"), header),
    }
    for radio in RADIOS:
        files[folder + radio.stem + ".yaml"] = yaml_layout.dump(profile(radio), (*header, radio.description))
    for node in NODE_TYPES:
        files[folder + node.stem + ".yaml"] = yaml_layout.dump(device(node, product_url), header)
        files[folder + node.stem + ".png"] = photo(node)
    out = Path(out_dir)
    sizes = {}
    for rel, content in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        path.write_bytes(data)
        sizes[rel] = len(data)
    return sizes
