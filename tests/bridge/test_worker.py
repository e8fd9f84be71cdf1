"""The worker's commit thread: a batch is handled while the one before it commits, yet input
is acknowledged only after its commit and dedupe sees the keys being committed."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from bridge import config
from bridge.device import DeviceState
from bridge.model import InMessage
from bridge.pipeline import Batch
from bridge.worker import Worker


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[Worker, Connection]]:
    cfg = config.parse({"bridge": {"state_dir": str(tmp_path)}, "city": {"port": 1883},
                        "source": [{"name": "cs", "port": 1883}]})
    mine, theirs = socket.socketpair()
    w = Worker(cfg, Connection(theirs.detach()))
    main = Connection(mine.detach())
    try:
        yield w, main
    finally:
        w.close()
        main.close()


def test_a_key_being_committed_counts_as_seen(worker: tuple[Worker, Connection]) -> None:
    w, _ = worker
    b = Batch()
    b.seen_keys.add("cs:one")
    w.committing = (b, Future())
    assert w._seen_many(["cs:one", "cs:two"]) == {"cs:one"}
    w.committing = None


def test_input_is_acknowledged_only_after_its_commit(worker: tuple[Worker, Connection]) -> None:
    w, main = worker
    release = threading.Event()
    real_commit = w.store.commit

    def slow_commit(*args: Any) -> int:
        assert release.wait(10)  # the test holds the commit here
        return real_commit(*args)

    w.store.commit = slow_commit  # type: ignore[method-assign]
    b = Batch()
    b.acks.append(InMessage("cs", "t", b"{}", 1, 7, 1, False))
    b.seen.append(("cs:k", 1.0))
    b.seen_keys.add("cs:k")
    b.devices["70b3d57ed0001234"] = DeviceState(meta={"frames": 1}, retained=["temperature"])
    w._commit(b)
    assert not main.poll(0.2)  # handled, not committed: nothing acknowledged yet
    assert w._seen_many(["cs:k"]) == {"cs:k"}
    # the next batch works on the same nested state while this one commits
    retained = w.processor.devices["70b3d57ed0001234"].retained
    assert retained is not None
    retained.append("humidity")
    release.set()
    w._finish()
    kind, acks, _downs, _rows = main.recv()
    assert kind == "done" and acks == [("cs", 7, 1, 1)]
    assert w.reader.seen("cs:k") and w.committing is None
    assert w.reader.devices()["70b3d57ed0001234"].retained == ["temperature"]  # a snapshot


def test_a_failed_commit_ends_the_worker_without_an_ack(worker: tuple[Worker, Connection]) -> None:
    w, main = worker

    def broken(*_args: Any) -> int:
        raise OSError("disk gone")

    w.store.commit = broken  # type: ignore[method-assign]
    b = Batch()
    b.acks.append(InMessage("cs", "t", b"{}", 1, 7, 1, False))
    w._commit(b)
    with pytest.raises(OSError, match="disk gone"):
        w._finish()
    assert not main.poll(0.1)
