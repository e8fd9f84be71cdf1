"""Node firmware tests: units on the MicroPython Unix port, end to end on the virtual board."""
