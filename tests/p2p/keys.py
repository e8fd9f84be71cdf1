"""A P2P keys file as the bridge wants it: JSON, created 0600 (never chmod after writing)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_keys(path: Path, doc: Any, mode: int = 0o600) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, json.dumps(doc).encode())
    finally:
        os.close(fd)
    return str(path)
