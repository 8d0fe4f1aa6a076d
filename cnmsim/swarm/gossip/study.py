"""One gossip study: build a cluster, inject faults, send a broadcast, measure.

    r = run_study(100, loss=0.05, crash=1, duration=60, seed=3)
    r.detect_all, r.as_record()          # a flat dict: one row of a DataFrame
    records_to_dataframe([r.as_record() for r in results])     # needs pandas

Keyword overrides name either a `Config` field (`probe_interval=2.0`) or a `FastTransport`
parameter (`latency=0.002`).  The same arguments and seed give the same record, except
`wall_seconds`.
"""

from __future__ import annotations

import dataclasses
import inspect
import random
import time
from dataclasses import dataclass, field
from typing import Any

from cnmsim.swarm.gossip.faults import Crash, Fault, Schedule
from cnmsim.swarm.gossip.metrics import Metrics

CONFIGS = ("lan", "wan", "local")


@dataclass
class StudyResult:
    """The parameters, the metrics and the series of one run."""

    params: dict[str, Any]
    metrics: dict[str, Any]
    wall_seconds: float
    stats: dict[str, float] = field(default_factory=dict)
    crashed: list[int] = field(default_factory=list)
    origin: int | None = None
    infection: tuple[list[float], list[float]] = ([], [])  # (s since broadcast, fraction)
    detection: list[float] = field(default_factory=list)  # crash -> dead delays, sorted
    sent_per_node: list[int] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        m = self.__dict__.get("metrics")
        if m is not None and name in m:
            return m[name]
        p = self.__dict__.get("params")
        if p is not None and name in p:
            return p[name]
        raise AttributeError(name)

    def as_record(self) -> dict[str, Any]:
        """Parameters, metrics and wall time as one flat dict of scalars."""
        rec = {k: v for k, v in self.params.items() if _scalar(v)}
        rec.update(self.metrics)
        rec["msgs_total"] = self.stats.get("msgs", sum(self.sent_per_node))
        rec["wall_seconds"] = self.wall_seconds
        return rec


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def make_config(config: Any = "lan", lifeguard: bool = True, **fields: Any) -> Any:
    """A memberlist `Config`: a preset name (lan, wan, local) or a Config, with fields set."""
    from cnmsim.swarm.gossip import config as cfgmod

    if isinstance(config, str):
        if config not in CONFIGS:
            raise ValueError(f"unknown config {config!r}: one of {', '.join(CONFIGS)}")
        config = getattr(cfgmod, config)()
    return dataclasses.replace(config, lifeguard=lifeguard, **fields)


def _split_overrides(overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Overrides for the Config and for the FastTransport."""
    from cnmsim.swarm.gossip.config import Config
    from cnmsim.swarm.gossip.transport import FastTransport

    cfg_names = {f.name for f in dataclasses.fields(Config)}
    tr_names = set(inspect.signature(FastTransport).parameters) - {"self"}
    cfg, tr = {}, {}
    for k, v in overrides.items():
        if k in cfg_names:
            cfg[k] = v
        elif k in tr_names:
            tr[k] = v
        else:
            raise TypeError(f"unknown study parameter {k!r}")
    return cfg, tr


def run_study(
    nodes: int,
    config: str = "lan",
    loss: float = 0.0,
    crash: int = 0,
    duration: float = 60.0,
    seed: int = 0,
    lifeguard: bool = True,
    broadcast_at: float | None = 1.0,
    crash_at: float | None = None,
    join: str = "all",
    faults: list[Fault] | Schedule | None = None,
    **overrides: Any,
) -> StudyResult:
    """Run `nodes` memberlist nodes for `duration` simulated seconds and measure them.

    `crash` random nodes crash at `crash_at` (default: a quarter of the run, at most 10 s);
    a user broadcast leaves a random surviving node at `broadcast_at` (None: no broadcast);
    `faults` adds more (see `faults.py`); `join` is the cluster's start mode."""
    from cnmsim.swarm.gossip.cluster import Cluster
    from cnmsim.swarm.gossip.transport import FastTransport

    wall0 = time.perf_counter()
    if crash_at is None:
        crash_at = min(10.0, duration / 4)
    cfg_over, tr_over = _split_overrides(overrides)
    cfg = make_config(config, lifeguard, **cfg_over)

    if isinstance(faults, Schedule):  # a copy: the caller's schedule stays as it was
        sched = Schedule(list(faults.faults), faults.seed, set(faults.protect))
    else:
        sched = Schedule(list(faults or []), seed=seed)
    if crash:
        sched.add(Crash(at=crash_at, count=crash))
    crashed = sched.crashed(nodes)
    origin = None
    if broadcast_at is not None:
        survivors = [i for i in range(nodes) if i not in crashed] or list(range(nodes))
        origin = random.Random(f"cnmsim-study-{seed}").choice(survivors)
        sched.protect.add(origin)
        crashed = sched.crashed(nodes)

    transport = FastTransport(loss=loss, **tr_over)
    cluster = Cluster(nodes, cfg, seed, transport=transport)
    metrics = Metrics(nodes, join=join).attach(cluster)
    cluster.start(join=join)
    sched.apply(cluster, metrics)
    if broadcast_at is not None:
        assert origin is not None
        cluster.env.process(_broadcast(cluster, metrics, origin, broadcast_at))
    cluster.run(until=duration)

    stats = dict(cluster.stats())
    summary = metrics.summary(duration, stats)
    params = dict(nodes=nodes, config=config if isinstance(config, str) else "custom",
                  loss=loss, crash=crash, duration=duration, seed=seed, lifeguard=lifeguard,
                  join=join, broadcast_at=broadcast_at, crash_at=crash_at if crash else None,
                  **overrides)
    return StudyResult(
        params=params,
        metrics=summary,
        wall_seconds=time.perf_counter() - wall0,
        stats=stats,
        crashed=crashed,
        origin=origin,
        infection=metrics.infection_curve() if broadcast_at is not None else ([], []),
        detection=metrics.detection_delays(),
        sent_per_node=list(cluster.sent_per_node()) if hasattr(cluster, "sent_per_node")
        else list(metrics.sent),
    )


def _broadcast(cluster: Any, metrics: Metrics, origin: int, at: float) -> Any:
    yield cluster.env.timeout(max(0.0, at - cluster.env.now))
    if cluster.alive(origin):
        bid = cluster.broadcast(origin)
        metrics.track_broadcast(bid, origin, cluster.env.now)


def records_to_dataframe(records: list[dict[str, Any]]) -> Any:
    """A pandas DataFrame of study records (pandas is imported only here)."""
    import pandas as pd

    return pd.DataFrame.from_records(records)
