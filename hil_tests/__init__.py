"""Hardware-in-the-loop scenarios: the same tests on a real board and on the virtual board."""
