"""A node's load-balancer sandbox for one swarm network (libnetwork network.go
`createLoadBalancerSandbox`, service_linux.go `addLBBackend`/`rmLBBackend`/`configureFWMark`).

Since Docker 18.09 (libnetwork "scalable LB", facts/engine.md §4) each node has, per overlay
network it is on, one sandbox holding the IPVS load balancer of every service on that network:

- sandbox name `lb-<netname>`, ID `lb_<netid>`, namespace /var/run/docker/netns/`lb_<netid[:9]>`
  (osl.GenerateKey keeps 12 characters); for the ingress network name `ingress-sbox`, ID and
  namespace `ingress_sbox`, with a second endpoint on docker_gwbridge (the DNAT target);
- endpoint `<netname>-endpoint` on the overlay, with an address the swarm allocated;
- per service: its VIP as a /32 alias on that interface, one IPVS service keyed by fwmark
  (scheduler rr), destinations = the tasks' addresses on the network, weight 1, Masq;
  mangle `-A INPUT -d VIP/32 -j MARK --set-mark F` (ingress: also `-A PREROUTING -p P --dport
  PUB -j MARK --set-mark F`), nat `-A POSTROUTING -m ipvs --ipvs -d SUBNET -j SNAT --to-source
  LBIP` and vs/conntrack=1;
- sysctls vs.conn_reuse_mode=0, expire_nodest_conn=1, expire_quiescent_template=1 (ApplyOSTweaks).

Every kernel change goes through cnmsim.kernel.api on the node's own kernel.
"""

from __future__ import annotations

from ipaddress import IPv4Interface
from typing import TYPE_CHECKING, Any

from cnmsim.engine.iptables import Iptables
from cnmsim.engine.sandbox import Sandbox
from cnmsim.kernel import api

if TYPE_CHECKING:
    from cnmsim.engine.daemon import Daemon
    from cnmsim.engine.network import Endpoint, Network
    from cnmsim.swarm.eptable import IngressPort

INGRESS_ID = "ingress_sbox"
GWBRIDGE = "docker_gwbridge"
OS_TWEAKS = (("net.ipv4.vs.conn_reuse_mode", "0"), ("net.ipv4.vs.expire_nodest_conn", "1"),
             ("net.ipv4.vs.expire_quiescent_template", "1"))


def sandbox_id(net: Network) -> str:
    """controller.NewSandbox: `ingress_sbox` for the ingress network, else `lb_<netid>`."""
    return INGRESS_ID if net.ingress else f"lb_{net.id}"


def sandbox_name(net: Network) -> str:
    """network.lbSandboxName: `lb-<name>`, or `<name>-sbox` for ingress."""
    return f"{net.name}-sbox" if net.ingress else f"lb-{net.name}"


def fwm(mark: int) -> api.IpvsService:
    return api.IpvsService(proto="FWM", fwmark=mark, scheduler="rr")


def mark_rule(mark: int) -> str:
    """`-j MARK --set-mark N` as iptables-save prints it."""
    return f"-j MARK --set-xmark {mark:#x}/0xffffffff"


class LbSandbox:
    """The LB sandbox of one network on one node (see the module docstring)."""

    def __init__(self, daemon: Daemon, net: Network, address: IPv4Interface) -> None:
        self.daemon = daemon
        self.net = net
        self.address = address
        self.name = sandbox_name(net)
        self.sandbox: Sandbox | None = None
        self.endpoint: Endpoint | None = None
        self.gw_endpoint: Endpoint | None = None  # ingress only: its docker_gwbridge endpoint
        self.services: dict[int, tuple[str, tuple[IngressPort, ...]]] = {}  # fwmark -> (VIP, ports)

    # ------------------------------------------------------------ life
    @property
    def ingress(self) -> bool:
        return self.net.ingress

    @property
    def key(self) -> str:
        return self.sandbox.key if self.sandbox else ""

    @property
    def ns(self) -> Any:
        assert self.sandbox is not None
        return self.sandbox.ns

    @property
    def ip(self) -> str:
        return str(self.address.ip)

    @property
    def gw_ip(self) -> str:
        """The ingress sandbox's docker_gwbridge address: the host DNATs published ports to it."""
        return self.gw_endpoint.ip if self.gw_endpoint is not None else ""

    def create(self) -> LbSandbox:
        """NewSandbox, the LB endpoint (anonymous: no DNS names), Join; then the OS tweaks."""
        ctl = self.daemon.controller
        sb = Sandbox(sandbox_id(self.net), ctl.ctx.kernel)
        sb.load_balancer = self.net.id  # type: ignore[attr-defined]  (libnetwork sb.loadBalancerNID)
        sb.ingress = self.ingress  # type: ignore[attr-defined]
        sb.container_name = self.name  # type: ignore[attr-defined]
        ctl.sandboxes[sb.id] = sb
        self.sandbox = sb
        try:
            ep = ctl.new_endpoint(self.net, f"{self.net.name}-endpoint", ip=self.ip)
            ep.load_balancer = True  # type: ignore[attr-defined]
            self.endpoint = ep
            ctl.join(ep, sb)
            if self.ingress:
                self.gw_endpoint = self._gateway(sb)
        except Exception:
            self.destroy()
            raise
        lab = self.daemon.lab
        lab.bus.alias(self.daemon.host.name, sb.key, self.name)
        ns = sb.ns
        # a new namespace inherits the host's IPv4 conf/all (devconf_inherit_init_net=0), where
        # dockerd turned forwarding on: IPVS NAT replies are forwarded back to the client
        ns.sysctl_set("net.ipv4.ip_forward", "1")
        for key, value in OS_TWEAKS:
            ns.sysctl_set(key, value)
        return self

    def _gateway(self, sb: Sandbox) -> Endpoint | None:
        """The ingress sandbox reaches the host through docker_gwbridge (default_gateway.go:
        `gateway_<container id[:12]>`), unless the engine already attached it."""
        ctl = self.daemon.controller
        have = next((e for e in sb.endpoints if e.network.name == GWBRIDGE), None)
        if have is not None:
            return have
        gw = next((n for n in ctl.networks.values() if n.name == GWBRIDGE), None)
        if gw is None:
            return None
        ep = ctl.new_endpoint(gw, f"gateway_{self.name[:12]}")
        try:
            ctl.join(ep, sb)
        except Exception:
            ctl.delete_endpoint(ep)
            raise
        return ep

    def destroy(self) -> None:
        """deleteLoadBalancerSandbox: the endpoints leave and go, then the namespace."""
        ctl = self.daemon.controller
        sb = self.sandbox
        for ep in (self.endpoint, self.gw_endpoint):  # the gwbridge one goes with the last overlay one
            if ep is not None and ep.id in ep.network.endpoints:
                ctl.delete_endpoint(ep)
        if sb is not None:
            self.daemon.lab.bus.alias(self.daemon.host.name, sb.key, None)
            if sb.id in ctl.sandboxes:
                ctl.delete_sandbox(sb)
        self.sandbox = self.endpoint = self.gw_endpoint = None
        self.services.clear()

    # ------------------------------------------------------------ services and backends
    def fwmark_rules(self, vip: str, mark: int, ports: tuple[IngressPort, ...]) -> list[tuple[str, str, str]]:
        """configureFWMark's rules, in the order it programs them: (table, chain, rule)."""
        rules = [("mangle", "PREROUTING", f"-p {p.protocol} -m {p.protocol} --dport {p.published} {mark_rule(mark)}")
                 for p in ports]
        subnet = self.address.network
        rules.append(("nat", "POSTROUTING", f"-d {subnet} -m ipvs --ipvs -j SNAT --to-source {self.ip}"))
        rules.append(("mangle", "INPUT", f"-d {vip}/32 {mark_rule(mark)}"))
        return rules

    def add_service(self, mark: int, vip: str, ports: tuple[IngressPort, ...] = ()) -> bool:
        """The first backend of a service: VIP alias, marks, SNAT, the IPVS service.
        False when it was already there."""
        ns = self.ns
        if any(s.fwmark == mark for s, _ in ns.ipvs_services()):
            return False
        if self.endpoint is not None and f"{vip}/32" not in {a.address for a in ns.addrs()}:
            ns.addr_add(self.endpoint.ifname, f"{vip}/32")
        ipt = Iptables(ns)
        for table, chain, rule in self.fwmark_rules(vip, mark, ports):
            if table == "nat" and not ipt.exists(table, chain, rule):
                ns.sysctl_set("net.ipv4.vs.conntrack", "1")
            ipt.append(table, chain, rule)
        ns.ipvs_service_add(fwm(mark))
        self.services[mark] = (vip, tuple(ports))
        return True

    def remove_service(self, mark: int) -> None:
        """rmLBBackend with rmService: the IPVS service, its marks and the VIP alias go (the
        SNAT rule stays: it is per sandbox)."""
        vip, ports = self.services.pop(mark, ("", ()))
        ns = self.ns
        if any(s.fwmark == mark for s, _ in ns.ipvs_services()):
            ns.ipvs_service_del(fwm(mark))
        ipt = Iptables(ns)
        for table, chain, rule in self.fwmark_rules(vip, mark, ports):
            if table == "mangle":
                ipt.delete(table, chain, rule)
        shared = any(v == vip for v, _ in self.services.values())  # the same VIP, other ports
        if vip and not shared and self.endpoint is not None and f"{vip}/32" in {a.address for a in ns.addrs()}:
            ns.addr_del(self.endpoint.ifname, f"{vip}/32")

    def dests(self, mark: int) -> dict[str, int]:
        """address -> weight of the service's real servers."""
        for s, ds in self.ns.ipvs_services():
            if s.fwmark == mark:
                return {d.addr: d.weight for d in ds}
        return {}

    def add_dest(self, mark: int, ip: str) -> None:
        """NewDestination (weight 1, Masq); an existing one (weight 0) is weighted up again."""
        have = self.dests(mark)
        dest = api.IpvsDest(ip, 0, weight=1, forward="Masq")
        if ip not in have:
            self.ns.ipvs_dest_add(fwm(mark), dest)
        elif have[ip] != 1:
            self.ns.ipvs_dest_edit(fwm(mark), dest)

    def drain_dest(self, mark: int, ip: str) -> None:
        """rmLBBackend without fullRemove: weight 0, so no new connection goes there."""
        if self.dests(mark).get(ip, 0):
            self.ns.ipvs_dest_edit(fwm(mark), api.IpvsDest(ip, 0, weight=0, forward="Masq"))

    def del_dest(self, mark: int, ip: str) -> None:
        if ip in self.dests(mark):
            self.ns.ipvs_dest_del(fwm(mark), ip, 0)
