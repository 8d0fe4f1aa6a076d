"""A schedule of faults, applied to a cluster (and its transport) at simulated times.

Faults are plain records; `Schedule.apply(cluster)` resolves random choices with the schedule's
own seeded RNG (so the same faults hit the same nodes whatever the protocol settings) and starts
one simpy process that injects each fault at its time:

    Crash(at=10, count=2)             crash 2 random running nodes (or `nodes=(3, 7)`)
    Restart(at=30)                    restart every node this schedule crashed (or `nodes=...`)
    Partition(at=5, groups=((0, 1), (2, 3)), heal_at=20)   cut between groups, heal later
    LinkFault(at=0, src=1, dst=2, loss=0.2, latency=0.05, jitter=0.01, until=None)
    SlowHost(at=0, node=4, delay=0.8, until=None)          node 4 processes messages late
"""

from __future__ import annotations

import random
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol


@dataclass(frozen=True)
class Crash:
    """Crash `nodes`, or `count` random running nodes not protected."""

    at: float
    nodes: tuple[int, ...] = ()
    count: int = 0


@dataclass(frozen=True)
class Restart:
    """Restart `nodes`; empty means every node this schedule crashed before `at`."""

    at: float
    nodes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Partition:
    """Nodes in different groups cannot reach each other (nodes in no group are unaffected)
    from `at` until `heal_at` (None: for ever)."""

    at: float
    groups: tuple[tuple[int, ...], ...]
    heal_at: float | None = None


@dataclass(frozen=True)
class LinkFault:
    """Loss probability, one-way latency and jitter (seconds) on src -> dst (both ways if
    `symmetric`) from `at` until `until`, instead of the transport's global values; `None`
    keeps the global value."""

    at: float
    src: int
    dst: int
    loss: float | None = None
    latency: float | None = None
    jitter: float | None = None
    until: float | None = None
    symmetric: bool = True


@dataclass(frozen=True)
class SlowHost:
    """A degraded host: every message it receives is processed `delay` seconds late."""

    at: float
    node: int
    delay: float
    until: float | None = None


Fault = Crash | Restart | Partition | LinkFault | SlowHost


class FaultSink(Protocol):
    """What a fault needs from a metrics collector (`Metrics` has it)."""

    def mark_slow(self, node: int, slow: bool = True) -> None: ...


@dataclass
class Schedule:
    """Faults to inject, in any order.  `protect` nodes are never picked at random."""

    faults: list[Fault] = field(default_factory=list)
    seed: int = 0
    protect: set[int] = field(default_factory=set)
    log: list[tuple[float, str, Any]] = field(default_factory=list)

    def add(self, *faults: Fault) -> Schedule:
        self.faults.extend(faults)
        return self

    def resolve(self, n: int) -> list[Fault]:
        """The faults in time order with random crash choices made (deterministic by seed)."""
        rng = random.Random(f"cnmsim-faults-{self.seed}")
        down: set[int] = set()
        ever: list[int] = []
        out: list[Fault] = []
        for f in sorted(self.faults, key=lambda f: f.at):  # stable: equal times keep order
            if isinstance(f, Crash):
                pool = [i for i in range(n) if i not in down and i not in self.protect
                        and i not in f.nodes]
                picked = tuple(f.nodes) + tuple(sorted(rng.sample(pool, f.count)))
                f = replace(f, nodes=picked, count=0)
                down.update(picked)
                ever.extend(x for x in picked if x not in ever)
            elif isinstance(f, Restart):
                f = replace(f, nodes=tuple(f.nodes) or tuple(x for x in ever if x in down))
                down.difference_update(f.nodes)
            out.append(f)
        return out

    def crashed(self, n: int) -> list[int]:
        """Every node some Crash of this schedule takes down."""
        return sorted({x for f in self.resolve(n) if isinstance(f, Crash) for x in f.nodes})

    def apply(self, cluster: Any, metrics: FaultSink | None = None) -> Any:
        """Start injecting into `cluster` (its `transport` for network faults); returns the
        simpy process."""
        steps = _steps(self.resolve(cluster.n))
        return cluster.env.process(self._run(cluster, metrics, steps))

    def _run(self, cluster: Any, metrics: FaultSink | None,
             steps: Sequence[tuple[float, int, str, Any]]) -> Generator[Any, Any, None]:
        env = cluster.env
        for t, _, what, arg in steps:
            if t > env.now:
                yield env.timeout(t - env.now)
            _inject(cluster, metrics, what, arg)
            self.log.append((env.now, what, arg))


def _steps(faults: Iterable[Fault]) -> list[tuple[float, int, str, Any]]:
    """Expand faults into timed actions (a heal or an end of a fault is its own action)."""
    out: list[tuple[float, int, str, Any]] = []

    def at(t: float, what: str, arg: Any) -> None:
        out.append((t, len(out), what, arg))

    for f in faults:
        if isinstance(f, Crash):
            at(f.at, "crash", f.nodes)
        elif isinstance(f, Restart):
            at(f.at, "restart", f.nodes)
        elif isinstance(f, Partition):
            at(f.at, "partition", f.groups)
            if f.heal_at is not None:
                at(f.heal_at, "heal", f.groups)
        elif isinstance(f, LinkFault):
            at(f.at, "link", f)
            if f.until is not None:
                at(f.until, "unlink", f)
        elif isinstance(f, SlowHost):
            at(f.at, "slow", (f.node, f.delay))
            if f.until is not None:
                at(f.until, "slow", (f.node, 0.0))
    return sorted(out)


def _inject(cluster: Any, metrics: FaultSink | None, what: str, arg: Any) -> None:
    tr = cluster.transport
    if what == "crash":
        for x in arg:
            if cluster.alive(x):
                cluster.crash(x)
    elif what == "restart":
        for x in arg:
            if not cluster.alive(x):
                cluster.restart(x)
    elif what == "partition":  # through the cluster when it can, so it reports an event
        getattr(cluster, "partition", tr.partition)([list(g) for g in arg])
    elif what == "heal":
        getattr(cluster, "heal", tr.heal)()
    elif what in ("link", "unlink"):
        f: LinkFault = arg
        pairs = [(f.src, f.dst)] + ([(f.dst, f.src)] if f.symmetric else [])
        for a, b in pairs:
            if what == "link":
                tr.set_link(a, b, loss=f.loss, latency=f.latency, jitter=f.jitter)
            else:
                tr.clear_link(a, b)
    elif what == "slow":
        node, delay = arg
        tr.set_slow(node, delay)
        if metrics is not None:
            metrics.mark_slow(node, delay > 0)
