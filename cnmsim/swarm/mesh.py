"""The routing mesh on a node: the host's DOCKER-INGRESS rules and the redirect rules in task
containers on the ingress network (libnetwork service_linux.go `addIngressPorts`,
`initIngressConfiguration`, `generateIngressRules`, `addRedirectRules`; facts/engine.md §1.9,
§4 "Routing mesh path").

Host-mode publishing (§5) needs nothing here: the agent gives the task container the port
bindings `0.0.0.0:P->T` (cnmsim.swarm.manager.agent.start_container), which the engine programs
on its gateway endpoint, docker_gwbridge, like any `docker run -p`; the scheduler's
HostPortFilter keeps two tasks needing one host port off a node (manager/scheduler.py).

Host rules, classic profile (Engine 27.5.1).  The chain texts are §1.9's, which 27.x already
writes (`-m conntrack --ctstate`, each rule `Insert`ed so the port's ACCEPT ends above its
ESTABLISHED rule).  Placement of the jump in filter FORWARD: in 27.x it sits directly in FORWARD
(DOCKER-FORWARD only came with 28.0.1); `initIngressConfiguration` puts it on top and
libnetwork's `NewNetwork` then re-arranges the ingress jump and DOCKER-USER
(`arrangeIngressFilterRule`, `arrangeUserFilterRule`), so the FORWARD chain reads
`-j DOCKER-USER`, `-j DOCKER-INGRESS`, `-j DOCKER-ISOLATION-STAGE-1`, then the bridges' rules —
the order the 28.0.0 generated doc still shows (facts §1.9 note).  We program it that way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnmsim.engine.iptables import Iptables

if TYPE_CHECKING:
    from cnmsim.engine.daemon import Daemon
    from cnmsim.swarm.eptable import IngressPort

CHAIN = "DOCKER-INGRESS"
JUMP = f"-m addrtype --dst-type LOCAL -j {CHAIN}"


def ingress_rules(p: IngressPort, gw_ip: str) -> list[tuple[str, str]]:
    """generateIngressRules, as iptables-save prints them: (table, rule in DOCKER-INGRESS)."""
    m = f"-p {p.protocol} -m {p.protocol}"
    return [("nat", f"{m} --dport {p.published} -j DNAT --to-destination {gw_ip}:{p.published}"),
            ("filter", f"{m} --sport {p.published} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
            ("filter", f"{m} --dport {p.published} -j ACCEPT")]


class HostIngress:
    """One node's DOCKER-INGRESS programming, with libnetwork's per-port reference counts
    (`portConfigTbl`) and the listening sockets that reserve each published port
    (`plumbIngressPortsProxy`)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.root = daemon.host.root
        self.ipt = Iptables(self.root)
        self.refs: dict[tuple[str, int, int], int] = {}  # (proto, target, published) -> users
        self.listeners: dict[tuple[str, int], Any] = {}
        self.initialised = False

    def _init(self, gw_ip: str) -> None:
        """initIngressConfiguration: chains with RETURN, the nat jumps on top, the FORWARD jump,
        route_localnet and the MASQUERADE of host-originated traffic into docker_gwbridge."""
        ipt = self.ipt
        for table in ("nat", "filter"):
            ipt.ensure_chain(table, CHAIN)
            ipt.append(table, CHAIN, "-j RETURN")
        for chain in ("OUTPUT", "PREROUTING"):
            ipt.ensure_first("nat", chain, JUMP)
        ipt.ensure_first("filter", "FORWARD", f"-j {CHAIN}")
        if ipt.chain_exists("filter", "DOCKER-USER"):  # arrangeUserFilterRule
            ipt.ensure_first("filter", "FORWARD", "-j DOCKER-USER")
        oif = self.root.route_get(gw_ip).dev or "docker_gwbridge"
        self.root.sysctl_set(f"net.ipv4.conf.{oif}.route_localnet", "1")
        ipt.insert("nat", "POSTROUTING", f"-o {oif} -m addrtype --src-type LOCAL -j MASQUERADE")
        self.initialised = True

    def add_ports(self, gw_ip: str, ports: tuple[IngressPort, ...]) -> None:
        """addIngressPorts: rules for the ports no other service published yet."""
        if not gw_ip:
            return
        self._init(gw_ip)
        for p in ports:
            key = (p.protocol, p.target, p.published)
            self.refs[key] = self.refs.get(key, 0) + 1
            if self.refs[key] > 1:
                continue
            for table, rule in ingress_rules(p, gw_ip):
                self.ipt.insert(table, CHAIN, rule)
            self._listen(p)

    def remove_ports(self, gw_ip: str, ports: tuple[IngressPort, ...]) -> None:
        """removeIngressPorts: the last user of a port takes its rules and listener away."""
        for p in ports:
            key = (p.protocol, p.target, p.published)
            if key not in self.refs:
                continue
            self.refs[key] -= 1
            if self.refs[key] > 0:
                continue
            del self.refs[key]
            for table, rule in ingress_rules(p, gw_ip):
                self.ipt.delete(table, CHAIN, rule)
            sock = self.listeners.pop((p.protocol, p.published), None)
            if sock is not None:
                sock.close()

    def _listen(self, p: IngressPort) -> None:
        """The daemon listens on every published port to reserve it (a warning when taken)."""
        if self.daemon.lab.real is not None or (p.protocol, p.published) in self.listeners:
            return
        from cnmsim.kernel.sim.ipv4 import OutputError

        socks = self.root.sockets
        try:
            if p.protocol == "tcp":
                sock = socks.tcp.socket()
                sock.bind("0.0.0.0", p.published)
                sock.listen(511)
            elif p.protocol == "udp":
                sock = socks.udp_socket()
                sock.bind("0.0.0.0", p.published)
            else:
                return
        except OutputError:
            return  # "failed to create proxy for port": the rules still apply
        self.listeners[(p.protocol, p.published)] = sock

    def close(self) -> None:
        for sock in self.listeners.values():
            sock.close()
        self.listeners.clear()


def redirect_rules(ip: str, ports: tuple[IngressPort, ...]) -> list[tuple[str, str, str, bool]]:
    """addRedirectRules in a task container on ingress: (table, chain, rule, insert)."""
    out: list[tuple[str, str, str, bool]] = []
    for p in ports:
        m = f"-p {p.protocol} -m {p.protocol}"
        out += [("nat", "PREROUTING", f"-d {ip}/32 {m} --dport {p.published} -j REDIRECT --to-ports {p.target}", False),
                ("filter", "INPUT", f"-d {ip}/32 {m} --dport {p.target} -m conntrack --ctstate NEW,ESTABLISHED "
                                    "-j ACCEPT", True),
                ("filter", "OUTPUT", f"-s {ip}/32 {m} --sport {p.target} -m conntrack --ctstate ESTABLISHED "
                                     "-j ACCEPT", True)]
    if ports:  # everything else to or from the ingress address is dropped
        for proto in ("sctp", "udp", "tcp"):
            out += [("filter", "INPUT", f"-d {ip}/32 -p {proto} -j DROP", False),
                    ("filter", "OUTPUT", f"-s {ip}/32 -p {proto} -j DROP", False)]
    return out


def add_redirect_rules(ns: Any, ip: str, ports: tuple[IngressPort, ...]) -> None:
    ipt = Iptables(ns)
    for table, chain, rule, insert in redirect_rules(ip, ports):
        (ipt.insert if insert else ipt.append)(table, chain, rule)
