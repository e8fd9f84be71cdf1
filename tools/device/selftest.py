"""The node's self-test (firmware/lib/selftest.py) run over the REPL, judged and printed.

Passes when the firmware version is known, every configured sensor reads, the modem answers,
the three LoRaWAN keys are present (reported as present or missing, never shown), the config
has no errors and enough heap is free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MIN_FREE_BYTES = 16_000  # what a cycle needs on top of the loaded firmware (docs/firmware.md §10)


def command(module_names: list[str]) -> list[str]:
    """mpremote exec of the self-test, after forgetting modules a previous run imported (the
    REPL keeps sys.modules, and the files may just have been replaced)."""
    code = ("import sys\nfor _k in list(sys.modules):\n    if _k.split('.')[0] in %r:\n"
            "        del sys.modules[_k]\ntry:\n    import selftest\n    selftest.run()\n"
            "except Exception as _e:\n    import json\n    print('@@TROSMART ' + json.dumps({'error': repr(_e)}))\n"
            % (sorted(set(module_names)),))
    return ["exec", code]


def module_names(files: list[str]) -> list[str]:
    names = {"selftest", "payload_codec"}
    for f in files:
        if f.startswith("lib/") and f.count("/") == 1 and f.endswith((".mpy", ".py")):
            names.add(f[4:].rsplit(".", 1)[0])
    return sorted(names)


@dataclass
class Result:
    report: dict[str, Any]
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        r = self.report
        out = [f"firmware  {r.get('firmware', '?')} (board profile {r.get('board', '?')})"]
        for name, state in sorted(dict(r.get("sensors", {})).items()):
            out.append(f"sensor    {name:<8} {'found' if state == 'ok' else 'FAILED: ' + str(state)}")
        if "board_error" in r:
            out.append(f"board     FAILED: {r['board_error']}")
        out.append(f"modem     {'answers, ' if r.get('modem_ok') else 'FAILED: '}{r.get('modem', '-')}")
        keys = dict(r.get("keys", {}))
        out.append("keys      " + ", ".join(f"{k} {'present' if keys.get(k) else 'MISSING'}"
                                           for k in ("deveui", "appeui", "appkey")))
        out.append(f"heap      {r.get('free', 0)} B free")
        errs = r.get("config_errors") or []
        out.append("config    " + ("ok" if not errs else "bad keys: " + ", ".join(map(str, errs))))
        out.append("self-test " + ("PASS" if self.passed else "FAIL: " + "; ".join(self.failures)))
        return out


def _clean(report: dict[str, Any]) -> dict[str, Any]:
    """The board's report with every field of the expected type (a board is untrusted input)."""
    r = dict(report)
    for key in ("sensors", "keys"):
        if not isinstance(r.get(key), dict):
            r[key] = {}
    if not isinstance(r.get("config_errors"), list):
        r["config_errors"] = [] if r.get("config_errors") is None else ["config"]
    if not isinstance(r.get("free"), int) or isinstance(r.get("free"), bool):
        r["free"] = 0
    return r


def judge(report: object) -> Result:
    if not isinstance(report, dict):
        return Result({}, ["the board printed no self-test report"])
    report = _clean(report)
    res = Result(report)
    f = res.failures
    if "error" in report:
        f.append(f"the self-test did not run ({report['error']}): flash again")
        return res
    if report.get("firmware", "?") == "?":
        f.append("firmware version unknown (build.json missing)")
    if "board_error" in report:
        f.append(f"board profile: {report['board_error']}")
    for name, state in sorted(dict(report.get("sensors", {})).items()):
        if state != "ok":
            f.append(f"sensor {name} not found ({state}): check its wiring")
    if not report.get("modem_ok"):
        f.append("modem does not answer: check the RAK3172 wiring (UART2) and power")
    missing = [k for k, ok in sorted(dict(report.get("keys", {})).items()) if not ok]
    if missing or not report.get("keys"):
        f.append("LoRaWAN keys missing (%s): run 'trosmart provision' or pass --secrets"
                 % ", ".join(missing or ["all"]))
    if report.get("config_errors"):
        f.append("config keys rejected: " + ", ".join(map(str, report["config_errors"])))
    if int(report.get("free", 0)) < MIN_FREE_BYTES:
        f.append(f"only {report.get('free', 0)} B heap free (need {MIN_FREE_BYTES})")
    return res
