"""One loopback UDP server for the virtual board's simulated radios (board/lora_sim.py): each
datagram is a JSON request, each answer a JSON list. The MAC's simulated gateway
(lorawan_server.py) and the P2P air (p2p_air.py) both answer through it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any

Handler = Callable[[Any, Any], list[Any]]  # (decoded request, sender address) -> answer


class UdpJsonServer:
    def __init__(self, name: str, handler: Handler) -> None:
        self.name = name
        self.handler = handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Listen on the loopback address 127.0.0.1 on a free port; returns the port."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.2)  # how often the loop looks whether close() was called
        self._sock = s
        self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self._thread.start()
        return int(s.getsockname()[1])

    def _serve(self) -> None:
        s = self._sock
        assert s is not None
        while self._sock is not None:
            try:
                data, addr = s.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                out = self.handler(json.loads(data), addr)
            except (ValueError, KeyError, TypeError):  # a malformed request gets an empty answer
                out = []
            s.sendto(json.dumps(out).encode(), addr)

    def close(self) -> None:
        s, self._sock = self._sock, None
        if self._thread is not None:
            self._thread.join(timeout=5)
        if s is not None:
            s.close()
