"""The overlay driver (libnetwork drivers/overlay): multi-host networks over VXLAN.

Data scope "global": the swarm manager allocates the network (subnet, gateway, VNI in the option
`com.docker.network.driver.overlay.vxlanid_list`) and every endpoint's address; each host's
engine adopts the network when a task (or an attachable container) needs it and the driver
realises it there:

- create_network only records it; the namespace `1-<netid[:10]>` with `br0` (gateway .1) and
  `vxlan0` is created when the first local endpoint joins and deleted after the last leaves;
- join: a veth pair, one end `vethN` in the overlay namespace on br0, the other the
  container's `eth0`; both with the network's MTU (1450, 1424 encrypted); MAC 02:42 + IPv4;
  no gateway (the engine adds docker_gwbridge, see gwbridge.py), routes to the network's other
  subnets via this subnet's gateway;
- peers come only through NetworkDB gossip (peerdb.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnmsim.engine.driverapi import (
    Capability,
    DriverBase,
    DriverContext,
    InterfaceInfo,
    JoinInfo,
    StaticRoute,
)
from cnmsim.engine.drivers.bridge.driver import mac_from_ip
from cnmsim.engine.drivers.overlay.cluster import ClusterLink
from cnmsim.engine.drivers.overlay.ovnet import (
    MTU_OPT,
    SECURE_OPT,
    VNI_OPT,
    OvEndpoint,
    OvNetwork,
    build_subnets,
    destroy_sandbox,
    init_sandbox,
    max_mtu,
    parse_vnis,
)
from cnmsim.engine.drivers.overlay.peerdb import PeerDB
from cnmsim.engine.errors import EngineError
from cnmsim.kernel import api

if TYPE_CHECKING:
    from cnmsim.engine.ipam.netconfig import IpamInfo


class OverlayDriver(DriverBase):
    """libnetwork's overlay driver on one host, programming it through the kernel api."""

    name = "overlay"

    def __init__(self, ctx: DriverContext) -> None:
        super().__init__(ctx)
        self.root = ctx.kernel.root
        self.networks: dict[str, OvNetwork] = {}
        self.cluster = ClusterLink(ctx)
        self.peers = PeerDB(self)

    def capability(self) -> Capability:
        return Capability(data_scope="global", connectivity_scope="global")

    # ------------------------------------------------------------ networks
    def create_network(self, nid: str, name: str, options: dict[str, str],
                       ipv4: list[IpamInfo], internal: bool) -> None:
        if not ipv4 or str(ipv4[0].subnet) == "0.0.0.0/0":
            raise EngineError("ipv4 pool is empty")
        sw = self.cluster.swarm_network(nid)
        vnis = parse_vnis(options, int(getattr(sw, "vni", 0) or 0), len(ipv4))
        try:
            mtu_opt = int(options.get(MTU_OPT) or 0)
        except ValueError:
            raise EngineError(f"failed to parse mtu value {options[MTU_OPT]!r}") from None
        if mtu_opt < 0:
            raise EngineError(f"invalid MTU {mtu_opt}: must be >= 0")
        secure = SECURE_OPT in options or bool(getattr(sw, "encrypted", False))
        self.networks[nid] = OvNetwork(nid, name, build_subnets(ipv4, vnis), max_mtu(mtu_opt, secure),
                                       secure, internal)

    def delete_network(self, nid: str) -> None:
        net = self.networks.pop(nid, None)
        if net is None:
            return
        if net.ns is not None:
            self._destroy(net)
        self.peers.peers.pop(nid, None)

    def network_info(self, nid: str) -> dict[str, str]:
        net = self.networks.get(nid)
        if net is None:
            return {}
        return {VNI_OPT: ",".join(str(s.vni) for s in net.subnets)}

    # ------------------------------------------------------------ endpoints
    def create_endpoint(self, nid: str, eid: str, iface: InterfaceInfo, options: dict[str, Any]) -> None:
        net = self.networks[nid]
        if iface.address is None:
            raise EngineError("create endpoint was not passed interface IP address")
        s = net.subnet_for(iface.address.ip)
        if s is None:
            raise EngineError(f'no matching subnet for IP "{iface.address}" in network "{nid}"')
        iface.mac = iface.mac or mac_from_ip(str(iface.address.ip))
        net.endpoints[eid] = OvEndpoint(eid, iface.address, iface.mac, s)

    def delete_endpoint(self, nid: str, eid: str) -> None:
        net = self.networks.get(nid)
        ep = net.endpoints.pop(eid, None) if net is not None else None
        if ep is not None and ep.ctr_veth and self.root.link_get(ep.ctr_veth) is not None:
            self.root.link_del(ep.ctr_veth)

    def _veth_name(self) -> str:
        """netutils.GenerateIfaceName(nlh, "veth", 7)."""
        while True:
            name = "veth" + f"{self.ctx.rng.getrandbits(28):07x}"
            if self.root.link_get(name) is None:
                return name

    def join(self, nid: str, eid: str, sbox_key: str, jinfo: JoinInfo, options: dict[str, Any]) -> None:
        net = self.networks[nid]
        ep = net.endpoints[eid]
        s = ep.subnet
        self._join_sandbox(net)
        root, ns = self.root, net.ns
        ctr = self._veth_name()
        ov = self._veth_name()
        while ov == ctr:
            ov = self._veth_name()
        try:
            root.link_add(api.Veth(ctr, peer=ov))
            root.link_set(ov, mtu=net.mtu)
            root.link_set(ov, netns=net.key)
            ns_name = f"veth{net.next_veth}"
            net.next_veth += 1
            ns.link_set(ov, rename=ns_name)
            ns.link_set(ns_name, master=s.br, up=True)
            root.link_set(ctr, mtu=net.mtu)
            root.link_set(ctr, address=ep.mac)
        except Exception:
            if root.link_get(ctr) is not None:
                root.link_del(ctr)
            self._leave_sandbox(net)
            raise
        ep.ctr_veth, ep.ns_veth, ep.joined = ctr, ns_name, True
        for other in net.subnets:
            if other is not s and s.gateway is not None:
                jinfo.static_routes.append(StaticRoute(str(other.subnet), str(s.gateway.ip)))
        jinfo.src_name, jinfo.dst_prefix = ctr, "eth"
        self.peers.local_join(net, ep)

    def leave(self, nid: str, eid: str) -> None:
        net = self.networks.get(nid)
        ep = net.endpoints.get(eid) if net is not None else None
        if net is None or ep is None or not ep.joined:
            return
        self.peers.local_leave(net, ep)
        if net.ns is not None and ep.ns_veth and net.ns.link_get(ep.ns_veth) is not None:
            net.ns.link_del(ep.ns_veth)
        ep.ns_veth, ep.ctr_veth, ep.joined = "", "", False
        self._leave_sandbox(net)

    # ------------------------------------------------------------ the per-network namespace
    def _join_sandbox(self, net: OvNetwork) -> None:
        """joinSandbox: create the namespace for the first local endpoint."""
        if net.ns is None:
            net.ns = init_sandbox(self.ctx.kernel, net, self.cluster.data_port())
            if net.secure:
                self.cluster.on_local(net.nid, True)
            self.peers.sandbox_ready(net)
        net.join_count += 1

    def _leave_sandbox(self, net: OvNetwork) -> None:
        """leaveSandbox: the last local endpoint gone, the namespace goes too."""
        net.join_count -= 1
        if net.join_count <= 0:
            net.join_count = 0
            self._destroy(net)

    def _destroy(self, net: OvNetwork) -> None:
        self.peers.sandbox_gone(net)
        if net.secure:
            self.cluster.on_local(net.nid, False)
        destroy_sandbox(self.ctx.kernel, net)
        self.peers.network_left(net)

    # ------------------------------------------------------------ for tools and tests
    def namespace_key(self, nid: str) -> str | None:
        """The overlay namespace of the network on this host, if it exists now."""
        net = self.networks.get(nid)
        return net.key if net is not None and net.ns is not None else None
