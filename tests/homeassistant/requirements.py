"""Print the PyPI requirements of the integrations the test Home Assistant sets up.

Run with the HA venv's python (``make ha-venv``): it walks the manifests of HA's own
start-up set (``homeassistant.bootstrap``) plus ``api``, ``mqtt`` and every platform the MQTT
integration sets up (its ``const.PLATFORMS``; ``camera`` imports ``stream``), through
``dependencies`` and ``after_dependencies``, so the venv has
every module before HA starts with ``--skip-pip`` (HA would otherwise pip-install them at
its first start).
"""

from __future__ import annotations

import json
from pathlib import Path

from homeassistant import bootstrap, components
from homeassistant.components.mqtt.const import PLATFORMS

WANTED = {"api", "mqtt", "stream", *(str(p) for p in PLATFORMS)}


def requirements() -> list[str]:
    base = Path(components.__file__).parent
    todo = set(bootstrap.CORE_INTEGRATIONS | bootstrap.LOGGING_INTEGRATIONS
               | bootstrap.DEFAULT_INTEGRATIONS | bootstrap.FRONTEND_INTEGRATIONS | WANTED)
    todo.discard("sentry")  # only when configured
    seen: set[str] = set()
    reqs: set[str] = set()
    while todo:
        name = todo.pop()
        seen.add(name)
        manifest = base / name / "manifest.json"
        if not manifest.exists():
            continue
        m = json.loads(manifest.read_text())
        reqs.update(m.get("requirements", []))
        todo.update(d for d in m.get("dependencies", []) + m.get("after_dependencies", [])
                    if d not in seen)
    return sorted(reqs)


if __name__ == "__main__":
    print("\n".join(requirements()))
