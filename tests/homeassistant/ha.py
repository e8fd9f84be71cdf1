"""A real Home Assistant 2024.3 for tests: its own venv (``.venv-ha``, made by ``make ha-venv``),
a temporary config directory, HTTP and MQTT on 127.0.0.1.

Since HA 2022.3 the MQTT broker is a config entry, not YAML, so the entry is written to
``.storage/core.config_entries`` before the start, together with a user and a long-lived
access token in ``.storage/auth`` (the formats HA 2024.3.3 reads in
``homeassistant/config_entries.py`` ``ConfigEntries.async_initialize`` and
``homeassistant/auth/auth_store.py`` ``AuthStore.async_load``). The access token is the JWT
HA's ``async_create_access_token`` would sign (HS256 with the refresh token's ``jwt_key``,
claims ``iss``/``iat``/``exp``), so the REST API (``/api/states``) answers without
onboarding. Only what HA 2024.3 always sets up is loaded, plus ``api`` and ``mqtt``:
no ``default_config``, no cloud, no discovery integrations.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from trosmart_tools.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
HA_VENV = Path(os.environ.get("TROSMART_HA_VENV", ROOT / ".venv-ha"))
HA_VERSION = "2024.3.3"
START_TIMEOUT_S = 240.0  # a cold start compiles and imports a few hundred modules; 2 CPUs shared
# The only warnings a clean start of this set-up logs: --skip-pip, and 2024.3 on Python 3.11.
# Anything else (a template warning, "is not a valid unit", "is using state class … which is
# impossible", an exception: docs/references.md §T) fails a test.
EXPECTED_WARNINGS = ("Skipping pip installation of required modules",
                     "Support for the running Python version 3.11")
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (\w+) ", re.M)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_token(refresh_id: str, jwt_key: str, now: float) -> str:
    """HS256 JWT as HA's ``async_create_access_token`` makes it."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"iss": refresh_id, "iat": int(now), "exp": int(now) + 86400}).encode())
    sig = hmac.new(jwt_key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def _store(path: Path, key: str, data: dict[str, Any], version: int = 1) -> None:
    path.write_text(json.dumps({"version": version, "minor_version": 1, "key": key, "data": data}))


class HomeAssistant:
    """``hass -c <dir>`` in its own process group; ``start`` returns once the API answers."""

    def __init__(self, config_dir: Path, mqtt_port: int) -> None:
        self.dir = config_dir
        self.mqtt_port = mqtt_port
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_mark = 0
        self.dir.mkdir(parents=True, exist_ok=True)
        self.token = self._write_config()

    @staticmethod
    def python() -> Path:
        py = HA_VENV / "bin" / "python"
        if not py.exists():
            raise FileNotFoundError(f"{py} is missing: run 'make ha-venv' (Home Assistant {HA_VERSION})")
        return py

    def _write_config(self) -> str:
        (self.dir / "configuration.yaml").write_text(
            "homeassistant:\n  name: TroSmart test\n  unit_system: metric\n  time_zone: UTC\n"
            "  country: DE\n  currency: EUR\n  latitude: 50.8\n  longitude: 7.15\n  elevation: 60\n"
            f"http:\n  server_host: 127.0.0.1\n  server_port: {self.http_port}\n"
            "api:\nlogger:\n  default: info\n")
        storage = self.dir / ".storage"
        storage.mkdir(exist_ok=True)
        now = time.time()
        created = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now))
        user_id, refresh_id, jwt_key = uuid.uuid4().hex, uuid.uuid4().hex, secrets.token_hex(64)
        _store(storage / "auth", "auth", {
            "users": [{"id": user_id, "group_ids": ["system-admin"], "is_owner": True,
                       "is_active": True, "name": "test", "system_generated": False,
                       "local_only": False}],
            "groups": [{"id": "system-admin", "name": "Administrators"}],
            "credentials": [],
            "refresh_tokens": [{"id": refresh_id, "user_id": user_id, "client_id": None,
                                "client_name": "trosmart-test", "client_icon": None,
                                "token_type": "long_lived_access_token", "created_at": created,
                                "access_token_expiration": 86400.0, "token": secrets.token_hex(64),
                                "jwt_key": jwt_key, "last_used_at": None, "last_used_ip": None,
                                "expire_at": None, "credential_id": None, "version": HA_VERSION}]})
        _store(storage / "core.config_entries", "core.config_entries", {"entries": [{
            "entry_id": uuid.uuid4().hex, "version": 1, "minor_version": 1, "domain": "mqtt",
            "title": "127.0.0.1", "source": "user", "unique_id": None, "disabled_by": None,
            "options": {}, "pref_disable_new_entities": False, "pref_disable_polling": False,
            "data": {"broker": "127.0.0.1", "port": self.mqtt_port, "discovery": True}}]})
        # onboarding done: HA then serves its API without first-run redirects
        _store(storage / "onboarding", "onboarding",
               {"done": ["user", "core_config", "analytics", "integration"]}, version=4)
        return access_token(refresh_id, jwt_key, now)

    @property
    def log(self) -> Path:
        return self.dir / "home-assistant.log"

    def start(self) -> HomeAssistant:
        # --skip-pip: every requirement is in the venv already; HA must not reach for PyPI
        self.proc = subprocess.Popen(
            [str(self.python()), "-m", "homeassistant", "-c", str(self.dir), "--skip-pip",
             "--log-file", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Home Assistant exited with {self.proc.returncode}:\n"
                                   + self.log_text()[-4000:])
            try:
                if self.api("/api/config").get("state") == "RUNNING":
                    return self
            except (OSError, urllib.error.URLError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("Home Assistant did not start:\n" + self.log_text()[-4000:])
            time.sleep(0.5)  # polling an HTTP port that is not up yet: no event to wait on

    def api(self, path: str) -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}",
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def states(self) -> dict[str, dict[str, Any]]:
        return {s["entity_id"]: s for s in self.api("/api/states")}

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def warnings(self) -> list[str]:
        """Every WARNING/ERROR/CRITICAL record of the log (with its traceback) not expected."""
        text = self.log_text()
        starts = [m.start() for m in _RECORD.finditer(text)] + [len(text)]
        out = []
        for a, b in itertools.pairwise(starts):
            record = text[a:b].rstrip()
            level = _RECORD.match(record)
            if level and level.group(1) in ("WARNING", "ERROR", "CRITICAL") and not any(
                    e in record for e in EXPECTED_WARNINGS):
                out.append(record)
        return out

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
