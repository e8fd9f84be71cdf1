"""UART sensor drivers (SDS011, A02YYUW): byte-exact frames and simulators on MicroPython,
property tests, and end to end on the virtual board."""
