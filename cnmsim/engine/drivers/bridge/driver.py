"""The bridge driver (libnetwork drivers/bridge): what `docker network create -d bridge` builds.

Per network: a Linux bridge (`docker0`, or `br-` + 12 hex of the network id, or the
`com.docker.network.bridge.name` option) holding the gateway address, and its iptables rules
(the firewall profile).  Per endpoint: a veth pair, the host end `veth` + 7 hex on the bridge,
the other end moved into the sandbox as eth0 with MAC 02:42 + the IPv4 address (Engine <= 27).
Published ports: the daemon's port allocator, DNAT rules, and a docker-proxy unless the
userland proxy is off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from typing import TYPE_CHECKING, Any

from cnmsim.engine.driverapi import DriverBase, DriverContext, InterfaceInfo, JoinInfo, PortBinding
from cnmsim.engine.drivers.bridge.firewall_classic import ClassicFirewall
from cnmsim.engine.errors import EngineError
from cnmsim.engine.iptables import Iptables
from cnmsim.kernel import api

if TYPE_CHECKING:
    from cnmsim.engine.ipam.netconfig import IpamInfo

OPT = "com.docker.network.bridge."
MTU_OPT = "com.docker.network.driver.mtu"


def mac_from_ip(ip: str) -> str:
    """netutils.GenerateMACFromIP: 02:42 then the four address bytes."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))


def truthy(v: str | None, default: bool) -> bool:
    if v is None or v == "":
        return default
    if v.lower() in ("1", "t", "true"):
        return True
    if v.lower() in ("0", "f", "false"):
        return False
    raise EngineError(f'strconv.ParseBool: parsing "{v}": invalid syntax')


@dataclass
class BridgeEndpoint:
    host_veth: str
    ctr_veth: str
    address: IPv4Interface
    mac: str
    mapped: list[PortBinding] = field(default_factory=list)
    proxies: list[Any] = field(default_factory=list)


@dataclass
class BridgeNetwork:
    nid: str
    bridge: str
    subnet: str
    gateway: IPv4Interface | None
    icc: bool
    masq: bool
    internal: bool
    mtu: int
    host_ip: str
    endpoints: dict[str, BridgeEndpoint] = field(default_factory=dict)


class BridgeDriver(DriverBase):
    """libnetwork's bridge driver, programming the host through the kernel api."""

    name = "bridge"

    def __init__(self, ctx: DriverContext) -> None:
        super().__init__(ctx)
        self.root = ctx.kernel.root
        self.networks: dict[str, BridgeNetwork] = {}
        cfg = ctx.config
        self.iptables = bool(cfg.get("iptables", True))
        self.proxy = bool(cfg.get("userland-proxy", True))
        self.fw = ClassicFirewall(Iptables(self.root), hairpin=not self.proxy)
        if self.iptables:
            self.fw.setup_chains()

    # ------------------------------------------------------------ networks
    def create_network(self, nid: str, name: str, options: dict[str, str],
                       ipv4: list[IpamInfo], internal: bool) -> None:
        br = options.get(OPT + "name") or f"br-{nid[:12]}"
        if any(n.bridge == br for n in self.networks.values()):
            raise EngineError(f"bridge name {br} already in use")  # not in the source: libnetwork checks conflicts
        info = ipv4[0]
        net = BridgeNetwork(
            nid, br, str(info.subnet), info.gateway,
            icc=truthy(options.get(OPT + "enable_icc"), True),
            masq=truthy(options.get(OPT + "enable_ip_masquerade"), True),
            internal=internal, mtu=int(options.get(MTU_OPT) or 1500),
            host_ip=options.get(OPT + "host_binding_ipv4") or "0.0.0.0")
        root = self.root
        root.link_add(api.Bridge(br))
        try:
            root.link_set(br, address=self._random_mac())  # setupDevice: so it never follows its ports
            if net.mtu != 1500:
                root.link_set(br, mtu=net.mtu)
            if net.gateway is not None:
                root.addr_add(br, str(net.gateway), broadcast=str(info.subnet.broadcast_address))
            if self.iptables:
                self.fw.add_network(br, net.subnet, net.icc, net.masq, internal)
                self.fw.arrange_user_chain()
                # setupBridgeNetFiltering runs when ICC is off in libnetwork 20.10-27.x (newer
                # engines also when the userland proxy is off, facts §1.4)
                if not net.icc:
                    root.sysctl_set("net.bridge.bridge-nf-call-iptables", "1")
            if not self.proxy:
                root.sysctl_set(f"net.ipv4.conf.{br}.route_localnet", "1")
            root.link_set(br, up=True)
        except Exception:
            self._undo_network(net)
            raise
        self.networks[nid] = net

    def _undo_network(self, net: BridgeNetwork) -> None:
        if self.iptables:
            self.fw.remove_network(net.bridge, net.subnet, net.icc, net.masq, net.internal)
        if self.root.link_get(net.bridge) is not None:
            self.root.link_del(net.bridge)

    def delete_network(self, nid: str) -> None:
        net = self.networks.pop(nid)
        self._undo_network(net)

    def _random_mac(self) -> str:
        """setupDevice's bridge MAC up to Engine 27 (netutils genMAC): 02:42 + 4 random bytes."""
        return "02:42:" + ":".join(f"{self.ctx.rng.getrandbits(8):02x}" for _ in range(4))

    # ------------------------------------------------------------ endpoints
    def _veth_name(self) -> str:
        while True:
            name = "veth" + f"{self.ctx.rng.getrandbits(28):07x}"
            if self.root.link_get(name) is None:
                return name

    def create_endpoint(self, nid: str, eid: str, iface: InterfaceInfo, options: dict[str, Any]) -> None:
        net = self.networks[nid]
        if iface.address is None:
            raise EngineError("no IPv4 address was allocated to the endpoint")
        host, ctr = self._veth_name(), ""
        while not ctr or ctr == host:
            ctr = self._veth_name()
        mac = iface.mac or mac_from_ip(str(iface.address.ip))
        root = self.root
        root.link_add(api.Veth(host, peer=ctr))
        try:
            if net.mtu != 1500:
                root.link_set(host, mtu=net.mtu)
                root.link_set(ctr, mtu=net.mtu)
            root.link_set(ctr, address=mac)
            root.link_set(host, master=net.bridge)
            if not self.proxy:
                root.link_set(host, hairpin=True)  # setHairpinMode: a container reaching its own published port
            root.link_set(host, up=True)
        except Exception:
            root.link_del(host)
            raise
        iface.mac = mac
        net.endpoints[eid] = BridgeEndpoint(host, ctr, iface.address, mac)

    def delete_endpoint(self, nid: str, eid: str) -> None:
        ep = self.networks[nid].endpoints.pop(eid, None)
        if ep and self.root.link_get(ep.host_veth) is not None:
            self.root.link_del(ep.host_veth)

    def join(self, nid: str, eid: str, sbox_key: str, jinfo: JoinInfo, options: dict[str, Any]) -> None:
        net = self.networks[nid]
        ep = net.endpoints[eid]
        jinfo.src_name, jinfo.dst_prefix = ep.ctr_veth, "eth"
        if not net.internal and net.gateway is not None:
            jinfo.gateway = str(net.gateway.ip)

    def leave(self, nid: str, eid: str) -> None:
        return None

    # ------------------------------------------------------------ published ports
    def program_external_connectivity(self, nid: str, eid: str, bindings: list[PortBinding],
                                      options: dict[str, Any]) -> list[PortBinding]:
        net = self.networks[nid]
        ep = net.endpoints[eid]
        if net.internal:
            return []
        done: list[PortBinding] = []
        try:
            for b in bindings:
                done.append(self._map(net, ep, b))
        except Exception:
            self.revoke_external_connectivity(nid, eid)
            raise
        return done

    def _map(self, net: BridgeNetwork, ep: BridgeEndpoint, b: PortBinding) -> PortBinding:
        host_ip = b.host_ip or net.host_ip
        ports = self.ctx.ports
        port = ports.request(host_ip, b.proto, b.host_port)
        bound = PortBinding(b.proto, b.container_port, host_ip, port)
        ip = str(ep.address.ip)
        ep.mapped.append(bound)
        if self.iptables:
            self.fw.map_port(net.bridge, b.proto, host_ip, port, ip, b.container_port)
        if self.proxy:
            ep.proxies.append(self.ctx.start_proxy(b.proto, host_ip, port, ip, b.container_port))
        return bound

    def revoke_external_connectivity(self, nid: str, eid: str) -> None:
        net = self.networks[nid]
        ep = net.endpoints.get(eid)
        if ep is None:
            return
        for p in ep.proxies:
            p.stop()
        ep.proxies.clear()
        ports = self.ctx.ports
        for b in ep.mapped:
            if self.iptables:
                self.fw.unmap_port(net.bridge, b.proto, b.host_ip, b.host_port, str(ep.address.ip), b.container_port)
            ports.release(b.host_ip, b.proto, b.host_port)
        ep.mapped.clear()
