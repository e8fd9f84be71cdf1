"""``python -m payload_codec`` and ``micropython -m payload_codec``: the command-line contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from trosmart_tools import mpy

INPUTS = [
    ('{"temperature": 21.37, "humidity": 48.5}', []),
    ('{"temperature": 21.37, "humidity": 48.5, "pressure": 1013.2, "pm2_5": 12.3, "pm10": 20.1, '
     '"battery_voltage": 3.71}', []),
    ('{"samples": [{"offset_s": -600, "values": {"occupancy": true, "battery_voltage": 3.6}}, '
     '{"offset_s": 0, "values": {"occupancy": false, "battery_voltage": 3.59}}]}', []),
    ('{"firmware": "1.0.0", "reset_cause": "power_on", "uptime_s": 5}', ["--fport", "2"]),
    ('{"layout": 4, "quantities": ["co2", "temperature"]}', ["--fport", "3"]),
    ('{"set_interval_s": 600, "request_status": true}', ["--fport", "10"]),
]


def cpython(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "payload_codec", *args], input=stdin, capture_output=True,
                          text=True, cwd=mpy.REPO_ROOT, timeout=60)


def micropython(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return mpy.run(["-m", "payload_codec", *args], stdin=stdin)


@pytest.mark.parametrize(("stdin", "opts"), INPUTS, ids=lambda x: x if isinstance(x, str) else None)
def test_encode_prints_the_same_hex_on_both_runtimes_and_decode_inverts_it(micropython_cli, stdin, opts):
    a = cpython(["encode", *opts], stdin)
    b = micropython(["encode", *opts], stdin)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    dec_a = cpython(["decode", *opts, a.stdout.strip()])
    dec_b = micropython(["decode", *opts, a.stdout.strip()])
    assert dec_a.returncode == dec_b.returncode == 0, dec_a.stderr + dec_b.stderr
    assert json.loads(dec_a.stdout) == json.loads(dec_b.stdout)


@pytest.fixture
def micropython_cli(micropython: str) -> str:
    return micropython


def test_reference_profile_decodes_with_decode_alone_to_senml():
    enc = cpython(["encode"], '{"noise_laeq": 61.25, "battery_voltage": 3.5}')
    pack = json.loads(cpython(["decode", enc.stdout.strip()]).stdout)
    assert pack == [{"n": "noise_laeq", "u": "dB", "v": 61.3}, {"n": "battery_voltage", "u": "V", "v": 3.5}]


def test_batch_times_are_relative_and_not_positive():
    enc = cpython(["encode"], '{"samples": [{"offset_s": -900, "values": {"counter": 3, "battery_voltage": 3.3}},'
                              ' {"offset_s": -300, "values": {"counter": 5, "battery_voltage": 3.3}}]}')
    pack = json.loads(cpython(["decode", "--bn", "urn:dev:mac:0011223344556677:", enc.stdout.strip()]).stdout)
    assert [r.get("t", 0) for r in pack] == [-900, -900, -300, -300]
    assert pack[0]["bn"] == "urn:dev:mac:0011223344556677:"


def test_layout_option_decodes_announced_layouts():
    enc = cpython(["encode", "--layout", "7=co2,temperature"], '{"co2": 420, "temperature": 19.5}')
    assert enc.stdout.startswith("2007")
    pack = json.loads(cpython(["decode", "--layout", "7=co2,temperature", enc.stdout.strip()]).stdout)
    assert {"bver": 26, "n": "co2", "u": "ppm", "v": 420} in pack


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [(["decode", "zz"], "", "not hex"), (["decode", "215"], "", "odd number"),
     (["decode", "21"], "", "frame ends inside temperature"), (["encode"], "{nope", "not valid JSON"),
     (["encode"], '{"temperature": 999}', "outside its range"), (["encode"], '{"pm3": 1}', "unknown quantity"),
     (["decode", "--fport", "99", "21"], "", "fPort 99"), (["frobnicate"], "", "unknown command"),
     (["decode", "--fport"], "", "needs a value")],
)
@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_bad_input_exits_2_with_one_line_and_no_traceback(micropython_cli, runtime, args, stdin, message):
    run = cpython if runtime == "cpython" else micropython
    r = run(args, stdin)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.stderr
