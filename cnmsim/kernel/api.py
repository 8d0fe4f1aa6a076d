"""The kernel interface: typed, `ip`-shaped verbs on a network-namespace handle.

This is the one seam of cnmsim. The Docker engine (drivers, IPAM, DNS, swarm) programs Linux
only through these verbs, as libnetwork programs Linux through netlink; the simulated kernel
(`cnmsim.kernel.sim`) and the real backend (`cnmsim.kernel.real`, pyroute2 + iptables) both
implement them.  The verbs mirror ip(8) and bridge(8) (pyroute2's IPRoute is the model):

    ns = kernel.netns_add("ns1")
    kernel.root.link_add(Veth("veth0", peer="eth0", peer_netns="ns1"))
    ns.addr_add("eth0", "10.0.0.2/24"); ns.link_set("eth0", up=True)
    ns.route_add(Route(dst="default", via="10.0.0.1"))

Records returned by the dump verbs (`links()`, `addrs()`, ...) are plain frozen dataclasses, so
the `ip`/`bridge` tools format them the same way whichever backend produced them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

# ---------------------------------------------------------------- link kinds (ip link add ... type X)


@dataclass(frozen=True)
class Veth:
    """`ip link add NAME type veth peer name PEER [netns PEER_NETNS]`."""

    name: str
    peer: str
    peer_netns: str | None = None  # netns name (or a sandbox key) for the peer end


@dataclass(frozen=True)
class Bridge:
    """`ip link add NAME type bridge` (a learning Linux bridge)."""

    name: str
    ageing_time: float = 300.0  # seconds, the kernel's default
    vlan_filtering: bool = False


@dataclass(frozen=True)
class Vxlan:
    """`ip link add NAME type vxlan id VNI [local IP] [dev DEV] [dstport 4789] [nolearning]`."""

    name: str
    vni: int
    local: str | None = None
    dev: str | None = None
    dstport: int = 4789
    learning: bool = True
    proxy: bool = False  # answer ARP from the neighbour table (Docker's overlay sets it)
    l2miss: bool = False
    l3miss: bool = False


@dataclass(frozen=True)
class Macvlan:
    """`ip link add NAME link PARENT type macvlan mode bridge`."""

    name: str
    parent: str
    mode: str = "bridge"


@dataclass(frozen=True)
class Vlan:
    """`ip link add link PARENT name NAME type vlan id VID` (802.1q sub-interface)."""

    name: str
    parent: str
    vid: int


@dataclass(frozen=True)
class Dummy:
    """`ip link add NAME type dummy`."""

    name: str


LinkKind = Veth | Bridge | Vxlan | Macvlan | Vlan | Dummy

# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class LinkInfo:
    """One row of `ip -d link show`."""

    ifindex: int
    name: str
    kind: str  # "loopback", "veth", "bridge", "vxlan", "macvlan", "vlan", "dummy", "ether"
    mac: str
    mtu: int
    up: bool  # administratively up (IFF_UP)
    lower_up: bool  # carrier (IFF_LOWER_UP)
    master: str | None = None
    link: str | None = None  # peer/parent shown after '@' ("eth0@if5", "eth0.10@eth0")
    link_ifindex: int | None = None
    link_netns: bool = False  # the peer/parent is in another namespace ("@ifN")
    flags: tuple[str, ...] = ()  # extra flags (PROMISC, NOARP ...)
    details: dict[str, object] = field(default_factory=dict)  # vni, vlan id, hairpin ...
    rx_packets: int = 0
    rx_bytes: int = 0
    tx_packets: int = 0
    tx_bytes: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0
    # what `ip link` prints beside the flags; None lets the tool derive it from the fields above
    operstate: str | None = None  # "UP", "DOWN", "UNKNOWN", "LOWERLAYERDOWN" (IFLA_OPERSTATE)
    qdisc: str | None = None  # "noop" until first up, then "noqueue" (virtual) or "pfifo_fast"
    link_netnsid: int | None = None  # IFLA_LINK_NETNSID: the peer namespace's id seen from here
    link_netns_name: str | None = None  # that namespace's `ip netns` name, when it has one
    promiscuity: int | None = None  # IFLA_PROMISCUITY: promisc users (bridge port, uc list, user)


@dataclass(frozen=True)
class AddrInfo:
    """One `inet` line of `ip addr`."""

    dev: str
    address: str  # "10.0.0.2/24"
    scope: str = "global"  # "global", "host", "link"
    broadcast: str | None = None
    secondary: bool = False


@dataclass(frozen=True)
class Route:
    """A route, as `ip route add` takes it and `ip route show` prints it."""

    dst: str  # "default", "10.0.0.0/24", "10.0.0.5"
    via: str | None = None
    dev: str | None = None
    src: str | None = None
    scope: str | None = None  # None: derived ("link" without via, "global" with via)
    proto: str | None = None  # "kernel" for connected routes, None for static ("boot")
    metric: int | None = None
    table: str = "main"
    type: str = "unicast"  # "unicast", "local", "broadcast", "blackhole", "unreachable"
    mtu: int | None = None
    expires: int | None = None  # whole seconds left of a cached exception (a learned path MTU)


@dataclass(frozen=True)
class Neigh:
    """One `ip neigh` row."""

    ip: str
    dev: str
    lladdr: str | None = None
    state: str = "PERMANENT"  # REACHABLE, STALE, DELAY, PROBE, FAILED, INCOMPLETE, PERMANENT, NOARP
    router: bool = False
    proxy: bool = False


@dataclass(frozen=True)
class Fdb:
    """One `bridge fdb` row (on a bridge port, or on a vxlan device with `dst`)."""

    mac: str
    dev: str
    master: str | None = None  # the bridge, for entries in a bridge's table
    dst: str | None = None  # remote VTEP for vxlan FDB entries
    vlan: int | None = None
    state: str = "permanent"  # "permanent", "static", "" (learned, dynamic)
    self_: bool = False  # "self": the device's own table (vxlan), not the master's
    vni: int | None = None
    age: float | None = None  # seconds since a learned entry was last refreshed (brctl showmacs)


@dataclass(frozen=True)
class IpvsStats:
    """Counters and rates of a virtual service or real server (`ipvsadm -L --stats/--rate`)."""

    conns: int = 0
    inpkts: int = 0
    outpkts: int = 0
    inbytes: int = 0
    outbytes: int = 0
    cps: int = 0  # rates: the kernel's 2-second estimator (per second)
    inpps: int = 0
    outpps: int = 0
    inbps: int = 0
    outbps: int = 0


@dataclass(frozen=True)
class IpvsService:
    """An IPVS virtual service, as `ipvsadm -A` takes it; keyed by (proto, addr, port) or fwmark."""

    proto: str = "TCP"  # "TCP", "UDP", or "FWM" (a firewall-mark service: addr/port unused)
    addr: str | None = None
    port: int = 0
    fwmark: int = 0
    scheduler: str = "wlc"  # ipvsadm's default
    persistent: int | None = None  # persistence timeout in seconds (`-p`), None: not persistent
    netmask: str = "255.255.255.255"  # persistence granularity (`-M`)
    stats: IpvsStats | None = field(default=None, compare=False)  # filled by ipvs_services()


@dataclass(frozen=True)
class IpvsDest:
    """A real server of a virtual service (`ipvsadm -a`); counters filled by ipvs_services()."""

    addr: str
    port: int = 0
    weight: int = 1
    forward: str = "Masq"  # "Masq" (NAT), "Route" (direct routing), "Tunnel" (IPIP)
    u_threshold: int = 0
    l_threshold: int = 0
    active_conns: int = field(default=0, compare=False)
    inactive_conns: int = field(default=0, compare=False)
    persist_conns: int = field(default=0, compare=False)
    stats: IpvsStats | None = field(default=None, compare=False)


@dataclass(frozen=True)
class IpvsConn:
    """One entry of the IPVS connection table (`ipvsadm -Lnc`, /proc/net/ip_vs_conn)."""

    proto: str  # "TCP", "UDP", or "IP" (a firewall-mark persistence template)
    caddr: str
    cport: int
    vaddr: str  # for a fwmark template: the mark as an address (256 -> "0.0.1.0")
    vport: int
    daddr: str
    dport: int
    state: str  # "ESTABLISHED", "SYN_RECV", "FIN_WAIT", "TIME_WAIT", "UDP", "NONE" ...
    expires: int  # whole seconds until the entry expires
    forward: str = "Masq"
    template: bool = False  # a persistence template (client -> real server binding)


@dataclass(frozen=True)
class CtTuple:
    """One direction of a conntrack entry, as `conntrack -L` prints it."""

    src: str
    dst: str
    sport: int | None = None  # tcp/udp ports
    dport: int | None = None
    type: int | None = None  # icmp type, code and echo id
    code: int | None = None
    id: int | None = None


@dataclass(frozen=True)
class Conntrack:
    """One `conntrack -L` entry: original and reply tuples, state, seconds left, status."""

    proto: str  # "tcp", "udp", "icmp" ...
    protonum: int
    timeout: int  # whole seconds until it expires
    orig: CtTuple
    reply: CtTuple
    state: str | None = None  # TCP only: SYN_SENT, ESTABLISHED, TIME_WAIT ...
    status: tuple[str, ...] = ()  # SEEN_REPLY, ASSURED, CONFIRMED, SRC_NAT, DST_NAT
    mark: int = 0
    use: int = 1


@dataclass(frozen=True)
class XfrmTmpl:
    """A policy template: which SA to apply (`tmpl src A dst B proto esp spi S reqid R mode M`)."""

    src: str
    dst: str
    proto: str = "esp"
    spi: int = 0  # 0: any SA with these addresses and reqid
    reqid: int = 0
    mode: str = "transport"


@dataclass(frozen=True)
class XfrmState:
    """An IPsec security association, as `ip xfrm state add` takes it and `ip xfrm state` lists it:
    `src A dst B proto esp spi S reqid R mode transport aead rfc4106(gcm(aes)) 0xKEY 64`.

    `key` is the algorithm's key material (for rfc4106: the AES key followed by the 4-byte salt);
    `icv_len` is in bits.  `seq`/`oseq`/`packets`/`bytes` are read-only counters a dump fills in
    (`anti-replay context`, `lifetime current`)."""

    src: str
    dst: str
    spi: int
    proto: str = "esp"
    reqid: int = 0
    mode: str = "transport"
    aead: str = "rfc4106(gcm(aes))"
    key: bytes = b""
    icv_len: int = 64
    mark: int | None = None  # XFRMA_MARK value (None: no mark)
    mask: int = 0xFFFFFFFF
    replay_window: int = 0
    seq: int = field(default=0, compare=False)  # highest sequence number received
    oseq: int = field(default=0, compare=False)  # last sequence number sent
    packets: int = field(default=0, compare=False)
    bytes: int = field(default=0, compare=False)
    added: float = field(default=0.0, compare=False)  # seconds since the epoch (lifetime `add`)
    used: float | None = field(default=None, compare=False)  # first use (lifetime `use`)


@dataclass(frozen=True)
class XfrmPolicy:
    """An IPsec security policy (`ip xfrm policy add src S/32 dst D/32 proto udp dport 4789 dir out
    mark M mask K tmpl ...`): packets matching the selector (and, with `mark`, whose skb mark
    & mask equals it) get the templates' transformations."""

    src: str  # selector prefixes ("192.168.0.2/32", "0.0.0.0/0")
    dst: str
    dir: str = "out"  # "out", "in", "fwd"
    proto: int = 0  # selector upper protocol (0: any)
    sport: int | None = None
    dport: int | None = None
    mark: int | None = None
    mask: int = 0xFFFFFFFF
    priority: int = 0
    action: str = "allow"  # or "block"
    tmpls: tuple[XfrmTmpl, ...] = ()
    index: int = field(default=0, compare=False)  # the kernel's (8*n + dir), filled by dumps
    added: float = field(default=0.0, compare=False)  # seconds since the epoch


class KernelError(Exception):
    """A refusal with the real tool's message (`RTNETLINK answers: File exists`)."""

    def __init__(self, message: str, errno_name: str = "EINVAL") -> None:
        super().__init__(message)
        self.errno_name = errno_name


# ---------------------------------------------------------------- the verbs


@runtime_checkable
class Netns(Protocol):
    """A handle on one network namespace (the root one or a named/container one)."""

    name: str

    # links
    def link_add(self, spec: LinkKind) -> None: ...
    def link_del(self, name: str) -> None: ...
    def link_set(self, name: str, *, up: bool | None = None, master: str | None = None,
                 nomaster: bool = False, netns: str | None = None, mtu: int | None = None,
                 address: str | None = None, rename: str | None = None,
                 hairpin: bool | None = None, promisc: bool | None = None) -> None: ...
    def links(self) -> list[LinkInfo]: ...
    def link_get(self, name: str) -> LinkInfo | None: ...  # `ip link show dev NAME` (None: no such device)

    # addresses
    def addr_add(self, dev: str, cidr: str, *, broadcast: str | None = None) -> None: ...
    def addr_del(self, dev: str, cidr: str) -> None: ...
    def addrs(self) -> list[AddrInfo]: ...

    # routes
    def route_add(self, route: Route, *, replace: bool = False) -> None: ...
    def route_del(self, route: Route) -> None: ...
    def routes(self, table: str = "main") -> list[Route]: ...
    def route_get(self, dst: str) -> Route: ...

    # neighbours and bridge/vxlan forwarding databases
    def neigh_add(self, neigh: Neigh, *, replace: bool = False) -> None: ...
    def neigh_del(self, ip: str, dev: str) -> None: ...
    def neighs(self) -> list[Neigh]: ...
    def fdb_add(self, fdb: Fdb, *, append: bool = False) -> None: ...
    def fdb_del(self, fdb: Fdb) -> None: ...
    def fdbs(self) -> list[Fdb]: ...

    # netfilter: the text format is the interface (iptables-restore / iptables-save)
    def iptables_restore(self, text: str, *, noflush: bool = False, counters: bool = False) -> None: ...
    def iptables_save(self, table: str | None = None, *, counters: bool = False) -> str: ...
    def conntrack_list(self) -> list[Conntrack]: ...  # `conntrack -L`
    def conntrack_flush(self) -> int: ...  # `conntrack -F`: how many entries went

    # sysctls (`net.ipv4.ip_forward`, `net.ipv4.conf.eth0.proxy_arp` ...)
    def sysctl_get(self, key: str) -> str: ...
    def sysctl_set(self, key: str, value: str) -> None: ...
    def sysctl_keys(self) -> list[str]: ...  # every key as a /proc/sys path ("net/ipv4/conf/eth0.10/proxy_arp")

    # IPVS (the kernel's L4 load balancer, as ipvsadm programs it through genetlink)
    def ipvs_service_add(self, svc: IpvsService) -> None: ...
    def ipvs_service_edit(self, svc: IpvsService) -> None: ...
    def ipvs_service_del(self, svc: IpvsService) -> None: ...
    def ipvs_dest_add(self, svc: IpvsService, dest: IpvsDest) -> None: ...
    def ipvs_dest_edit(self, svc: IpvsService, dest: IpvsDest) -> None: ...
    def ipvs_dest_del(self, svc: IpvsService, addr: str, port: int) -> None: ...
    def ipvs_services(self) -> list[tuple[IpvsService, list[IpvsDest]]]: ...
    def ipvs_conns(self) -> list[IpvsConn]: ...
    def ipvs_clear(self) -> None: ...
    def ipvs_zero(self, svc: IpvsService | None = None) -> None: ...
    def ipvs_timeouts(self) -> tuple[int, int, int]: ...  # (tcp, tcpfin, udp) seconds
    def ipvs_set_timeouts(self, tcp: int, tcpfin: int, udp: int) -> None: ...  # 0 keeps a value

    # IPsec (XFRM, as `ip xfrm` and libnetwork program it over netlink)
    def xfrm_state_add(self, state: XfrmState) -> None:
        """Add an SA; `RTNETLINK answers: File exists` when (dst, proto, spi, mark) is taken."""
        ...

    def xfrm_state_del(self, state: XfrmState) -> None:
        """Delete the SA with state's (dst, proto, spi, mark); `No such process` if none."""
        ...

    def xfrm_state_list(self) -> list[XfrmState]:
        """Every SA, newest first as the kernel dumps them, with its counters."""
        ...

    def xfrm_policy_add(self, policy: XfrmPolicy, *, update: bool = False) -> None:
        """Add a policy (`update`: replace the one with the same selector, dir and mark)."""
        ...

    def xfrm_policy_del(self, policy: XfrmPolicy) -> None:
        """Delete the policy with policy's selector, dir and mark; ENOENT if none."""
        ...

    def xfrm_policy_list(self) -> list[XfrmPolicy]:
        """Every policy, as `ip xfrm policy` lists them."""
        ...


@runtime_checkable
class Kernel(Protocol):
    """One host's kernel: its root namespace and the namespaces created on it."""

    hostname: str
    root: Netns

    def netns_add(self, name: str, listed: bool = True) -> Netns: ...
    # listed=False: a namespace bind-mounted outside /var/run/netns, as Docker's sandboxes
    # (/var/run/docker/netns/<id>), so `ip netns list` does not show it
    def netns_del(self, name: str) -> None: ...
    def netns(self, name: str) -> Netns: ...
    def netns_list(self) -> list[str]: ...
