"""A small shell: parses transcript lines and runs simulated commands in a place."""
