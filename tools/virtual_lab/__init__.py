"""The virtual lab: virtual boards, the RAK3172 emulator, the simulated network server."""
