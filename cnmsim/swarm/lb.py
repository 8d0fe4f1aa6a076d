"""Service load balancing on one node: libnetwork's service bindings (service_common.go
`addServiceBinding`/`rmServiceBinding`) realised in the node's LB sandboxes.

A `NodeLB` per swarm node holds what that node knows of the service tasks on the networks it is
on — one `Binding` per task endpoint, its own tasks' written locally, other nodes' learned from
networkdb's `endpoint_table` (cnmsim.swarm.observers) — and keeps the kernel in step:

- per (service, network) a load balancer with the service's VIP on that network and a fwmark
  (SwarmNetwork.lb_fwmark, from the cluster counter SwarmState.next_fwmark, 256 up);
- in the network's LB sandbox (cnmsim.swarm.lbsandbox) the IPVS service with one destination
  per enabled task; a disabled task (being shut down) is weighted 0, then deleted;
- on the ingress network also the host's DOCKER-INGRESS rules (cnmsim.swarm.mesh);
- the DNS records the embedded DNS serves for the network (cnmsim.swarm.dns).

    nlb = node_lb(lab, "host-A")         # created on first use, kept in lab.swarm.extra["lb"]
    nlb.sandboxes[net_id].ns.ipvs_services()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from typing import TYPE_CHECKING, Any

from cnmsim.engine.errors import EngineError
from cnmsim.swarm.eptable import Binding, IngressPort
from cnmsim.swarm.lbsandbox import LbSandbox
from cnmsim.swarm.mesh import HostIngress

if TYPE_CHECKING:
    from cnmsim.engine.daemon import Daemon
    from cnmsim.engine.network import Network
    from cnmsim.lab import Lab
    from cnmsim.swarm.model import Node, SwarmNetwork, SwarmState


@dataclass
class LoadBalancer:
    """libnetwork's loadBalancer: one service on one network."""

    service_id: str
    service_name: str
    nid: str
    vip: str
    fwmark: int
    ports: tuple[IngressPort, ...] = ()
    backends: dict[str, Binding] = field(default_factory=dict)  # endpoint id -> binding


def fwmark_for(swarm: SwarmState, nid: str, service_id: str, ports: tuple[IngressPort, ...]) -> int:
    """The firewall mark of a (service, published ports) load balancer on a network, from the
    cluster-wide counter (256 up); the latest is also SwarmNetwork.lb_fwmark[service id].  A
    port change (`service update --publish-add`) makes a new load balancer with a new mark, as
    libnetwork's serviceKey includes the ports."""
    marks: dict[tuple[str, str, tuple[IngressPort, ...]], int] = swarm.extra.setdefault("lb_marks", {})
    key = (nid, service_id, ports)
    if key not in marks:
        marks[key] = swarm.next_fwmark
        swarm.next_fwmark += 1
        snet = swarm.networks.get(nid)
        if snet is not None:
            snet.lb_fwmark[service_id] = marks[key]
    return marks[key]


def lb_address(daemon: Daemon, net: Network, snet: SwarmNetwork, node: Node) -> IPv4Interface:
    """The node's LB endpoint address on the network, allocated by the swarm manager
    (owner `<node id>/lb-<net>`, or `<node id>/ingress-sbox`; serial, as the cnmallocator)."""
    assert snet.subnet is not None
    name = "ingress-sbox" if snet.ingress else f"lb-{snet.name}"
    try:
        from cnmsim.swarm.manager import agent

        ip = agent.attachment_address(daemon, net, name)
    except ImportError:  # no manager package: the same serial scan over SwarmNetwork.allocated
        ip = _fallback_address(snet, f"{node.id}/{name}")
    return IPv4Interface(f"{str(ip).split('/')[0]}/{snet.subnet.prefixlen}")


def _fallback_address(snet: SwarmNetwork, owner: str) -> str:
    assert snet.subnet is not None
    have = next((ip for ip, who in snet.allocated.items() if who == owner), None)
    if have is not None:
        return have
    hosts = [str(h) for h in snet.subnet.hosts()]
    taken = set(snet.allocated) | {snet.gateway or hosts[0]}
    last = max((i for i, h in enumerate(hosts) if h in snet.allocated), default=0)
    for h in hosts[last + 1:] + hosts[:last + 1]:
        if h not in taken:
            snet.allocated[h] = owner
            return h
    raise RuntimeError(f"could not find an available IP on network {snet.name}")


class NodeLB:
    """What one node knows of the services on its networks, and its LB sandboxes."""

    def __init__(self, lab: Lab, host: str) -> None:
        self.lab = lab
        self.host = host
        self.daemon: Daemon = lab.hosts[host].engine
        self.sandboxes: dict[str, LbSandbox] = {}  # swarm network id -> its LB sandbox here
        self.lbs: dict[tuple[str, str, tuple[IngressPort, ...]], LoadBalancer] = {}  # (service, network, ports)
        self.bindings: dict[tuple[str, str], Binding] = {}  # (network id, endpoint id)
        self.mesh = HostIngress(self.daemon)
        self.generation = 0  # bumped on every change (the DNS tables follow it)

    @property
    def swarm(self) -> SwarmState:
        return self.lab.swarm  # type: ignore[attr-defined]

    @property
    def node(self) -> Node | None:
        return self.swarm.node_by_host(self.host)

    # ------------------------------------------------------------ sandboxes
    def engine_network(self, nid: str) -> Network | None:
        """The node's own copy of swarm network nid, if the node has it now."""
        ctl = self.daemon.controller
        net = ctl.networks.get(nid)
        if net is not None:
            return net
        snet = self.swarm.networks.get(nid)
        if snet is None:
            return None
        return next((n for n in ctl.networks.values() if n.name == snet.name and n.driver == snet.driver), None)

    def ensure_sandbox(self, nid: str) -> LbSandbox | None:
        """createLoadBalancerSandbox when the node has the network; then every load balancer
        already known on it is programmed (the LB endpoint's Join: connectedLoadbalancers)."""
        lbs = self.sandboxes.get(nid)
        if lbs is not None and lbs.sandbox is not None:
            return lbs
        net, snet, node = self.engine_network(nid), self.swarm.networks.get(nid), self.node
        if net is None or snet is None or node is None:
            return None
        try:
            lbs = LbSandbox(self.daemon, net, lb_address(self.daemon, net, snet, node)).create()
        except EngineError as e:  # createLoadBalancerSandbox failed: logged, no LB on this node
            bus = self.lab.bus
            if bus.on:
                bus.emit(self.host, "", "", "lb:sandbox", "fail",
                         f"no load balancer for network {snet.name} on {self.host}: {e}")
            return None
        self.sandboxes[nid] = lbs
        for lb in self.lbs.values():
            if lb.nid == nid:
                for b in lb.backends.values():
                    if not b.disabled:
                        self._program_backend(lbs, lb, b.record.endpoint_ip)
        return lbs

    def drop_sandbox(self, nid: str) -> None:
        """The network leaves the node: its LB sandbox and everything learned on it go."""
        for key in [k for k in self.bindings if k[0] == nid]:
            del self.bindings[key]
        for key in [k for k, lb in self.lbs.items() if lb.nid == nid]:
            lb = self.lbs.pop(key)
            lbs = self.sandboxes.get(nid)
            if lbs is not None and lbs.ingress and lbs.sandbox is not None:
                self.mesh.remove_ports(lbs.gw_ip, lb.ports)
        lbs = self.sandboxes.pop(nid, None)
        if lbs is not None:
            lbs.destroy()  # its address stays the node's until the manager releases it
        self.generation += 1

    # ------------------------------------------------------------ bindings
    def add_binding(self, b: Binding) -> None:
        """addServiceBinding: the backend joins its load balancer (created, with a fwmark, on
        first sight), IPVS learns it, DNS names it."""
        rec = b.record
        self.bindings[(b.nid, b.eid)] = b
        b.disabled = False
        self.generation += 1
        if not rec.service_id:  # a plain container on an attachable network: a name only
            return
        key = (rec.service_id, b.nid, rec.ingress_ports)
        lb = self.lbs.get(key)
        if lb is None:
            mark = fwmark_for(self.swarm, b.nid, rec.service_id, rec.ingress_ports) if rec.virtual_ip else 0
            lb = LoadBalancer(rec.service_id, rec.service_name, b.nid, rec.virtual_ip, mark, rec.ingress_ports)
            self.lbs[key] = lb
        lb.backends[b.eid] = b
        if not lb.vip:  # dnsrr: no VIP, no IPVS
            return
        lbs = self.ensure_sandbox(b.nid)
        if lbs is not None:
            self._program_backend(lbs, lb, rec.endpoint_ip)

    def _program_backend(self, lbs: LbSandbox, lb: LoadBalancer, ip: str) -> None:
        """addLBBackend: the service on first use (VIP alias, marks; ingress: host rules), then
        the destination."""
        if lbs.add_service(lb.fwmark, lb.vip, lb.ports) and lbs.ingress:
            self.mesh.add_ports(lbs.gw_ip, lb.ports)
        lbs.add_dest(lb.fwmark, ip)

    def rm_binding(self, nid: str, eid: str, full: bool) -> None:
        """rmServiceBinding: without `full` the backend is disabled (weight 0, out of DNS RR);
        with it, deleted, and the last one takes the IPVS service and the VIP away."""
        b = self.bindings.get((nid, eid))
        if b is None:
            return
        self.generation += 1
        if full:
            del self.bindings[(nid, eid)]
        else:
            b.disabled = True
        rec = b.record
        key = (rec.service_id, nid, rec.ingress_ports)
        lb = self.lbs.get(key)
        if lb is None or eid not in lb.backends:
            return
        if full:
            del lb.backends[eid]
        rm_service = not lb.backends
        if rm_service:
            del self.lbs[key]
        lbs = self.sandboxes.get(nid)
        if not lb.vip or lbs is None or lbs.sandbox is None:
            return
        if any(o.record.endpoint_ip == rec.endpoint_ip for o in lb.backends.values() if o is not b):
            return  # another endpoint still holds the address (ipToEndpoint entries > 0)
        if full:
            lbs.del_dest(lb.fwmark, rec.endpoint_ip)
        else:
            lbs.drain_dest(lb.fwmark, rec.endpoint_ip)
        if rm_service:
            lbs.remove_service(lb.fwmark)
            if lbs.ingress:
                self.mesh.remove_ports(lbs.gw_ip, lb.ports)

    # ------------------------------------------------------------ views
    def network_bindings(self, nid: str) -> list[Binding]:
        return [b for (n, _), b in self.bindings.items() if n == nid]

    def close(self) -> None:
        for nid in list(self.sandboxes):
            self.drop_sandbox(nid)
        self.mesh.close()


def node_lb(lab: Lab, host: str) -> NodeLB:
    """The node's NodeLB (kept in lab.swarm.extra["lb"])."""
    table: dict[str, NodeLB] = lab.swarm.extra.setdefault("lb", {})  # type: ignore[attr-defined]
    nlb = table.get(host)
    if nlb is None:
        nlb = table[host] = NodeLB(lab, host)
    return nlb


def find_node_lb(lab: Lab, host: str) -> NodeLB | None:
    swarm: Any = getattr(lab, "swarm", None)
    return swarm.extra.get("lb", {}).get(host) if swarm is not None else None


def on_swarm_init(lab: Lab, swarm: SwarmState) -> None:
    """Called by the manager at `docker swarm init`: follow the swarm's events (observers.py)."""
    from cnmsim.swarm.observers import install

    install(lab, swarm)
