"""``trosmart provision``: secrets files, ChirpStack v4 registration against a gRPC server in the
test that implements chirpstack-api's DeviceService and DeviceProfileService and checks every
request, and TTS import files checked against the documented columns (docs/references.md §Q.D, §Q.E)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from chirpstack_api import api

from trosmart_tools import cli

from .conftest import Board

API_KEY = "test-api-key-0123456789"
APP_ID = "6f2b2d0e-6a0c-4b5e-9d57-3d7c1c6a0a11"
PROFILE_ID = "0b1d3f5a-1111-4c2b-8e8e-222233334444"
HEX = re.compile(r"^[0-9a-f]+$")


class FakeChirpStack(api.DeviceServiceServicer, api.DeviceProfileServiceServicer):  # type: ignore[misc]
    """ChirpStack v4's device API as api/proto/api/device.proto defines it, holding devices in a dict."""

    def __init__(self) -> None:
        self.devices: dict[str, Any] = {}
        self.keys: dict[str, Any] = {}
        self.calls: list[str] = []
        self.refuse_create: set[str] = set()

    def _auth(self, context: grpc.ServicerContext, call: str) -> None:
        self.calls.append(call)
        md = dict(context.invocation_metadata())
        if md.get("authorization") != f"Bearer {API_KEY}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid token")

    def Get(self, request: Any, context: grpc.ServicerContext) -> Any:  # both services' Get
        if isinstance(request, api.GetDeviceProfileRequest):
            self._auth(context, "DeviceProfile.Get")
            if request.id != PROFILE_ID:
                context.abort(grpc.StatusCode.NOT_FOUND, "Object does not exist (id: %s)" % request.id)
            return api.GetDeviceProfileResponse(device_profile=api.DeviceProfile(id=PROFILE_ID, name="EU868 1.0.3"))
        self._auth(context, "Device.Get")
        assert HEX.match(request.dev_eui) and len(request.dev_eui) == 16
        if request.dev_eui not in self.devices:
            context.abort(grpc.StatusCode.NOT_FOUND, "Object does not exist")
        return api.GetDeviceResponse(device=self.devices[request.dev_eui])

    def Create(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth(context, "Device.Create")
        d = request.device
        assert HEX.match(d.dev_eui) and len(d.dev_eui) == 16 and d.name
        assert d.application_id == APP_ID and d.device_profile_id == PROFILE_ID
        assert HEX.match(d.join_eui) and len(d.join_eui) == 16
        if d.dev_eui in self.refuse_create:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "dev_eui is blocked")
        if d.dev_eui in self.devices:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "Object already exists")
        self.devices[d.dev_eui] = d
        return _empty()

    def CreateKeys(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth(context, "Device.CreateKeys")
        k = request.device_keys
        assert k.dev_eui in self.devices, "keys for a device that was not created"
        # LoRaWAN 1.0.x: the AppKey in nwk_key, app_key left empty (device.proto comment, §Q.D)
        assert HEX.match(k.nwk_key) and len(k.nwk_key) == 32 and k.app_key == ""
        self.keys[k.dev_eui] = k
        return _empty()


def _empty() -> Any:
    from google.protobuf import empty_pb2

    return empty_pb2.Empty()


@pytest.fixture
def chirpstack() -> Iterator[tuple[FakeChirpStack, str]]:
    fake = FakeChirpStack()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    api.add_DeviceServiceServicer_to_server(fake, server)
    api.add_DeviceProfileServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield fake, f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def _provision(tmp_path: Path, target: str, *extra: str) -> int:
    return cli.main(["provision", "--block", "70b3d57ed0001000:3", "--out", str(tmp_path / "secrets"),
                     "--chirpstack", target, "--application-id", APP_ID, "--device-profile-id", PROFILE_ID,
                     *extra])


def test_chirpstack_registration_and_rerun(chirpstack: tuple[FakeChirpStack, str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fake, target = chirpstack
    monkeypatch.setenv("TROSMART_CHIRPSTACK_API_KEY", API_KEY)
    assert _provision(tmp_path, target) == 0
    out = capsys.readouterr().out
    euis = ["70b3d57ed0001000", "70b3d57ed0001001", "70b3d57ed0001002"]
    assert sorted(fake.devices) == euis and sorted(fake.keys) == euis
    for e in euis:
        f = tmp_path / "secrets" / f"{e}.secrets.json"
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        s = json.loads(f.read_text())
        assert s == {"deveui": e, "appeui": "0000000000000000", "appkey": fake.keys[e].nwk_key}
        assert s["appkey"] not in out  # keys are never printed without --show-keys
        assert f"{e} chirpstack: created" in out
    before = {e: fake.keys[e].nwk_key for e in euis}

    fake.calls.clear()
    assert _provision(tmp_path, target) == 0  # a rerun skips every device and keeps the keys
    out = capsys.readouterr().out
    assert out.count("chirpstack: exists") == 3 and "secrets kept" in out
    assert "Device.Create" not in fake.calls
    assert {e: json.loads((tmp_path / "secrets" / f"{e}.secrets.json").read_text())["appkey"] for e in euis} == before


def test_one_device_refused_the_others_registered(chirpstack: tuple[FakeChirpStack, str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake, target = chirpstack
    fake.refuse_create.add("70b3d57ed0001001")
    monkeypatch.setenv("TROSMART_CHIRPSTACK_API_KEY", API_KEY)
    assert _provision(tmp_path, target) == 1
    out = capsys.readouterr().out
    assert "70b3d57ed0001001 chirpstack: failed: INVALID_ARGUMENT: dev_eui is blocked" in out
    assert sorted(fake.devices) == ["70b3d57ed0001000", "70b3d57ed0001002"]
    assert "2 of 3 devices provisioned" in out


def test_refused_api_key(chirpstack: tuple[FakeChirpStack, str], tmp_path: Path,
                         capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake, target = chirpstack
    monkeypatch.setenv("TROSMART_CHIRPSTACK_API_KEY", "wrong")
    assert _provision(tmp_path, target) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trosmart: ChirpStack at") and "refused the API key" in err and len(err.splitlines()) == 1
    assert fake.devices == {}


def test_refused_device_profile(chirpstack: tuple[FakeChirpStack, str], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake, target = chirpstack
    monkeypatch.setenv("TROSMART_CHIRPSTACK_API_KEY", API_KEY)
    rc = cli.main(["provision", "--block", "70b3d57ed0001000:2", "--out", str(tmp_path / "s"), "--chirpstack",
                   target, "--application-id", APP_ID, "--device-profile-id", "00000000-0000-0000-0000-000000000000"])
    assert rc == 2 and "has no device profile" in capsys.readouterr().err
    assert fake.devices == {}


def test_api_key_file_must_be_private(chirpstack: tuple[FakeChirpStack, str], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake, target = chirpstack
    monkeypatch.delenv("TROSMART_CHIRPSTACK_API_KEY", raising=False)
    key = tmp_path / "api.key"
    key.write_text(API_KEY)
    key.chmod(0o644)
    assert _provision(tmp_path, target, "--api-key-file", str(key)) == 2
    assert "can be read by others" in capsys.readouterr().err
    key.chmod(0o600)
    assert _provision(tmp_path, target, "--api-key-file", str(key)) == 0
    assert len(fake.devices) == 3


def test_cleartext_to_another_host_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TROSMART_CHIRPSTACK_API_KEY", API_KEY)
    assert _provision(tmp_path, "chirpstack.example:8080") == 2
    assert "would travel in cleartext" in capsys.readouterr().err


def _tts_objects(text: str) -> list[dict[str, Any]]:
    dec, i, out = json.JSONDecoder(), 0, []
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text):
            obj, i = dec.raw_decode(text, i)
            out.append(obj)
    return out


def test_tts_import_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path, json_path = tmp_path / "tts.csv", tmp_path / "tts.json"
    assert cli.main(["provision", "--deveui", "70B3D57ED0001234", "--deveui", "70b3d57ed0001235",
                     "--name-prefix", "Troisdorf Rathaus ", "--out", str(tmp_path / "s"),
                     "--tts-csv", str(csv_path), "--tts-json", str(json_path), "--show-keys"]) == 0
    out = capsys.readouterr().out
    for p in (csv_path, json_path):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600  # they hold AppKeys
    text = csv_path.read_text()
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    header = text.splitlines()[0].split(";")
    assert {"dev_eui", "join_eui", "app_key"} <= set(header)  # the required columns (§Q.E)
    documented = {"dev_eui", "join_eui", "app_eui", "id", "name", "description", "lorawan_version",
                  "lorawan_phy_version", "frequency_plan_id", "brand_id", "model_id", "firmware_version",
                  "hardware_version", "band_id", "supports_class_c", "app_key", "nwk_key", "rx1_delay",
                  "supports_32_bit_f_cnt"}
    assert set(header) <= documented
    assert all(len(r) == len(header) for r in csv.reader(io.StringIO(text), delimiter=";"))
    assert [r["dev_eui"] for r in rows] == ["70B3D57ED0001234", "70B3D57ED0001235"]
    id_rule = re.compile(r"^[a-z0-9](?:[-]?[a-z0-9]){2,}$")
    for r in rows:
        assert id_rule.match(r["id"]) and len(r["id"]) <= 36
        assert r["lorawan_version"] == "MAC_V1_0_3" and r["lorawan_phy_version"] == "RP001_V1_0_3_REV_A"
        assert r["frequency_plan_id"] == "EU_863_870_TTN" and re.match(r"^[0-9A-F]{32}$", r["app_key"])
        assert r["app_key"].lower() in out  # --show-keys prints them
    objs = _tts_objects(json_path.read_text())
    assert not json_path.read_text().lstrip().startswith("[")  # a stream, not an array
    assert [o["ids"]["dev_eui"] for o in objs] == [r["dev_eui"] for r in rows]
    for o, r in zip(objs, rows):
        assert o["ids"]["device_id"] == r["id"] and o["ids"]["join_eui"] == r["join_eui"]
        assert o["supports_join"] is True and o["root_keys"]["app_key"]["key"] == r["app_key"]
        assert "nwk_key" not in o["root_keys"]  # 1.1 only in TTS


def test_device_id_rule_fallback() -> None:
    from trosmart_tools.device.provision import tts_device_id

    assert tts_device_id("Troisdorf Rathaus 1", "70b3d57ed0001234") == "troisdorf-rathaus-1"
    assert tts_device_id("--", "70b3d57ed0001234") == "eui-70b3d57ed0001234"
    assert tts_device_id("x" * 40, "70b3d57ed0001234") == "eui-70b3d57ed0001234"


def test_deveui_from_the_chip(board: Board, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["provision", "--from-ports", board.port, "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / f"{board.deveui}.secrets.json").exists()
    assert board.deveui in capsys.readouterr().out


def test_eui64_from_a_mac() -> None:
    from trosmart_tools.device.flash import eui64_from_mac

    assert eui64_from_mac("246f28a1b2c3") == "246f28fffea1b2c3"
