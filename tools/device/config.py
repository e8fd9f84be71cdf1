"""Read and change the node's config.json over USB, one key at a time (``trosmart config``).

Values are checked by the node's own schema (nodeconfig.py loads firmware/lib/node_config.py)
before anything is written; the new file goes to ``config.json.tmp`` and is renamed, so an
unplugged cable leaves the old file. The node applies it at its next boot.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from . import mpremote, nodeconfig
from .errors import ConfigInvalid, DeviceError

READ = ("import json\ntry:\n    _c = open('config.json').read()\nexcept OSError:\n    _c = None\n"
        "print('@@TROSMART ' + json.dumps({'config': _c}))\n")
COMMIT = ("import os\ntry:\n    os.remove('config.json')\nexcept OSError:\n    pass\n"
          "os.rename('config.json.tmp', 'config.json')\n")


def _known(key: str) -> None:
    if key not in nodeconfig.schema().SCHEMA:
        raise ConfigInvalid(f"unknown config key {key!r}: known keys are {', '.join(nodeconfig.keys())}")


def read_raw(port: str) -> dict[str, Any]:
    res = mpremote.results(mpremote.run(port, ["exec", READ]))
    text = res[0].get("config") if res and isinstance(res[0], dict) else None
    if text is None:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        raise DeviceError(f"config.json on {port} is not valid JSON: replace it with "
                          "'trosmart flash --config node.json'") from None
    return raw if isinstance(raw, dict) else {}


def get(port: str, key: str | None) -> dict[str, tuple[Any, bool]]:
    """{key: (value the node applies, set in the file?)}; every key when ``key`` is None."""
    if key is not None:
        _known(key)
    raw = read_raw(port)
    applied, _ = nodeconfig.schema().validate(raw)
    names = [key] if key is not None else nodeconfig.keys()
    return {k: (applied[k], k in raw) for k in names}


def set_value(port: str, key: str, text: str) -> Any:
    """Validate, write and return the new value of ``key``."""
    _known(key)
    value = nodeconfig.parse_value(text)
    nodeconfig.check({key: value}, source=f"{key}={text}")
    raw = read_raw(port)
    raw[key] = value
    with tempfile.TemporaryDirectory(prefix="trosmart-config-") as tmp:
        f = Path(tmp) / "config.json"
        f.write_text(json.dumps(raw))
        mpremote.run(port, mpremote.chain(["fs", "cp", "-f", str(f), ":config.json.tmp"], ["exec", COMMIT]))
    return value
