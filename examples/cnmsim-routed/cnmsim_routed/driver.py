"""A routed network driver in the spirit of Calico: a /32 route per container, no bridge.

It uses only what any cnmsim driver may use: the driver contract (cnmsim.engine.driverapi)
and the kernel api (cnmsim.kernel.api) on the context it is given.
"""

from __future__ import annotations

from typing import Any

from cnmsim.engine.driverapi import DriverBase, InterfaceInfo, JoinInfo, StaticRoute
from cnmsim.engine.errors import EngineError
from cnmsim.kernel import api

GATEWAY = "169.254.1.1"  # Calico's fake next hop; the host's proxy ARP answers for it


class RoutedDriver(DriverBase):
    name = "routed"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.root = ctx.kernel.root
        self.networks: dict[str, dict[str, tuple[str, str, str]]] = {}  # nid -> eid -> (host, ctr, ip)

    def create_network(self, nid: str, name: str, options: dict[str, str], ipv4: list, internal: bool) -> None:
        self.networks[nid] = {}
        self._allow_forwarding()

    def _allow_forwarding(self) -> None:
        """Calico's own filter chain: workload traffic is forwarded whatever FORWARD's policy
        (Docker sets it to DROP), jumped to from FORWARD, as iptables-restore text."""
        saved = self.root.iptables_save("filter")
        if ":cali-FORWARD " in saved:
            return
        self.root.iptables_restore("*filter\n:cali-FORWARD - [0:0]\n-A cali-FORWARD -i cali+ -j ACCEPT\n"
                                   "-A cali-FORWARD -o cali+ -j ACCEPT\n-A FORWARD -j cali-FORWARD\nCOMMIT\n",
                                   noflush=True)

    def delete_network(self, nid: str) -> None:
        self.networks.pop(nid, None)

    def create_endpoint(self, nid: str, eid: str, iface: InterfaceInfo, options: dict[str, Any]) -> None:
        if iface.address is None:
            raise EngineError("routed: the endpoint needs an IPv4 address")
        host = "cali" + eid[:11]
        ctr = "tmp" + eid[:12]
        ip = str(iface.address.ip)
        self.root.link_add(api.Veth(host, peer=ctr))
        self.root.sysctl_set(f"net.ipv4.conf.{host}.proxy_arp", "1")
        self.root.link_set(host, up=True)
        self.root.route_add(api.Route(dst=f"{ip}/32", dev=host, scope="link"))
        self.networks[nid][eid] = (host, ctr, ip)

    def delete_endpoint(self, nid: str, eid: str) -> None:
        host, _, _ = self.networks[nid].pop(eid)
        if self.root.link_get(host) is not None:
            self.root.link_del(host)  # its /32 route goes with it

    def join(self, nid: str, eid: str, sbox_key: str, jinfo: JoinInfo, options: dict[str, Any]) -> None:
        _, ctr, _ = self.networks[nid][eid]
        jinfo.src_name, jinfo.dst_prefix = ctr, "eth"
        jinfo.static_routes.append(StaticRoute(f"{GATEWAY}/32"))
        jinfo.gateway = GATEWAY

    def leave(self, nid: str, eid: str) -> None:
        return None
