"""The node's configuration schema, loaded from the firmware itself (firmware/lib/node_config.py):
one definition for the node and the host tools. ``check`` names every rejected key."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import ConfigInvalid
from .stage import FIRMWARE_DIR

_module: ModuleType | None = None


def schema() -> ModuleType:
    """firmware/lib/node_config.py as a CPython module (it imports json, payload_codec and the
    sensor table, firmware/lib/sensor_table.py, which imports nothing)."""
    global _module
    if _module is None:
        table = FIRMWARE_DIR / "lib" / "sensor_table.py"
        tspec = importlib.util.spec_from_file_location("sensor_table", table)
        if tspec is None or tspec.loader is None:
            raise ConfigInvalid(f"cannot load the node's sensor table from {table}")
        tmod = importlib.util.module_from_spec(tspec)
        tspec.loader.exec_module(tmod)
        sys.modules.setdefault("sensor_table", tmod)  # node_config imports it by that name
        path = FIRMWARE_DIR / "lib" / "node_config.py"
        spec = importlib.util.spec_from_file_location("trosmart_node_config", path)
        if spec is None or spec.loader is None:
            raise ConfigInvalid(f"cannot load the node's config schema from {path}")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _module = mod
    return _module


def keys() -> list[str]:
    return sorted(schema().SCHEMA)


def check(raw: Any, *, source: str) -> dict[str, Any]:
    """``raw`` unchanged when every key is valid; ConfigInvalid naming the bad keys otherwise."""
    _, errors = schema().validate(raw)
    if errors:
        unknown = [k for k in errors if isinstance(raw, dict) and k not in schema().SCHEMA]
        hint = ""
        if unknown:
            hint = f" (unknown: {', '.join(unknown)}; known keys: {', '.join(keys())})"
        raise ConfigInvalid(f"{source}: bad value or unknown key {', '.join(map(repr, errors))}{hint}: "
                            "fix it (docs/firmware.md §3) and retry; the node was not touched")
    return dict(raw)


def read_object(path: str | Path, what: str = "config") -> dict[str, Any]:
    """One JSON object from a file; ConfigInvalid saying which file and why."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as e:
        raise ConfigInvalid(f"cannot read the {what} file {path}: {e.strerror}") from None
    except ValueError as e:
        raise ConfigInvalid(f"the {what} file {path} is not valid JSON ({e}): fix it and retry") from None
    if not isinstance(raw, dict):
        raise ConfigInvalid(f"the {what} file {path} must hold one JSON object")
    return raw


def read_file(path: str | Path) -> dict[str, Any]:
    return check(read_object(path), source=str(path))


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (600, true, ["temperature"]), else a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def default(key: str) -> Any:
    return schema().defaults()[key]
