"""What every simulated kernel object shares within one lab: clock, RNG, trace bus, ids."""

from __future__ import annotations

import itertools
import random

import simpy

from cnmsim.trace.bus import TraceBus


class SimContext:
    """One lab's simulation context; two labs never share one (no module-level state)."""

    def __init__(self, env: simpy.Environment, rng: random.Random, bus: TraceBus) -> None:
        self.env = env
        self.rng = rng
        self.bus = bus
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        """A fresh frame id, in creation order (deterministic)."""
        return next(self._ids)

    def random_mac(self, prefix: str | None = None) -> str:
        """A locally administered unicast MAC from the kernel's RNG (as the kernel's eth_random_addr)."""
        return random_mac(self.rng, prefix)

    def later(self, delay: float, fn, *args) -> None:  # noqa: ANN001
        """Call fn(*args) after `delay` simulated seconds (one simpy event)."""
        ev = self.env.timeout(delay)
        ev.callbacks.append(lambda _e: fn(*args))


def random_mac(r: random.Random, prefix: str | None = None) -> str:
    """A locally administered unicast MAC drawn from `r` (after `prefix`, when given)."""
    if prefix:
        tail = [r.randrange(256) for _ in range(6 - len(prefix.split(":")))]
        return prefix + "".join(f":{b:02x}" for b in tail)
    first = (r.randrange(256) & 0xFE) | 0x02
    return ":".join(f"{b:02x}" for b in [first] + [r.randrange(256) for _ in range(5)])
