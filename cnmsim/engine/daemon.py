"""dockerd on one lab host: its options, the network controller, the predefined networks
(none, host, bridge/docker0) and the containers (cnmsim.engine.lifecycle).

Options are daemon.json's: bip, fixed-cidr, default-address-pools, icc, iptables, ip-forward,
userland-proxy, dns, mtu.  At start the daemon turns on net.ipv4.ip_forward and, if it had to,
sets the FORWARD policy to DROP (facts/engine.md §1.7); then it creates the predefined networks
in libnetwork's order: none, host, bridge.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING, Any

from cnmsim.engine.controller import Controller
from cnmsim.engine.driverapi import DriverContext
from cnmsim.engine.errors import EngineError
from cnmsim.engine.ipam import netconfig
from cnmsim.engine.iptables import Iptables
from cnmsim.engine.portallocator import PortAllocator

if TYPE_CHECKING:
    from cnmsim.engine.container import Container
    from cnmsim.host import Host

DEFAULTS: dict[str, Any] = {
    "bip": None, "fixed-cidr": None, "default-address-pools": None, "icc": True, "iptables": True,
    "ip-forward": True, "userland-proxy": True, "dns": [], "mtu": 1500,
}
VERSION = "27.5.1"  # the classic profile: Docker Engine up to 27.x
API_VERSION = "1.47"


class Daemon:
    """One host's Docker engine."""

    def __init__(self, host: Host, options: dict[str, Any] | None = None) -> None:
        unknown = set(options or {}) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown daemon option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        self.host = host
        self.lab = host.lab
        self.config = {**DEFAULTS, **(options or {})}
        lo, hi = (int(x) for x in host.root.sysctl_get("net.ipv4.ip_local_port_range").split())
        self.ports = PortAllocator(lo, hi)
        self.ctx = DriverContext(kernel=host.kernel, config=self.config, host=host, rng=self.lab.rng,
                                 ports=self.ports, start_proxy=self._start_proxy)
        self.controller = Controller(self.ctx, lambda: self.lab.now, self.reserved_networks)
        self.containers: dict[str, Container] = {}
        self.proxies: list[Any] = []  # docker-proxy processes, for shutdown
        self._setup_forwarding()
        self._predefined_networks()

    # ------------------------------------------------------------ start-up
    def _setup_forwarding(self) -> None:
        root = self.host.root
        if not self.config["ip-forward"]:
            return
        if root.sysctl_get("net.ipv4.ip_forward") != "1":
            root.sysctl_set("net.ipv4.ip_forward", "1")
            if self.config["iptables"]:
                Iptables(root).policy("filter", "FORWARD", "DROP")

    def _predefined_networks(self) -> None:
        c = self.controller
        c.new_network("none", "null", predefined=True)
        c.new_network("host", "host", predefined=True)
        cfg = self.config
        if cfg["bip"] or cfg["fixed-cidr"]:
            confs = [netconfig.default_bridge_conf(cfg["bip"], cfg["fixed-cidr"])]
        else:
            confs = []
        opts = {
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": "true" if cfg["icc"] else "false",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            "com.docker.network.bridge.name": "docker0",
            "com.docker.network.driver.mtu": str(cfg["mtu"]),
        }
        c.new_network("bridge", "bridge", ipam_confs=confs, options=opts, predefined=True)

    def reserved_networks(self) -> list[IPv4Network]:
        """netutils.InferReservedNetworks: the host's on-link routes and its nameservers."""
        out = []
        for r in self.host.root.routes():
            if r.via is None and r.dst != "default" and r.type == "unicast" and not (r.dev or "").startswith(
                    ("docker0", "br-")):
                out.append(IPv4Network(r.dst if "/" in r.dst else r.dst + "/32", strict=False))
        for line in self.host.files.get("/etc/resolv.conf", "").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                try:
                    out.append(IPv4Network(IPv4Address(parts[1])))
                except ValueError:
                    continue
        return out

    def _start_proxy(self, proto: str, host_ip: str, host_port: int, ip: str, port: int) -> Any:
        """Start a docker-proxy process in the host namespace (the userland proxy)."""
        if self.lab.real is not None:  # a real listener in the host's namespace
            from cnmsim.kernel.real.proxy import RealDockerProxy as DockerProxy

            in_use: tuple[type[Exception], ...] = (OSError,)
        else:
            from cnmsim.apps.docker_proxy import DockerProxy
            from cnmsim.kernel.sim.ipv4 import OutputError

            in_use = (OutputError,)
        proxy = DockerProxy(self.host.root, proto, host_ip, host_port, ip, port)
        try:
            started = proxy.start()
            self.proxies.append(started)
            return started
        except in_use:
            raise EngineError(f"Error starting userland proxy: listen {proto}4 {host_ip}:{host_port}: "
                              "bind: address already in use") from None

    # ------------------------------------------------------------ lookups
    def container(self, ref: str) -> Container:
        """By full id, name (with or without /), then unique id prefix."""
        from cnmsim.engine.errors import find_by_ref

        return find_by_ref(list(self.containers.values()), ref.lstrip("/"), lambda c: c.name,
                           "No such container: {ref}", "multiple IDs found with provided prefix: {ref}")

    def __repr__(self) -> str:
        return f"<Daemon {self.host.name} networks={[n.name for n in self.controller.networks.values()]}>"

    # ------------------------------------------------------------ embedded DNS
    def ensure_dns(self, c: Container, upstreams: list[Any]) -> None:
        """Start the sandbox's resolver at 127.0.0.11 (and its NAT rules) or update its upstreams."""
        from cnmsim.engine.lifecycle import dns_view

        if self.lab.real is not None:  # a real resolver thread listening inside the sandbox
            from cnmsim.kernel.real.dns import RealEmbeddedDns as EmbeddedDns
        else:
            from cnmsim.engine.dns.server import EmbeddedDns

        sb = c.sandbox
        if sb is None or c.place is None:
            return
        if sb.dns is None:
            sb.dns = EmbeddedDns(c.place, lambda: dns_view(self, c), upstreams).start()
            sb.ns.iptables_restore(sb.dns.nat_rules(), noflush=True)
        else:
            sb.dns.set_upstreams(upstreams)

    def drop_dns(self, c: Container) -> None:
        sb = c.sandbox
        if sb is not None and sb.dns is not None:
            sb.dns.stop()
            sb.dns = None

    # ------------------------------------------------------------ the containers' processes
    def start_app(self, c: Container) -> None:
        from cnmsim.engine import runtime

        runtime.start(self, c)

    def stop_app(self, c: Container, graceful: bool = True) -> None:
        from cnmsim.engine import runtime

        runtime.stop(self, c, graceful)

    def shutdown(self) -> None:
        """The host goes down: stop every app, resolver and proxy (real processes and threads)."""
        for c in list(self.containers.values()):
            if c.running:
                self.stop_app(c, graceful=False)
            self.drop_dns(c)
        for p in self.proxies:
            p.stop()
        self.proxies.clear()
