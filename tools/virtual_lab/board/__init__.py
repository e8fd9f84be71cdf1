"""The virtual board: machine module and register-level simulators (run on MicroPython)."""
