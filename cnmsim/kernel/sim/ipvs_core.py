"""IPVS on the packet path: the hooks of ip_vs_core.c (schedule, look up, count, hand over).

    LOCAL_IN  98  ip_vs_reply4          replies (and ICMP errors) for local clients
    LOCAL_IN  99  ip_vs_remote_request4 requests to a local VIP (or a marked packet): schedule, forward
    LOCAL_OUT -99 ip_vs_local_reply4    replies of a real server on this host
    LOCAL_OUT -98 ip_vs_local_request4  requests made on this host
    FORWARD   99  ip_vs_forward_icmp    ICMP errors about replies, passing through
    FORWARD  100  ip_vs_reply4          NAT replies from real servers: source back to the VIP
The transmitters (ipvs_xmit.py) forward what a request hook accepted for a connection.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from scapy.layers.inet import ICMP, IP, TCP, UDP

from cnmsim.kernel.sim import icmp as icmp_mod
from cnmsim.kernel.sim.ipvs_xmit import Transmitter, handled, mark
from cnmsim.packet.sizes import wire_len
from cnmsim.trace.explain import register as explain

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.ipvs import Service
    from cnmsim.kernel.sim.ipvs_conn import Conn
    from cnmsim.packet.frame import Frame

PRIORITIES = (("INPUT", 98, "reply"), ("INPUT", 99, "remote_request"), ("OUTPUT", -99, "reply"),
              ("OUTPUT", -98, "local_request"), ("FORWARD", 99, "forward_icmp"), ("FORWARD", 100, "reply"))
FTPPORT = 21

for _stage, _verdict, _text in (
    ("ipvs:schedule", "select", "IPVS on {place} sees a new connection for a virtual service: {reason}."),
    ("ipvs:schedule", "drop", "IPVS on {place} finds no real server ({reason}), so it answers ICMP port unreachable."),
    ("ipvs:conn", "hit", "IPVS on {place} knows this connection: {reason}."),
    ("ipvs:conn", "drop", "IPVS on {place} drops the packet: {reason}."),
    ("ipvs:conn", "reuse", "IPVS on {place} forgets a finished connection: {reason}."),
    ("ipvs:conn", "expire", "IPVS on {place} expires a connection: {reason}."),
    ("ipvs:nat", None, "IPVS on {place} rewrites the destination (NAT, \"Masq\") and routes the packet "
                       "out of {dev}: {reason}."),
    ("ipvs:dr", None, "IPVS on {place} forwards by direct routing: {reason}."),
    ("ipvs:tunnel", None, "IPVS on {place} wraps the packet in IP-in-IP: {reason}."),
    ("ipvs:reply", None, "IPVS on {place} gives the real server's reply the virtual address back "
                         "(the client must see the address it asked): {reason}."),
    ("ipvs:icmp", None, "IPVS on {place} translates an ICMP error about one of its connections: {reason}."),
    ("ipvs:xmit", "drop", "IPVS on {place} cannot forward to the real server: {reason}."),
    ("ipvs:service", None, "IPVS on {place}: {reason}."),
    ("ipvs:dest", None, "IPVS on {place}: {reason}."),
):
    explain(_stage, _verdict, _text)

def _old_conntrack(frame: Frame) -> bool:
    """ip_vs_conn_uses_old_conntrack: the packet belongs to a confirmed conntrack entry, which
    cannot be pointed at a new real server (the packet is dropped; its retransmission is not)."""
    ct = frame.ct
    return bool(ct) and ct[0] is not None and ct[0].confirmed


class IpvsHooks(Transmitter):
    """The hook functions of one namespace's IPVS."""

    def register(self) -> None:
        for hook, prio, fn in PRIORITIES:
            self.ns.nf.register(hook, prio, getattr(self, fn), "ipvs")

    def unregister(self) -> None:
        self.ns.nf.unregister("ipvs")

    # ------------------------------------------------------------ requests (ip_vs_in)
    def remote_request(self, hook: str, frame: Frame, indev: NetDevice | None, outdev: NetDevice | None) -> bool:
        return self._in(hook, frame, indev)

    def local_request(self, hook: str, frame: Frame, indev: NetDevice | None, outdev: NetDevice | None) -> bool:
        return self._in(hook, frame, None)

    def _in(self, hook: str, frame: Frame, indev: NetDevice | None) -> bool:
        ip = frame.ip
        if ip is None or handled(frame):
            return True
        ipvs, conns, ns = self.ipvs, self.conns, self.ns
        now = ipvs.now()
        conns.purge(now)
        l4 = ip.payload
        if isinstance(l4, ICMP):
            return self._in_icmp(hook, frame, ip, l4)
        if not isinstance(l4, (TCP, UDP)) or ip.frag:
            return True
        proto = "TCP" if isinstance(l4, TCP) else "UDP"
        flags = str(l4.flags) if proto == "TCP" else ""
        cp = conns.by_in.get((proto, ip.src, l4.sport, ip.dst, l4.dport))
        reuse = ipvs.sysctl("conn_reuse_mode")
        if cp is not None and "S" in flags and reuse != "0":
            cp = self._reuse(cp, frame, int(reuse), now)
            if cp is False:
                return False
        if cp is not None and not cp.dest.available:
            if ipvs.sysctl("expire_nodest_conn") != "1":
                if ns.bus.on:
                    ns.trace(indev.name if indev else "", "ipvs:conn", "drop",
                             f"real server {cp.daddr}:{cp.dport} of this connection was removed", frame)
                return False
            old_ct = _old_conntrack(frame)
            conns.expire_now(cp, now)
            if old_ct:
                return False
            cp = None
        if cp is None:
            cp, verdict = self._schedule(hook, frame, ip, l4, proto, flags, indev, now)
            if cp is None:
                return verdict
        elif ns.bus.on:
            ns.trace(indev.name if indev else "", "ipvs:conn", "hit",
                     f"existing connection {cp.caddr}:{cp.cport} -> {cp.vaddr}:{cp.vport} goes to "
                     f"{cp.daddr}:{cp.dport} ({cp.state})", frame)
        self._count(cp, now, "in", ip)
        conns.set_state(cp, "INPUT", flags)
        conns.put(cp, now)
        return self.xmit(hook, frame, ip, cp)

    @staticmethod
    def _count(cp: Conn, now: float, direction: str, ip: IP) -> None:
        """ip_vs_in_stats / ip_vs_out_stats on the server and its service (not once removed)."""
        d = cp.dest
        if d.available and d.svc is not None:
            n = wire_len(ip)
            d.stats.packet(now, direction, n)
            d.svc.stats.packet(now, direction, n)

    def _reuse(self, cp: Conn, frame: Frame, mode: int, now: float) -> Conn | None | bool:
        """conn_reuse_mode: a SYN on an entry in TIME_WAIT/CLOSE (or to a quiescent server with
        expire_nodest_conn) starts over; with conntrack the SYN is dropped (the client resends)."""
        ipvs = self.ipvs
        if ipvs.sysctl("expire_nodest_conn") == "1" and cp.dest.weight == 0:
            pass
        elif cp.control is None and (cp.state in ("TIME_WAIT", "CLOSE") or (
                mode & 2 and cp.state == "FIN_WAIT" and cp.nooutput)):
            pass
        else:
            return cp
        old_ct = _old_conntrack(frame)
        self.conns.expire_now(cp, now)
        if self.ns.bus.on:
            self.ns.trace("", "ipvs:conn", "drop" if old_ct else "reuse",
                          f"SYN reuses {cp.caddr}:{cp.cport} -> {cp.vaddr}:{cp.vport} ({cp.state}): "
                          + ("dropped, the client will retransmit" if old_ct else "scheduled again"), frame)
        return False if old_ct else None

    def _schedule(self, hook: str, frame: Frame, ip: IP, l4: TCP | UDP, proto: str, flags: str,
                  indev: NetDevice | None, now: float) -> tuple[Conn | None, bool]:
        """tcp/udp_conn_schedule + ip_vs_schedule: (new connection, or None and the verdict)."""
        ipvs, ns = self.ipvs, self.ns
        if proto == "TCP" and ("R" in flags or ("S" not in flags and ipvs.sysctl("sloppy_tcp") != "1")):
            return None, True
        svc = ipvs.service_find(frame.mark, proto, ip.dst, l4.dport)
        if svc is None:
            return None, True
        if indev is None or indev.kind == "loopback":  # not a reply of a local real server
            if self.conns.by_in.get((proto, ip.dst, l4.dport, ip.src, l4.sport)) is not None:
                return None, True
        why = ns.bus.on
        if svc.persistent is not None:
            cp, reason = self._persist(svc, ip, l4, proto, why, now)
        elif not svc.fwmark and l4.dport != svc.port:  # port zero is only for persistent services
            cp, reason = None, "port zero only supported in persistent services"
        else:
            dest, reason = svc.sched.schedule(ip.src, ip.dst, why) if svc.sched else (None, "no scheduler")
            cp = None if dest is None else self.conns.new(
                proto, ip.src, l4.sport, ip.dst, l4.dport, dest.addr, dest.port or l4.dport, dest,
                fwmark=svc.fwmark)
        dev = indev.name if indev else ""
        if cp is None:
            if ns.bus.on:
                ns.trace(dev, "ipvs:schedule", "drop", f"{svc.label}: {reason}", frame)
            return None, self._leave(frame, svc, l4)
        cp.dest.stats.conn(now)
        svc.stats.conn(now)
        if ns.bus.on:
            ns.trace(dev, "ipvs:schedule", "select", f"{svc.label} {svc.sched_name} picks real server "
                     f"{cp.daddr}:{cp.dport} for {ip.src}:{l4.sport} ({reason})", frame)
        return cp, True

    def _persist(self, svc: Service, ip: IP, l4: TCP | UDP, proto: str, why: bool,
                 now: float) -> tuple[Conn | None, str]:
        """ip_vs_sched_persist: a template per client (masked by -M) binds it to one server."""
        conns = self.conns
        snet = str(IPv4Address(int(IPv4Address(ip.src)) & svc.netmask))
        if l4.dport == svc.port:  # <proto, caddr, 0, vaddr, vport, daddr, dport>
            key = (proto, snet, 0, ip.dst, l4.dport if svc.port != FTPPORT else 0)
        elif svc.fwmark:  # <IPPROTO_IP, caddr, 0, fwmark, 0, daddr, 0>
            key = ("IP", snet, 0, str(IPv4Address(svc.fwmark)), 0)
        else:  # port zero service: <proto, caddr, 0, vaddr, 0, daddr, 0>
            key = (proto, snet, 0, ip.dst, 0)
        ct = conns.templates.get(key)
        if ct is not None:
            d = ct.dest
            if not d.available or (self.ipvs.sysctl("expire_quiescent_template") == "1" and d.weight == 0):
                conns.invalidate_template(ct)  # ip_vs_check_template
                ct = None
        if ct is None:
            dest, reason = svc.sched.schedule(ip.src, ip.dst, why) if svc.sched else (None, "no scheduler")
            if dest is None:
                return None, reason
            tport = dest.port if l4.dport == svc.port and svc.port != FTPPORT else 0
            ct = conns.new(key[0], snet, 0, key[3], key[4], dest.addr, tport, dest, template=True,
                           fwmark=svc.fwmark)
            ct.timeout = svc.persistent or 0
            reason = f"persistence: new template for {snet}; {reason}" if why else ""
        else:
            dest = ct.dest
            reason = f"persistence: {snet} stays with {dest} (template)" if why else ""
        dport = dest.port if l4.dport == svc.port and dest.port else l4.dport
        cp = conns.new(proto, ip.src, l4.sport, ip.dst, l4.dport, dest.addr, dport, dest, fwmark=svc.fwmark)
        cp.control = ct
        ct.n_control += 1
        conns.put(ct, now)
        return cp, reason

    def _leave(self, frame: Frame, svc: Service, l4: TCP | UDP) -> bool:
        """ip_vs_leave: no server available: ICMP port unreachable, whatever the protocol."""
        if svc.port == FTPPORT and l4.dport != FTPPORT:
            return True
        icmp_mod.send_error(self.ns, frame, 3, 3)
        return False

    # ------------------------------------------------------------ transmitters
    def reply(self, hook: str, frame: Frame, indev: NetDevice | None, outdev: NetDevice | None) -> bool:
        ip = frame.ip
        if ip is None or handled(frame):
            return True
        ns = self.ns
        now = self.ipvs.now()
        self.conns.purge(now)
        l4 = ip.payload
        if isinstance(l4, ICMP):
            return self._out_icmp(frame, ip, l4)
        if not isinstance(l4, (TCP, UDP)) or ip.frag:
            return True
        proto = "TCP" if isinstance(l4, TCP) else "UDP"
        cp = self.conns.by_out.get((proto, ip.src, l4.sport, ip.dst, l4.dport))
        if cp is None or cp.fwd != "Masq":
            return True
        src, sport = ip.src, l4.sport
        ip.src = cp.vaddr
        l4.sport = cp.vport
        ip.chksum = None
        l4.chksum = None
        self._count(cp, now, "out", ip)
        self.conns.set_state(cp, "OUTPUT", str(l4.flags) if proto == "TCP" else "")
        self.conns.put(cp, now)
        mark(frame, cp, "REPLY")
        if ns.bus.on:
            ns.trace(outdev.name if outdev else "", "ipvs:reply", "snat",
                     f"reply of real server {src}:{sport} leaves as {cp.vaddr}:{cp.vport} ({cp.state})", frame)
        return True

    def forward_icmp(self, hook: str, frame: Frame, indev: NetDevice | None, outdev: NetDevice | None) -> bool:
        ip = frame.ip
        if ip is None or not isinstance(ip.payload, ICMP) or handled(frame):
            return True
        self.conns.purge(self.ipvs.now())
        return self._in_icmp(hook, frame, ip, ip.payload)

    # ------------------------------------------------------------ ICMP errors about connections
