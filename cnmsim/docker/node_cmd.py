"""`docker node ls|inspect|update|rm|ps|promote|demote` (docker/cli cli/command/node; the
checks of swarmkit controlapi node.go).  Only managers may run them: a worker gets the
daemon's "This node is not a swarm manager. Worker nodes can't be used ..." and exit 1."""

from __future__ import annotations

from typing import Any

from cnmsim.docker import views
from cnmsim.docker.cli import cmd
from cnmsim.docker.flags import Flag, parse
from cnmsim.docker.jsonout import InspectError, docker_inspect
from cnmsim.docker.swarm_cmd import arity
from cnmsim.docker.swarm_views import (
    NODE_HEADERS,
    NODE_TABLE,
    natural_sorted,
    node_json,
    node_pretty,
    node_row,
)
from cnmsim.engine.daemon import VERSION
from cnmsim.engine.errors import EngineError, NotFound
from cnmsim.shell.registry import Proc
from cnmsim.swarm.manager import control, orchestrator
from cnmsim.swarm.manager import swarm as sw
from cnmsim.swarm.manager.errors import rpc


def resolve(swarm: Any, ref: str, me: Any) -> Any:
    """A node by id, hostname, unique id prefix, or `self` (daemon/cluster getNode)."""
    if ref == "self":
        return me
    nodes = list(swarm.nodes.values())
    for key in (lambda n: n.id == ref, lambda n: n.hostname == ref):
        hit = [n for n in nodes if key(n)]
        if hit:
            return sorted(hit, key=lambda n: n.left)[0]
    pref = [n for n in nodes if n.id.startswith(ref)]
    if len(pref) == 1:
        return pref[0]
    if len(pref) > 1:
        raise EngineError(f"node {ref} is ambiguous ({len(pref)} matches found)")
    raise NotFound(f"node {ref} not found")


def _filter(n: Any, f: str) -> bool:
    k, _, v = f.partition("=")
    if k == "id":
        return n.id.startswith(v)
    if k == "name":
        return v in n.hostname
    if k == "role":
        return n.role == v
    if k == "membership":
        return v == "accepted"
    return True


@cmd("ls", "list", group="node")
def ls(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("quiet", "q"), Flag("format", "", "str"), Flag("filter", "f", "list")])
    if not arity(proc, "node ls", p.args, 0, 0, "[OPTIONS]", "List nodes in the swarm"):
        return 1
    swarm, me = sw.require_manager(proc.lab, d.host.name)
    control.refresh(swarm)
    nodes = [n for n in swarm.nodes.values() if all(_filter(n, f) for f in p.list("filter"))]
    nodes = natural_sorted(nodes, key=lambda n: n.hostname)
    if p.bool("quiet"):
        for n in nodes:
            proc.out(n.id)
        return 0
    proc.out(views.render(p.str("format") or NODE_TABLE, NODE_HEADERS,
                          [node_row(n, me.id, VERSION) for n in nodes]), end="")
    return 0


@cmd("inspect", group="node")
def inspect_(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("format", "f", "str"), Flag("pretty")])
    if not arity(proc, "node inspect", p.args, 1, None, "[OPTIONS] self|NODE [NODE...]",
                 "Display detailed information on one or more nodes"):
        return 1
    swarm, me = sw.require_manager(proc.lab, d.host.name)
    control.refresh(swarm)
    if p.bool("pretty"):
        for ref in p.args:
            proc.out(node_pretty(swarm, resolve(swarm, ref, me), VERSION), end="")
        return 0

    def lookup(ref: str) -> Any:
        try:
            return node_json(swarm, resolve(swarm, ref, me), VERSION)
        except EngineError as e:
            raise InspectError(f"Error response from daemon: {e}") from None

    res = docker_inspect(p.args, lookup, p.str("format"))
    proc.out(res.stdout, end="")
    if res.stderr:
        proc.err(res.stderr, end="")
    return res.exit_code


@cmd("update", group="node")
def update(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("availability", "", "str"), Flag("role", "", "str"), Flag("label-add", "", "list"),
                     Flag("label-rm", "", "list")])
    if not arity(proc, "node update", p.args, 1, 1, "[OPTIONS] NODE", "Update a node"):
        return 1
    swarm, me = sw.require_manager(proc.lab, d.host.name)
    node = resolve(swarm, p.args[0], me)
    avail, role = p.str("availability"), p.str("role")
    if avail and avail not in ("active", "pause", "drain"):
        raise EngineError(f'invalid Availability: "{avail}"')
    if role and role not in ("worker", "manager"):
        raise EngineError(f'invalid Role: "{role}"')
    if role:
        _set_role(proc, swarm, node, role)
    if avail:
        node.availability = avail
    sw.bump(swarm)
    orchestrator.reconcile_all(proc.lab, swarm)
    proc.out(p.args[0])
    return 0


def _set_role(proc: Proc, swarm: Any, node: Any, role: str) -> None:
    if role == node.role:
        return
    if role == "worker":
        managers = [m for m in swarm.nodes.values() if m.role == "manager" and not m.left]
        if len(managers) == 1:
            raise EngineError(rpc("FailedPrecondition", "attempting to demote the last manager of the swarm"))
        node.role = "worker"
        sw._unlisten(proc.lab, swarm, node)
        if node.leader:
            node.leader = False
            next(m for m in swarm.nodes.values() if m.role == "manager" and not m.left).leader = True
    else:
        node.role = "manager"
        if not node.left:
            sw._listen(proc.lab, swarm, node)


@cmd("promote", group="node")
def promote(proc: Proc, d: Any, argv: list[str]) -> int:
    return _promote(proc, d, argv, "manager")


@cmd("demote", group="node")
def demote(proc: Proc, d: Any, argv: list[str]) -> int:
    return _promote(proc, d, argv, "worker")


def _promote(proc: Proc, d: Any, argv: list[str], role: str) -> int:
    verb = "promote" if role == "manager" else "demote"
    p = parse(argv, [])
    if not arity(proc, f"node {verb}", p.args, 1, None, "NODE [NODE...]",
                 f"{'Promote' if role == 'manager' else 'Demote'} one or more nodes "
                 f"{'to manager' if role == 'manager' else 'from manager'} in the swarm"):
        return 1
    swarm, me = sw.require_manager(proc.lab, d.host.name)
    for ref in p.args:
        node = resolve(swarm, ref, me)
        if node.role == role:
            proc.out(f"Node {ref} is already a {role}.")
            continue
        _set_role(proc, swarm, node, role)
        proc.out(f"Node {ref} {'promoted to a manager' if role == 'manager' else 'demoted'} in the swarm.")
    return 0


@cmd("rm", "remove", group="node")
def rm(proc: Proc, d: Any, argv: list[str]) -> int:
    p = parse(argv, [Flag("force", "f")])
    if not arity(proc, "node rm", p.args, 1, None, "[OPTIONS] NODE [NODE...]",
                 "Remove one or more nodes from the swarm"):
        return 1
    swarm, me = sw.require_manager(proc.lab, d.host.name)
    control.refresh(swarm)
    code = 0
    for ref in p.args:
        try:
            node = resolve(swarm, ref, me)
            if node.role == "manager" and not node.left:
                raise EngineError(rpc("FailedPrecondition", f"node {node.id} is a cluster manager and is a member "
                                                            "of the raft cluster. It must be demoted to worker "
                                                            "before removal"))
            if node.status != "down" and not p.bool("force"):
                raise EngineError(rpc("FailedPrecondition", f"node {node.id} is not down and can't be removed"))
        except EngineError as e:
            proc.err(f"Error response from daemon: {e}")
            code = 1
            continue
        if not node.left:
            sw.remove_member(proc.lab, swarm, node, crashed=node.status == "down")
        for t in swarm.tasks.values():
            if t.node == node.id and t.state not in orchestrator.TERMINAL:
                orchestrator.set_state(proc.lab, t, "orphaned" if node.status == "down" else "shutdown")
                orchestrator.release(swarm, t)
        swarm.nodes.pop(node.id, None)
        sw.bump(swarm)
        proc.out(ref)
    return code


@cmd("ps", group="node")
def ps(proc: Proc, d: Any, argv: list[str]) -> int:
    from cnmsim.docker.service_views import TASK_HEADERS, TASK_TABLE, task_rows

    p = parse(argv, [Flag("quiet", "q"), Flag("no-trunc"), Flag("no-resolve"), Flag("format", "", "str"),
                     Flag("filter", "f", "list")])
    swarm, me = sw.require_manager(proc.lab, d.host.name)
    nodes = [resolve(swarm, ref, me) for ref in (p.args or ["self"])]
    ids = {n.id for n in nodes}
    tasks = [t for t in swarm.tasks.values() if t.node in ids]
    trunc = not p.bool("no-trunc")
    if p.bool("quiet"):
        for t in tasks:
            proc.out(t.id)
        return 0
    rows = task_rows(swarm, tasks, proc.lab.now, trunc)
    proc.out(views.render(p.str("format") or TASK_TABLE, TASK_HEADERS, rows), end="")
    return 0
