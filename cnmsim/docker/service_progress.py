"""What `docker service create|update|scale` print while they wait for the service to converge
(docker/cli cli/command/service/progress/progress.go, rendered by jsonmessage without a terminal).

Without a terminal jsonmessage drops every message that carries a progress bar, so what is left
is, each 200 ms poll: "overall progress: R out of N tasks" while not all run, an error line for
a failing slot ("1/1: No such image: ..."), then "verify: Waiting S seconds to verify that tasks
are stable..." for the 5 s monitor period, and finally "verify: Service ID converged".  At the
first poll each slot gets its "i/N:  " line (up to 20 slots).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from cnmsim.docker.units import truncate_id

if TYPE_CHECKING:
    from cnmsim.lab import Lab
    from cnmsim.swarm.model import Service, SwarmState, Task

STATES = {"new": 1, "allocated": 2, "pending": 3, "assigned": 4, "accepted": 5, "preparing": 6, "ready": 7,
          "starting": 8, "running": 9, "complete": 10, "shutdown": 11, "failed": 12, "rejected": 13}
MONITOR = 5.0
POLL = 0.2
MAX_BARS = 20


def _terminal(state: str) -> bool:
    return STATES.get(state, 0) > STATES["running"]


def _trunc_error(msg: str) -> str:
    msg = msg.replace("\n", " ")
    return msg[:74] + "…" if len(msg) > 75 else msg


def _better(ex: Task, t: Task) -> bool:
    """tasksBySlot/tasksByNode: keep the one with the lowest desired (then observed) state."""
    if STATES[ex.desired] < STATES[t.desired]:
        return False
    return not (STATES[ex.desired] == STATES[t.desired] and STATES[ex.state] <= STATES[t.state])


class Updater:
    """replicatedProgressUpdater / globalProgressUpdater."""

    def __init__(self, out: Callable[[str], None], global_: bool) -> None:
        self.out, self.global_ = out, global_
        self.initialized = self.done = False
        self.slot_map: dict[int, int] = {}

    def update(self, svc: Service, tasks: list[Task], active: set[str]) -> bool:
        return self._global(tasks, active) if self.global_ else self._replicated(svc, tasks, active)

    def _replicated(self, svc: Service, tasks: list[Task], active: set[str]) -> bool:
        n = svc.replicas
        if not self.initialized:
            self.out(f"overall progress: 0 out of {n} tasks")
            if n <= MAX_BARS:
                for i in range(1, n + 1):
                    self.out(f"{i}/{n}:  ")
            self.initialized = True
        by_slot: dict[int, Task] = {}
        for t in tasks:
            if t.desired not in STATES or t.state not in STATES:
                continue
            ex = by_slot.get(t.slot)
            if ex is not None and not _better(ex, t):
                continue
            if t.node and t.node not in active:
                continue
            by_slot[t.slot] = t
        if self.done and any(t.state != "running" for t in by_slot.values()):
            self.done = False
        running = 0
        for slot in sorted(by_slot):
            t = by_slot[slot]
            mapped = self.slot_map.setdefault(slot, len(self.slot_map) + 1)
            if not _terminal(t.desired) and t.state == "running":
                running += 1
            if not self.done and n <= MAX_BARS and mapped <= n and t.error:
                self.out(f"{mapped}/{n}: {_trunc_error(t.error)}")
        if not self.done:
            self.out(f"overall progress: {running} out of {n} tasks")
            self.done = running == n
        return running == n

    def _global(self, tasks: list[Task], active: set[str]) -> bool:
        by_node: dict[str, Task] = {}
        for t in tasks:
            if t.desired not in STATES or t.state not in STATES:
                continue
            ex = by_node.get(t.node)
            if ex is not None and not _better(ex, t):
                continue
            by_node[t.node] = t
        count = len(by_node)
        if not self.initialized:
            if count == 0:
                self.out("overall progress: waiting for new tasks")
                return False
            self.out(f"overall progress: 0 out of {count} tasks")
            self.initialized = True
        if self.done and any(t.state != "running" for t in by_node.values()):
            self.done = False
        running = 0
        for node_id in sorted(by_node):
            t = by_node[node_id]
            if node_id in active:
                if not _terminal(t.desired) and t.state == "running":
                    running += 1
                if not self.done and count <= MAX_BARS and t.error:
                    self.out(f"{truncate_id(node_id)}: {_trunc_error(t.error)}")
        if not self.done:
            self.out(f"overall progress: {running} out of {count} tasks")
            self.done = running == count
        return running == count


def _since(now: float, then: float) -> float:
    """time.Since: the poll grid's time plus the microsecond a real client always adds."""
    return round(now - then, 6) + 1e-6


def wait_on_service(lab: Lab, swarm: SwarmState, svc: Service, ident: str, out: Callable[[str], None],
                    err: Callable[[str], None]) -> Generator[Any, Any, int]:
    """ServiceProgress: poll every 200 ms until converged and stable for the monitor period."""
    env = lab.env
    updater = Updater(out, svc.mode == "global")
    converged, converged_at = False, None
    try:
        while True:
            if svc.id not in swarm.services:
                err(f"Error response from daemon: service {ident} not found")
                return 1
            st = svc.extra.get("update_status")
            if st and st["State"] == "completed" and not converged:
                return 0
            if converged and converged_at is not None and _since(env.now, converged_at) >= MONITOR:
                out(f"verify: Service {ident} converged")
                return 0
            version = svc.extra.get("spec_version", 1)
            tasks = [t for t in swarm.tasks.values() if t.service == svc.id and t.extra.get("spec") == version]
            active = {n.id for n in swarm.nodes.values() if n.status != "down"}
            converged = updater.update(svc, tasks, active)
            if converged:
                if converged_at is None:
                    converged_at = env.now
                wait = MONITOR - _since(env.now, converged_at)
                if wait >= 0:
                    out(f"verify: Waiting {int(wait) + 1} seconds to verify that tasks are stable...")
            else:
                if converged_at is not None:
                    out("verify: Detected task failure")
                converged_at = None
            yield env.timeout(POLL)
    except simpy.Interrupt:
        if not converged:
            out("Operation continuing in background.")
            out(f"Use `docker service ps {ident}` to check progress.")
        return 0
