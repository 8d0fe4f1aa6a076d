"""Study metrics computed from a cluster's `Event` stream.

`Metrics` is a subscriber (`cluster.subscribe(metrics)`, or `metrics.attach(cluster)`).  It
keeps only counters and sparse views, so it scales to 10,000 nodes.  Definitions:

- *converged_at*: the first time every running node viewed every other running node as alive
  (0.0 with `join="all"`, where everyone knows everyone at t=0).
- *detect_first* / *detect_all*: seconds from a crash until the first / every node still running
  (and not itself crashed) declared the crashed node dead; with several crashes the first is the
  earliest over them and the last the latest.  `None` without a crash, or `detect_all` when some
  node never did.  *suspect_first* / *suspect_all* are the same for the first time the view left
  alive (suspect, or dead straight away).
- *false_positives*: dead declarations (observer's view turned dead) of a healthy subject: one
  running and not marked slow.  *false_suspicions* counts suspect declarations of the same.
- broadcast dissemination: per-node first-learn times of a tracked user broadcast, over the
  nodes running both when it was sent and at the end (its origin excluded).  Quantiles are
  nearest-rank; a quantile that falls on a node that never learned is `None`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cnmsim.swarm.gossip.api import ALIVE, DEAD, SUSPECT, Event

UNKNOWN = -1  # the observer has never heard of the subject
KINDS = ("member", "broadcast", "crash", "restart", "leave")  # the events metrics need


def quantile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank p-quantile (0 < p <= 1); `None` when it lands on an infinite value."""
    xs = sorted(values)
    if not xs:
        return None
    k = max(1, math.ceil(p * len(xs))) - 1
    return None if math.isinf(xs[k]) else xs[k]


@dataclass
class Crash:
    """One crash of a node, until its restart: who declared it suspect / dead when."""

    node: int
    t: float
    dead: dict[int, float] = field(default_factory=dict)
    suspect: dict[int, float] = field(default_factory=dict)


@dataclass
class Tracked:
    """One user broadcast being followed: its origin, send time and who learned it when."""

    id: int
    origin: int
    t0: float
    targets: set[int]
    learned: dict[int, float] = field(default_factory=dict)


class Metrics:
    """Follows a cluster's events; `summary()` gives the study's numbers."""

    def __init__(self, n: int, join: str = "all", t0: float = 0.0) -> None:
        self.n = n
        self.t0 = t0
        self.default = ALIVE if join == "all" else UNKNOWN
        self.views: list[dict[int, int]] = [{} for _ in range(n)]  # only non-default entries
        self.running = [True] * n
        self.slow: set[int] = set()
        # convergence: good[o] = running subjects s != o that o views as alive
        self.good = [n - 1 if self.default == ALIVE else 0 for _ in range(n)]
        self.n_running = n
        self.n_sat = sum(1 for o in range(n) if self._sat(o))
        self.converged_at: float | None = t0 if self.n_sat == n else None
        # faults
        self.crashes: list[Crash] = []
        self.down: dict[int, Crash] = {}  # node -> its crash, while it is down
        self.false_positives = 0
        self.false_suspicions = 0
        self.fp_subjects: set[int] = set()
        # dissemination and traffic
        self.broadcasts: dict[int, Tracked] = {}
        self.sent = [0] * n  # messages sent per node (from "send" events, if the cluster emits them)
        self.sent_bytes = [0] * n
        self.last_t = t0

    # -- wiring -------------------------------------------------------------------------------

    def attach(self, cluster: Any, sends: bool = False) -> Metrics:
        """Subscribe to `cluster`'s events (the frequent "send" ones only when `sends`: the
        cluster's `stats()` count messages more cheaply); returns self."""
        kinds = [*KINDS, "send"] if sends else list(KINDS)
        try:
            cluster.subscribe(self, kinds=kinds)
        except TypeError:  # a cluster whose subscribe takes no kinds
            cluster.subscribe(self)
        return self

    def mark_slow(self, node: int, slow: bool = True) -> None:
        """A slow (degraded) host: dead declarations of it are not false positives."""
        (self.slow.add if slow else self.slow.discard)(node)

    def track_broadcast(self, bid: int, origin: int, t: float) -> None:
        """Follow user broadcast `bid` sent by `origin` at time `t`."""
        targets = {i for i in range(self.n) if self.running[i] and i != origin}
        tr = self.broadcasts.setdefault(bid, Tracked(bid, origin, t, targets))
        tr.origin, tr.t0, tr.targets = origin, t, targets
        tr.learned.setdefault(origin, t)

    # -- events -------------------------------------------------------------------------------

    def __call__(self, ev: Event) -> None:
        self.last_t = max(self.last_t, ev.t)
        k = ev.kind
        if k == "send":
            self.sent[ev.observer] += 1
            self.sent_bytes[ev.observer] += ev.data.get("size", 0)
        elif k == "member":
            self._member(ev)
        elif k == "broadcast":
            bid = ev.data["id"]
            tr = self.broadcasts.get(bid)
            if tr is None:  # not tracked yet: follow it from this first event (its origin's)
                self.track_broadcast(bid, ev.data.get("origin", ev.observer), ev.t)
                tr = self.broadcasts[bid]
            tr.learned.setdefault(ev.observer, ev.t)
        elif k in ("crash", "leave"):
            self._set_running(ev.subject, False, ev.t, crashed=k == "crash")
        elif k == "restart":
            self._set_running(ev.subject, True, ev.t)

    def _member(self, ev: Event) -> None:
        o, s, state = ev.observer, ev.subject, ev.data["state"]
        if o == s:
            return
        view = self.views[o]
        old = view.get(s, self.default)
        if state == self.default:
            view.pop(s, None)
        else:
            view[s] = state
        if state == old:
            return
        if self.running[s] and (old == ALIVE) != (state == ALIVE):
            self._bump(o, 1 if state == ALIVE else -1, ev.t)
        healthy = self.running[s] and s not in self.slow
        crash = self.down.get(s)
        if state == DEAD:
            if healthy:
                self.false_positives += 1
                self.fp_subjects.add(s)
            elif crash is not None:
                crash.dead.setdefault(o, ev.t)
                crash.suspect.setdefault(o, ev.t)  # told "dead" without suspecting first
        elif state == SUSPECT:
            if healthy:
                self.false_suspicions += 1
            elif crash is not None:
                crash.suspect.setdefault(o, ev.t)

    # -- convergence bookkeeping --------------------------------------------------------------

    def _sat(self, o: int) -> bool:
        return self.running[o] and self.good[o] == self.n_running - 1

    def _bump(self, o: int, d: int, t: float) -> None:
        was = self._sat(o)
        self.good[o] += d
        self.n_sat += self._sat(o) - was
        self._check(t)

    def _check(self, t: float) -> None:
        if self.converged_at is None and self.n_sat == self.n_running:
            self.converged_at = t

    def _set_running(self, node: int, up: bool, t: float, crashed: bool = False) -> None:
        if self.running[node] == up:
            return
        self.running[node] = up
        self.n_running += 1 if up else -1
        d = 1 if up else -1
        for o in range(self.n):
            if o != node and self.views[o].get(node, self.default) == ALIVE:
                self.good[o] += d
        if up:
            self.down.pop(node, None)
            # a restarted process starts with an empty member list
            self.views[node] = {}
            self.good[node] = 0
            if self.default == ALIVE:
                self.views[node] = {s: UNKNOWN for s in range(self.n) if s != node}
        elif crashed:
            self.down[node] = Crash(node, t)
            self.crashes.append(self.down[node])
        self.n_sat = sum(1 for o in range(self.n) if self._sat(o))
        self._check(t)

    # -- results ------------------------------------------------------------------------------

    def _observers(self, crash: Crash) -> list[int]:
        return [o for o in range(self.n) if self.running[o] and o != crash.node]

    def _detect(self, dead: bool) -> tuple[float | None, float | None]:
        if not self.crashes:
            return None, None
        firsts: list[float] = []
        lasts: list[float | None] = []
        for c in self.crashes:
            seen = c.dead if dead else c.suspect
            obs = self._observers(c)
            if seen:
                firsts.append(min(seen.values()) - c.t)
            done = bool(obs) and all(o in seen for o in obs)
            lasts.append(max(seen[o] for o in obs) - c.t if done else None)
        last = None if any(x is None for x in lasts) else max(x for x in lasts if x is not None)
        return (min(firsts) if firsts else None), last

    def detection_delays(self) -> list[float]:
        """Seconds from crash to dead declaration, for every (crash, running observer) pair
        that declared; for a detection CDF."""
        return sorted(
            c.dead[o] - c.t for c in self.crashes for o in self._observers(c) if o in c.dead
        )

    def broadcast_delays(self, bid: int | None = None) -> list[float]:
        """Per-target learn delays of a broadcast (the first tracked by default); `inf` for a
        target that never learned it."""
        if not self.broadcasts:
            return []
        tr = self.broadcasts[bid if bid is not None else min(self.broadcasts)]
        targets = [i for i in sorted(tr.targets) if self.running[i]]
        return sorted(tr.learned[i] - tr.t0 if i in tr.learned else math.inf for i in targets)

    def infection_curve(self, bid: int | None = None) -> tuple[list[float], list[float]]:
        """(seconds since sent, fraction of nodes that know it), origin included, as steps."""
        d = [x for x in self.broadcast_delays(bid) if not math.isinf(x)]
        total = len(self.broadcast_delays(bid)) + 1
        times = [0.0, *d]
        return times, [(i + 1) / total for i in range(len(times))]

    def summary(self, duration: float | None = None, stats: dict[str, float] | None = None
                ) -> dict[str, Any]:
        """The study's numbers as a flat dict.  `duration` (default: the last event time) and
        `stats` (the cluster's `stats()`) give the per-node message and byte rates."""
        dur = duration if duration is not None else self.last_t - self.t0
        first, last = self._detect(dead=True)
        s_first, s_last = self._detect(dead=False)
        d = self.broadcast_delays()
        learned = [x for x in d if not math.isinf(x)]
        msgs, nbytes = _totals(stats) if stats else (sum(self.sent), sum(self.sent_bytes))
        per = self.n * dur if dur > 0 else math.nan
        return {
            "converged_at": None if self.converged_at is None else self.converged_at - self.t0,
            "detect_first": first,
            "detect_all": last,
            "suspect_first": s_first,
            "suspect_all": s_last,
            "false_positives": self.false_positives,
            "false_positive_nodes": len(self.fp_subjects),
            "false_suspicions": self.false_suspicions,
            "broadcast_p50": quantile(d, 0.5),
            "broadcast_p99": quantile(d, 0.99),
            "broadcast_last": quantile(d, 1.0),
            "broadcast_coverage": len(learned) / len(d) if d else None,
            "msgs_per_node_per_s": msgs / per,
            "bytes_per_node_per_s": nbytes / per,
        }


def _totals(stats: dict[str, float]) -> tuple[float, float]:
    """Total messages and bytes from a cluster's `stats()`, whatever its key spelling."""
    def pick(*names: str) -> float:
        for k in names:
            if k in stats:
                return float(stats[k])
        return float("nan")

    return (pick("msgs", "messages", "msgs_sent", "sent", "packets"),
            pick("bytes", "bytes_sent", "sent_bytes"))
