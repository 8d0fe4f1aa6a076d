"""CNM Sandbox: a container's network stack, one network namespace holding many endpoints
(libnetwork sandbox.go, osl).

Joining an endpoint moves the interface the driver prepared into the namespace as eth0, eth1 ...
and gives it its address; the default route follows the *gateway endpoint*, the first endpoint
in Endpoint.Less order that has a gateway (facts/engine.md §0): docker_gwbridge last, internal
networks after the others, endpoints with a gateway first, then by network name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnmsim.kernel import api

if TYPE_CHECKING:
    from cnmsim.engine.network import Endpoint


def _order(ep: Endpoint) -> tuple:
    net = ep.network
    return (net.name == "docker_gwbridge", net.internal, ep.gateway is None, net.name)


class Sandbox:
    """One container's namespace (`key`), or the host's own one for --network host."""

    def __init__(self, sid: str, kernel: api.Kernel, host_mode: bool = False) -> None:
        self.id = sid
        self.kernel = kernel
        self.host_mode = host_mode
        self.key = "" if host_mode else sid[:12]  # /var/run/docker/netns/<12 hex>, not listed by `ip netns`
        self.endpoints: list[Endpoint] = []
        self.gateway_ep: Endpoint | None = None
        self.dns: Any = None  # the embedded DNS server, when on a user-defined network
        self.port_bindings: list[Any] = []  # -p requests, programmed on the gateway endpoint
        self.join_info: dict[str, Any] = {}  # endpoint id -> the driver's JoinInfo (gateway service, routes)
        self.deleting = False  # being torn down: no docker_gwbridge endpoint is added any more
        if host_mode:
            self.ns = kernel.root
        else:
            self.ns = kernel.netns_add(self.key, listed=False)
            self.ns.link_set("lo", up=True)

    @property
    def path(self) -> str:
        return "/var/run/docker/netns/default" if self.host_mode else f"/var/run/docker/netns/{self.key}"

    def _next_ifname(self, prefix: str) -> str:
        i = 0
        while self.ns.link_get(f"{prefix}{i}") is not None:
            i += 1
        return f"{prefix}{i}"

    def add_interface(self, ep: Endpoint, src: str, prefix: str) -> None:
        """osl AddInterface: move SRC from the host into the sandbox, rename, address, up."""
        if self.host_mode or not src:
            return
        self.kernel.root.link_set(src, netns=self.key)
        name = self._next_ifname(prefix)
        self.ns.link_set(src, rename=name)
        if ep.address is not None:
            self.ns.addr_add(name, str(ep.address), broadcast=str(ep.address.network.broadcast_address))
        self.ns.link_set(name, up=True)
        ep.ifname = name

    def remove_interface(self, ep: Endpoint) -> None:
        if self.host_mode or not ep.ifname:
            return
        if self.ns.link_get(ep.ifname) is not None:
            self.ns.link_del(ep.ifname)
        ep.ifname = ""

    def sorted_endpoints(self) -> list[Endpoint]:
        return sorted(self.endpoints, key=_order)

    def pick_gateway(self) -> Endpoint | None:
        """getGatewayEndpoint: the first endpoint, in Less order, that has a gateway."""
        for ep in self.sorted_endpoints():
            if ep.gateway:
                return ep
        return None

    def set_default_route(self, ep: Endpoint | None) -> None:
        """Point the default route at the gateway endpoint's gateway (or remove it)."""
        if self.host_mode:
            return
        for r in self.ns.routes():
            if r.dst == "default":
                self.ns.route_del(r)
        if ep is not None and ep.gateway and ep.ifname:
            self.ns.route_add(api.Route(dst="default", via=ep.gateway, dev=ep.ifname))

    def destroy(self) -> None:
        if self.dns is not None:
            self.dns.stop()
            self.dns = None
        if not self.host_mode:
            self.kernel.netns_del(self.key)
