"""Which node runs a new task (swarmkit manager/scheduler): the filters, then spread.

Filters, in swarmkit's order, each with its explanation when no node passes
(`no suitable node (1 node not available for new tasks; host-mode port already in use on 2 nodes)`):
- ReadyFilter: the node is up (the leader's view) and its availability is active;
- ConstraintFilter: `--constraint node.hostname==X`, `node.role!=manager`, `node.id==...`;
- HostPortFilter: no task of any service already holds the same host-mode published port there.

Spread: the node with the fewest tasks of this service, then the fewest tasks overall, ties
broken by node order (the lab's host order) — so 6 replicas on 3 nodes are 2, 2, 2.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

from cnmsim.engine.errors import EngineError
from cnmsim.swarm.manager.errors import rpc

if TYPE_CHECKING:
    from cnmsim.swarm.model import Node, Service, SwarmState, Task

CONSTRAINT_RE = re.compile(r"^\s*([\w.\-]+)\s*(==|!=)\s*(.+?)\s*$")


def parse_constraints(exprs: list[str]) -> list[tuple[str, str, str]]:
    out = []
    for e in exprs:
        m = CONSTRAINT_RE.match(e)
        if m is None:
            raise EngineError(rpc("InvalidArgument", f"ContainerSpec: constraint expected one operator "
                                                     f"from ==, !=: {e}"))
        out.append((m.group(1).lower(), m.group(2), m.group(3)))
    return out


def _value(node: Node, key: str) -> str | None:
    return {"node.hostname": node.hostname, "node.role": node.role, "node.id": node.id,
            "node.platform.os": "linux", "node.platform.arch": "x86_64"}.get(key)


def satisfies(node: Node, constraints: list[tuple[str, str, str]]) -> bool:
    for key, op, want in constraints:
        have = _value(node, key)
        if (have == want) != (op == "=="):
            return False
    return True


def live(task: Task) -> bool:
    return task.desired == "running"


def host_ports(svc: Service) -> list[tuple[str, int]]:
    return [(p.protocol, p.published) for p in svc.ports if p.mode == "host" and p.published]


def used_host_ports(swarm: SwarmState, node_id: str) -> set[tuple[str, int]]:
    used: set[tuple[str, int]] = set()
    for t in swarm.tasks.values():
        if t.node == node_id and live(t) and t.service in swarm.services:
            used.update(host_ports(swarm.services[t.service]))
    return used


def available(node: Node) -> bool:
    return not node.left and node.status != "down" and node.availability == "active"


def _reason(swarm: SwarmState, svc: Service, node: Node, constraints: list[tuple[str, str, str]],
            extra_ports: dict[str, set[tuple[str, int]]]) -> str | None:
    if not available(node):
        return "ready"
    if not satisfies(node, constraints):
        return "constraint"
    mine = set(host_ports(svc))
    if mine and mine & (used_host_ports(swarm, node.id) | extra_ports.get(node.id, set())):
        return "hostport"
    return None


def explain(reasons: Counter[str]) -> str:
    words = {"ready": "not available for new tasks", "constraint": "scheduling constraints not satisfied on",
             "hostport": "host-mode port already in use on"}
    parts = []
    for key in ("ready", "constraint", "hostport"):
        n = reasons.get(key, 0)
        if not n:
            continue
        nodes = "1 node" if n == 1 else f"{n} nodes"
        parts.append(f"{nodes} {words[key]}" if key == "ready" else f"{words[key]} {nodes}")
    return f"no suitable node ({'; '.join(parts)})" if parts else "no suitable node"


def members(swarm: SwarmState) -> list[Node]:
    return sorted((n for n in swarm.nodes.values() if not n.left), key=lambda n: n.index)


def place(swarm: SwarmState, svc: Service, tasks: list[Task]) -> list[tuple[Task, Node | None, str]]:
    """A node (or None and the explanation) for each replicated task, spreading as it goes."""
    constraints = parse_constraints(svc.extra.get("constraints", []))
    nodes = members(swarm)
    mine: Counter[str] = Counter(t.node for t in swarm.tasks.values() if t.service == svc.id and t.node and live(t))
    total: Counter[str] = Counter(t.node for t in swarm.tasks.values() if t.node and live(t))
    extra_ports: dict[str, set[tuple[str, int]]] = {}
    out: list[tuple[Task, Node | None, str]] = []
    for t in tasks:
        reasons: Counter[str] = Counter()
        ok = []
        for n in nodes:
            why = _reason(swarm, svc, n, constraints, extra_ports)
            if why is None:
                ok.append(n)
            else:
                reasons[why] += 1
        if not ok:
            out.append((t, None, explain(reasons)))
            continue
        best = min(ok, key=lambda n: (mine[n.id], total[n.id], n.index))
        mine[best.id] += 1
        total[best.id] += 1
        extra_ports.setdefault(best.id, set()).update(host_ports(svc))
        out.append((t, best, ""))
    return out


def global_nodes(swarm: SwarmState, svc: Service) -> list[Node]:
    """The nodes a global service runs on: available ones meeting its constraints (host ports
    are the service's own there, one task per node)."""
    constraints = parse_constraints(svc.extra.get("constraints", []))
    return [n for n in members(swarm) if available(n) and satisfies(n, constraints)]
