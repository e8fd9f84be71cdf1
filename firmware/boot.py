# Runs before main.py on every reset (ESP32). Keep it tiny: a fault here cannot be fixed remotely.
import gc

gc.threshold(8192)  # collect early: the ESP32 heap is small and fragments (docs/references.md §F)
