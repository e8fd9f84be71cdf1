"""``trosmart lorawan decode|build`` on the MAC's own frame code; lora-packet checks its output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from trosmart_tools.cli import main

from .conftest import node_batch

NWK = "44024241ed4ce9a68c6a8bc055233fd3"
APP = "ec925802ae430ca77fd3dd73cb2cc588"
APPKEY = "2b7e151628aed2a6abf7158809cf4f3c"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["lorawan", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_decode_a_published_uplink(capsys: pytest.CaptureFixture[str]) -> None:
    # lora-packet's README example frame
    rc, out, _ = run(capsys, "decode", "40F17DBE4900020001954378762B11FF0D", "--nwkskey", NWK, "--appskey", APP)
    d = json.loads(out)
    assert rc == 0 and d["mtype"] == "UnconfirmedDataUp" and d["dev_addr"] == "49be7df1" and d["fcnt"] == 2
    assert d["payload"] == b"test".hex() and d["mic_ok"] is True and d["mic"] == "2b11ff0d"
    _, out, _ = run(capsys, "decode", "40F17DBE4900020001954378762B11FF0D", "--nwkskey", APP)
    assert json.loads(out)["mic_ok"] is False and json.loads(out)["payload"] is None


def test_build_then_decode_and_lora_packet_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "build", "data", "--devaddr", "260b1234", "--fcnt", "70000", "--port", "5",
                     "--payload", "0102ff", "--fopts", "02", "--nwkskey", NWK, "--appskey", APP, "--confirmed")
    phy = out.strip()
    _, out, _ = run(capsys, "decode", phy, "--nwkskey", NWK, "--appskey", APP, "--fcnt-msb", "1")
    d = json.loads(out)
    assert d["fcnt32"] == 70000 and d["payload"] == "0102ff" and d["fopts"] == "02" and d["mic_ok"]
    js = node_batch([{"op": "decode_data", "phy": phy, "nwk": NWK, "app": APP, "fcnt32": 70000}])[0]
    assert js["mic_ok"] and js["payload"] == "0102ff" and js["mtype"] == "Confirmed Data Up"


def test_join_request_and_join_accept_with_session_keys(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "build", "join-request", "--joineui", "0000000000000001", "--deveui",
                     "70b3d57ed0000001", "--devnonce", "513", "--appkey", APPKEY)
    _, out, _ = run(capsys, "decode", out.strip(), "--appkey", APPKEY)
    d = json.loads(out)
    assert (d["mtype"], d["dev_eui"], d["dev_nonce"], d["mic_ok"]) == ("JoinRequest", "70b3d57ed0000001", 513, True)
    ja = node_batch([{"op": "build_join_accept", "joinnonce": "000001", "netid": "000013", "devaddr": "260b0001",
                      "dlsettings": 0x13, "rxdelay": 5, "appkey": APPKEY}])[0]["phy"]
    _, out, _ = run(capsys, "decode", ja, "--appkey", APPKEY, "--devnonce", "0x0201")
    d = json.loads(out)
    js = node_batch([{"op": "decode_join_accept", "phy": ja, "appkey": APPKEY, "devnonce": "0201"}])[0]
    assert d["mic_ok"] and d["dev_addr"] == "260b0001" and d["rx2_dr"] == 3 and d["rx1_dr_offset"] == 1
    assert d["rx_delay_s"] == 5 and (d["nwk_skey"], d["app_skey"]) == (js["nwkskey"], js["appskey"])


@pytest.mark.parametrize(("argv", "msg"), [
    (["decode", "xyz"], "not hex"),
    (["decode", "40f17dbe49"], "frame too short"),
    (["decode", "20" + "00" * 10, "--appkey", APPKEY], "Join-Accept has 17 or 33 bytes"),
    (["decode", "40F17DBE4900020001954378762B11FF0D", "--nwkskey", "0011"], "must be 16 bytes"),
    (["build", "join-request", "--joineui", "00", "--deveui", "70b3d57ed0000001", "--devnonce", "1",
      "--appkey", APPKEY], "JoinEUI: must be 8 bytes"),
    (["build", "data", "--devaddr", "260b0001", "--fcnt", "1", "--fopts", "00" * 16, "--nwkskey", NWK,
      "--appskey", APP], "at most 15 bytes"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], msg: str) -> None:
    r = subprocess.run([sys.executable, "-m", "trosmart_tools.cli", "lorawan", *argv], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr, r.stderr
