"""The IPv4 stack of one namespace: receive, local delivery, forwarding and output.

The paths and their netfilter hooks are where Linux has them (net/ipv4/ip_input.c,
ip_forward.c, ip_output.c):

    rx:  netif_receive -> ip_rcv -> PREROUTING -> route -> INPUT -> socket
                                                       \\-> FORWARD -> POSTROUTING -> neigh -> dev
    tx:  socket -> route -> OUTPUT -> POSTROUTING -> neigh -> dev
    IPsec (xfrm.py): after POSTROUTING a packet an xfrm policy selects becomes ESP and passes
    OUTPUT and POSTROUTING again; local ESP is decrypted and re-enters PREROUTING.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from cnmsim.kernel.sim import icmp as icmp_mod
from cnmsim.kernel.sim.pmtu import PmtuCache
from cnmsim.kernel.sim.route import RouteEntry
from cnmsim.kernel.sim.xfrm import esp_rcv
from cnmsim.packet.frame import Frame
from cnmsim.packet.sizes import wire_len

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.netns import SimNetns

BROADCAST = "ff:ff:ff:ff:ff:ff"


class OutputError(Exception):
    """A local send failed the way the socket call fails (errno name and strerror)."""

    def __init__(self, errno_name: str, message: str, mtu: int | None = None) -> None:
        super().__init__(message)
        self.errno_name = errno_name
        self.mtu = mtu


class IPv4Stack:
    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self._ip_id = ns.kernel.ctx.rng.randrange(1 << 16)
        self.pmtu = PmtuCache(ns)  # path MTUs learned from ICMP frag-needed

    # ------------------------------------------------------------ helpers
    def next_ip_id(self) -> int:
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        return self._ip_id

    def fib_lookup(self, dst: str) -> RouteEntry | None:
        """Local table first (our own addresses), then main: longest prefix match."""
        ns = self.ns
        if dst in ns.local_addrs or (dst.startswith("127.") and ns.addr_owner(dst) is not None):
            return ns.local_route(dst)
        return ns.main.lookup(dst)

    def path_mtu(self, rt: RouteEntry, dst: str) -> int:
        """The route's MTU, lowered by a learned path MTU to dst (dst_mtu with a PMTU exception)."""
        mtu = rt.mtu or rt.dev.mtu  # type: ignore[union-attr]
        if self.pmtu.entries:
            p = self.pmtu.get(dst)
            if p is not None and p < mtu:
                return p
        return mtu

    def source_for(self, dev: NetDevice, dst: str) -> str | None:
        """inet_select_addr: an address of dev in dst's subnet, else dev's first global one."""
        return self.ns.select_source(dev, dst)

    # ------------------------------------------------------------ receive
    def netif_receive(self, dev: NetDevice, frame: Frame) -> None:
        eth = frame.pkt
        dst = eth.dst
        if dst != dev.mac and not int(dst[:2], 16) & 1 and dev.kind != "loopback":
            # PACKET_OTHERHOST: a unicast frame for another MAC (promiscuous or flooded)
            self.ns.trace(dev.name, "l2:rx", "drop", f"frame for {dst} is not for {dev.name} ({dev.mac})", frame)
            return
        pl = eth.payload
        if isinstance(pl, IP):
            self.ip_rcv(dev, frame, pl)
        elif isinstance(pl, ARP):
            if not dev.arp:
                return
            self.ns.neigh.arp_rcv(dev, frame)
        else:
            self.ns.trace(dev.name, "l2:rx", "drop", f"no handler for ethertype 0x{eth.type:04x}", frame)

    def ip_rcv(self, dev: NetDevice, frame: Frame, ip: IP) -> None:
        ns = self.ns
        if frame.get_meta("br_nf_pre"):
            frame.set_meta("br_nf_pre", False)  # PREROUTING already ran at the bridge port
        elif not ns.nf.hook("PREROUTING", frame, dev, None):
            return
        ip = frame.ip or ip
        dst = ip.dst
        if dst in ns.local_addrs or dst == "255.255.255.255" or dst in ns.bcast_addrs or (
                dst.startswith("127.") and dev.kind == "loopback"):
            self.local_deliver(dev, frame, ip)
        else:
            self.forward(dev, frame, ip)

    def local_deliver(self, dev: NetDevice, frame: Frame, ip: IP) -> None:
        ns = self.ns
        if ip.flags.MF or ip.frag:
            whole = ns.reassembly.add(frame, ip) if ns.reassembly is not None else None
            if whole is None:
                return
            frame, ip = whole, whole.ip
        if not ns.nf.hook("INPUT", frame, dev, None):
            return
        frame.cost += 15e-6  # socket lookup and wake-up: ~50 us ping RTT over a veth pair, as measured on Linux
        pl = ip.payload
        if isinstance(pl, ICMP):
            icmp_mod.rcv(ns, dev, frame, ip, pl)
        elif isinstance(pl, (UDP, TCP)):
            ns.sockets.deliver(dev, frame, ip, pl)
        elif ip.proto == 50:  # ESP: decrypt, then the cleartext re-enters PREROUTING (xfrm.py)
            esp_rcv(ns, dev, frame, ip)
        else:
            icmp_mod.send_error(ns, frame, 3, 2)  # protocol unreachable
            ns.trace(dev.name, "ip:local", "drop", f"no handler for IP protocol {ip.proto}", frame)

    def forward(self, dev: NetDevice, frame: Frame, ip: IP) -> None:
        ns = self.ns
        if ns.sysctl_get("net.ipv4.ip_forward") != "1":
            ns.trace(dev.name, "ip:forward", "drop", f"{ip.dst} is not local and net.ipv4.ip_forward=0", frame)
            return
        rt = self.fib_lookup(ip.dst)
        if rt is None or rt.type != "unicast":
            ns.trace(dev.name, "route:lookup", "drop", f"no route to {ip.dst}", frame)
            icmp_mod.send_error(ns, frame, 3, 0)
            return
        if ip.ttl <= 1:  # checked in ip_forward(), after the input route lookup found a route
            ns.trace(dev.name, "ip:forward", "drop", "TTL exceeded in transit", frame)
            icmp_mod.send_error(ns, frame, 11, 0)
            return
        if ns.bus.on:
            ns.trace(rt.dev.name, "route:lookup", "forward", f"{ip.dst} via route '{rt.describe()}'", frame)
        if self.too_big(rt, frame, ip):  # ip_forward checks the MTU before the FORWARD hook
            icmp_mod.send_error(ns, frame, 3, 4, mtu=self.path_mtu(rt, ip.dst))
            return
        ip.ttl -= 1  # ip_decrease_ttl() runs before NF_INET_FORWARD, so FORWARD rules see TTL-1
        ip.chksum = None
        if not ns.nf.hook("FORWARD", frame, dev, rt.dev):
            return
        frame.cost += 4e-6
        self.post_routing(rt, frame, ip, forwarded=True)

    # ------------------------------------------------------------ output
    def output(self, ip: IP, oif: str | None = None, fid: int | None = None,
               pmtudisc: str | None = None, cost: float = 0.0) -> Frame:
        """Send a locally generated IP packet (ip_queue_xmit); raises OutputError like the socket call.

        `pmtudisc` is the socket's IP_MTU_DISCOVER; when given it decides DF as __ip_make_skb does:
        always for "do"/"probe", for "want" only when the packet fits the path MTU (else the
        kernel fragments locally), never for "dont".
        """
        ns = self.ns
        rt = self.route_output(ip.dst, oif)
        if pmtudisc is not None and rt.dev is not None:
            df = pmtudisc in ("do", "probe") or (
                pmtudisc == "want" and wire_len(ip) <= self.path_mtu(rt, ip.dst))
            ip.flags = (int(ip.flags) | 2) if df else (int(ip.flags) & ~2)
        if ip.fields.get("src") in (None, "0.0.0.0"):
            src = rt.src or (ns.select_source(rt.dev, rt.via or ip.dst) if rt.dev else None)
            if src is None:
                raise OutputError("EADDRNOTAVAIL", "Cannot assign requested address")
            ip.src = src
        if "id" not in ip.fields:
            ip.id = self.next_ip_id()
        frame = Frame(ip, fid if fid is not None else ns.kernel.ctx.next_id())
        frame.cost = cost  # processing time already spent (a reply made while handling a request)
        if ns.bus.on:
            ns.trace(rt.dev.name if rt.dev else "", "route:lookup", "send", f"{ip.dst} via route '{rt.describe()}'", frame)
        if rt.dev is not None and self.too_big(rt, frame, ip):  # ip_append_data refuses it: EMSGSIZE
            raise OutputError("EMSGSIZE", "Message too long", mtu=self.path_mtu(rt, ip.dst))
        if not ns.nf.hook("OUTPUT", frame, None, rt.dev):
            return frame
        if frame.get_meta("rerouted"):
            rt = self.route_output(frame.ip.dst, oif)
        self.post_routing(rt, frame, frame.ip, forwarded=False)
        return frame

    def route_output(self, dst: str, oif: str | None = None) -> RouteEntry:
        ns = self.ns
        if oif is not None:
            dev = ns.devices.get(oif)
            if dev is None:
                raise OutputError("ENODEV", "No such device")
            rt = self.fib_lookup(dst)
            if rt is None or rt.dev is not dev:
                return RouteEntry(net=ns.host_net(dst), dev=dev, scope="link")
            return rt
        rt = self.fib_lookup(dst)
        if rt is None or rt.type == "unreachable":
            raise OutputError("ENETUNREACH", "Network is unreachable")
        if rt.type == "blackhole":
            raise OutputError("EINVAL", "Invalid argument")
        return rt

    def too_big(self, rt: RouteEntry, frame: Frame, ip: IP) -> bool:
        """A DF packet larger than the path MTU may not leave (traced as an ip:mtu drop)."""
        mtu = self.path_mtu(rt, ip.dst)
        size = wire_len(ip)
        if size <= mtu or not ip.flags.DF:
            return False
        dev = rt.dev.name if rt.dev else ""
        self.ns.trace(dev, "ip:mtu", "drop", f"{size}-byte packet exceeds MTU {mtu} of {dev} and DF is set", frame)
        return True

    def post_routing(self, rt: RouteEntry, frame: Frame, ip: IP, forwarded: bool) -> None:
        """POSTROUTING sees the whole packet; fragmentation follows (ip_output -> ip_finish_output)."""
        ns = self.ns
        dev = rt.dev
        assert dev is not None
        if not ns.nf.hook("POSTROUTING", frame, None, dev):
            return
        ip = frame.ip or ip
        x = ns.xfrm
        if x is not None and x.policies and x.output(rt, frame, ip, forwarded):
            return  # IPsec: sent as ESP through OUTPUT and POSTROUTING again, or dropped (xfrm.py)
        mtu = self.path_mtu(rt, ip.dst)
        frags = ns.fragment(frame, ip, mtu) if wire_len(ip) > mtu else [frame]
        for f in frags:
            self.neigh_output(rt, f)

    def neigh_output(self, rt: RouteEntry, frame: Frame) -> None:
        dev = rt.dev
        assert dev is not None
        ip = frame.ip
        nexthop = rt.via or ip.dst
        if not dev.arp or rt.type == "local":
            self.finish_output(dev, dev.mac if dev.kind == "loopback" else BROADCAST, frame)
            return
        if ip.dst == "255.255.255.255" or ip.dst in self.ns.bcast_addrs:
            self.finish_output(dev, BROADCAST, frame)
            return
        mac = self.ns.neigh.resolve(dev, nexthop, frame)
        if mac is not None:
            self.finish_output(dev, mac, frame)

    def finish_output(self, dev: NetDevice, dst_mac: str, frame: Frame) -> None:
        """Prepend (or rewrite) the Ethernet header and hand the frame to the device."""
        pkt = frame.pkt
        if isinstance(pkt, Ether):
            pkt.src = dev.mac
            pkt.dst = dst_mac
        else:
            eth = Ether(src=dev.mac, dst=dst_mac, type=0x0800)
            pkt.underlayer = None
            eth.add_payload(pkt)
            frame.pkt = eth
        dev.xmit(frame)

    def neigh_failed(self, dev: NetDevice, frame: Frame) -> None:
        """ARP gave up: forwarded packets get ICMP host unreachable; local senders see EHOSTUNREACH."""
        ip = frame.ip
        if ip is not None and ip.src not in self.ns.local_addrs:
            icmp_mod.send_error(self.ns, frame, 3, 1)
        elif ip is not None:
            self.ns.sockets.local_error(frame, "EHOSTUNREACH")
