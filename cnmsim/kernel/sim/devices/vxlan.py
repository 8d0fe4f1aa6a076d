"""VXLAN (RFC 7348) as Linux implements it (drivers/net/vxlan/vxlan_core.c).

A vxlan device is an Ethernet device whose "wire" is UDP: `vxlan_xmit` looks the destination
MAC up in the device's own FDB (falling back to the all-zeros default entry, whose remotes get
one copy each), wraps the frame in Ether/IP/UDP/VXLAN and sends it from the namespace the device
was CREATED in (the link netns: Docker creates vxlan0 in the host namespace and moves it into
the overlay namespace; the UDP socket and the underlay routes stay in the host namespace).
On that namespace's UDP port (4789) `vxlan_rcv` finds the device by VNI, learns the inner
source MAC behind the outer source VTEP, strips the 50 bytes of outer headers and hands the
inner frame to the device as if it came off a wire (so a master bridge sees it).

With `proxy`, ARP requests are answered from the neighbour table and never flooded
(`arp_reduce`).  The outer header has DF clear (`df unset`); but an inner DF packet that would
not fit the underlay route after encapsulation is turned back into an ICMP "fragmentation
needed" (mtu = underlay MTU - 50) when the device is a bridge port (`skb_tunnel_check_pmtu`):
the classic overlay MTU pitfall.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror
from scapy.layers.l2 import ARP, Ether
from scapy.layers.vxlan import VXLAN

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.kernel.sim.devices.base import NetDevice
from cnmsim.kernel.sim.devices.vxlan_fdb import ANY, ZERO_MAC, Remote, VxlanFdb, is_group
from cnmsim.kernel.sim.links import factory
from cnmsim.packet.frame import Frame
from cnmsim.packet.sizes import wire_len
from cnmsim.trace.explain import register

if TYPE_CHECKING:
    from cnmsim.kernel.sim.netns import SimNetns

HEADROOM = 50  # VXLAN_HEADROOM: outer Ether 14 + IPv4 20 + UDP 8 + VXLAN 8
CONNECTED = ("PERMANENT", "NOARP", "REACHABLE")  # NUD_CONNECTED


class VxlanSock:
    """The UDP tunnel socket (vxlan_sock) on `port` in the link netns, shared by VNI."""

    def __init__(self, ns: SimNetns, port: int) -> None:
        self.ns = ns
        self.local = ("0.0.0.0", port)
        self.peer = None
        self.closed = False
        self.devs: dict[int, VxlanDevice] = {}

    def encap_rcv(self, dev: NetDevice, frame: Frame, ip: IP, udp: UDP) -> None:
        """udp_sk(sk)->encap_rcv = vxlan_rcv: check the header, find the device by VNI."""
        vx = udp.payload
        if not isinstance(vx, VXLAN) or not int(vx.flags) & 0x08:
            self.ns.trace(dev.name, "vxlan:decap", "drop", "UDP datagram on the VXLAN port without a valid VXLAN header (I flag)", frame)
            return
        vxdev = self.devs.get(vx.vni)
        if vxdev is None:
            self.ns.trace(dev.name, "vxlan:decap", "drop", f"no vxlan device with VNI {vx.vni} on UDP port {self.local[1]}", frame)
            return
        vxdev.decap(frame, ip, vx)

    def on_icmp_error(self, err: object) -> None:
        """ICMP errors about tunnel packets are not reported anywhere (vxlan_err_lookup)."""

    def close(self) -> None:
        self.closed = True
        if self.ns.sockets.udp.get(self.local) is self:
            del self.ns.sockets.udp[self.local]


class VxlanDevice(NetDevice):
    kind = "vxlan"
    cost = 4e-6

    def __init__(self, ns: SimNetns, spec: api.Vxlan, lower: NetDevice | None) -> None:
        super().__init__(ns, spec.name, mtu=(lower.mtu - HEADROOM) if lower is not None else 1500)
        self.vni = spec.vni
        self.local = spec.local
        self.lower = lower
        self.dstport = spec.dstport
        self.learning = spec.learning
        self.proxy = spec.proxy
        self.l2miss, self.l3miss = spec.l2miss, spec.l3miss
        self.link_ns = ns  # vxlan->net: where the socket lives and the outer packets are routed
        self.fdb = VxlanFdb(self)
        self.sock: VxlanSock | None = None
        self.hashrnd = ns.kernel.ctx.rng.getrandbits(32)  # the flow-hash seed (hashrnd)

    @property
    def max_mtu(self) -> int:
        return self.lower.mtu - HEADROOM if self.lower is not None else 65535

    # ------------------------------------------------------------ life cycle
    def set_up(self, up: bool) -> None:
        """vxlan_open binds the UDP socket in the link netns; vxlan_stop releases it."""
        if up and not self.admin_up:
            self._open_sock()
        elif not up and self.admin_up:
            self._close_sock()
        super().set_up(up)

    def _open_sock(self) -> None:
        key = ("0.0.0.0", self.dstport)
        sock = self.link_ns.sockets.udp.get(key)
        if sock is None:
            sock = VxlanSock(self.link_ns, self.dstport)
            self.link_ns.sockets.udp[key] = sock  # type: ignore[assignment]
        elif not isinstance(sock, VxlanSock):
            raise KernelError("RTNETLINK answers: Address already in use", "EADDRINUSE")
        sock.devs[self.vni] = self
        self.sock = sock

    def _close_sock(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None and sock.devs.get(self.vni) is self:
            del sock.devs[self.vni]
            if not sock.devs:
                sock.close()

    def destroy(self) -> None:
        self._close_sock()
        if self.lower is not None and self in self.lower.uppers:
            self.lower.uppers.remove(self)

    def link_desc(self) -> tuple[str | None, int | None, bool]:
        # vxlan has no iflink; once moved, ip shows "@ifN link-netns NS" (its own index)
        if self.link_ns is not self.ns:
            return None, self.ifindex, True
        return None, None, False

    def details(self) -> dict[str, object]:
        return {"id": self.vni, "local": self.local, "dev": self.lower.name if self.lower else None,
                "dstport": self.dstport, "learning": self.learning, "proxy": self.proxy,
                "l2miss": self.l2miss, "l3miss": self.l3miss, "ageing": int(self.fdb.ageing),
                "link_netns": self.link_ns.name}

    # ------------------------------------------------------------ FDB (bridge fdb ... self)
    def fdb_self_add(self, fdb: api.Fdb, append: bool) -> None:
        self.fdb.add(fdb, append)

    def fdb_self_del(self, fdb: api.Fdb) -> None:
        self.fdb.delete(fdb)

    def fdb_self_dump(self) -> list[api.Fdb]:
        return self.fdb.dump()

    # ------------------------------------------------------------ transmit (vxlan_xmit)
    def transmit(self, frame: Frame) -> None:
        eth = frame.pkt
        if self.proxy and isinstance(eth.payload, ARP):
            self.arp_reduce(frame, eth.payload)
            return
        dst = eth.dst
        e = self.fdb.lookup(dst)
        how = "hit"
        if e is None:
            e, how = self.fdb.lookup(ZERO_MAC), "default"
        if e is None or not e.remotes:
            miss = " (an l2miss notification goes to user space)" if self.l2miss and not is_group(dst) else ""
            self.drop(frame, "vxlan:fdb", f"no FDB entry for {dst} and no default 00:00:00:00:00:00 entry{miss}")
            return
        if self.ns.bus.on:
            vteps = ", ".join(r.ip for r in e.remotes)
            why = f"{dst} is behind VTEP {vteps}" if how == "hit" else \
                f"{dst} is not in the FDB: the default 00:00:00:00:00:00 entry sends a copy to VTEP {vteps}"
            self.trace("vxlan:fdb", how, why, frame)
        first = e.remotes[0]
        for r in e.remotes[1:]:
            self.xmit_one(frame.clone(frame.id), r)
        self.xmit_one(frame, first)

    def arp_reduce(self, frame: Frame, arp: ARP) -> None:
        """Proxy mode: answer ARP requests from the neighbour table; nothing ARP is flooded."""
        if arp.op != 1:
            self.trace("vxlan:arp", "drop", "proxy mode: only ARP requests are handled, and locally", frame)
            return
        tip = arp.pdst
        n = self.ns.neigh.get(self, tip)
        now = self.ns.kernel.ctx.env.now
        if n is None or n.lladdr is None or n.state(now) not in CONNECTED:
            miss = "; an l3miss notification goes to user space" if self.l3miss else ""
            self.trace("vxlan:arp", "drop", f"proxy mode: no usable neighbour entry for {tip} on {self.name}{miss}", frame)
            return
        f = self.fdb.lookup(n.lladdr)
        if f is not None and all(r.ip == ANY for r in f.remotes):
            self.trace("vxlan:arp", "drop", f"{tip} is a bridge-local neighbour", frame)
            return
        rep = Ether(src=n.lladdr, dst=arp.hwsrc, type=0x0806) / ARP(
            op=2, hwsrc=n.lladdr, psrc=tip, hwdst=arp.hwsrc, pdst=arp.psrc)
        self.trace("vxlan:arp", "reply", f"{tip} is-at {n.lladdr}, answered from the neighbour table of {self.name}", frame)
        self.ns.kernel.ctx.later(0.0, self.receive, Frame(rep, frame.id))  # netif_rx(reply)

    def xmit_one(self, frame: Frame, remote: Remote) -> None:
        """vxlan_xmit_one: route in the link netns, check the PMTU, encapsulate, ip_local_out."""
        from cnmsim.kernel.sim.ipv4 import OutputError

        link = self.link_ns
        vni = remote.vni if remote.vni is not None else self.vni
        if remote.ip == ANY:
            self.drop(frame, "vxlan:encap", "the FDB entry has no remote VTEP address")
            return
        if self.local is not None and self.local not in link.local_addrs:
            self.drop(frame, "vxlan:encap", f"local address {self.local} is not configured in {link.label}")
            return
        try:
            rt = link.stack.route_output(remote.ip, self.lower.name if self.lower is not None else None)
        except OutputError as e:
            self.drop(frame, "vxlan:encap", f"no route to VTEP {remote.ip} in {link.label}: {e}")
            return
        if rt.dev is self:
            self.drop(frame, "vxlan:encap", f"circular route: VTEP {remote.ip} is routed through {self.name} itself")
            return
        if rt.type == "local":
            self.local_bypass(frame, vni)
            return
        inner = frame.pkt
        room = link.stack.path_mtu(rt, remote.ip) - HEADROOM
        if wire_len(inner.payload) > room and self.check_pmtu(frame, room):
            return
        src = self.local or rt.src or link.select_source(rt.dev, rt.via or remote.ip) or "0.0.0.0"
        outer = IP(src=src, dst=remote.ip, ttl=64, tos=0, id=link.stack.next_ip_id(), flags=0, proto=17)
        udp = UDP(sport=self.src_port(inner), dport=self.dstport)
        vx = VXLAN(flags=0x08, vni=vni)
        outer.add_payload(udp)
        udp.add_payload(vx)
        vx.add_payload(inner)  # the same inner scapy object: no copy, no bytes
        frame.pkt = outer
        frame.ct, frame.vlan = None, None  # skb_scrub_packet
        if self.ns is not link:
            frame.mark = 0
        frame.cost += self.cost
        if link.bus.on:
            link.trace(self.name, "vxlan:encap", "encap",
                       f"VNI {vni}: outer {src}:{udp.sport} > {remote.ip}:{self.dstport}, "
                       f"routed in {link.label} via '{rt.describe()}' (+{HEADROOM} bytes)", frame)
        if not link.nf.hook("OUTPUT", frame, None, rt.dev):
            return
        link.stack.post_routing(rt, frame, outer, forwarded=False)

    def src_port(self, eth: Ether) -> int:
        """udp_flow_src_port: a hash of the inner flow scaled into ip_local_port_range."""
        pl = eth.payload
        if isinstance(pl, IP):
            l4 = pl.payload
            ports = (l4.sport, l4.dport) if isinstance(l4, (UDP, TCP)) and not pl.frag and not pl.flags.MF else ()
            key = f"{pl.src}>{pl.dst}/{pl.proto}{ports}"
        else:
            key = f"{eth.src}>{eth.dst}"
        h = zlib.crc32(key.encode(), self.hashrnd)
        h ^= (h << 16) & 0xFFFFFFFF
        lo, hi = (int(x) for x in self.link_ns.sysctl_get("net.ipv4.ip_local_port_range").split())
        return ((h * (hi - lo)) >> 32) + lo

    def check_pmtu(self, frame: Frame, room: int) -> bool:
        """skb_tunnel_check_pmtu: True when the frame was turned into an ICMP frag-needed."""
        eth = frame.pkt
        ip = eth.payload
        if not isinstance(ip, IP):
            return False
        size = wire_len(ip)
        br = self.master
        bridged = br is not None and frame.iif is not None and any(p.name == frame.iif for p in br.ports)  # type: ignore[attr-defined]
        if not bridged:  # routed or sent by this namespace's stack: the inner skb has a route
            self.ns.stack.pmtu.learn(ip.dst, room)  # skb_dst_update_pmtu_no_confirm
        why = (f"{size}-byte packet + {HEADROOM} bytes of VXLAN headers exceeds the underlay MTU "
               f"{room + HEADROOM} (room for {room})")
        if br is None:  # a routed vxlan: only the route's PMTU is updated; the outer gets fragmented
            self.trace("vxlan:pmtu", "pass", f"{why}; not a bridge port, so it is sent and the outer packet fragmented", frame)
            return False
        if room < 576 or int(ip.flags) != 2 or ip.frag or ip.dst == "255.255.255.255" \
                or int(ip.dst.split(".")[0]) >= 224 or ip.src.startswith(("0.", "127.")) \
                or (isinstance(ip.payload, ICMP) and ip.payload.type in (3, 4, 5, 11, 12)):
            self.trace("vxlan:pmtu", "pass", f"{why}; DF is clear (or no ICMP allowed), so the outer packet gets fragmented", frame)
            return False
        self.drop(frame, "vxlan:pmtu", f"{why} and DF is set: dropped, ICMP fragmentation needed (mtu {room}) "
                  f"sent back to {ip.src} -- the overlay MTU pitfall")
        err = IP(src=ip.dst, dst=ip.src, ttl=ip.ttl, id=0, flags="DF", tos=0, proto=1) / ICMP(
            type=3, code=4, nexthopmtu=room) / IPerror(bytes(ip)[:548])
        reply = Frame(Ether(src=eth.dst, dst=eth.src, type=0x0800) / err, self.ns.kernel.ctx.next_id())
        reply.cost = frame.cost
        self.ns.kernel.ctx.later(0.0, self.receive, reply)  # vxlan_encap_bypass -> netif_rx
        return True

    def local_bypass(self, frame: Frame, vni: int) -> None:
        """encap_bypass_if_local: the VTEP is this host; hand the frame to the local device."""
        dst = self.sock.devs.get(vni) if self.sock is not None else None
        if dst is None:
            self.drop(frame, "vxlan:encap", f"the VTEP is local but no local vxlan device has VNI {vni}")
            return
        if dst.learning:
            dst.fdb.snoop(frame.pkt.src, "127.0.0.1", frame)
        self.trace("vxlan:encap", "bypass", f"the VTEP is a local address: delivered to {dst.name} without encapsulation", frame)
        self.ns.kernel.ctx.later(0.0, dst.receive, frame)

    # ------------------------------------------------------------ receive (vxlan_rcv)
    def decap(self, frame: Frame, outer: IP, vx: VXLAN) -> None:
        inner = vx.payload
        if not isinstance(inner, Ether):
            self.drop(frame, "vxlan:decap", "VXLAN payload is not an Ethernet frame", tx=False)
            return
        if inner.src == self.mac:
            self.drop(frame, "vxlan:decap", f"inner source is {self.name}'s own MAC: a loop", tx=False)
            return
        if self.learning and self.fdb.snoop(inner.src, outer.src, frame):
            return
        vx.remove_payload()
        frame.pkt = inner
        if self.ns is not self.link_ns:
            frame.mark = 0
        frame.ct = None
        frame.cost += self.cost
        if self.ns.bus.on:
            self.trace("vxlan:decap", "decap", f"VNI {vx.vni} from VTEP {outer.src}: outer headers removed, "
                       f"{inner.src} > {inner.dst} enters {self.name}", frame)
        self.receive(frame)


@factory(api.Vxlan)
def _vxlan(ns: SimNetns, spec: api.Vxlan) -> None:
    if not 0 <= spec.vni < 1 << 24:
        raise KernelError(f'Error: argument "{spec.vni}" is wrong: invalid id', "EINVAL")
    lower = ns.dev(spec.dev) if spec.dev else None
    for other in ns.kernel.all_namespaces():
        for d in other.devices.values():
            if isinstance(d, VxlanDevice) and d.link_ns is ns and d.vni == spec.vni and d.dstport == spec.dstport:
                raise KernelError("Error: A VXLAN device with the specified VNI already exists.", "EEXIST")
    dev = VxlanDevice(ns, spec, lower)
    ns.attach(dev)
    if lower is not None:
        lower.uppers.append(dev)  # deleting the lower device deletes the vxlan devices on it


register("vxlan:encap", None, "The VXLAN device {dev} of {place} encapsulates the frame ({verdict}): {reason}.")
register("vxlan:encap", "drop", "The VXLAN device {dev} of {place} cannot send: {reason}.")
register("vxlan:decap", "decap", "{place} hands the UDP datagram to the VXLAN device {dev}: {reason}.")
register("vxlan:decap", "drop", "{place} drops the VXLAN packet: {reason}.")
register("vxlan:arp", "reply", "The VXLAN device {dev} of {place} answers the ARP request itself (proxy): {reason}.")
register("vxlan:arp", "drop", "The VXLAN device {dev} of {place} swallows the ARP frame: {reason}.")
register("vxlan:pmtu", "drop", "The VXLAN device {dev} of {place} cannot carry the packet: {reason}.")
register("vxlan:pmtu", "pass", "The VXLAN device {dev} of {place} sends an oversized packet: {reason}.")
