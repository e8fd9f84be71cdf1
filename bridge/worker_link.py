"""The main process's end of the worker process (bridge/worker.py): start it, feed it, hear it.

One thread reads what the worker sends and calls back; sending is for one thread at a time
(the service's feeder). The worker is ``python -m bridge.worker FD`` with one end of a socket
pair as FD, so it needs nothing from this process's ``__main__`` and dies with it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from .config import Config
from .errors import BridgeError
from .logs import event

STOP_KILL_S = 10.0  # how long a worker that was told to stop may take before it is killed


class WorkerLink:
    def __init__(
        self,
        cfg: Config,
        on_done: Callable[[list[Any], list[Any], int], None],
        on_status: Callable[[int, bool, list[Any]], None],
        on_exit: Callable[[str], None],
    ) -> None:
        self.cfg = cfg
        self._on_done = on_done
        self._on_status = on_status
        self._on_exit = on_exit
        self.ready = threading.Event()  # the worker opened the state database
        self.stopped = threading.Event()  # the worker reported its last commit and left
        self.exited = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_reason: str | None = None
        self._conn: Connection | None = None
        self._reader = threading.Thread(target=self._read, name="worker-link", daemon=True)

    def start(self) -> None:
        mine, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "bridge.worker", str(theirs.fileno())],
                                         pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        except OSError as e:
            mine.close()
            raise BridgeError(f"cannot start the worker process: {e}") from None
        finally:
            theirs.close()
        self._conn = Connection(mine.detach())
        self._conn.send(("config", self.cfg))
        self._reader.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def reading(self) -> bool:
        """True while the thread that hears the worker runs (or has not started yet)."""
        return self._reader.is_alive() or not self._reader.ident

    def send(self, item: tuple[Any, ...]) -> None:
        """One thread only; blocks while the worker does not read (its outbox is full)."""
        assert self._conn is not None
        self._conn.send(item)

    def wait_ready(self, timeout_s: float) -> bool:
        """True once the worker can take input; False if it exited or did not get there."""
        return self._wait(self.ready, timeout_s)

    def wait_stopped(self, timeout_s: float) -> bool:
        """True once the worker reported its last commit; False if it exited or timed out."""
        return self._wait(self.stopped, timeout_s)

    def _wait(self, what: threading.Event, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not what.wait(0.05):  # that, or the worker's exit, whichever comes first
            if self.exited.is_set() or time.monotonic() > deadline:
                return what.is_set()
        return True

    def close(self) -> None:
        """End the worker: after ``stopped`` it exits by itself; otherwise it is killed, which
        loses nothing (what it holds is not acknowledged, its transactions are atomic) and
        frees a feeder blocked in ``send``."""
        if self.proc is not None:
            if not self.stopped.is_set() and self.proc.poll() is None:
                event(logging.WARNING, "worker process killed at stop", pid=self.proc.pid)
                self.proc.kill()
            try:
                self.proc.wait(STOP_KILL_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._conn is not None:
            self._conn.close()

    def _read(self) -> None:
        assert self._conn is not None
        reason: str | None = None  # the worker's own "fatal" report, when it sent one
        try:
            while True:
                item = self._conn.recv()
                kind = item[0]
                if kind == "done":
                    self._on_done(item[1], item[2], item[3])
                elif kind == "status":
                    self._on_status(item[1], item[2], item[3])
                elif kind == "ready":
                    self.ready.set()
                elif kind == "fatal":
                    reason = item[1]
                elif kind == "stopped":
                    self.stopped.set()
                    return
        except (EOFError, OSError):
            pass
        except Exception as e:  # a callback failed: this thread ends, so must the bridge
            # (what it did not acknowledge stays in the source broker's session)
            reason = f"worker-link: {e!r}"
            self.exit_reason = reason
            self.exited.set()
            self._on_exit(reason)
            return
        if reason is None:
            code = None
            if self.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):  # closed its end, still running
                    code = self.proc.wait(STOP_KILL_S)
            reason = f"worker process exited (code {code})"
        self.exit_reason = reason
        self.exited.set()
        self._on_exit(reason)
