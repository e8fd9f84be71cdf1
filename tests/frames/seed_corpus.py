"""How the synthetic and spec frames of this corpus were made (run once, 2026-11-28).

``python -m tests.frames.seed_corpus OUTDIR`` writes the seed files to OUTDIR. The
expectations are what the decoder gave then, so re-running it into tests/frames would
overwrite the regression baseline: write elsewhere and review the diff. Frames from
public specifications carry ``ref``; tests/interop/test_lpp.py checks their values against
the published ones independently of the expectations stored here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from payload_codec import encode, encode_batch, encode_downlink, encode_layout, encode_status, lpp
from payload_codec import registry as reg
from trosmart_tools.corpus import append, make_frame

RECV = "2026-11-28T09:30:00Z"


def _typical(row: tuple) -> object:
    """A mid-range value on the quantity's grid."""
    if row[7] == reg.BOOL:
        return True
    raw = (row[3] + row[4]) // 2 + 7
    return raw * row[5] / row[6] if row[6] != 1 else raw * row[5]


def profiles() -> list:
    out = []
    for _pid, name, qids in reg.PROFILES:
        rows = [reg.by_id(q) for q in qids]
        vals = {r[1]: _typical(r) for r in rows}
        out.append(make_frame("profile-%s" % name, "trosmart", "up", 1, encode(vals), "synthetic",
                              received=RECV))
        lo = {r[1]: (r[3] * r[5] / r[6] if r[7] != reg.BOOL else False) for r in rows}
        out.append(make_frame("profile-%s-min" % name, "trosmart", "up", 1, encode(lo), "synthetic"))
        inv = dict(vals)
        inv[rows[0][1]] = None
        out.append(make_frame("profile-%s-invalid-first" % name, "trosmart", "up", 1, encode(inv),
                              "synthetic", note="the node marked its first sensor failed"))
    out.append(make_frame("self-described-3", "trosmart", "up", 1,
                          encode({"no2": 41, "o3": 63, "uv_index": 4.2}), "synthetic"))
    out.append(make_frame("self-described-wind", "trosmart", "up", 1,
                          encode({"wind_speed": 3.4, "wind_gust": 9.9, "wind_direction": 271}), "synthetic"))
    out.append(make_frame("self-described-all-invalid", "trosmart", "up", 1,
                          encode({"co2": None, "illuminance": None}), "synthetic"))
    out.append(make_frame("profile-climate-extended-byte", "trosmart", "up", 1,
                          bytes([0x2F, 4]) + encode({"temperature": 21.5, "humidity": 40.5, "co2": 812,
                                                     "battery_level": 77})[1:],
                          "synthetic", note="profile 4 through the extension byte (nibble 15)"))
    return out


def batches() -> list:
    out = []
    aq = ["temperature", "humidity", "pressure", "pm2_5", "pm10", "battery_voltage"]

    def sample(i: int, **kw: object) -> dict:
        v = {"temperature": 12.3 + i * 0.1, "humidity": 60.5 - i, "pressure": 1003.2 + i * 0.3,
             "pm2_5": 8.4 + i, "pm10": 15.1 + 2 * i, "battery_voltage": 3.71 - i * 0.01}
        v.update(kw)
        return v

    out.append(make_frame("batch-uniform-6", "trosmart", "up", 1,
                          encode_batch([(-600 * (5 - i), sample(i)) for i in range(6)]), "synthetic",
                          received=RECV))
    out.append(make_frame("batch-irregular-4", "trosmart", "up", 1,
                          encode_batch([(-1800, sample(0)), (-1200, sample(1)), (-300, sample(2)),
                                        (-15, sample(3))]), "synthetic"))
    out.append(make_frame("batch-one-sample", "trosmart", "up", 1,
                          encode_batch([(-42, sample(0))]), "synthetic"))
    out.append(make_frame("batch-invalid-markers", "trosmart", "up", 1,
                          encode_batch([(-900, sample(0)), (-600, sample(1, pm2_5=None)),
                                        (-300, sample(2, pm10=None, pm2_5=None)), (0, sample(3))]),
                          "synthetic", note="delta-coded invalid markers"))
    out.append(make_frame("batch-first-invalid-raw", "trosmart", "up", 1,
                          encode_batch([(-600, sample(0, temperature=None)), (0, sample(1))]),
                          "synthetic", note="first value invalid forces raw width"))
    out.append(make_frame("batch-constant", "trosmart", "up", 1,
                          encode_batch([(-60 * (9 - i), {"occupancy": True, "battery_voltage": 3.6})
                                        for i in range(10)]), "synthetic", note="width 0"))
    out.append(make_frame("batch-jump-raw", "trosmart", "up", 1,
                          encode_batch([(-600, {"water_level": 0.2, "water_temperature": 8.25,
                                                "battery_voltage": 3.9}),
                                        (0, {"water_level": 15.9, "water_temperature": -4.5,
                                             "battery_voltage": 3.9})]), "synthetic"))
    out.append(make_frame("batch-64", "trosmart", "up", 1,
                          encode_batch([(-60 * (63 - i), {"counter": i * 3, "battery_voltage": 3.3})
                                        for i in range(64)]), "synthetic", note="MAX_SAMPLES"))
    out.append(make_frame("batch-self-described", "trosmart", "up", 1,
                          encode_batch([(-300, {"noise_laeq": 55.2}), (0, {"noise_laeq": 61.9})]),
                          "synthetic"))
    assert aq  # the air-quality profile is what sample() fills
    return out


def status_and_layout() -> list:
    out = []
    cases = [
        ("status-boot", {"firmware": "1.2.0", "reset_cause": "power_on", "uptime_s": 3}),
        ("status-full", {"firmware": "1.2.0", "reset_cause": "deep_sleep", "uptime_s": 86400,
                         "sensor_errors": {"sps30": 2, "bme280": 0}, "battery_voltage": 3.712,
                         "config_hash": 0xDEADBEEF, "config_errors": ["interval_s"],
                         "command_result": {"command": "set_interval_s", "result": "ok"},
                         "sample_counter": 1234, "interval_s": 600, "failed_sensors": ["sps30"]}),
        ("status-watchdog", {"reset_cause": "watchdog", "failed_sensors": ["scd30", "bme280"]}),
        ("status-command-rejected", {"command_result": {"command": "enable", "result": "unsupported"}}),
        ("status-config-hash-small", {"config_hash": 0x1F}),
        ("status-empty", {}),
        ("status-low-battery", {"battery_voltage": 3.05, "interval_s": 3600}),
        ("status-store-dropped", {"reset_cause": "deep_sleep", "samples_dropped": 12}),
    ]
    for fid, st in cases:
        out.append(make_frame(fid, "trosmart", "up", 2, encode_status(st), "synthetic", received=RECV))
    out.append(make_frame("status-unknown-key", "trosmart", "up", 2, bytes([0x20, 0xA1, 0x18, 0x63, 0x05]),
                          "synthetic", note="key 99 from a newer node is kept as k99"))
    out.append(make_frame("status-float-half", "trosmart", "up", 2, bytes([0x20, 0xA1, 0x0C, 0xF9, 0x3C, 0x00]),
                          "synthetic", note="unknown key 12 holding a half float"))
    out.append(make_frame("layout-3", "trosmart", "up", 3, encode_layout(7, ["temperature", "co2", "pm1"]),
                          "synthetic"))
    out.append(make_frame("layout-1", "trosmart", "up", 3, encode_layout(255, ["door_open"]), "synthetic"))
    return out


def downlinks() -> list:
    cmds = [
        ("cmd-interval", {"set_interval_s": 600}),
        ("cmd-interval-max", {"set_interval_s": 86400}),
        ("cmd-confirmed", {"set_confirmed_every": 12}),
        ("cmd-enable-disable", {"enable": ["pm1", "pm4"], "disable": ["co2"]}),
        ("cmd-status-reboot", {"request_status": True, "reboot": True}),
        ("cmd-data-rate", {"set_data_rate": {"dr": 5, "adr": True}}),
        ("cmd-data-rate-keep", {"set_data_rate": {"adr": False}}),
        ("cmd-announce", {"announce_layout": True}),
        ("cmd-all", {"set_interval_s": 300, "set_confirmed_every": 0, "enable": ["noise_laeq"],
                     "disable": ["uv_index"], "set_data_rate": {"dr": 0, "adr": False},
                     "announce_layout": True, "request_status": True}),
    ]
    return [make_frame(fid, "trosmart", "down", 10, encode_downlink(c), "synthetic") for fid, c in cmds]


def malformed() -> list:
    bad = [
        ("bad-empty", 1, ""), ("bad-version", 1, "41"), ("bad-profile", 1, "2f63"),
        ("bad-truncated-field", 1, "2d0102"), ("bad-trailing", 1, encode({"co2": 400}).hex() + "0000"),
        ("bad-padding", 1, (encode({"door_open": True, "battery_voltage": 3.3})[:-1]
                            + bytes([encode({"door_open": True, "battery_voltage": 3.3})[-1] | 1])).hex()),
        ("bad-code-range", 1, "200001" + "09" + "fb00"),
        ("bad-unknown-layout", 1, "2005ff"), ("bad-unknown-quantity", 1, "2000016300"),
        ("bad-no-quantities", 1, "200000"), ("bad-quantity-list-cut", 1, "20000301"),
        ("bad-batch-count-0", 1, "310000"), ("bad-batch-varint", 1, "3102ffffffffff01"),
        ("bad-batch-cut", 1, "3102"), ("bad-fport", 7, "2d"),
        ("bad-status-version", 2, "40a0"), ("bad-status-not-map", 2, "2001"),
        ("bad-status-type", 2, "20a10001"),
        ("bad-status-indefinite", 2, "20bf"), ("bad-status-cut", 2, "20a202"),
        ("bad-status-trailing", 2, "20a0ff"), ("bad-status-utf8", 2, "20a10061ff"),
        ("bad-status-tag", 2, "20a100c0"), ("bad-layout-cut", 3, "200703010e"),
        ("bad-layout-zero", 3, "200001"), ("bad-layout-header", 3, "21070101"),
    ]
    out = [make_frame(fid, "trosmart", "up", fp, bytes.fromhex(h), "synthetic") for fid, fp, h in bad]
    downs = [("bad-cmd-empty", ""), ("bad-cmd-version", "4001"), ("bad-cmd-none", "20"),
             ("bad-cmd-opcode", "2009"), ("bad-cmd-cut", "200100"), ("bad-cmd-interval", "2001000005"),
             ("bad-cmd-repeat", "200505"), ("bad-cmd-quantity", "2003c8"), ("bad-cmd-reserved", "200770")]
    out += [make_frame(fid, "trosmart", "down", 10, bytes.fromhex(h), "synthetic") for fid, h in downs]
    for f in out:
        assert "error" in f.expect, f.id
    return out


MYDEVICES = "myDevicesIoT/cayenne-docs docs/LORA.md (docs/references.md §H.1)"


def lpp_spec() -> list:
    spec = [
        ("lpp-mydevices-2-temperatures", "03670110056700FF", MYDEVICES),
        ("lpp-mydevices-temp-accel", "0167FFD70671 04D2FB2E0000".replace(" ", ""), MYDEVICES),
        ("lpp-mydevices-gps", "018806765FF2960A0003E8", MYDEVICES),
        ("lpp-tts-example", "03670110056700FF", "TTI docs payload-formatters/cayenne (docs/references.md §H.5)"),
        ("ec-gps-truncated", "018806765EF2960A0003E8",
         "ElectronicCats API.md addGPS(1, 42.3519, -87.9094, 10) truncates to 42.3518 (docs/references.md §H.4.1)"),
        ("lpp-ec-aunit-concentration-fixed", "047D0FEF",
         "ElectronicCats test/aunit addConcentration(4, 4079), channel corrected (docs/references.md §H.4.3)"),
        ("lpp-ec-aunit-colour-fixed", "078718EF0F",
         "ElectronicCats test/aunit addColour(7, 24, 239, 15), byte order corrected (docs/references.md §H.4.3)"),
        ("lpp-npm-duplicate-presence", "156601156600", "npm cayenne-lpp test (docs/references.md §H.4.7)"),
        ("lpp-voltage-ffff-unsigned", "0174FFFF",
         "docs/references.md §H.4.2: 655.35 V, unsigned"),
        ("lpp-tts-presence-50", "066632", "lorawan-stack cayennelpp_test.go (docs/references.md §H.4.6)"),
        ("lpp-tts-digital-out-100", "020164", "lorawan-stack cayennelpp_test.go (docs/references.md §H.4.6)"),
        ("lpp-benchmark-anchor", "016700EB026864037327100402015E", "docs/references.md §P benchmark frame"),
        ("lpp-rak-battery", "01740172", "RAK Standardized Payload README: battery ch 1 type 116"),
        ("lpp-rak-pm-as-temperature", "28670017296700232A670031",
         "RAK README: PM on channels 40-42 sent as type 103 (docs/references.md §H.3)"),
    ]
    out = []
    for fid, h, ref in spec:
        out.append(make_frame(fid, "lpp", "up", 1, bytes.fromhex(h), "spec", ref=ref))
    return out


def lpp_types() -> list:
    """One synthetic frame per supported type, with a value near the top of its range."""
    out = []
    for t in lpp.TYPES:
        comps = t[3]
        vals = []
        for i, c in enumerate(comps):
            top = (1 << (8 * c[1] - (1 if c[2] else 0))) - 1 - 3 * i
            raw = -top if (c[2] and i % 2) else top
            vals.append(raw / c[3] if c[3] != 1 else raw)
        value = vals[0] if comps[0][0] is None else vals
        data = lpp.encode([(t[0] % 250, t[0], value)])
        out.append(make_frame("lpp-type-%d-%s" % (t[0], t[1]), "lpp", "up", 2, data, "synthetic",
                              received=RECV if t[0] % 2 else None))
    mixed = lpp.encode([(1, "temperature", -12.5), (2, "humidity", 87.5), (3, "barometer", 1013.2),
                        (4, "gps", (50.8128, 7.1542, 61.5)), (5, "voltage", 3.3),
                        (6, "pm2_5", 12), (7, "colour", {"r": 1, "g": 2, "b": 3})])
    out.append(make_frame("lpp-mixed-workshop", "lpp", "up", 1, mixed, "synthetic"))
    return out


def lpp_malformed() -> list:
    bad = [
        ("lpp-janpieper-2-byte-humidity", "0167011B02680195",
         "janpieper/cayenne_lpp README payload: humidity as 2 bytes (docs/references.md §H.4.5)"),
        ("lpp-unknown-type", "01FE00", None), ("lpp-empty", "", None),
        ("lpp-record-cut", "0167", None), ("lpp-gps-cut", "0188067665", None),
        ("lpp-header-cut", "0367011005", None), ("lpp-polyline-unsupported", "01F00800", None),
    ]
    out = [make_frame(fid, "lpp", "up", 1, bytes.fromhex(h), "spec" if ref else "synthetic", ref=ref)
           for fid, h, ref in bad]
    for f in out:
        assert "error" in f.expect, f.id
    return out


def meters() -> list:
    """Utility-meter frames (added 2026-12-03 with volume_index, pulse_count, gas_index and the
    meter profiles): the largest index, one litre, invalid markers and a batch of readings."""
    kam = "TTN lorawan-devices vendor/kamstrup/mbusparser.yaml@af4ebca (docs/references.md §S.8)"
    out = [
        make_frame("meter-water-kamstrup-index", "trosmart", "up", 1,
                   encode({"volume_index": "7842.497", "battery_voltage": 3.61}), "synthetic",
                   received=RECV, ref=kam, note="the flowIQ2200 record 44 13 C1AA7700 = 7842.497 m3"),
        make_frame("meter-water-one-litre", "trosmart", "up", 1,
                   encode({"volume_index": "0.001", "battery_voltage": 3.3}), "synthetic"),
        make_frame("meter-water-max-index", "trosmart", "up", 1,
                   encode({"volume_index": "100000000.000", "battery_voltage": 5.1}), "synthetic",
                   note="1e8 m3 at 0.001 m3: a 37-bit field"),
        make_frame("meter-water-invalid", "trosmart", "up", 1,
                   encode({"volume_index": None, "battery_voltage": 3.6}), "synthetic"),
        make_frame("meter-gas-index", "trosmart", "up", 1,
                   encode({"gas_index": "12345.678", "battery_voltage": 3.55}), "synthetic", received=RECV),
        make_frame("meter-electricity-index", "trosmart", "up", 1,
                   encode({"energy": "123456.789", "battery_voltage": 3.58}), "synthetic"),
        make_frame("meter-pulse-count-32bit", "trosmart", "up", 1,
                   encode({"pulse_count": 4294967294, "volume_index": "42949672.94"}), "synthetic",
                   note="self-described: the largest 32-bit cumulative count"),
        make_frame("meter-water-batch", "trosmart", "up", 1,
                   encode_batch([(-1800, {"volume_index": "1234.560", "battery_voltage": 3.6}),
                                 (-1200, {"volume_index": "1234.571", "battery_voltage": 3.6}),
                                 (-600, {"volume_index": "1234.600", "battery_voltage": 3.59}),
                                 (0, {"volume_index": "1234.602", "battery_voltage": 3.59})]),
                   "synthetic", received=RECV),
    ]
    return out


def main(outdir: str) -> None:
    d = Path(outdir)
    d.mkdir(parents=True, exist_ok=True)
    for name, title, frames in (
        ("trosmart-profiles", "TroSmart measurement frames: every reference profile", profiles()),
        ("trosmart-batches", "TroSmart batch frames", batches()),
        ("trosmart-status", "TroSmart status and layout frames", status_and_layout()),
        ("trosmart-downlinks", "TroSmart command downlinks", downlinks()),
        ("trosmart-malformed", "TroSmart frames that must be refused", malformed()),
        ("lpp-specs", "Cayenne LPP frames from specifications and libraries' docs", lpp_spec()),
        ("lpp-types", "Cayenne LPP: one frame per supported type", lpp_types()),
        ("lpp-malformed", "Cayenne LPP frames that must be refused", lpp_malformed()),
        ("trosmart-meters", "TroSmart utility-meter frames", meters()),
    ):
        append(d / (name + ".jsonl"), frames, title)


if __name__ == "__main__":
    main(sys.argv[1])
