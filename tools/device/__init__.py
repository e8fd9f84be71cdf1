"""Device I/O for ``trosmart flash``, ``monitor``, ``config``, the virtual lab and hil_tests.

One narrow transport (mpremote's command line, mpremote.py), what a board holds (stage.py),
what is on the port (probe.py), the copy (sync.py), the node's self-test (selftest.py), the
configuration schema shared with the node (nodeconfig.py), the ROM loader (rom.py, esptool's
Python API) and the per-board progress display (progress.py). Errors: errors.py.
"""
