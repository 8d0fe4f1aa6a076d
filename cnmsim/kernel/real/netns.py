"""One real network namespace behind the `cnmsim.kernel.api.Netns` verbs.

Every verb is one (or a few) rtnetlink requests on the namespace's own pyroute2 IPRoute handle,
opened once on a netlink socket created inside the namespace (no process is forked).  Requests
are built the way iproute2 builds them (flags, default scope and protocol, what `del` leaves
out), so the kernel's answer, and the message raised, is what `ip` would print.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface
from typing import TYPE_CHECKING, Any, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink import rtnl
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.nsidmsg import nsidmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.kernel.real import links as L
from cnmsim.kernel.real.iptables import InNetnsVerbs
from cnmsim.kernel.real.nsenter import netns_path, off_loop
from cnmsim.kernel.real.xfrm import XfrmVerbs

if TYPE_CHECKING:
    from cnmsim.kernel.real.kernel import RealKernel

NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE, NLM_F_APPEND = 0x100, 0x200, 0x400, 0x800
ACK = NLM_F_REQUEST | NLM_F_ACK
AF_BRIDGE = 7
RTEXT_FILTER_SKIP_STATS = 8

T = TypeVar("T")


class RealNetns(InNetnsVerbs, XfrmVerbs):
    """A network namespace of a lab host on the real kernel (the root one has name "")."""

    def __init__(self, kernel: RealKernel, name: str, real_name: str, sock: socket.socket) -> None:
        self.kernel = kernel
        self.name = name
        self.real_name = real_name
        self.path = netns_path(real_name)
        self._lock = threading.RLock()
        self.ipr: IPRoute | None = off_loop(_open_ipr, sock)
        self._peers: dict[int, RealNetns] = {}  # nsid -> namespace (IFLA_LINK_NETNSID)

    def close(self) -> None:
        with self._lock:
            if self.ipr is not None:
                off_loop(self.ipr.close)
                self.ipr = None

    # ------------------------------------------------------------ requests
    def request(self, msg: Any, msg_type: int, flags: int = ACK) -> tuple:
        """Send one rtnetlink request; a refusal becomes the KernelError `ip` would print."""
        with self._lock:
            if self.ipr is None:
                raise KernelError(f'Cannot open network namespace "{self.name}": No such file or directory', "ENOENT")
            try:
                return off_loop(lambda: tuple(self.ipr.nlm_request(msg, msg_type, flags)))
            except NetlinkError as e:
                raise L.rtnl_error(e) from None

    def call(self, fn: Callable[[IPRoute], T]) -> T:
        """fn(handle) with this namespace's pyroute2 handle (for the lab's own plumbing)."""
        with self._lock:
            assert self.ipr is not None
            return off_loop(fn, self.ipr)

    def dump(self, msg: Any, msg_type: int) -> tuple:
        return self.request(msg, msg_type, NLM_F_REQUEST | NLM_F_DUMP)

    def link_msg(self, name: str) -> Any | None:
        """RTM_GETLINK by name (None: no such device)."""
        msg = L.link_msg(name=name)
        msg["attrs"].append(("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS))
        try:
            return self.request(msg, rtnl.RTM_GETLINK, NLM_F_REQUEST)[0]
        except KernelError:
            return None

    def index(self, name: str) -> int:
        m = self.link_msg(name)
        if m is None:
            raise L.no_dev(name)
        return m["index"]

    def _dump_links(self, stats: bool = True) -> tuple[tuple, dict[int, str]]:
        msg = L.link_msg()
        if not stats:
            msg["attrs"].append(("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS))
        msgs = self.dump(msg, rtnl.RTM_GETLINK)
        return msgs, {m["index"]: m.get_attr("IFLA_IFNAME") for m in msgs}

    def names(self) -> dict[int, str]:
        """ifindex -> name (what `ip` caches to print `dev NAME`)."""
        return self._dump_links(stats=False)[1]

    def peer_ns(self, nsid: int) -> RealNetns | None:
        """The namespace with id `nsid` seen from here (RTM_GETNSID on each, cached)."""
        if nsid not in self._peers:
            for ns in self.kernel.all_namespaces():
                if ns is self or ns in self._peers.values():
                    continue
                msg = nsidmsg()
                try:
                    with open(ns.path) as f:
                        msg["attrs"] = [("NETNSA_FD", f.fileno())]
                        got = self.request(msg, rtnl.RTM_GETNSID, NLM_F_REQUEST)[0].get_attr("NETNSA_NSID")
                except (KernelError, OSError):
                    continue
                if got is not None and got >= 0:
                    self._peers[got] = ns
                    if got == nsid:
                        break
        return self._peers.get(nsid)

    def forget_peer(self, ns: RealNetns) -> None:
        """A namespace went away: its id here may be given to another one."""
        self._peers = {i: p for i, p in self._peers.items() if p is not ns}

    # ------------------------------------------------------------ api: links
    def link_add(self, spec: api.LinkKind) -> None:
        peer_path = None
        if isinstance(spec, api.Veth) and spec.peer_netns:
            target = self.kernel.netns(spec.peer_netns)
            peer_path = target.path if target is not self else None
        self.request(L.add_msg(spec, self.index, peer_path), rtnl.RTM_NEWLINK, ACK | NLM_F_CREATE | NLM_F_EXCL)

    def link_del(self, name: str) -> None:
        self.request(L.link_msg(self.index(name)), rtnl.RTM_DELLINK)

    def delete_links(self) -> None:
        """Delete every device but lo (netns_del: synchronously, as the sim does)."""
        for m in reversed(self.dump(L.link_msg(), rtnl.RTM_GETLINK)):
            if L.kind_of(m) != "loopback":
                try:
                    self.request(L.link_msg(m["index"]), rtnl.RTM_DELLINK)
                except KernelError:
                    pass  # gone with its peer or lower device

    def link_set(self, name: str, *, up: bool | None = None, master: str | None = None,
                 nomaster: bool = False, netns: str | None = None, mtu: int | None = None,
                 address: str | None = None, rename: str | None = None,
                 hairpin: bool | None = None, promisc: bool | None = None) -> None:
        """One RTM_NEWLINK as `ip link set` sends it (a hairpin change is a bridge_slave one)."""
        idx = self.index(name)
        first = L.link_msg(idx)
        if master is not None and not nomaster:
            first["attrs"].append(("IFLA_MASTER", self.index(master)))
        elif nomaster:
            first["attrs"].append(("IFLA_MASTER", 0))
        if mtu is not None:
            first["attrs"].append(("IFLA_MTU", mtu))
        if address is not None:
            first["attrs"].append(("IFLA_ADDRESS", L.lladdr(address)))
        second = first if hairpin is None else L.link_msg(idx)
        for flag, on in ((L.IFF_PROMISC, promisc), (L.IFF_UP, up)):
            if on is not None:
                second["change"] |= flag
                second["flags"] |= flag if on else 0
        if rename is not None and rename != name:
            second["attrs"].append(("IFLA_IFNAME", rename))
        if netns is not None and (target := self.kernel.netns(netns)) is not self:
            second["attrs"].append(("IFLA_NET_NS_FD", target.path))
        if hairpin is not None:
            if first["attrs"]:
                self.request(first, rtnl.RTM_NEWLINK)
            slave = [("IFLA_INFO_SLAVE_KIND", "bridge"),
                     ("IFLA_INFO_SLAVE_DATA", {"attrs": [("IFLA_BRPORT_MODE", int(hairpin))]})]
            msg = L.link_msg(idx)
            msg["attrs"].append(("IFLA_LINKINFO", {"attrs": slave}))
            self.request(msg, rtnl.RTM_NEWLINK)
        if second["attrs"] or second["change"]:
            self.request(second, rtnl.RTM_NEWLINK)

    def links(self) -> list[api.LinkInfo]:
        msgs, names = self._dump_links()
        return [self._record(m, names, msgs) for m in msgs]

    def link_get(self, name: str) -> api.LinkInfo | None:
        m = self.link_msg(name)
        if m is None:
            return None
        return next((li for li in self.links() if li.ifindex == m["index"]), None)

    def _record(self, m: Any, names: dict[int, str], msgs: tuple) -> api.LinkInfo:
        """LinkInfo, with what lives in another namespace named there (veth peer, vxlan lower)."""
        ports = [names[p["index"]] for p in msgs if p.get_attr("IFLA_MASTER") == m["index"]]
        rec = L.link_record(m, names, ports)
        extra: dict[str, object] = {}
        peer = self.peer_ns(rec.link_netnsid) if rec.link_netnsid is not None else None
        if peer is not None:
            if rec.link_ifindex is not None:
                extra["link"] = peer.name_of(rec.link_ifindex)
            extra["link_netns_name"] = peer.name if peer.name in self.kernel.listed else None
        if rec.kind == "vxlan":
            d = dict(rec.details)
            lower = d.pop("lower_index", None)
            link_ns = self if rec.link_netnsid is None else peer
            d["dev"] = link_ns.name_of(lower) if lower and link_ns is not None else None
            d["link_netns"] = link_ns.name if link_ns is not None else None
            extra["details"] = d
        return L.replace(rec, **extra) if extra else rec

    def name_of(self, index: int) -> str | None:
        msg = L.link_msg(index)
        msg["attrs"].append(("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS))
        try:
            return self.request(msg, rtnl.RTM_GETLINK, NLM_F_REQUEST)[0].get_attr("IFLA_IFNAME")
        except KernelError:
            return None

    # ------------------------------------------------------------ api: addresses
    def addr_add(self, dev: str, cidr: str, *, broadcast: str | None = None) -> None:
        try:
            iface = IPv4Interface(cidr if "/" in cidr else cidr + "/32")
        except ValueError:
            raise KernelError(f'Error: inet prefix is expected rather than "{cidr}".', "EINVAL") from None
        msg = self._addr_msg(dev, iface)
        msg["attrs"].append(("IFA_ADDRESS", str(iface.ip)))
        if broadcast is not None:
            brd = str(iface.network.broadcast_address) if broadcast == "+" else broadcast
            msg["attrs"].append(("IFA_BROADCAST", brd))
        self.request(msg, rtnl.RTM_NEWADDR, ACK | NLM_F_CREATE | NLM_F_EXCL)

    def _addr_msg(self, dev: str, iface: IPv4Interface) -> ifaddrmsg:
        msg = ifaddrmsg()
        msg["family"], msg["prefixlen"], msg["flags"] = socket.AF_INET, iface.network.prefixlen, 0
        msg["scope"] = 254 if iface.ip.is_loopback else 0  # iproute2's default_scope()
        msg["index"] = self.index(dev)
        msg["attrs"] = [("IFA_LOCAL", str(iface.ip))]
        return msg

    def addr_del(self, dev: str, cidr: str) -> None:
        """`ip addr del`: matched on the local address (iproute2 sends no IFA_ADDRESS here)."""
        try:
            iface = IPv4Interface(cidr if "/" in cidr else cidr + "/32")
        except ValueError:
            raise KernelError(f'Error: inet prefix is expected rather than "{cidr}".', "EINVAL") from None
        self.request(self._addr_msg(dev, iface), rtnl.RTM_DELADDR)

    def addrs(self) -> list[api.AddrInfo]:
        msg = ifaddrmsg()
        msg["family"] = socket.AF_INET
        names = self.names()
        return [L.addr_record(m, names) for m in self.dump(msg, rtnl.RTM_GETADDR)]

    # ------------------------------------------------------------ api: routes
    def route_add(self, route: api.Route, *, replace: bool = False) -> None:
        flags = NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
        self.request(L.route_msg(route, False, self.index), rtnl.RTM_NEWROUTE, ACK | flags)

    def route_del(self, route: api.Route) -> None:
        self.request(L.route_msg(route, True, self.index), rtnl.RTM_DELROUTE)

    def routes(self, table: str = "main") -> list[api.Route]:
        msg = rtmsg()
        msg["family"] = socket.AF_INET
        names = self.names()
        rows = [L.route_record(m, names) for m in self.dump(msg, rtnl.RTM_GETROUTE) if not m["flags"] & 0x200]
        return [r for r in rows if r.table == table]

    def route_get(self, dst: str) -> api.Route:
        try:
            IPv4Address(dst)
        except ValueError:
            raise KernelError(f'Error: any valid prefix is expected rather than "{dst}".', "EINVAL") from None
        msg = rtmsg()
        msg["family"], msg["dst_len"] = socket.AF_INET, 32
        msg["attrs"] = [("RTA_DST", dst)]
        m = self.request(msg, rtnl.RTM_GETROUTE, NLM_F_REQUEST)[0]
        r = L.route_record(m, self.names())
        ci = m.get_attr("RTA_CACHEINFO")  # a cached exception (learned PMTU): clock_t left
        expires = ci["rta_expires"] // 100 if ci is not None and ci["rta_expires"] else None
        return api.Route(dst=dst, via=r.via, dev=r.dev, src=r.src, type=r.type, table=r.table, mtu=r.mtu,
                         expires=expires)

    # ------------------------------------------------------------ api: neighbours and FDB
    def _neigh_msg(self, family: int, dev: str, ip: str | None = None) -> ndmsg:
        msg = ndmsg()
        msg["family"], msg["ifindex"], msg["state"], msg["flags"], msg["ndm_type"] = family, self.index(dev), 0, 0, 0
        msg["attrs"] = [("NDA_DST", ip)] if ip else []
        return msg

    def neigh_add(self, neigh: api.Neigh, *, replace: bool = False) -> None:
        msg = self._neigh_msg(socket.AF_INET, neigh.dev, neigh.ip)
        msg["state"] = L.NUD_IDS.get(neigh.state.upper(), 0x80)
        msg["flags"] = (L.NTF_ROUTER if neigh.router else 0) | (L.NTF_PROXY if neigh.proxy else 0)
        if neigh.lladdr is not None:
            msg["attrs"].append(("NDA_LLADDR", L.lladdr(neigh.lladdr)))
        self.request(msg, rtnl.RTM_NEWNEIGH, ACK | NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL))

    def neigh_del(self, ip: str, dev: str) -> None:
        self.request(self._neigh_msg(socket.AF_INET, dev, ip), rtnl.RTM_DELNEIGH)

    def neighs(self) -> list[api.Neigh]:
        msg = ndmsg()
        msg["family"] = socket.AF_INET
        names = self.names()
        return [L.neigh_record(m, names) for m in self.dump(msg, rtnl.RTM_GETNEIGH)]

    def _fdb_msg(self, fdb: api.Fdb) -> ndmsg:
        """`bridge fdb add|del MAC dev DEV [self|master] [STATE] [dst IP] [vni N] [vlan V]`; as the
        sim decides, a vxlan device's own table unless `master` is named, else the bridge's."""
        m = self.link_msg(fdb.dev)
        if m is None:
            raise L.no_dev(fdb.dev)
        msg = self._neigh_msg(AF_BRIDGE, fdb.dev)
        own = fdb.self_ or (L.kind_of(m) == "vxlan" and fdb.master is None)
        msg["flags"] = L.NTF_SELF if own else L.NTF_MASTER
        msg["state"] = {"permanent": 0xC0, "static": 0x42}.get(fdb.state, 0x02)
        msg["attrs"] = [("NDA_LLADDR", L.lladdr(fdb.mac))]
        for attr, value in (("NDA_DST", fdb.dst), ("NDA_VNI", fdb.vni), ("NDA_VLAN", fdb.vlan)):
            if value is not None:
                msg["attrs"].append((attr, value))
        return msg

    def fdb_add(self, fdb: api.Fdb, *, append: bool = False) -> None:
        flags = NLM_F_CREATE | (NLM_F_APPEND if append else NLM_F_EXCL)
        self.request(self._fdb_msg(fdb), rtnl.RTM_NEWNEIGH, ACK | flags)

    def fdb_del(self, fdb: api.Fdb) -> None:
        self.request(self._fdb_msg(fdb), rtnl.RTM_DELNEIGH)

    def fdbs(self) -> list[api.Fdb]:
        msg = ndmsg()
        msg["family"] = AF_BRIDGE
        names = self.names()
        return [L.fdb_record(m, names) for m in self.dump(msg, rtnl.RTM_GETNEIGH)]

    def __repr__(self) -> str:
        return f"<RealNetns {self.kernel.hostname}[{self.name}] {self.real_name}>"


def _open_ipr(sock: socket.socket) -> IPRoute:
    ipr = IPRoute(fileno=sock.detach(), ext_ack=True, groups=0)
    ipr.asyncore.status["nlm_generator"] = True  # (the sync nlm_request reads it)
    return ipr
