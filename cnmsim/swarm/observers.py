"""How service load balancing follows the swarm: the agent's events on each node, and the
`endpoint_table` of NetworkDB between nodes (libnetwork agent.go `addServiceInfoToCluster`,
`deleteServiceInfoFromCluster`, `disableServiceInNetworkDB`, `handleEpTableEvent`).

- `task_started` on node N: for each network of the task container, N binds the task locally
  (its LB sandbox gets the destination, its resolver the names) and writes an endpoint_table
  entry (key: the endpoint id, value: the EndpointRecord); on ingress the container also gets
  its redirect rules.  Every other node on that network binds it when gossip delivers the entry,
  so a new task becomes a backend of a remote node's load balancer only after the control plane
  has spread it — and never, if the gossip port is blocked.
- `task_stopping`: the entry is updated with ServiceDisabled (everywhere: weight 0, out of
  `tasks.<svc>`); `task_stopped`: the entry is deleted (the destination goes).
- `node_joined`: the node's `ingress_sbox`; `network_leaving`: the node's LB sandbox of that
  network goes first, so the engine can remove the network; `node_left`/`swarm_removed`: all.

Without a NetworkDB (a hand-built SwarmState) every node on the network binds at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnmsim.swarm.eptable import ENDPOINT_TABLE, Binding, EndpointRecord, IngressPort
from cnmsim.swarm.lb import find_node_lb, node_lb
from cnmsim.swarm.mesh import add_redirect_rules

LB_KEY = "lb_endpoints"  # Task.extra: network id -> the task's endpoint id there

if TYPE_CHECKING:
    from cnmsim.engine.container import Container
    from cnmsim.engine.daemon import Daemon
    from cnmsim.lab import Lab
    from cnmsim.swarm.model import Node, Service, SwarmState, Task


def install(lab: Lab, swarm: SwarmState) -> None:
    """Register the observer and the endpoint_table watch (once per swarm)."""
    if swarm.extra.get("lb_installed"):
        return
    swarm.extra["lb_installed"] = True
    swarm.extra.setdefault("observers", []).append(lambda event, **kw: on_event(lab, event, **kw))
    db = _db(swarm)
    if db is not None:
        db.watch(ENDPOINT_TABLE, lambda we: on_table_event(lab, we))


def _db(swarm: SwarmState) -> Any:
    return getattr(getattr(swarm, "gossip", None), "networkdb", None)


def _swarm(lab: Lab) -> SwarmState:
    return lab.swarm  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the agent's events
def on_event(lab: Lab, event: str, **kw: Any) -> None:
    swarm = _swarm(lab)
    if event == "node_joined":
        ingress = next((n for n in swarm.networks.values() if n.ingress), None)
        if ingress is not None:
            node_lb(lab, kw["node"].hostname).ensure_sandbox(ingress.id)
    elif event == "task_started":
        task_started(lab, kw["node"], kw["task"], kw["container"])
    elif event == "task_stopping":
        task_stopping(lab, kw["node"], kw["task"], full=False)
    elif event == "task_stopped":
        task_stopping(lab, kw["node"], kw["task"], full=True, crashed=bool(kw.get("reason")))
    elif event == "network_leaving":
        nlb = find_node_lb(lab, kw["node"].hostname)
        net = kw.get("network")
        if nlb is not None and net is not None:
            nlb.drop_sandbox(net.id)
    elif event in ("node_left", "swarm_removed"):
        hosts = [kw["node"].hostname] if event == "node_left" else list(swarm.extra.get("lb", {}))
        for host in hosts:
            nlb = swarm.extra.get("lb", {}).pop(host, None)
            if nlb is not None:
                nlb.close()


def _record(swarm: SwarmState, svc: Service, nid: str, ep: Any, name: str) -> EndpointRecord:
    snet = swarm.networks[nid]
    vip = svc.vips.get(nid) if svc.endpoint_mode == "vip" else None
    ports = tuple(IngressPort(p.protocol, p.target, p.published) for p in svc.ports
                  if p.mode == "ingress") if snet.ingress else ()
    return EndpointRecord(name, svc.name, svc.id, str(vip.ip) if vip is not None else "", ep.ip, ports,
                          task_aliases=tuple(n for n in ep.dns_names[1:] if n != name))


def task_started(lab: Lab, node: Node, task: Task, container: Container) -> None:
    """addServiceInfoToCluster for each of the task container's swarm endpoints."""
    swarm = _swarm(lab)
    svc = swarm.services.get(task.service)
    if svc is None:
        return
    nlb = node_lb(lab, node.hostname)
    eps: dict[str, str] = task.extra.setdefault(LB_KEY, {})
    for ep in list(container.endpoints.values()):
        nid = ep.network.id
        if nid not in swarm.networks or not ep.ip:
            continue
        rec = _record(swarm, svc, nid, ep, container.name)
        if rec.ingress_ports and container.sandbox is not None:
            add_redirect_rules(container.sandbox.ns, ep.ip, rec.ingress_ports)  # populateLoadBalancers
        nlb.ensure_sandbox(nid)
        nlb.add_binding(Binding(ep.id, nid, rec, local=True))
        eps[nid] = ep.id
        _publish(lab, node, nid, ep.id, rec, "create")


def task_stopping(lab: Lab, node: Node, task: Task, full: bool, crashed: bool = False) -> None:
    """DisableService (weight 0, out of DNS RR), then with `full` the endpoint's removal.  A
    crashed node writes nothing: the others drop its entries when gossip declares it dead."""
    nlb = find_node_lb(lab, node.hostname)
    eps: dict[str, str] = task.extra.get(LB_KEY, {})
    tell = not crashed or _db(_swarm(lab)) is None
    for nid, eid in list(eps.items()):
        b = nlb.bindings.get((nid, eid)) if nlb is not None else None
        if nlb is not None and b is not None and not b.disabled:
            nlb.rm_binding(nid, eid, full=False)
            if tell:
                _publish(lab, node, nid, eid, b.record.disabled(), "update")
        if not full:
            continue
        if nlb is not None:
            nlb.rm_binding(nid, eid, full=True)
        if tell:
            _publish(lab, node, nid, eid, None, "delete")
        del eps[nid]


def container_attached(d: Daemon, c: Container, ep: Any) -> None:
    """A plain container joined an attachable swarm network: its name (no service) goes into
    endpoint_table, so containers on other nodes resolve it (addServiceInfoToCluster)."""
    lab, swarm = d.lab, getattr(d.lab, "swarm", None)
    node = swarm.node_by_host(d.host.name) if swarm is not None else None
    nid = ep.network.id
    if node is None or nid not in swarm.networks or not ep.ip:
        return
    rec = EndpointRecord(c.name, "", "", "", ep.ip,
                         task_aliases=tuple(n for n in ep.dns_names[1:] if n != c.name))
    node_lb(lab, node.hostname).add_binding(Binding(ep.id, nid, rec, local=True))
    _publish(lab, node, nid, ep.id, rec, "create")


def container_detached(d: Daemon, ep: Any) -> None:
    """The container leaves the network: its entry is deleted everywhere."""
    lab, swarm = d.lab, getattr(d.lab, "swarm", None)
    node = swarm.node_by_host(d.host.name) if swarm is not None else None
    nid = ep.network.id
    if node is None or nid not in swarm.networks:
        return
    nlb = find_node_lb(lab, node.hostname)
    if nlb is not None and (nid, ep.id) in nlb.bindings:
        nlb.rm_binding(nid, ep.id, full=True)
    _publish(lab, node, nid, ep.id, None, "delete")


def _publish(lab: Lab, node: Node, nid: str, eid: str, rec: EndpointRecord | None, kind: str) -> None:
    """Write the entry in the node's NetworkDB (create/update/delete); without one, tell the
    other nodes that have the network directly."""
    swarm = _swarm(lab)
    db = _db(swarm)
    if db is not None:
        try:
            if kind == "delete":
                db.delete_entry(node.index, ENDPOINT_TABLE, nid, eid)
            elif kind == "update" and rec is not None:
                db.update_entry(node.index, ENDPOINT_TABLE, nid, eid, rec.encode())
            elif rec is not None:
                db.create_entry(node.index, ENDPOINT_TABLE, nid, eid, rec.encode())
        except (RuntimeError, KeyError):
            pass  # the node's gossip agent is down, or the entry is already gone
        return
    for other in swarm.nodes.values():
        if other.id != node.id:
            _apply(lab, other.hostname, nid, eid, rec, kind)


# ---------------------------------------------------------------- entries from other nodes
def on_table_event(lab: Lab, we: Any) -> None:
    """handleEpTableEvent on the node that received the change."""
    swarm = _swarm(lab)
    gossip = getattr(swarm, "gossip", None)
    if gossip is None or we.table != ENDPOINT_TABLE or not 0 <= we.node < len(gossip.hosts):
        return
    try:
        rec = EndpointRecord.decode(we.value) if isinstance(we.value, bytes | bytearray) else None
    except (ValueError, IndexError):
        rec = None
    _apply(lab, gossip.hosts[we.node], we.nid, we.key, rec, we.kind)


def _apply(lab: Lab, host: str, nid: str, eid: str, rec: EndpointRecord | None, kind: str) -> None:
    swarm = _swarm(lab)
    node = swarm.node_by_host(host)
    if node is None or lab.hosts[host].engine is None:
        return
    nlb = node_lb(lab, host)
    if nlb.engine_network(nid) is None:
        return  # the node does not have the network
    if kind == "delete":
        nlb.rm_binding(nid, eid, full=True)
    elif rec is not None and rec.service_disabled:
        nlb.rm_binding(nid, eid, full=False)
    elif rec is not None:
        nlb.add_binding(Binding(eid, nid, rec))
