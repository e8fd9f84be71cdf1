"""The P2P devices' keys: a JSON file {"<DevEUI>": "<AES-128 key, 32 hex>"}, mode 0600.

The envelope names a device by the low 4 bytes of its DevEUI (docs/p2p.md §1).
"""

from __future__ import annotations

import json

from payload_codec import envelope

from .aes import Aes128
from .config import read_secret_file
from .errors import ConfigError


def device_id(dev_eui: str) -> int:
    return int(dev_eui[-8:], 16)


def load(path: str, where: str) -> dict[int, tuple[str, envelope.Signer]]:
    """device id -> (DevEUI lower-case, Signer). ConfigError names the entry at fault."""
    text = read_secret_file(path, f"[{where}] keys_file")
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"[{where}] keys_file {path}: not JSON ({e})") from None
    if not isinstance(doc, dict) or not doc:
        raise ConfigError(f"[{where}] keys_file {path}: an object of DevEUI -> key is needed")
    out: dict[int, tuple[str, envelope.Signer]] = {}
    for eui, key in doc.items():
        try:
            ok = len(eui) == 16 and isinstance(key, str) and len(bytes.fromhex(key)) == 16
            int(eui, 16)
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f"[{where}] keys_file {path}: entry {eui!r} needs a 16-hex DevEUI "
                              "and a 32-hex key")
        dev = device_id(eui)
        if dev in out:
            raise ConfigError(f"[{where}] keys_file {path}: {eui} and {out[dev][0]} share the "
                              f"device id {dev:08X} (the DevEUI's low 4 bytes)")
        out[dev] = (eui.lower(), envelope.Signer(Aes128(bytes.fromhex(key))))
    return out
