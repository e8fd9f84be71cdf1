"""Provisioning: DevEUIs, keys and the node's secrets file; registration in ChirpStack v4 and
import files for The Things Stack v3.

- DevEUI: the chip's MAC as an EUI-64 (flash.eui64_from_mac) or the next one of an assigned block;
  JoinEUI from the configuration; AppKey from Python's ``secrets`` module (16 random bytes).
- The node's secrets file (``<deveui>.secrets.json``) is created 0600 (os.open with the mode);
  a rerun reads the keys it holds instead of making new ones, so a device keeps its AppKey.
- ChirpStack v4 over gRPC with the chirpstack-api package (docs/references.md §Q.D): per-RPC
  metadata ``authorization: Bearer <key>``; the device profile is checked once, then per device
  DeviceService.Get (exists: skipped), Create, CreateKeys with the AppKey in ``nwk_key`` (for
  LoRaWAN 1.0.x ChirpStack takes the AppKey in nwk_key; app_key is for 1.1 only, §Q.D).
- The Things Stack v3 (§Q.E): a CSV (``;`` delimiter, header row, the-things-stack-csv columns)
  and a JSON stream of EndDevice objects (concatenated, not an array), both 0600; device ids
  follow ``^[a-z0-9](?:[-]?[a-z0-9]){2,}$``, at most 36 characters; the AppKey goes in
  ``app_key`` (TTS uses nwk_key only for 1.1).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets as pysecrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DeviceError
from .stage import write_secret

HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
TTS_DEVICE_ID = re.compile(r"^[a-z0-9](?:[-]?[a-z0-9]){2,}$")  # EndDeviceIdentifiers.device_id, max 36
TTS_CSV_COLUMNS = ("id", "dev_eui", "join_eui", "name", "frequency_plan_id", "lorawan_version",
                   "lorawan_phy_version", "app_key")
API_KEY_ENV = "TROSMART_CHIRPSTACK_API_KEY"


class ProvisionError(DeviceError):
    """Provisioning input or a network server refused what we sent."""


@dataclass
class Device:
    deveui: str
    joineui: str
    appkey: str
    name: str

    @property
    def tts_id(self) -> str:
        return tts_device_id(self.name, self.deveui)


def eui(text: str, what: str) -> str:
    v = text.strip().lower().replace(":", "").replace("-", "")
    if not HEX16.match(v):
        raise ProvisionError(f"{what} {text!r} is not 16 hex digits (an EUI-64)")
    return v


def block(start: str, count: int) -> list[str]:
    """``count`` DevEUIs from ``start`` (an assigned block, e.g. from the IEEE MA-L of the city)."""
    first = int(eui(start, "block start"), 16)
    if count < 1 or first + count > 1 << 64:
        raise ProvisionError(f"a block of {count} DevEUIs from {start} does not fit in 64 bits")
    return ["%016x" % (first + i) for i in range(count)]


def tts_device_id(name: str, deveui: str) -> str:
    """A TTS device id: the name made lowercase and hyphenated when it fits the rule, else eui-<deveui>."""
    cand = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", name.lower())).strip("-")
    if cand and TTS_DEVICE_ID.match(cand) and len(cand) <= 36:
        return cand
    return f"eui-{deveui}"  # 20 characters, always valid


def load_or_create(out: Path, deveui: str, joineui: str, name: str) -> tuple[Device, bool]:
    """The device's keys from ``out/<deveui>.secrets.json``, made (0600) when absent; (device, created)."""
    path = out / f"{deveui}.secrets.json"
    if path.exists():
        try:
            s = json.loads(path.read_text())
            if not (HEX32.match(s["appkey"]) and s["deveui"] == deveui):
                raise ValueError("bad keys")
        except (OSError, ValueError, KeyError, TypeError):
            raise ProvisionError(f"{path} is damaged: move it away (the device keeps its old AppKey in the "
                                 "network server) and rerun") from None
        return Device(deveui, s.get("appeui", joineui), s["appkey"], name), False
    out.mkdir(parents=True, exist_ok=True)
    dev = Device(deveui, joineui, pysecrets.token_hex(16), name)
    write_secret(path, json.dumps({"deveui": dev.deveui, "appeui": dev.joineui, "appkey": dev.appkey}))
    return dev, True


def read_api_key(path: str | None) -> str:
    """The ChirpStack API key: $TROSMART_CHIRPSTACK_API_KEY or a file only its owner can read."""
    if path:
        p = Path(path)
        try:
            mode = p.stat().st_mode
        except OSError as e:
            raise ProvisionError(f"cannot read the API key file {path}: {e.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ProvisionError(f"{path} can be read by others (mode {stat.S_IMODE(mode):o}): "
                                 f"'chmod 600 {path}', and consider making a new API key")
        key = p.read_text().strip()
    else:
        key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise ProvisionError(f"no ChirpStack API key: set {API_KEY_ENV} or pass --api-key-file (mode 0600)")
    return key


# ---- The Things Stack v3 ------------------------------------------------------------------------
def _tts_rows(devices: Iterable[Device], frequency_plan: str, mac: str, phy: str) -> list[dict[str, str]]:
    rows = []
    for d in devices:
        if not TTS_DEVICE_ID.match(d.tts_id) or len(d.tts_id) > 36:
            raise ProvisionError(f"TTS device id {d.tts_id!r} breaks the id rule (lowercase, digits, single hyphens, "
                                 "3-36 characters)")
        rows.append({"id": d.tts_id, "dev_eui": d.deveui.upper(), "join_eui": d.joineui.upper(), "name": d.name,
                     "frequency_plan_id": frequency_plan, "lorawan_version": mac, "lorawan_phy_version": phy,
                     "app_key": d.appkey.upper()})
    return rows


def tts_csv(devices: Iterable[Device], *, frequency_plan: str, mac: str, phy: str) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=TTS_CSV_COLUMNS, delimiter=";", quotechar='"', lineterminator="\n")
    w.writeheader()
    w.writerows(_tts_rows(devices, frequency_plan, mac, phy))
    return buf.getvalue()


def tts_json(devices: Iterable[Device], *, frequency_plan: str, mac: str, phy: str) -> str:
    out = []
    for r in _tts_rows(devices, frequency_plan, mac, phy):
        out.append(json.dumps({
            "ids": {"device_id": r["id"], "dev_eui": r["dev_eui"], "join_eui": r["join_eui"]},
            "name": r["name"], "lorawan_version": mac, "lorawan_phy_version": phy,
            "frequency_plan_id": frequency_plan, "supports_join": True,
            "root_keys": {"app_key": {"key": r["app_key"]}},
        }, indent=2))
    return "\n".join(out) + "\n"  # a stream of objects, as ttn-lw-cli end-devices create reads


# ---- ChirpStack v4 ------------------------------------------------------------------------------
@dataclass
class Registration:
    deveui: str
    outcome: str  # "created" | "exists" | "failed"
    detail: str = ""


def _is_loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


def chirpstack_register(devices: list[Device], *, server: str, api_key: str, application_id: str,
                        device_profile_id: str, tls: bool = False, ca_file: str | None = None,
                        insecure: bool = False, timeout_s: float = 15.0) -> list[Registration]:
    """Register every device; the API key or the device profile refused stops the run (one error),
    anything else is reported per device and the next one is tried."""
    import grpc
    from chirpstack_api import api

    if not tls and not insecure and not _is_loopback(server):
        raise ProvisionError(f"{server} is not this machine: the API key would travel in cleartext; pass --tls "
                             "(or --insecure if the network is trusted)")
    if tls:
        root = Path(ca_file).read_bytes() if ca_file else None
        channel = grpc.secure_channel(server, grpc.ssl_channel_credentials(root_certificates=root))
    else:
        channel = grpc.insecure_channel(server)
    auth = [("authorization", f"Bearer {api_key}")]
    results: list[Registration] = []
    with channel:
        devs = api.DeviceServiceStub(channel)
        profiles = api.DeviceProfileServiceStub(channel)
        try:
            profiles.Get(api.GetDeviceProfileRequest(id=device_profile_id), metadata=auth, timeout=timeout_s)
        except grpc.RpcError as e:
            raise _global_error(e, server, f"device profile {device_profile_id}") from None
        for d in devices:
            try:
                devs.Get(api.GetDeviceRequest(dev_eui=d.deveui), metadata=auth, timeout=timeout_s)
                results.append(Registration(d.deveui, "exists", "already registered: skipped"))
                continue
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    if e.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAVAILABLE):
                        raise _global_error(e, server, "") from None
                    results.append(Registration(d.deveui, "failed", _detail(e)))
                    continue
            try:
                devs.Create(api.CreateDeviceRequest(device=api.Device(
                    dev_eui=d.deveui, name=d.name or d.deveui, application_id=application_id,
                    device_profile_id=device_profile_id, join_eui=d.joineui)), metadata=auth, timeout=timeout_s)
                # LoRaWAN 1.0.x: ChirpStack takes the AppKey in nwk_key (docs/references.md §Q.D)
                devs.CreateKeys(api.CreateDeviceKeysRequest(device_keys=api.DeviceKeys(
                    dev_eui=d.deveui, nwk_key=d.appkey)), metadata=auth, timeout=timeout_s)
                results.append(Registration(d.deveui, "created"))
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNAUTHENTICATED:
                    raise _global_error(e, server, "") from None
                results.append(Registration(d.deveui, "failed", _detail(e)))
    return results


def _detail(e: Any) -> str:
    return f"{e.code().name}: {e.details()}"


def _global_error(e: Any, server: str, what: str) -> ProvisionError:
    import grpc

    code = e.code()
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return ProvisionError(f"ChirpStack at {server} refused the API key ({e.details()}): make a new one under "
                              f"API keys (tenant or admin) and set {API_KEY_ENV}")
    if code == grpc.StatusCode.UNAVAILABLE:
        return ProvisionError(f"ChirpStack at {server} is not reachable ({e.details()}): check the address "
                              "(its gRPC API, port 8080 by default) and --tls")
    if what and code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
        return ProvisionError(f"ChirpStack at {server} has no {what} ({e.details()}): copy the device "
                              "profile's id from its page in the ChirpStack UI")
    return ProvisionError(f"ChirpStack at {server}: {_detail(e)}")
