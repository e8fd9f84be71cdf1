"""Start and stop a real mosquitto broker on 127.0.0.1 (tests, the demo, benchmarks).

The listener binds 127.0.0.1 on a free port, never all interfaces.
``max_queued_messages 0`` (unlimited) because mosquitto otherwise drops QoS 1
messages for slow subscribers beyond 1000 queued (docs/references.md §L0.2).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from .errors import ToolError
from .secretfile import write_secret

READY_TIMEOUT_S = 10.0


def find_mosquitto() -> str:
    """Path of the mosquitto binary (PATH or /usr/sbin), or ToolError saying how to install it."""
    path = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if not path:
        raise ToolError("mosquitto is not installed: run 'make setup' or 'apt-get install mosquitto'")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Return once a TCP connect to host:port succeeds; ToolError after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as e:
            if time.monotonic() > deadline:
                raise ToolError(f"nothing listens on {host}:{port} after {timeout_s:.0f} s: {e}") from None
            time.sleep(0.02)  # polling a port: the only readiness signal mosquitto gives


class Mosquitto:
    """A mosquitto process with its own config and (optionally persistent) data directory."""

    def __init__(
        self,
        port: int | None = None,
        *,
        persistence: bool = False,
        data_dir: str | os.PathLike[str] | None = None,
        extra_conf: str = "",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.persistence = persistence
        self._own_dir = data_dir is None
        self.dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="trosmart-mosq-"))
        self.extra_conf = extra_conf
        self.username = username
        self.password = password
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _write_conf(self) -> Path:
        conf = self.dir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if self.username:
            pwfile = self.dir / "passwd"
            write_secret(pwfile, f"{self.username}:{self.password or ''}\n")
            subprocess.run(["mosquitto_passwd", "-U", str(pwfile)], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.dir}/", "autosave_interval 1"]
        else:
            lines.append("persistence false")
        if os.geteuid() == 0:
            # as root mosquitto drops to user 'mosquitto', which can neither read our 0600
            # password file nor write persistence into root-only temporary directories
            lines.append("user root")
        if self.extra_conf:
            lines.append(self.extra_conf)
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> Mosquitto:
        conf = self._write_conf()
        log = open(self.dir / "mosquitto.log", "ab")  # noqa: SIM115 (closed in stop)
        self._log = log
        self.proc = subprocess.Popen([find_mosquitto(), "-c", str(conf)], stdout=log, stderr=log)
        try:
            wait_for_port(self.host, self.port)
        except ToolError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            raise ToolError(f"mosquitto exited at start; see {self.dir / 'mosquitto.log'}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            self.proc = None
            self._log.close()

    def kill(self) -> None:
        """Stop without a clean shutdown (SIGKILL)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
            self._log.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
