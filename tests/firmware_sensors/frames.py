"""Byte frames written from the protocol documents, independent of the firmware and simulators.

SDS011: Nova Fitness "Laser Dust Sensor Control Protocol V1.3" (commands 19 bytes, replies 10
bytes, checksum = low byte of the data-byte sum). A02YYUW: DFRobot SEN0311 wiki (FF H L SUM).
"""

from __future__ import annotations

from pathlib import Path

from trosmart_tools.mpy import REPO_ROOT

HERE = Path(__file__).parent
MPY_PATH = [REPO_ROOT / "firmware" / "lib", REPO_ROOT / "tools" / "virtual_lab" / "board", HERE,
            REPO_ROOT / "tests" / "firmware_node"]

# examples printed in the protocol document (V1.3): query data, and its C0 reply
# (PM2.5 0x04D4 = 123.6 ug/m3, PM10 0x0A3A = 261.8 ug/m3, device id A160)
DOC_QUERY = "aab404000000000000000000000000ffff02ab"
DOC_REPLY = "aac0d4043a0aa1601dab"
DOC_SLEEP = "aab406010000000000000000000000ffff05ab"
DOC_WORK = "aab406010100000000000000000000ffff06ab"
DOC_QUERY_MODE = "aab402010100000000000000000000ffff02ab"


def sds_reply(kind: int, d1: int, d2: int, d3: int, d4: int, dev: tuple[int, int] = (0xA1, 0x60),
              bad: bool = False) -> bytes:
    body = bytes((d1, d2, d3, d4, *dev))
    chk = (sum(body) + (1 if bad else 0)) & 0xFF
    return bytes((0xAA, kind)) + body + bytes((chk, 0xAB))


def sds_data(pm25_tenths: int, pm10_tenths: int, bad: bool = False) -> bytes:
    return sds_reply(0xC0, pm25_tenths & 0xFF, pm25_tenths >> 8, pm10_tenths & 0xFF, pm10_tenths >> 8,
                     bad=bad)


def sds_ack(cmd: int, setting: int, value: int, bad: bool = False) -> bytes:
    return sds_reply(0xC5, cmd, setting, value, 0, bad=bad)


WORK_ACK = sds_ack(0x06, 1, 1)
MODE_ACK = sds_ack(0x02, 1, 1)
SLEEP_ACK = sds_ack(0x06, 1, 0)


def a02_frame(mm: int, bad: bool = False) -> bytes:
    h, lo = mm >> 8, mm & 0xFF
    return bytes((0xFF, h, lo, (0xFF + h + lo + (1 if bad else 0)) & 0xFF))


def a02_valid_windows(data: bytes) -> set[int]:
    """Distances of every checksum-valid FF H L SUM window (a false frame hidden in noise)."""
    out = set()
    for i in range(len(data) - 3):
        if data[i] == 0xFF and (0xFF + data[i + 1] + data[i + 2]) & 0xFF == data[i + 3]:
            out.add(data[i + 1] << 8 | data[i + 2])
    return out


def sds_valid_windows(data: bytes) -> set[tuple[int, int]]:
    out = set()
    for i in range(len(data) - 9):
        w = data[i:i + 10]
        if w[0] == 0xAA and w[1] == 0xC0 and w[9] == 0xAB and sum(w[2:8]) & 0xFF == w[8]:
            out.add((w[2] | w[3] << 8, w[4] | w[5] << 8))
    return out
