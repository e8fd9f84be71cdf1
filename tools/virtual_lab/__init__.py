"""The virtual lab: a RAK3172 emulator on a pty and a simulated ChirpStack-v4 network server.

Only the physical edge is simulated (the modem's radio side and the network server); the
driver, the broker and the MicroPython interpreter under test are the real ones.
"""

from .host_uart import HostUart
from .network_server import SimNetworkServer
from .rak3172_emulator import Rak3172Emulator

__all__ = ["HostUart", "Rak3172Emulator", "SimNetworkServer"]
