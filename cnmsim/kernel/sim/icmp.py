"""ICMP (net/ipv4/icmp.c): echo replies from the kernel, and errors back to a sender.

Errors quote the offending packet's IP header and the first 8 bytes of its payload (RFC 792),
take their source from the route back to the sender, and are never sent about an ICMP error,
a fragment other than the first, or a broadcast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scapy.layers.inet import ICMP, IP, IPerror

from cnmsim.packet.frame import Frame

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.netns import SimNetns

ERROR_TYPES = (3, 4, 5, 11, 12)
NAMES = {
    (3, 0): "net unreachable", (3, 1): "host unreachable", (3, 2): "protocol unreachable",
    (3, 3): "port unreachable", (3, 4): "fragmentation needed", (3, 13): "administratively prohibited",
    (11, 0): "time exceeded in transit",
}


def rcv(ns: SimNetns, dev: NetDevice, frame: Frame, ip: IP, icmp: ICMP) -> None:
    t = icmp.type
    if t == 8:
        if ns.sysctl_get("net.ipv4.icmp_echo_ignore_all") == "1":
            ns.trace(dev.name, "icmp:echo", "drop", "icmp_echo_ignore_all=1", frame)
            return
        echo_reply(ns, dev, frame, ip, icmp)
    elif t in ERROR_TYPES:
        if t == 3 and icmp.code == 4 and isinstance(icmp.payload, IP) and icmp.payload.src in ns.local_addrs:
            ns.stack.pmtu.learn(icmp.payload.dst, int(icmp.nexthopmtu or 0), frame)  # ip_rt_update_pmtu
        ns.sockets.icmp_error(frame, ip, icmp)
    else:
        ns.sockets.deliver_icmp(dev, frame, ip, icmp)


def echo_reply(ns: SimNetns, dev: NetDevice, frame: Frame, ip: IP, icmp: ICMP) -> None:
    """Turn the request into the reply in place and send it back (icmp_echo -> icmp_reply)."""
    from cnmsim.kernel.sim.ipv4 import OutputError

    src, dst = ip.src, ip.dst
    if ns.bus.on:
        ns.trace(dev.name, "icmp:echo", "reply", f"echo request from {src} answered by the kernel of {ns.label}", frame)
    ip.src, ip.dst = dst, src
    ip.ttl = 64
    ip.chksum = None
    ip.flags = "DF" if ip.flags.DF else 0
    ip.id = ns.stack.next_ip_id()
    icmp.type = 0
    icmp.chksum = None
    ip.underlayer = None
    try:
        ns.stack.output(ip, fid=frame.id, cost=frame.cost)
    except OutputError as e:
        ns.trace(dev.name, "icmp:echo", "drop", f"reply not sent: {e}", frame)
        return


def send_error(ns: SimNetns, frame: Frame, itype: int, code: int, mtu: int | None = None) -> None:
    """Send an ICMP error about `frame` back to its source."""
    from cnmsim.kernel.sim.ipv4 import OutputError

    orig = frame.ip
    if orig is None:
        return
    if isinstance(orig.payload, ICMP) and orig.payload.type in ERROR_TYPES:
        return  # never an error about an error
    if orig.frag or orig.dst == "255.255.255.255" or orig.dst in ns.bcast_addrs:
        return
    quoted = bytes(orig)[: orig.ihl * 4 + 8 if orig.ihl else 28]
    err = IP(dst=orig.src, ttl=64, proto=1) / ICMP(type=itype, code=code,
                                                   nexthopmtu=mtu or 0) / IPerror(quoted)
    rt = ns.stack.fib_lookup(orig.src)
    if rt is not None and rt.dev is not None:
        err.src = rt.src or ns.select_source(rt.dev, rt.via or orig.src) or "0.0.0.0"
    name = NAMES.get((itype, code), f"type {itype} code {code}")
    if ns.bus.on:
        ns.trace("", "icmp:error", "send", f"ICMP {name} to {orig.src}" + (f" (mtu {mtu})" if mtu else ""), frame)
    from cnmsim.kernel.sim.nf.engine import ct_attached

    try:
        with ct_attached(ns, frame):  # nf_ct_attach in icmp_glue_bits: the error joins the packet's connection
            ns.stack.output(err)
    except OutputError as e:
        ns.trace("", "icmp:error", "drop", f"error not sent: {e}", frame)
