"""One overlay network as one host's driver holds it (libnetwork drivers/overlay ov_network.go):
its subnets with their VNIs, its endpoints, and the per-network namespace `1-<netid[:10]>`.

The namespace is built the first time an endpoint on this host joins (initSandbox +
setupSubnetSandbox): per subnet a bridge created inside the namespace as `ov-<vni>-<nid5>` and
renamed `br0` (it carries the gateway address), and a VXLAN device created in the host namespace
as `vx-<vni>-<nid5>` (learning, proxy, l2miss, l3miss, UDP port 4789 or --data-path-port), moved
into the namespace, renamed `vxlan0` and enslaved to the bridge.  The VXLAN socket stays in
the host namespace, where the outer packets are routed (facts/engine.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import TYPE_CHECKING, Any

from cnmsim.engine.errors import EngineError
from cnmsim.kernel import api

if TYPE_CHECKING:
    from cnmsim.engine.ipam.netconfig import IpamInfo

VXLAN_ENCAP = 50  # outer Ether 14 + IPv4 20 + UDP 8 + VXLAN 8 (ov_network.go vxlanEncap)
PKT_EXPANSION = 26  # ESP: SPI 4 + SeqN 4 + IV 8 + pad length 1 + next header 1 + ICV 8
MTU_OPT = "com.docker.network.driver.mtu"
VNI_OPT = "com.docker.network.driver.overlay.vxlanid_list"
SECURE_OPT = "encrypted"


def max_mtu(mtu: int, secure: bool) -> int:
    """network.maxMTU: (the network's mtu option or 1500) - 50; encrypted: - 26, multiple of 4."""
    out = (mtu or 1500) - VXLAN_ENCAP
    if secure:
        out -= PKT_EXPANSION
        out -= out % 4
    return out


def parse_vnis(options: dict[str, str], default: int, count: int) -> list[int]:
    """The VNIs of the subnets, from the vxlanid_list option (or the swarm network's VNI)."""
    text = options.get(VNI_OPT, "")
    try:
        vnis = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise EngineError(f"invalid VXLAN id list {text!r}") from None
    if not vnis and default:
        vnis = [default + i for i in range(count)]
    if len(vnis) < count:
        raise EngineError(f"insufficient vnis({len(vnis)}) passed to overlay")
    for v in vnis:
        if not 0 < v < 1 << 24:
            raise EngineError(f"invalid VXLAN id {v}")
    return vnis[:count]


@dataclass
class OvSubnet:
    subnet: IPv4Network
    gateway: IPv4Interface | None
    vni: int
    index: int  # the bridge is br<index>, the VXLAN device vxlan<index>

    @property
    def br(self) -> str:
        return f"br{self.index}"

    @property
    def vx(self) -> str:
        return f"vxlan{self.index}"


@dataclass
class OvEndpoint:
    eid: str
    address: IPv4Interface
    mac: str
    subnet: OvSubnet
    ctr_veth: str = ""  # the end that becomes the container's ethN
    ns_veth: str = ""  # the end in the overlay namespace (veth0, veth1 ...)
    joined: bool = False


@dataclass
class OvNetwork:
    nid: str
    name: str
    subnets: list[OvSubnet]
    mtu: int  # what the interfaces get (maxMTU)
    secure: bool
    internal: bool
    endpoints: dict[str, OvEndpoint] = field(default_factory=dict)
    join_count: int = 0  # local endpoints joined: the namespace lives while > 0
    ns: Any = None  # the namespace handle, once created
    next_veth: int = 0  # osl's nextIfIndex["veth"]: never reused within the namespace

    @property
    def key(self) -> str:
        """osl.GenerateKey("1-" + nid): the sandbox key, 12 characters."""
        return f"1-{self.nid[:10]}"

    def subnet_for(self, ip: IPv4Address) -> OvSubnet | None:
        return next((s for s in self.subnets if ip in s.subnet), None)


def build_subnets(ipv4: list[IpamInfo], vnis: list[int]) -> list[OvSubnet]:
    return [OvSubnet(info.subnet, info.gateway, vni, i) for i, (info, vni) in enumerate(zip(ipv4, vnis, strict=True))]


def init_sandbox(kernel: api.Kernel, net: OvNetwork, dstport: int) -> Any:
    """initSandbox + setupSubnetSandbox per subnet; on failure nothing is left behind."""
    ns = kernel.netns_add(net.key, listed=False)
    try:
        ns.link_set("lo", up=True)
        for s in net.subnets:
            _setup_subnet(kernel.root, ns, net, s, dstport)
    except Exception:
        kernel.netns_del(net.key)
        raise
    return ns


def _setup_subnet(root: api.Netns, ns: api.Netns, net: OvNetwork, s: OvSubnet, dstport: int) -> None:
    tmp_br = f"ov-{s.vni:06x}-{net.nid[:5]}"
    tmp_vx = f"vx-{s.vni:06x}-{net.nid[:5]}"
    ns.link_add(api.Bridge(tmp_br))  # a bridge cannot change namespace: made inside (osl Bridge(true))
    ns.link_set(tmp_br, rename=s.br)
    if s.gateway is not None:
        ns.addr_add(s.br, str(s.gateway), broadcast=str(s.subnet.broadcast_address))
    ns.link_set(s.br, up=True)
    if root.link_get(tmp_vx) is not None:  # deleteVxlanByVNI: a stale device from an earlier life
        root.link_del(tmp_vx)
    root.link_add(api.Vxlan(tmp_vx, vni=s.vni, dstport=dstport, learning=True, proxy=True,
                            l2miss=True, l3miss=True))
    try:
        root.link_set(tmp_vx, mtu=net.mtu)
        root.link_set(tmp_vx, netns=net.key)
    except Exception:
        if root.link_get(tmp_vx) is not None:
            root.link_del(tmp_vx)
        raise
    ns.link_set(tmp_vx, rename=s.vx)
    ns.link_set(s.vx, master=s.br, up=True)


def destroy_sandbox(kernel: api.Kernel, net: OvNetwork) -> None:
    """destroySandbox: the devices go, then the namespace."""
    ns, net.ns = net.ns, None
    if ns is None:
        return
    for s in net.subnets:
        for dev in (s.vx, s.br):
            if ns.link_get(dev) is not None:
                ns.link_del(dev)
    kernel.netns_del(net.key)
