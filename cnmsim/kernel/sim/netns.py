"""One simulated network namespace: devices, addresses, routes, neighbours, sysctls, sockets.

SimNetns implements the `cnmsim.kernel.api.Netns` verbs; the packet paths live in ipv4.py,
neigh.py, icmp.py and the device drivers.  Errors carry iproute2's messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import TYPE_CHECKING

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.kernel.sim import sysctl as sc
from cnmsim.kernel.sim.devices.base import NetDevice
from cnmsim.kernel.sim.devices.bridge import BridgeDevice
from cnmsim.kernel.sim.devices.loopback import Loopback
from cnmsim.kernel.sim.fragment import Reassembly
from cnmsim.kernel.sim.ipv4 import IPv4Stack
from cnmsim.kernel.sim.ipvs import IpvsVerbs
from cnmsim.kernel.sim.links import create_link, link_info
from cnmsim.kernel.sim.neigh import NeighTable
from cnmsim.kernel.sim.netfilter import Netfilter
from cnmsim.kernel.sim.route import RouteEntry, RoutingTable
from cnmsim.kernel.sim.sockets import SocketTable
from cnmsim.kernel.sim.xfrm import XfrmVerbs
from cnmsim.netfilter.model import Ruleset
from cnmsim.packet.frame import Frame

if TYPE_CHECKING:
    from cnmsim.kernel.sim.kernel import SimKernel

EXISTS = "RTNETLINK answers: File exists"


def no_dev(name: str) -> KernelError:
    return KernelError(f'Cannot find device "{name}"', "ENODEV")


@dataclass(slots=True)
class AddrEntry:
    dev: NetDevice
    iface: IPv4Interface
    scope: str = "global"
    broadcast: str | None = None


class SimNetns(IpvsVerbs, XfrmVerbs):
    """A network namespace of a simulated host (the root one has name "")."""

    def __init__(self, kernel: SimKernel, name: str) -> None:
        self.kernel = kernel
        self.name = name
        self._label = kernel.hostname + (f"[{name}]" if name else "")
        self.bus = kernel.ctx.bus
        self.next_ifindex = 1
        self.devices: dict[str, NetDevice] = {}
        self.ifaddrs: list[AddrEntry] = []
        self.local_addrs: dict[str, NetDevice] = {}
        self.bcast_addrs: set[str] = set()
        self.main = RoutingTable("main")
        self.nsids: dict[SimNetns, int] = {}  # ids of peer namespaces (IFLA_LINK_NETNSID)
        self.sysctls: dict[str, str] = dict(sc.GLOBAL_DEFAULTS) | dict(sc.BRIDGE_DEFAULTS) | dict(sc.VS_DEFAULTS)
        for dev in ("all", "default"):
            self._add_conf(dev)
        self.nf = Netfilter(self)
        self.ruleset = Ruleset()  # iptables tables of this namespace (cnmsim.netfilter.model)
        self._nf_attached = False
        self.stack = IPv4Stack(self)
        self.neigh = NeighTable(self)
        self.sockets = SocketTable(self)
        self.reassembly = Reassembly(self)  # ip_defrag at local delivery
        lo = Loopback(self)
        self.attach(lo)
        self._local_lo = lo
        if not name:  # the root namespace boots with lo up; a new namespace's lo is DOWN
            lo.set_up(True)

    # ------------------------------------------------------------ helpers for the data path
    def trace(self, dev: str, stage: str, verdict: str, reason: str, frame: Frame | None = None) -> None:
        if self.bus.on:
            self.bus.emit(self.kernel.hostname, self.name, dev, stage, verdict, reason, frame)

    @property
    def bridge_nf(self) -> bool:
        return self.sysctls["net.bridge.bridge-nf-call-iptables"] == "1"

    def conf(self, dev: str, key: str) -> str:
        """Effective per-device conf value (proxy_arp and forwarding OR the `all` value)."""
        v = self.sysctls.get(sc.conf_key(dev, key), "0")
        if key in ("proxy_arp", "forwarding", "route_localnet") and self.sysctls.get(sc.conf_key("all", key)) == "1":
            return "1"
        return v

    def addr_owner(self, ip: str) -> NetDevice | None:
        lo = self._local_lo
        return self.local_addrs.get(ip) or (lo if ip.startswith("127.") and lo.admin_up else None)

    def local_route(self, dst: str) -> RouteEntry:
        """The local-table route to one of our addresses (src: that address), or for the rest of
        127.0.0.0/8 the `local 127.0.0.0/8 ... src 127.0.0.1` route (src: lo's address)."""
        if dst in self.local_addrs:
            return RouteEntry(net=IPv4Network(dst + "/32"), dev=self._local_lo, scope="host",
                              type="local", src=dst, proto="kernel")
        lo_addr = next((str(a.iface.ip) for a in self.ifaddrs if a.dev is self._local_lo
                        and IPv4Address(dst) in a.iface.network), "127.0.0.1")
        return RouteEntry(net=IPv4Network("127.0.0.0/8"), dev=self._local_lo, scope="host",
                          type="local", src=lo_addr, proto="kernel")

    def host_net(self, dst: str) -> IPv4Network:
        return IPv4Network(dst + "/32")

    def select_source(self, dev: NetDevice | None, dst: str) -> str | None:
        """inet_select_addr: dev's address in dst's subnet, else dev's first global, else any."""
        try:
            d = IPv4Address(dst)
        except ValueError:
            d = None
        first = None
        for a in self.ifaddrs:
            if a.dev is dev and a.scope != "host":
                if d is not None and d in a.iface.network:
                    return str(a.iface.ip)
                first = first or str(a.iface.ip)
        if first:
            return first
        for a in self.ifaddrs:
            if a.scope == "global":
                return str(a.iface.ip)
        return None

    def fragment(self, frame: Frame, ip, mtu: int) -> list[Frame]:  # noqa: ANN001
        from cnmsim.kernel.sim.fragment import fragment

        return fragment(self, frame, ip, mtu)

    # ------------------------------------------------------------ devices
    def dev(self, name: str) -> NetDevice:
        try:
            return self.devices[name]
        except KeyError:
            raise no_dev(name) from None

    def attach(self, dev: NetDevice, keep_index: bool = False) -> None:
        """Register a device here (at creation, or when it moves in from another netns)."""
        used = {d.ifindex for d in self.devices.values()}
        if not keep_index or dev.ifindex in used:
            dev.ifindex = self.alloc_ifindex()
        dev.ns = self
        self.devices[dev.name] = dev
        self._add_conf(dev.name)

    def alloc_ifindex(self) -> int:
        used = {d.ifindex for d in self.devices.values()}
        i = self.next_ifindex
        while i in used:
            i += 1
        self.next_ifindex = i + 1
        return i

    def _add_conf(self, dev: str) -> None:
        for k, v in sc.CONF_DEFAULTS.items():
            key = sc.conf_key(dev, k)
            if key not in self.sysctls:
                default = self.sysctls.get(sc.conf_key("default", k), v)
                self.sysctls[key] = default

    def detach(self, dev: NetDevice) -> None:
        """Forget a device: its addresses, routes and neighbours go with it."""
        self.ifaddrs = [a for a in self.ifaddrs if a.dev is not dev]
        self._rebuild_local()
        self.main.remove(lambda e: e.dev is dev)
        self.neigh.entries = {k: e for k, e in self.neigh.entries.items() if e.dev is not dev}
        self.devices.pop(dev.name, None)
        for k in sc.CONF_DEFAULTS:  # the per-device keys _add_conf made
            self.sysctls.pop(sc.conf_key(dev.name, k), None)

    def on_link_change(self, dev: NetDevice) -> None:
        """Admin up adds the connected routes of dev's addresses; down removes them."""
        if dev.kind == "loopback" and dev.admin_up and not self.addrs_of(dev):
            # inetdev_event(NETDEV_UP) gives lo 127.0.0.1/8 the first time it comes up
            self.ifaddrs.insert(0, AddrEntry(dev, IPv4Interface("127.0.0.1/8"), "host"))
            self._rebuild_local()
        if dev.admin_up:
            dev.qdisc_attached = True  # dev_activate(): `qdisc noop` becomes noqueue/pfifo_fast
            for a in self.ifaddrs:
                if a.dev is dev:
                    self._add_prefix_route(a)
        else:
            self.main.remove(lambda e: e.dev is dev)
        self.main.invalidate()
        self.trace(dev.name, "link:state", "up" if dev.admin_up else "down", f"{dev.name} is {'UP' if dev.admin_up else 'DOWN'}")

    def _add_prefix_route(self, a: AddrEntry) -> None:
        net = a.iface.network
        if net.prefixlen == 32 or a.scope == "host":
            return
        self.main.add(RouteEntry(net=net, dev=a.dev, src=str(a.iface.ip), scope="link", proto="kernel"))

    def _rebuild_local(self) -> None:
        self.local_addrs = {str(a.iface.ip): a.dev for a in self.ifaddrs}
        self.bcast_addrs = {a.broadcast for a in self.ifaddrs if a.broadcast}
        self.main.invalidate()

    # ------------------------------------------------------------ api: links
    def link_add(self, spec: api.LinkKind) -> None:
        if spec.name in self.devices:
            raise KernelError(EXISTS, "EEXIST")
        create_link(self, spec)
        self.trace(spec.name, "link:add", "add", f"{type(spec).__name__.lower()} {spec.name} created")

    def link_del(self, name: str) -> None:
        dev = self.dev(name)
        if dev.kind == "loopback":
            raise KernelError("RTNETLINK answers: Operation not supported", "EOPNOTSUPP")
        dev.destroy() if hasattr(dev, "destroy") else None
        peer = getattr(dev, "peer", None)
        if dev.master is not None:
            dev.master.del_port(dev)  # type: ignore[attr-defined]
        if isinstance(dev, BridgeDevice):
            for p in list(dev.ports):
                dev.del_port(p)
        for up in list(dev.uppers):
            up.ns.link_del(up.name)
        self.detach(dev)
        if peer is not None:
            peer.peer = None
            if peer.master is not None:
                peer.master.del_port(peer)
            peer.ns.detach(peer)
        self.trace(name, "link:del", "del", f"{name} deleted")

    def link_set(self, name: str, *, up: bool | None = None, master: str | None = None,
                 nomaster: bool = False, netns: str | None = None, mtu: int | None = None,
                 address: str | None = None, rename: str | None = None,
                 hairpin: bool | None = None, promisc: bool | None = None) -> None:
        dev = self.dev(name)
        if master is not None:
            br = self.dev(master)
            if not isinstance(br, BridgeDevice):
                if dev.master is not None:  # do_set_master() leaves the old master first
                    dev.master.del_port(dev)  # type: ignore[attr-defined]
                raise KernelError("RTNETLINK answers: Operation not supported", "EOPNOTSUPP")
            br.add_port(dev)
        if nomaster and dev.master is not None:
            dev.master.del_port(dev)  # type: ignore[attr-defined]
        if mtu is not None:
            if mtu < 68 or mtu > getattr(dev, "max_mtu", 65535):
                raise KernelError("Error: mtu greater than device maximum." if mtu > 68 else
                                  "Error: mtu less than device minimum.", "EINVAL")
            dev.mtu = mtu
            dev.mtu_set = True  # a bridge keeps a user-set MTU (BROPT_MTU_SET_BY_USER)
            if hasattr(dev.master, "recalc_mtu"):
                dev.master.recalc_mtu()  # type: ignore[union-attr]
            self.main.invalidate()
        if address is not None:
            if int(address[:2], 16) & 1 or address.strip("0:") == "":  # !is_valid_ether_addr
                raise KernelError("RTNETLINK answers: Cannot assign requested address", "EADDRNOTAVAIL")
            dev.mac, dev.mac_set = address.lower(), True
        if hairpin is not None:
            if dev.master is None:
                raise KernelError("Error: Device is not a bridge port.", "EOPNOTSUPP")
            dev.hairpin = hairpin
        if promisc is not None:
            dev.promisc = promisc
        if rename is not None and rename != name:
            if rename in self.devices:
                raise KernelError(EXISTS, "EEXIST")
            self.devices.pop(name)
            conf = {k: v for k, v in self.sysctls.items() if k.startswith(f"net.ipv4.conf.{name}.")}
            for k, v in conf.items():
                del self.sysctls[k]
                self.sysctls[k.replace(f".conf.{name}.", f".conf.{rename}.")] = v
            dev.name = rename
            self.devices[rename] = dev
        if netns is not None:
            self._move(dev, self.kernel.netns(netns))
        if up is not None:
            dev.set_up(up)

    def _move(self, dev: NetDevice, target: SimNetns) -> None:
        """`ip link set DEV netns NS`: the device goes down and loses its addresses and routes."""
        if target is self:
            return
        if dev.name in target.devices:
            raise KernelError(EXISTS, "EEXIST")
        if dev.master is not None:
            dev.master.del_port(dev)  # type: ignore[attr-defined]
        dev.admin_up = False
        dev.qdisc_attached = False  # dev_shutdown() on the way out
        self.detach(dev)
        target.attach(dev, keep_index=True)
        self.trace(dev.name, "link:netns", "move", f"{dev.name} moved to {target.label}")

    def links(self) -> list[api.LinkInfo]:
        return [link_info(d) for d in sorted(self.devices.values(), key=lambda d: d.ifindex)]

    def link_get(self, name: str) -> api.LinkInfo | None:
        d = self.devices.get(name)
        return None if d is None else link_info(d)

    # ------------------------------------------------------------ api: addresses
    def addr_add(self, dev: str, cidr: str, *, broadcast: str | None = None) -> None:
        d = self.dev(dev)
        try:
            iface = IPv4Interface(cidr if "/" in cidr else cidr + "/32")
        except ValueError:
            raise KernelError(f'Error: inet prefix is expected rather than "{cidr}".', "EINVAL") from None
        if any(a.dev is d and a.iface == iface for a in self.ifaddrs):
            raise KernelError("Error: ipv4: Address already assigned.", "EEXIST")
        scope = "host" if iface.ip.is_loopback else "global"
        if broadcast == "+":
            broadcast = str(iface.network.broadcast_address)
        a = AddrEntry(d, iface, scope, broadcast)
        self.ifaddrs.append(a)
        self._rebuild_local()
        if d.admin_up:
            self._add_prefix_route(a)
        self.trace(dev, "addr:add", "add", f"{cidr} on {dev}")

    def addr_del(self, dev: str, cidr: str) -> None:
        d = self.dev(dev)
        iface = IPv4Interface(cidr if "/" in cidr else cidr + "/32")
        match = [a for a in self.ifaddrs if a.dev is d and (a.iface == iface or ("/" not in cidr and a.iface.ip == iface.ip))]
        if not match:
            raise KernelError("Error: ipv4: Address not found.", "EADDRNOTAVAIL")
        a = match[0]
        same = [b for b in self.ifaddrs if b.dev is d and b.iface.network == a.iface.network]
        # promote_secondaries is 0: a primary takes its secondaries with it (__inet_del_ifa)
        for b in same if same[0] is a else [a]:
            self.ifaddrs.remove(b)
        self._rebuild_local()
        self.main.remove(lambda e: e.dev is d and e.proto == "kernel" and e.net == a.iface.network
                         and e.src == str(a.iface.ip))

    def addrs_of(self, dev: NetDevice) -> list[AddrEntry]:
        return [a for a in self.ifaddrs if a.dev is dev]

    def addr_list(self) -> list[api.AddrInfo]:
        return [api.AddrInfo(a.dev.name, str(a.iface), a.scope, a.broadcast,
                             secondary=any(b.dev is a.dev and b.iface.network == a.iface.network
                                           for b in self.ifaddrs[: self.ifaddrs.index(a)]))
                for a in self.ifaddrs]

    addrs = addr_list

    # ------------------------------------------------------------ api: routes
    def _route_entry(self, r: api.Route) -> RouteEntry:
        try:
            net = IPv4Network("0.0.0.0/0" if r.dst == "default" else r.dst)
        except ValueError:
            raise KernelError("Error: Invalid prefix for given prefix length.", "EINVAL") from None
        dev = self.dev(r.dev) if r.dev else None
        if r.type in ("blackhole", "unreachable", "prohibit"):
            return RouteEntry(net=net, dev=None, type=r.type, metric=r.metric, scope="global")
        if r.via:
            gw = self.stack.fib_lookup(r.via)
            onlink = gw is not None and gw.via is None and gw.dev is not None and gw.type == "unicast"
            if not onlink or (dev is not None and gw.dev is not dev):
                raise KernelError("Error: Nexthop has invalid gateway.", "ENETUNREACH")
            dev = dev or gw.dev
        if dev is None:
            raise KernelError("Error: Device for nexthop is not up.", "ENODEV")
        scope = r.scope or ("global" if r.via else "link")
        return RouteEntry(net=net, dev=dev, via=r.via, src=r.src, scope=scope, proto=r.proto,
                          metric=r.metric, mtu=r.mtu)

    def route_add(self, route: api.Route, *, replace: bool = False) -> None:
        e = self._route_entry(route)
        if not self.main.add(e, replace=replace):
            raise KernelError(EXISTS, "EEXIST")
        self.trace(e.dev.name if e.dev else "", "route:add", "add", e.describe())

    def route_del(self, route: api.Route) -> None:
        net = IPv4Network("0.0.0.0/0" if route.dst == "default" else route.dst, strict=False)
        # fib_table_delete: the first matching alias (lowest metric) only
        match = [e for e in self.main.sorted() if e.net == net and (route.via is None or e.via == route.via)
                 and (route.dev is None or (e.dev is not None and e.dev.name == route.dev))
                 and (route.metric is None or (e.metric or 0) == route.metric)
                 and (route.type == "unicast" or e.type == route.type)]
        if not match:
            raise KernelError("RTNETLINK answers: No such process", "ESRCH")
        self.main.remove(lambda e: e is match[0])

    def routes(self, table: str = "main") -> list[api.Route]:
        if table == "local":
            return self._local_table()
        return [api.Route(dst=e.dst_text, via=e.via, dev=e.dev.name if e.dev else None, src=e.src,
                          scope=e.scope, proto=e.proto, metric=e.metric, type=e.type, mtu=e.mtu)
                for e in self.main.sorted()]

    def _local_table(self) -> list[api.Route]:
        """fib_add_ifaddr(): local /32s (and lo's whole prefix), broadcasts once the device is up;
        secondaries take their primary's address as src; sorted by key as the trie dumps."""
        rows: dict[tuple[int, int, str], api.Route] = {}
        for a in self.ifaddrs:
            prim = next(b for b in self.ifaddrs if b.dev is a.dev and b.iface.network == a.iface.network)
            src = str(prim.iface.ip)
            lo = a.dev.kind == "loopback"
            keys = [(a.iface.ip, 32, "local")]
            if a.dev.admin_up:
                if a.broadcast and a.broadcast != "255.255.255.255":
                    keys.append((IPv4Address(a.broadcast), 32, "broadcast"))
                if prim is a and a.iface.network.prefixlen < 32:
                    if lo:
                        keys.append((a.iface.network.network_address, a.iface.network.prefixlen, "local"))
                    if a.iface.network.prefixlen < 31:
                        keys.append((a.iface.network.broadcast_address, 32, "broadcast"))
            for ip, plen, kind in keys:
                dst = str(ip) if plen == 32 else f"{ip}/{plen}"
                rows.setdefault((int(ip), -plen, dst), api.Route(
                    dst=dst, dev=a.dev.name, src=src, scope="host" if kind == "local" else "link",
                    proto="kernel", table="local", type=kind))
        return [rows[k] for k in sorted(rows)]

    def route_get(self, dst: str) -> api.Route:
        try:
            IPv4Address(dst)
        except ValueError:
            raise KernelError(f'Error: any valid prefix is expected rather than "{dst}".', "EINVAL") from None
        from cnmsim.kernel.sim.ipv4 import OutputError

        brd = next((r for r in self._local_table() if r.type == "broadcast" and r.dst == dst), None)
        if brd is not None:
            return api.Route(dst=dst, dev=brd.dev, src=brd.src, type="broadcast", table="local")
        hit = self.stack.fib_lookup(dst)
        if hit is not None and hit.type in ("unreachable", "prohibit"):  # fib_props[] errors
            raise KernelError("RTNETLINK answers: " + ("No route to host" if hit.type == "unreachable"
                              else "Permission denied"), "EHOSTUNREACH" if hit.type == "unreachable" else "EACCES")
        try:
            rt = self.stack.route_output(dst)
        except OutputError as e:
            raise KernelError(f"RTNETLINK answers: {e}", e.errno_name) from None
        src = rt.src if dst in self.local_addrs or rt.type != "local" else next(
            (str(a.iface.ip) for a in self.ifaddrs if a.dev is rt.dev and IPv4Address(dst) in a.iface.network), None)
        src = src or (self.select_source(rt.dev, rt.via or dst) if rt.dev else None)
        mtu, expires = rt.mtu, None
        learned = self.stack.pmtu.entries.get(dst) if self.stack.pmtu.get(dst) else None
        if learned is not None:  # the nexthop exception __ip_rt_update_pmtu made (rt_cache)
            mtu, expires = learned[0], int(learned[1] - self.kernel.ctx.env.now)
        return api.Route(dst=dst, via=rt.via, dev=rt.dev.name if rt.dev else None, src=src,
                         type=rt.type, table="local" if rt.type == "local" else "main", mtu=mtu,
                         expires=expires)

    # ------------------------------------------------------------ api: neighbours and FDB
    def neigh_add(self, neigh: api.Neigh, *, replace: bool = False) -> None:
        d = self.dev(neigh.dev)
        e = self.neigh.get(d, neigh.ip)
        if e is not None and not replace and e.lladdr is not None:
            raise KernelError(EXISTS, "EEXIST")
        if neigh.lladdr is None and neigh.state in ("PERMANENT", "NOARP", "REACHABLE", "STALE") and d.arp:
            raise KernelError("Error: No link layer address given.", "EINVAL")
        from cnmsim.kernel.sim.neigh import NeighEntry

        now = self.kernel.ctx.env.now
        e = NeighEntry(neigh.ip, d, neigh.lladdr, permanent=neigh.state == "PERMANENT",
                       noarp=neigh.state == "NOARP",
                       confirmed=float("-inf") if neigh.state == "STALE" else now)
        self.neigh.entries[(d.name, neigh.ip)] = e

    def neigh_del(self, ip: str, dev: str) -> None:
        d = self.dev(dev)
        if self.neigh.entries.pop((d.name, ip), None) is None:
            raise KernelError("RTNETLINK answers: No such file or directory", "ENOENT")

    def neighs(self) -> list[api.Neigh]:
        now = self.kernel.ctx.env.now
        return [api.Neigh(e.ip, e.dev.name, e.lladdr, e.state(now)) for e in self.neigh.entries.values()]

    def fdb_add(self, fdb: api.Fdb, *, append: bool = False) -> None:
        from cnmsim.kernel.sim.fdb import fdb_add

        fdb_add(self, fdb, append=append)

    def fdb_del(self, fdb: api.Fdb) -> None:
        from cnmsim.kernel.sim.fdb import fdb_del

        fdb_del(self, fdb)

    def fdbs(self) -> list[api.Fdb]:
        from cnmsim.kernel.sim.fdb import fdb_dump

        return fdb_dump(self)

    # ------------------------------------------------------------ api: netfilter
    def iptables_restore(self, text: str, *, noflush: bool = False, counters: bool = False) -> None:
        """Load iptables-restore text (all or nothing: on error the ruleset stays as it was)."""
        from cnmsim.netfilter.restore import restore

        self.ruleset = restore(self.ruleset, text, noflush=noflush, counters=counters)
        self.ruleset.touch()
        self.nf_attach()

    def iptables_save(self, table: str | None = None, *, counters: bool = False) -> str:
        from cnmsim.netfilter.format import save

        return save(self.ruleset, table, counters=counters)

    def conntrack_list(self) -> list[api.Conntrack]:
        """The confirmed conntrack entries of this namespace (none until netfilter is attached)."""
        eng = getattr(self, "nf_engine", None)
        return eng.conntrack_list() if eng is not None else []

    def conntrack_flush(self) -> int:
        eng = getattr(self, "nf_engine", None)
        return eng.ct.flush() if eng is not None else 0

    def nf_attach(self) -> None:
        """Plug the iptables/conntrack engine into this namespace's hooks (once)."""
        if not self._nf_attached:
            from cnmsim.kernel.sim.nf.engine import attach

            attach(self)
            self._nf_attached = True

    # ------------------------------------------------------------ api: sysctls
    def sysctl_get(self, key: str) -> str:
        key = sc.normalize(key)
        try:
            return self.sysctls[key]
        except KeyError:
            raise KernelError(f"sysctl: cannot stat /proc/sys/{key.replace('.', '/')}: No such file or directory", "ENOENT") from None

    def sysctl_set(self, key: str, value: str) -> None:
        key = sc.normalize(key)
        self.sysctl_get(key)
        value = str(value).strip()
        self.sysctls[key] = value
        if key in ("net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding"):
            # ip_forward and conf.all.forwarding are one switch; it sets every device's forwarding
            for k in list(self.sysctls):
                if k.endswith(".forwarding") or k == "net.ipv4.ip_forward":
                    self.sysctls[k] = value
        self.trace("", "sysctl", "set", f"{key} = {value}")

    def sysctl_keys(self) -> list[str]:
        """Every key as a /proc/sys path; a device name keeps its dots (net/ipv4/conf/eth0.10/...)."""
        out = []
        for key in self.sysctls:
            for pre in ("net.ipv4.conf.", "net.ipv4.neigh."):
                if key.startswith(pre):
                    dev, leaf = key[len(pre):].rsplit(".", 1)
                    out.append(f"{pre.replace('.', '/')}{dev}/{leaf}")
                    break
            else:
                out.append(key.replace(".", "/"))
        return out

    @property
    def label(self) -> str:
        """host[netns] for explanations; a namespace the trace bus has an alias for (a container's
        sandbox) reads host[container]."""
        alias = self.kernel.ctx.bus.aliases.get((self.kernel.hostname, self.name)) if self.name else None
        return f"{self.kernel.hostname}[{alias}]" if alias else self._label

    def __repr__(self) -> str:
        return f"<SimNetns {self.label}>"
