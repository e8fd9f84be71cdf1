"""The demo's portal: ``trosmart portal`` as a child process on the demo's broker, with the three
demo nodes registered as public (two city nodes, one private maker's node whose position the
portal coarsens), so ``make demo`` shows the map, charts and downloads in a browser, and one
fleet-view account (``technik``) whose password is made for this run and kept in a 0600 file
(docs/portal.md §5a), never printed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..broker import free_port
from ..errors import ToolError
from ..secretfile import write_secret

DEFAULT_PORT = 8080
FLEET_ACCOUNT = "technik"
FLEET_PASSWORD_FILE = "fleet-password"  # noqa: S105 - the name of the 0600 file, not a password
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
NODES = (  # (DevEUI, name, lat, lon, owner): places in Troisdorf
    ("70b3d57ed0de0001", "Luftqualität Rathaus", 50.8156, 7.1557, "city"),
    ("70b3d57ed0de0002", "Pegel Agger", 50.8069, 7.1699, "city"),
    ("70b3d57ed0de0003", "Parkplatz (Werkstatt-Knoten)", 50.8211, 7.1478, "private"),
)


def portal_toml(state_dir: Path, broker_host: str, broker_port: int, http_port: int, prefix: str,
                password_hash: str | None = None) -> str:
    nodes = "".join(
        f'\n[[node]]\ndev_eui = "{d}"\npublic = true\nname = "{n}"\nlat = {lat}\nlon = {lon}\nowner = "{o}"\n'
        + ('owner_name = "Stadtwerke Troisdorf"\n' if o == "city" else "")
        for d, n, lat, lon, o in NODES)
    return f"""# written by trosmart demo
[portal]
prefix = "{prefix}"
host = "127.0.0.1"
port = {http_port}
state_dir = "{state_dir}"

[mqtt]
host = "{broker_host}"
port = {broker_port}
client_id = "trosmart-demo-portal"
{nodes}""" + (f'\n[[account]]\nname = "{FLEET_ACCOUNT}"\npassword_hash = "{password_hash}"\n' if password_hash else "")


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class DemoPortal:
    def __init__(self, workdir: Path, prefix: str) -> None:
        self.workdir = workdir
        self.prefix = prefix
        self.port = DEFAULT_PORT if _port_free(DEFAULT_PORT) else free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    @property
    def password_file(self) -> Path:
        return self.workdir / FLEET_PASSWORD_FILE

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, broker_host: str, broker_port: int, abort: Callable[[], bool] = lambda: False) -> str | None:
        """Start and wait until it answers HTTP; None if ``abort()`` became true meanwhile."""
        import secrets

        from portal.fleet.auth import hash_password

        password = secrets.token_urlsafe(12)
        write_secret(self.password_file, password + "\n")
        conf = self.workdir / "portal.toml"
        write_secret(conf, portal_toml(self.workdir / "portal-state", broker_host, broker_port, self.port,
                                       self.prefix, hash_password(password)))
        self._log = open(self.workdir / "portal.log", "ab")  # noqa: SIM115 - closed in stop()
        cmd = [sys.executable, "-m", "trosmart_tools.cli", "portal", "--config", str(conf)]  # = trosmart portal
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                tail = (self.workdir / "portal.log").read_text(errors="replace").strip().splitlines()[-3:]
                raise ToolError(f"the portal exited with status {self.proc.returncode}: " + " | ".join(tail))
            if abort():
                return None
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1):
                    return self.url
            except urllib.error.HTTPError:  # 503 until its broker connection is up: it serves
                return self.url
            except OSError:  # not listening yet
                if time.monotonic() > deadline:
                    raise ToolError(f"the portal did not answer on {self.url} within {START_TIMEOUT_S:.0f} s"
                                    ) from None
                time.sleep(0.1)  # polling the port: the portal's only readiness signal

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
