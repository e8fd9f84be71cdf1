"""The virtual board's reset paths: watchdog, deep sleep, machine.reset, power loss, with the
RTC memory kept or lost as on an ESP32 (docs/references.md §F). A tiny main.py walks through them."""

from __future__ import annotations

from pathlib import Path

from trosmart_tools.virtual_lab.board_runner import VirtualNode

MAIN = """
import machine, os, time
SECOND = "second" in os.listdir(HW)
rtc = machine.RTC()
n = len(rtc.memory())
print("boot cause=%d rtc=%d" % (machine.reset_cause(), n))
rtc.memory(b"x" * (n + 1))
if n == 0 and machine.reset_cause() == machine.PWRON_RESET and not SECOND:
    machine.WDT(timeout=300)
    while True:  # never fed: the watchdog must reset the board
        time.sleep_ms(10)
elif n == 1:
    machine.deepsleep(100)
elif n == 2:
    machine.reset()
else:
    print("spinning")
    while True:
        time.sleep_ms(10)
"""


def test_watchdog_sleep_reset_and_power_loss(micropython: str, tmp_path: Path) -> None:
    node = VirtualNode(tmp_path, uart_pty="/dev/null", config={}, secrets=None, time_scale=0.01)
    node.flash.mkdir()
    marker = node.hw / "second"
    (node.flash / "main.py").write_text(f"HW = {str(node.hw)!r}\n" + MAIN)
    node.start()
    try:
        node.wait_for(r"^spinning$", timeout_s=30)
        marker.write_text("")  # the next power-on takes the quiet path
        node.power_loss()
        node.wait_for(r"^spinning$", count=2, timeout_s=30)
    finally:
        node.stop()
    boots = [ln for ln in node.console if ln.startswith("boot ")]
    assert boots == [
        "boot cause=1 rtc=0",  # power-on, RTC memory empty; the WDT is never fed
        "boot cause=3 rtc=1",  # WDT_RESET keeps RTC memory
        "boot cause=4 rtc=2",  # DEEPSLEEP_RESET keeps it
        "boot cause=2 rtc=3",  # machine.reset(): HARD_RESET keeps it
        "boot cause=1 rtc=0",  # power loss clears it
    ], node.console
    assert node.vclock_ms >= 100  # the deep sleep advanced the virtual clock
