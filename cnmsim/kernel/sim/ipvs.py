"""IPVS, the kernel's L4 load balancer (net/netfilter/ipvs), per network namespace.

What is modelled.  Virtual services keyed by (TCP|UDP, address, port) or by firewall mark,
real servers with weight, thresholds (-x/-y) and forwarding method, and the schedulers rr,
wrr, lc, wlc (ipvsadm's default), sed, nq, fo, ovf, sh and dh walking the server list in the
kernel's order (newest first, so rr starts with the server added last).  Persistence (-p, -M)
with connection templates that control the connections they schedule (listed with cport 0;
a fwmark template as proto IP and the mark as address).  The connection table: the TCP state
machine of ip_vs_proto_tcp.c and its timeouts (ESTABLISHED 900 s, FIN_WAIT 120 s, UDP 300 s,
`ipvsadm --set`), ActiveConn/InActConn/PersistConn, weight 0 as quiescent (no new connections,
existing ones go on), a deleted server kept in the trash while connections use it (their
packets are dropped; with expire_nodest_conn=1 they expire a jiffy later and a SYN is
scheduled again), conn_reuse_mode, expire_quiescent_template.  The hooks where Linux has them
(LOCAL_IN 98 reply / 99 request, LOCAL_OUT -99 reply / -98 request, FORWARD 99 ICMP / 100
reply), registered with the first service: a VIP must be a local address (or the packet
carry a service's mark) to reach LOCAL_IN.  Forwarding: NAT ("Masq": DNAT to the real server,
TTL decrement and MTU check of __ip_vs_get_out_rt, re-injection through LOCAL_OUT and
POSTROUTING, replies given the VIP back at FORWARD; the real servers must route replies
through the director, or a `-m ipvs --ipvs` SNAT must bring them back), direct routing (MAC
rewrite) and IPIP (encapsulation only: the simulated kernel has no ipip device to take it
off).  ICMP errors about connections are translated both ways; with no server available the
client gets ICMP port unreachable (ip_vs_leave).  Handled packets carry frame meta "ipvs"
(skb->ipvs_property, for `-m ipvs`), "ipvs_conn" and "ipvs_dir"; they are untracked unless
net.ipv4.vs.conntrack=1, where the new conntrack entry is told to expect the real server's
replies (ip_vs_update_conntrack).  Counters and the 2-second rate estimator; the
net.ipv4.vs.* sysctls (IPVS is built in).

Not modelled: IPv6, SCTP, the sync daemon, one-packet scheduling, persistence engines,
scheduler flags (-b), the lblc/lblcr/mh/twos schedulers, FTP helpers, the defense modes
(drop_entry, drop_packet, secure_tcp), cache_bypass, snat_reroute, gathering fragments before
IPVS.  The connection list is in creation order (the kernel's is hash order), and a removed
server added back after its last connection ended starts with zeroed counters.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.kernel.sim import ipvs_sched
from cnmsim.kernel.sim.ipvs_conn import ConnTable
from cnmsim.kernel.sim.ipvs_stats import Stats

if TYPE_CHECKING:
    from cnmsim.kernel.sim.netns import SimNetns

INVALID = "Invalid operation.  Possibly wrong module version, address not unicast, ..."
FORWARDS = ("Masq", "Route", "Tunnel")


class Dest:
    """struct ip_vs_dest: a real server of one service."""

    __slots__ = ("addr", "port", "weight", "fwd", "u_threshold", "l_threshold", "active", "inactive",
                 "persist", "refs", "available", "overload", "svc", "vkey", "stats")

    def __init__(self, svc: Service, d: api.IpvsDest, now: float) -> None:
        self.addr, self.port = d.addr, d.port
        self.active = self.inactive = self.persist = self.refs = 0
        self.u_threshold, self.overload = 0, False
        self.svc: Service | None = svc
        self.vkey = svc.key
        self.stats = Stats(now)
        self.update(d)

    def update(self, d: api.IpvsDest) -> None:
        """__ip_vs_update_dest: weight, method, thresholds; available again."""
        self.weight, self.fwd = d.weight, d.forward
        if d.u_threshold == 0 or d.u_threshold > self.u_threshold:
            self.overload = False
        self.u_threshold, self.l_threshold = d.u_threshold, d.l_threshold
        self.available = True

    def __repr__(self) -> str:
        return f"{self.addr}:{self.port}"


class Service:
    """struct ip_vs_service: a virtual service and its real servers (newest first)."""

    __slots__ = ("proto", "addr", "port", "fwmark", "sched_name", "sched", "persistent", "netmask",
                 "dests", "stats")

    def __init__(self, s: api.IpvsService, now: float) -> None:
        self.proto, self.fwmark = s.proto, s.fwmark
        self.addr, self.port = (None, 0) if s.proto == "FWM" else (s.addr, s.port)
        self.dests: list[Dest] = []
        self.stats = Stats(now)
        self.sched_name = ""
        self.sched: ipvs_sched.Scheduler | None = None
        self.configure(s)

    def configure(self, s: api.IpvsService) -> None:
        """Scheduler (a new one only when the name changes), persistence and its netmask."""
        if s.scheduler != self.sched_name:
            self.sched = ipvs_sched.make(s.scheduler, self)
            self.sched_name = s.scheduler
        self.persistent = s.persistent
        self.netmask = int(IPv4Address(s.netmask))

    @property
    def key(self) -> tuple:
        return ("FWM", self.fwmark) if self.fwmark else (self.proto, self.addr, self.port)

    @property
    def label(self) -> str:
        return f"FWM {self.fwmark}" if self.fwmark else f"{self.proto} {self.addr}:{self.port}"

    def record(self, now: float) -> api.IpvsService:
        return api.IpvsService(self.proto, self.addr, self.port, self.fwmark, self.sched_name,
                               self.persistent, str(IPv4Address(self.netmask)), self.stats.record(now))


def _key(s: api.IpvsService) -> tuple:
    return ("FWM", s.fwmark) if s.proto == "FWM" else (s.proto, s.addr, s.port)


class Ipvs:
    """The IPVS state of one namespace (struct netns_ipvs): services, trash, connections."""

    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self.services: dict[tuple, Service] = {}
        self.trash: list[Dest] = []  # removed servers still used by connections
        self.conns = ConnTable(self)
        self.hooks = None

    def sysctl(self, name: str) -> str:
        return self.ns.sysctls.get("net.ipv4.vs." + name, "0")

    def now(self) -> float:
        return self.ns.kernel.ctx.env.now

    # ------------------------------------------------------------ lookups for the data path
    def service_find(self, mark: int, proto: str, vaddr: str, vport: int) -> Service | None:
        """ip_vs_service_find: by fwmark first, then (proto, addr, port), then port zero."""
        s = self.services
        if mark and (svc := s.get(("FWM", mark))) is not None:
            return svc
        return s.get((proto, vaddr, vport)) or s.get((proto, vaddr, 0))

    def dest_released(self, d: Dest) -> None:
        if not d.refs and d in self.trash:
            self.trash.remove(d)

    # ------------------------------------------------------------ control plane (genetlink)
    @staticmethod
    def _parse_svc(s: api.IpvsService) -> None:
        """ip_vs_genl_parse_service: a well-formed service key and netmask."""
        bad = s.proto not in ("TCP", "UDP", "FWM") or (
            not 0 < s.fwmark < 1 << 32 if s.proto == "FWM" else s.addr is None or not 0 <= s.port <= 65535)
        try:
            IPv4Address(s.netmask)
            if s.proto != "FWM" and s.addr is not None:
                IPv4Address(s.addr)
        except ValueError:
            bad = True
        if bad:
            raise KernelError(INVALID, "EINVAL")

    @staticmethod
    def _check_sched(s: api.IpvsService) -> None:
        if s.scheduler != "none" and s.scheduler not in ipvs_sched.CLASSES:
            raise KernelError("Scheduler or persistence engine not found", "ENOENT")

    def _svc(self, s: api.IpvsService, missing: str) -> Service:
        svc = self.services.get(_key(s))
        if svc is None:
            raise KernelError(missing, "ESRCH")
        return svc

    def service_add(self, s: api.IpvsService) -> None:
        self.conns.purge(self.now())
        self._parse_svc(s)
        if _key(s) in self.services:
            raise KernelError("Service already exists", "EEXIST")
        self._check_sched(s)
        svc = Service(s, self.now())
        self.services[svc.key] = svc
        if self.hooks is None:  # the hooks are registered with the first service
            from cnmsim.kernel.sim.ipvs_core import IpvsHooks

            self.hooks = IpvsHooks(self)
            self.hooks.register()
        self.ns.trace("", "ipvs:service", "add", f"virtual service {svc.label} scheduler {svc.sched_name}")

    def service_edit(self, s: api.IpvsService) -> None:
        self._parse_svc(s)
        svc = self._svc(s, "No such service")
        self._check_sched(s)
        svc.configure(s)

    def service_del(self, s: api.IpvsService) -> None:
        self.conns.purge(self.now())
        svc = self._svc(s, "No such service")
        for d in list(svc.dests):
            self._unlink_dest(svc, d)
        del self.services[svc.key]
        if not self.services and self.hooks is not None:
            self.hooks.unregister()
            self.hooks = None
        self.ns.trace("", "ipvs:service", "del", f"virtual service {svc.label} deleted")

    def clear(self) -> None:
        """ipvsadm -C: delete every service (connections stay until they expire)."""
        for svc in list(self.services.values()):
            self.service_del(svc.record(self.now()))

    def _check_dest(self, d: api.IpvsDest) -> None:
        if d.weight < 0 or d.l_threshold > d.u_threshold:
            raise KernelError("Numerical result out of range", "ERANGE")
        if d.forward not in FORWARDS or not 0 <= d.port <= 65535:
            raise KernelError(INVALID, "EINVAL")
        try:
            a = IPv4Address(d.addr)
        except ValueError:
            raise KernelError(INVALID, "EINVAL") from None
        # inet_addr_type() must be RTN_UNICAST or RTN_LOCAL, not broadcast or multicast
        if a.is_multicast or a.is_unspecified or a == IPv4Address("255.255.255.255") or any(
                r.type == "broadcast" and r.dst == d.addr for r in self.ns.routes("local")):
            raise KernelError(INVALID, "EINVAL")

    def dest_add(self, s: api.IpvsService, d: api.IpvsDest) -> None:
        now = self.now()
        self.conns.purge(now)
        svc = self._svc(s, "Service not defined")
        self._check_dest(d)
        if any(x.addr == d.addr and x.port == d.port for x in svc.dests):
            raise KernelError("Destination already exists", "EEXIST")
        dest = next((x for x in self.trash if x.addr == d.addr and x.port == d.port
                     and x.vkey == svc.key), None)
        if dest is not None:  # ip_vs_trash_get_dest: back from the trash, counters and all
            self.trash.remove(dest)
            dest.svc = svc
            dest.update(d)
        else:
            dest = Dest(svc, d, now)
        svc.dests.insert(0, dest)  # list_add_rcu: at the head
        if svc.sched is not None:
            svc.sched.dests_changed()
        self.ns.trace("", "ipvs:dest", "add", f"real server {dest} ({d.forward}, weight {d.weight}) "
                      f"for {svc.label}")

    def dest_edit(self, s: api.IpvsService, d: api.IpvsDest) -> None:
        self.conns.purge(self.now())
        svc = self._svc(s, "Service not defined")
        self._check_dest(d)
        dest = next((x for x in svc.dests if x.addr == d.addr and x.port == d.port), None)
        if dest is None:
            raise KernelError("No such destination", "ENOENT")
        old = dest.weight
        dest.update(d)
        if svc.sched is not None:
            svc.sched.dests_changed()
        self.ns.trace("", "ipvs:dest", "edit", f"real server {dest} of {svc.label}: weight {old} -> {d.weight}"
                      + (" (quiescent: no new connections)" if d.weight == 0 else ""))

    def dest_del(self, s: api.IpvsService, addr: str, port: int) -> None:
        self.conns.purge(self.now())
        svc = self._svc(s, "Service not defined")
        dest = next((x for x in svc.dests if x.addr == addr and x.port == port), None)
        if dest is None:
            raise KernelError("No such destination", "ENOENT")
        self._unlink_dest(svc, dest)
        self.ns.trace("", "ipvs:dest", "del", f"real server {dest} removed from {svc.label}"
                      + (f", {dest.refs} connections still use it" if dest.refs else ""))

    def _unlink_dest(self, svc: Service, dest: Dest) -> None:
        """__ip_vs_unlink_dest + __ip_vs_del_dest: unavailable; to the trash while referenced."""
        dest.available = False
        index = svc.dests.index(dest)
        svc.dests.remove(dest)
        if svc.sched is not None:
            svc.sched.dests_changed(dest, index)
        dest.svc = None
        if dest.refs:
            self.trash.append(dest)
            if self.sysctl("expire_nodest_conn") == "1":  # ip_vs_enqueue_expire_nodest_conns
                self.ns.kernel.ctx.later(NODEST_DELAY, self.expire_nodest_conns)

    def expire_nodest_conns(self) -> None:
        """ip_vs_expire_nodest_conn_flush: drop connections whose real server is gone."""
        now = self.now()
        conns = self.conns
        conns.purge(now)
        for c in list(conns.entries.values()):
            if not c.alive or c.dest.available or c.n_control:
                continue
            ct = c.control
            conns.expire_now(c, now)
            self.ns.trace("", "ipvs:conn", "expire", f"{c.proto} {c.caddr}:{c.cport} -> {c.vaddr}:{c.vport}: "
                          f"real server {c.daddr}:{c.dport} was removed (expire_nodest_conn=1)")
            if ct is not None and ct.alive and not ct.n_control:
                conns.expire_now(ct, now)

    def zero(self, s: api.IpvsService | None) -> None:
        now = self.now()
        for svc in [self._svc(s, "No such service")] if s is not None else self.services.values():
            svc.stats.zero(now)
            for d in svc.dests:
                d.stats.zero(now)

    # ------------------------------------------------------------ dumps
    def dump(self) -> list[tuple[api.IpvsService, list[api.IpvsDest]]]:
        now = self.now()
        self.conns.purge(now)
        return [(svc.record(now), [api.IpvsDest(d.addr, d.port, d.weight, d.fwd, d.u_threshold,
                                                d.l_threshold, d.active, d.inactive, d.persist,
                                                d.stats.record(now)) for d in svc.dests])
                for svc in self.services.values()]

    def conn_dump(self) -> list[api.IpvsConn]:
        now = self.now()
        self.conns.purge(now)
        return [api.IpvsConn(c.proto, c.caddr, c.cport, c.vaddr, c.vport, c.daddr, c.dport,
                             c.state_name(), max(int(c.expires - now), 0), c.fwd, c.template)
                for c in self.conns.entries.values()]

    def timeouts(self) -> tuple[int, int, int]:
        t = self.conns.tcp_timeouts
        return t["ESTABLISHED"], t["FIN_WAIT"], self.conns.udp_timeout

    def set_timeouts(self, tcp: int, tcpfin: int, udp: int) -> None:
        """ip_vs_set_timeout: 0 leaves a value unchanged."""
        if min(tcp, tcpfin, udp) < 0:
            raise KernelError(INVALID, "EINVAL")
        t = self.conns.tcp_timeouts
        t["ESTABLISHED"] = tcp or t["ESTABLISHED"]
        t["FIN_WAIT"] = tcpfin or t["FIN_WAIT"]
        self.conns.udp_timeout = udp or self.conns.udp_timeout


NODEST_DELAY = 0.004  # queue_delayed_work(..., 1): one jiffy at HZ=250


class IpvsVerbs:
    """The `api.Netns` IPVS verbs, mixed into SimNetns; the state is created on first use."""

    _ipvs: Ipvs | None = None

    @property
    def ipvs(self) -> Ipvs:
        if self._ipvs is None:
            self._ipvs = Ipvs(self)  # type: ignore[arg-type]
        return self._ipvs

    def ipvs_service_add(self, svc: api.IpvsService) -> None:
        self.ipvs.service_add(svc)

    def ipvs_service_edit(self, svc: api.IpvsService) -> None:
        self.ipvs.service_edit(svc)

    def ipvs_service_del(self, svc: api.IpvsService) -> None:
        self.ipvs.service_del(svc)

    def ipvs_dest_add(self, svc: api.IpvsService, dest: api.IpvsDest) -> None:
        self.ipvs.dest_add(svc, dest)

    def ipvs_dest_edit(self, svc: api.IpvsService, dest: api.IpvsDest) -> None:
        self.ipvs.dest_edit(svc, dest)

    def ipvs_dest_del(self, svc: api.IpvsService, addr: str, port: int) -> None:
        self.ipvs.dest_del(svc, addr, port)

    def ipvs_services(self) -> list[tuple[api.IpvsService, list[api.IpvsDest]]]:
        return self.ipvs.dump()

    def ipvs_conns(self) -> list[api.IpvsConn]:
        return self.ipvs.conn_dump()

    def ipvs_clear(self) -> None:
        self.ipvs.clear()

    def ipvs_zero(self, svc: api.IpvsService | None = None) -> None:
        self.ipvs.zero(svc)

    def ipvs_timeouts(self) -> tuple[int, int, int]:
        return self.ipvs.timeouts()

    def ipvs_set_timeouts(self, tcp: int, tcpfin: int, udp: int) -> None:
        self.ipvs.set_timeouts(tcp, tcpfin, udp)
