"""The kernel layer: the one seam between the engine and Linux (simulated or real)."""
