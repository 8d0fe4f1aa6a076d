"""The orchestrators (swarmkit manager/orchestrator): keep each service at its desired tasks.

- replicated: one live task per slot 1..replicas; missing slots get new tasks (lowest numbers
  first); extra ones are removed: unscheduled ones first, then ones not yet running, then from
  the nodes holding the most replicas, highest slot first;
- global: one live task per available node that meets the constraints;
- a task on a node that is down, drained or gone is shut down and replaced elsewhere; a paused
  node keeps its tasks but gets no new ones;
- a task that failed or completed is replaced after the restart delay (5 s, condition "any");
- the task history keeps 5 tasks per slot (TaskHistoryRetentionLimit).

A new task is allocated its addresses (the network allocator, before scheduling), placed by
the scheduler ("pending" with the scheduler's explanation if no node fits) and handed to its
node's agent, which realises it over simulated time.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from cnmsim.swarm.manager import agent, control, networks, scheduler
from cnmsim.swarm.manager.ids import new_id
from cnmsim.swarm.model import Task

if TYPE_CHECKING:
    from cnmsim.lab import Lab
    from cnmsim.swarm.model import Node, Service, SwarmState

RESTART_DELAY = 5.0  # swarmkit defaults.Service.Task.Restart.Delay
HISTORY = 5  # TaskHistoryRetentionLimit (docker swarm init default)
TERMINAL = ("complete", "shutdown", "failed", "rejected", "remove", "orphaned")


def tasks_of(swarm: SwarmState, svc: Service) -> list[Task]:
    return [t for t in swarm.tasks.values() if t.service == svc.id]


def needs_ingress(svc: Service) -> bool:
    return any(p.mode == "ingress" for p in svc.ports)


def task_networks(swarm: SwarmState, svc: Service) -> list[str]:
    """The networks a task attaches to: ingress first when it publishes in ingress mode
    (swarmkit taskCreateNetworkAttachments), then the service's networks in order."""
    out = []
    ingress = next((n for n in swarm.networks.values() if n.ingress), None)
    if needs_ingress(svc) and ingress is not None:
        out.append(ingress.id)
    out += [nid for nid in svc.networks if nid in swarm.networks]
    return out


# ---------------------------------------------------------------- tasks
def new_task(lab: Lab, swarm: SwarmState, svc: Service, slot: int, node: str = "") -> Task:
    t = Task(id=new_id(lab.rng), service=svc.id, slot=slot, node=node, created=lab.now, updated=lab.now)
    t.extra["spec"] = svc.extra.get("spec_version", 1)
    t.extra["image"] = svc.image  # the task's own spec: an update does not change it
    swarm.tasks[t.id] = t
    allocate(swarm, svc, t)
    return t


def allocate(swarm: SwarmState, svc: Service, t: Task) -> bool:
    """The network allocator: an address on each of the task's networks, all or none (a task
    that gets none waits, pending, until addresses free up)."""
    ipam = networks.ipam_of(swarm)
    got = {}
    try:
        for nid in task_networks(swarm, svc):
            got[nid] = ipam.request_address(swarm.networks[nid], t.id)
    except Exception as e:  # noqa: BLE001 (the subnet is full)
        for nid, addr in got.items():
            ipam.release_address(swarm.networks[nid], str(addr.ip))
        t.state, t.error = "pending", str(e)
        t.extra["unallocated"] = True
        return False
    t.addresses, t.state, t.error = got, "pending", ""
    t.extra.pop("unallocated", None)
    return True


def set_state(lab: Lab, t: Task, state: str, error: str | None = None) -> None:
    t.state, t.updated = state, lab.now
    if error is not None:
        t.error = error


def release(swarm: SwarmState, t: Task) -> None:
    """Give the task's addresses back (it reached a terminal state)."""
    ipam = networks.ipam_of(swarm)
    for nid, addr in list(t.addresses.items()):
        net = swarm.networks.get(nid)
        if net is not None and net.allocated.get(str(addr.ip)) == t.id:
            ipam.release_address(net, str(addr.ip))


def shutdown(lab: Lab, swarm: SwarmState, t: Task, remove: bool = False) -> None:
    """Desired state shutdown (or remove: a slot scaled away, a service removed — the task is
    deleted once stopped); the agent stops it if its node can hear the manager."""
    if t.desired != "running":
        return
    t.desired = "remove" if remove else "shutdown"  # (updated is the status' time: unchanged)
    node = swarm.nodes.get(t.node)
    if t.state in ("new", "pending") or node is None:
        if t.state not in TERMINAL:
            set_state(lab, t, "shutdown")
        release(swarm, t)
        if remove:
            swarm.tasks.pop(t.id, None)
        return
    if node.left or node.status == "down":
        return  # nobody to tell: the task stays as last reported until the node returns
    agent.stop(lab, swarm, t)


def _schedule(lab: Lab, swarm: SwarmState, svc: Service, pending: list[Task]) -> None:
    pending = [t for t in pending if not t.extra.get("unallocated") or allocate(swarm, svc, t)]
    for t, node, why in scheduler.place(swarm, svc, pending):
        if node is None:
            set_state(lab, t, "pending", why)
            continue
        t.node, t.error = node.id, ""
        set_state(lab, t, "assigned")
        agent.assign(lab, swarm, t)


# ---------------------------------------------------------------- reconciling
def reconcile(lab: Lab, swarm: SwarmState, svc: Service) -> None:
    if svc.id not in swarm.services:
        return
    control.refresh(swarm)
    live = [t for t in tasks_of(swarm, svc) if t.desired == "running"]
    for t in live:
        node = swarm.nodes.get(t.node) if t.node else None
        gone = t.node and (node is None or node.left or node.status == "down"
                           or node.availability == "drain")
        if gone or (svc.mode == "global" and node is not None and node not in scheduler.global_nodes(swarm, svc)
                    and node.availability != "pause"):
            shutdown(lab, swarm, t)
    live = [t for t in live if t.desired == "running"]
    if svc.mode == "global":
        have = {t.node for t in live} | svc.extra.setdefault("restarting", set())
        for node in scheduler.global_nodes(swarm, svc):
            if node.id not in have:
                t = new_task(lab, swarm, svc, 0, node.id)
        for t in [t for t in tasks_of(swarm, svc) if t.desired == "running" and t.state == "pending"]:
            if not t.extra.get("unallocated") or allocate(swarm, svc, t):
                set_state(lab, t, "assigned")
                agent.assign(lab, swarm, t)
        _trim(lab, swarm, svc)
        return
    by_slot: dict[int, Task] = {}
    for t in sorted(live, key=lambda t: t.created):
        if t.slot in by_slot:
            shutdown(lab, swarm, by_slot[t.slot])
        by_slot[t.slot] = t
    excess = len(by_slot) - svc.replicas
    if excess > 0:
        per_node = Counter(t.node for t in by_slot.values())
        order = sorted(by_slot.values(), key=lambda t: (not t.node, t.state != "running", per_node[t.node],
                                                        t.slot), reverse=True)
        for t in order[:excess]:
            shutdown(lab, swarm, t, remove=True)
            del by_slot[t.slot]
    slot = 0
    while len(by_slot) < svc.replicas:
        slot += 1
        if slot not in by_slot and not _restarting(swarm, svc, slot):
            by_slot[slot] = new_task(lab, swarm, svc, slot)
        elif slot not in by_slot:
            by_slot[slot] = None  # type: ignore[assignment]  (its replacement comes after the delay)
    pending = [t for t in by_slot.values() if t is not None and t.desired == "running" and not t.node
               and t.state in ("new", "pending")]
    _schedule(lab, swarm, svc, sorted(pending, key=lambda t: t.slot))
    _trim(lab, swarm, svc)


def _restarting(swarm: SwarmState, svc: Service, slot: int) -> bool:
    return slot in svc.extra.setdefault("restarting", set())


def reconcile_all(lab: Lab, swarm: SwarmState) -> None:
    for svc in sorted(swarm.services.values(), key=lambda s: s.created):
        reconcile(lab, swarm, svc)


def _trim(lab: Lab, swarm: SwarmState, svc: Service) -> None:
    """Keep HISTORY tasks per slot (per node for global services); forget older dead ones."""
    groups: dict[object, list[Task]] = {}
    for t in tasks_of(swarm, svc):
        groups.setdefault(t.slot or t.node, []).append(t)
    for key, ts in groups.items():
        ts.sort(key=lambda t: t.created, reverse=True)
        gone = svc.mode == "replicated" and isinstance(key, int) and key > svc.replicas
        for t in ts if gone else ts[HISTORY:]:  # a slot scaled away keeps no history
            if t.desired != "running" and t.state in TERMINAL:
                release(swarm, t)
                swarm.tasks.pop(t.id, None)


# ---------------------------------------------------------------- events from agents and nodes
def task_ended(lab: Lab, swarm: SwarmState, t: Task) -> None:
    """A task failed, was rejected or completed while wanted: replace it after the restart delay."""
    release(swarm, t)
    svc = swarm.services.get(t.service)
    if t.desired != "running" or svc is None:
        return
    t.desired = "shutdown"
    key = t.slot or t.node
    restarting = svc.extra.setdefault("restarting", set())
    restarting.add(key)

    def later(_: object) -> None:
        restarting.discard(key)
        if svc.id in swarm.services:
            reconcile(lab, swarm, svc)

    ev = lab.env.timeout(RESTART_DELAY)
    ev.callbacks.append(later)


def task_gone(lab: Lab, swarm: SwarmState, t: Task) -> None:
    """The agent removed a task's container: forget tasks to remove (scaled away, removed service)."""
    release(swarm, t)
    if t.desired == "remove" or t.service not in swarm.services:
        swarm.tasks.pop(t.id, None)


def node_down(lab: Lab, swarm: SwarmState, node: Node) -> None:
    """The node is down or gone: its wanted tasks are shut down and replaced elsewhere."""
    for t in list(swarm.tasks.values()):
        if t.node == node.id and t.desired == "running":
            t.desired = "shutdown"
            if node.left:
                if t.state not in TERMINAL:
                    set_state(lab, t, "shutdown")
                release(swarm, t)
            from cnmsim.swarm.manager.swarm import notify

            notify(swarm, "task_stopped", node=node, task=t, reason="node down")
    reconcile_all(lab, swarm)


def node_up(lab: Lab, swarm: SwarmState, node: Node) -> None:
    """The node came back: it stops what it should no longer run; global services return."""
    for t in list(swarm.tasks.values()):
        if t.node == node.id and t.desired != "running" and t.container:
            agent.stop(lab, swarm, t)
    reconcile_all(lab, swarm)
