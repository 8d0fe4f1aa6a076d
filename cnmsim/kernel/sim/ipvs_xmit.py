"""IPVS transmitters (ip_vs_xmit.c): NAT, direct routing and IPIP toward a real server.

A forwarded request is stolen from its hook (False) and re-injected: the route to the real
server, the TTL decrement and MTU check of __ip_vs_get_out_rt, the rewrite, then LOCAL_OUT and
POSTROUTING as ip_vs_nat_send_or_cont does; a real server on this host continues up the stack.
ICMP errors about a connection are translated here in both directions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scapy.layers.inet import ICMP, IP, TCP, UDP

from cnmsim.kernel.sim import icmp as icmp_mod
from cnmsim.kernel.sim.nf.addr import ip2int
from cnmsim.kernel.sim.nf.conntrack import CT_IS_REPLY, UNTRACKED
from cnmsim.kernel.sim.route import RouteEntry
from cnmsim.packet.sizes import wire_len

if TYPE_CHECKING:
    from cnmsim.kernel.sim.ipvs import Ipvs
    from cnmsim.kernel.sim.ipvs_conn import Conn
    from cnmsim.packet.frame import Frame

ICMP_ERRORS = (3, 4, 11)  # dest unreachable, source quench, time exceeded


def handled(frame: Frame) -> bool:
    """skb->ipvs_property: IPVS already translated this packet."""
    return bool(frame.meta) and bool(frame.meta.get("ipvs"))  # type: ignore[union-attr]


def mark(frame: Frame, cp: Conn, direction: str) -> None:
    """skb->ipvs_property, and conntrack as ip_vs_nat_send_or_cont / handle_response leave it:
    untracked unless net.ipv4.vs.conntrack was 1 when the connection was made."""
    frame.set_meta("ipvs", True)
    frame.set_meta("ipvs_conn", cp)
    frame.set_meta("ipvs_dir", direction)
    if not cp.nfct:
        frame.ct = UNTRACKED  # ip_vs_notrack: no conntrack, no NAT from here on
    else:
        update_conntrack(frame, cp, direction == "ORIGINAL")


def update_conntrack(frame: Frame, cp: Conn, outin: bool) -> None:
    """ip_vs_update_conntrack: a new (unconfirmed) NAT connection's conntrack entry expects its
    replies from the real server (outin) or to the virtual address."""
    ct = frame.ct
    if not ct or ct[0] is None or ct[0].confirmed or cp.fwd != "Masq" or ct[1] >= CT_IS_REPLY:
        return
    conn = ct[0]
    p, s, sp, d, dp = conn.reply
    if outin:
        s, sp = ip2int(cp.daddr), cp.dport if p != 1 else sp
    else:
        d, dp = ip2int(cp.vaddr), cp.vport if p != 1 else dp
    conn.reply = (p, s, sp, d, dp)


class Transmitter:
    """cp->packet_xmit and the ICMP translations, for one namespace's IPVS."""

    def __init__(self, ipvs: Ipvs) -> None:
        self.ipvs = ipvs
        self.ns = ipvs.ns
        self.conns = ipvs.conns

    def xmit(self, hook: str, frame: Frame, ip: IP, cp: Conn) -> bool:
        """cp->packet_xmit: ip_vs_nat_xmit, ip_vs_dr_xmit or ip_vs_tunnel_xmit."""
        routed = self._route(hook, frame, ip, cp, icmp=False)
        if routed is None:
            return False
        rt, local = routed
        ns = self.ns
        if cp.fwd == "Masq":
            l4 = ip.payload
            vdst, vport = ip.dst, l4.dport
            ip.dst = cp.daddr
            l4.dport = cp.dport
            ip.chksum = None
            l4.chksum = None
            if ns.bus.on:
                ns.trace(rt.dev.name if rt.dev else "", "ipvs:nat", "dnat",
                         f"{vdst}:{vport} -> real server {cp.daddr}:{cp.dport}", frame)
        elif cp.fwd == "Route":
            if not local:
                rt = RouteEntry(net=ns.host_net(cp.daddr), dev=rt.dev, via=rt.via or cp.daddr, src=rt.src)
            if ns.bus.on:
                ns.trace(rt.dev.name if rt.dev else "", "ipvs:dr", "route",
                         f"direct routing to {cp.daddr}: the frame goes to its MAC, still addressed to {ip.dst}", frame)
        else:
            frame = self._encap(frame, ip, rt, cp)
        mark(frame, cp, "ORIGINAL")
        return self._send_or_cont(frame, rt, local)

    def _route(self, hook: str, frame: Frame, ip: IP, cp: Conn, icmp: bool) -> tuple[RouteEntry, bool] | None:
        """__ip_vs_get_out_rt: route to the real server; TTL and MTU checks when it is not local."""
        ns = self.ns
        rt = ns.stack.fib_lookup(cp.daddr)
        if rt is None or rt.dev is None or rt.type not in ("unicast", "local"):
            ns.trace("", "ipvs:xmit", "drop", f"no route to real server {cp.daddr}", frame)
            icmp_mod.send_error(ns, frame, 3, 1)  # dst_link_failure
            return None
        if rt.type == "local":
            if cp.daddr.startswith("127.") and hook == "INPUT":
                ns.trace("", "ipvs:xmit", "drop", "stopping DNAT to a loopback address", frame)
                return None
            return rt, True
        if ip.ttl <= 1:
            ns.trace(rt.dev.name, "ipvs:xmit", "drop", "TTL exceeded on the way to the real server", frame)
            icmp_mod.send_error(ns, frame, 11, 0)
            return None
        overhead = 20 if cp.fwd == "Tunnel" else 0
        mtu = ns.stack.path_mtu(rt, cp.daddr) - overhead
        if not icmp and ip.flags.DF and wire_len(ip) > mtu:  # ensure_mtu_is_adequate
            ns.trace(rt.dev.name, "ipvs:xmit", "drop", f"{wire_len(ip)}-byte packet exceeds MTU {mtu} "
                     "toward the real server and DF is set", frame)
            icmp_mod.send_error(ns, frame, 3, 4, mtu=mtu)
            return None
        ip.ttl -= 1  # decrement_ttl
        ip.chksum = None
        return rt, False

    def _encap(self, frame: Frame, ip: IP, rt: RouteEntry, cp: Conn) -> Frame:
        """ip_vs_tunnel_xmit: an outer IPIP header to the real server (the frame keeps its id)."""
        ns = self.ns
        outer = IP(src=rt.src or ns.select_source(rt.dev, cp.daddr) or "0.0.0.0", dst=cp.daddr, proto=4,
                   tos=ip.tos, ttl=ip.ttl, flags="DF" if ip.flags.DF else 0, id=ns.stack.next_ip_id())
        if ip.underlayer is not None:
            ip.underlayer.remove_payload()
            ip.underlayer = None
        outer.add_payload(ip)
        frame.pkt = outer
        if ns.bus.on:
            ns.trace(rt.dev.name if rt.dev else "", "ipvs:tunnel", "encap",
                     f"IPIP to real server {cp.daddr}, inner packet still for {ip.dst}", frame)
        return frame

    def _send_or_cont(self, frame: Frame, rt: RouteEntry, local: bool) -> bool:
        """ip_vs_(nat_)send_or_cont: a local real server continues up the stack; else LOCAL_OUT,
        POSTROUTING and out, and the hook reports the packet stolen."""
        if local:
            return True
        ns = self.ns
        if not ns.nf.hook("OUTPUT", frame, None, rt.dev):
            return False
        ip = frame.ip
        if frame.get_meta("rerouted"):
            rt = ns.stack.fib_lookup(ip.dst) or rt
        ns.stack.post_routing(rt, frame, ip, forwarded=False)
        return False

    # ------------------------------------------------------------ replies (ip_vs_out)
    @staticmethod
    def _quoted(icmp: ICMP) -> tuple[IP, TCP | UDP, str] | None:
        if icmp.type not in ICMP_ERRORS:
            return None
        inner = icmp.payload
        if not isinstance(inner, IP) or inner.frag or not isinstance(inner.payload, (TCP, UDP)):
            return None
        return inner, inner.payload, "TCP" if isinstance(inner.payload, TCP) else "UDP"

    def _out_icmp(self, frame: Frame, ip: IP, icmp: ICMP) -> bool:
        """ip_vs_out_icmp: an error from the real server's side about a request; it must look
        like it came from the VIP (outer source and quoted destination rewritten)."""
        q = self._quoted(icmp)
        if q is None:
            return True
        inner, l4, proto = q
        cp = self.conns.by_out.get((proto, inner.dst, l4.dport, inner.src, l4.sport))
        if cp is None or cp.fwd != "Masq":
            return True
        src = ip.src
        ip.src = inner.dst = cp.vaddr
        l4.dport = cp.vport
        ip.chksum = inner.chksum = icmp.chksum = None
        mark(frame, cp, "REPLY")
        if self.ns.bus.on:
            self.ns.trace("", "ipvs:icmp", "snat", f"ICMP error from {src} about {cp.caddr}:{cp.cport} -> "
                          f"{cp.daddr}:{cp.dport} now comes from {cp.vaddr}", frame)
        return True

    def _in_icmp(self, hook: str, frame: Frame, ip: IP, icmp: ICMP) -> bool:
        """ip_vs_in_icmp: an error from the client's side about a reply; forwarded to the real
        server (for NAT: outer destination and quoted source rewritten)."""
        q = self._quoted(icmp)
        if q is None:
            return True
        inner, l4, proto = q
        cp = self.conns.by_in.get((proto, inner.dst, l4.dport, inner.src, l4.sport))
        if cp is None:
            return True
        routed = self._route(hook, frame, ip, cp, icmp=True)
        if routed is None:
            return False
        rt, local = routed
        if cp.fwd == "Masq":
            ip.dst = inner.src = cp.daddr
            l4.sport = cp.dport
            ip.chksum = inner.chksum = icmp.chksum = None
        elif cp.fwd == "Route" and not local:
            rt = RouteEntry(net=self.ns.host_net(cp.daddr), dev=rt.dev, via=rt.via or cp.daddr, src=rt.src)
        elif cp.fwd == "Tunnel":
            frame = self._encap(frame, ip, rt, cp)
        mark(frame, cp, "ORIGINAL")
        if self.ns.bus.on:
            self.ns.trace("", "ipvs:icmp", "forward", f"ICMP error about {cp.vaddr}:{cp.vport} -> "
                          f"{cp.caddr}:{cp.cport} goes to real server {cp.daddr}", frame)
        return self._send_or_cont(frame, rt, local)
