"""Debian's PostgreSQL server for tests and benchmarks: initdb + postgres in a temporary
directory, listening on a Unix socket only (``listen_addresses=''``), run as an unprivileged
user because the server refuses to run as root (CI runs as root: the user ``trosmart-pg`` is
created with useradd when missing)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from trosmart_tools.broker import free_port

PG_USER = "trosmart-pg"
START_TIMEOUT_S = 60.0


def find_pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run 'make setup' or 'apt-get install postgresql'")
    return Path(found[-1]).parent


def _user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as; None when we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
                       check=True, capture_output=True)
        pw = pwd.getpwnam(PG_USER)
    return pw.pw_uid, pw.pw_gid


class PgServer:
    def __init__(self, *, fast: bool = True) -> None:
        self.bin = find_pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="trosmart-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()  # names the socket file; nothing listens on TCP
        self.fast = fast
        self.proc: subprocess.Popen[bytes] | None = None
        self._ids = _user()

    def _run_as(self) -> dict[str, Any]:
        if self._ids is None:
            return {}
        uid, gid = self._ids
        return {"user": uid, "group": gid, "extra_groups": []}

    def start(self) -> PgServer:
        if self._ids is not None:
            os.chown(self.dir, *self._ids)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        subprocess.run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                        "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                       check=True, capture_output=True, env=env, cwd=self.dir, **self._run_as())
        opts = ["-c", "listen_addresses=", "-c", f"unix_socket_directories={self.dir}", "-p", str(self.port),
                "-c", "max_connections=100", "-c", "shared_buffers=128MB"]
        if self.fast:  # tests only: a crashed test server is thrown away anyway
            opts += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self._log = open(self.dir / "postgres.log", "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([str(self.bin / "postgres"), "-D", str(self.data), *opts],
                                     stdout=self._log, stderr=self._log, env=env, cwd=self.dir,
                                     **self._run_as())
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited at start: {(self.dir / 'postgres.log').read_text()[-2000:]}")
            try:
                psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres not ready after {START_TIMEOUT_S:.0f} s") from None
                time.sleep(0.05)  # polling: the server gives no other readiness signal

    def dsn(self, dbname: str) -> str:
        return f"host={self.dir} port={self.port} user=postgres dbname={dbname}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as c:
            c.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        return self.dsn(name)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(2)  # SIGINT: PostgreSQL's fast shutdown
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            self.proc = None
            self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
