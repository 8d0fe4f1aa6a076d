"""tcpdump-style one-line packet descriptions (`tcpdump -n` without the timestamp).

Used for trace summaries and by the simulated `tcpdump`, so both read like the real tool:
    IP 172.17.0.2 > 172.17.0.3: ICMP echo request, id 1, seq 1, length 64
    ARP, Request who-has 10.0.0.3 tell 10.0.0.2, length 28
"""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet, Raw

ICMP_TYPES = {
    0: "echo reply", 8: "echo request", 3: "unreachable", 11: "time exceeded in-transit",
}
UNREACH = {
    0: "net {dst} unreachable", 1: "host {dst} unreachable", 3: "{dst} udp port {port} unreachable",
    4: "{dst} unreachable - need to frag (mtu {mtu})", 13: "host {dst} unreachable - admin prohibited filter",
}
TCP_FLAGS = [("S", 0x02), ("F", 0x01), ("R", 0x04), ("P", 0x08), ("U", 0x20), ("E", 0x40), ("W", 0x80)]


def payload_len(layer: Packet) -> int:
    """Bytes after this layer's header, without serialising the whole packet."""
    from cnmsim.packet.sizes import wire_len

    return wire_len(layer.payload) if layer.payload else 0


def _tcp_flags(tcp: TCP) -> str:
    f = int(tcp.flags)
    s = "".join(ch for ch, bit in TCP_FLAGS if f & bit)
    if f & 0x10:
        s += "."
    return s or "none"


def _icmp(ip: IP, icmp: ICMP) -> str:
    t, code = icmp.type, icmp.code
    ln = 8 + payload_len(icmp)
    if t in (0, 8):
        return f"ICMP {ICMP_TYPES[t]}, id {icmp.id}, seq {icmp.seq}, length {ln}"
    if t == 3:
        inner = icmp.payload if isinstance(icmp.payload, IP) else None
        dst = inner.dst if inner is not None else "?"
        port = inner[UDP].dport if inner is not None and inner.haslayer(UDP) else "?"
        tmpl = UNREACH.get(code, "{dst} unreachable - code " + str(code))
        return "ICMP " + tmpl.format(dst=dst, port=port, mtu=icmp.nexthopmtu) + f", length {ln}"
    if t == 11:
        return f"ICMP time exceeded in-transit, length {ln}"
    return f"ICMP type-#{t}, length {ln}"


def _l4(ip: IP) -> str:
    pl = ip.payload
    if isinstance(pl, ICMP):
        return f"IP {ip.src} > {ip.dst}: " + _icmp(ip, pl)
    if isinstance(pl, TCP):
        s = f"IP {ip.src}.{pl.sport} > {ip.dst}.{pl.dport}: Flags [{_tcp_flags(pl)}]"
        n = payload_len(pl)
        if n:
            s += f", seq {pl.seq}:{pl.seq + n}"
        elif int(pl.flags) & 0x07:
            s += f", seq {pl.seq}"
        if int(pl.flags) & 0x10:
            s += f", ack {pl.ack}"
        return s + f", win {pl.window}, length {n}"
    if isinstance(pl, UDP):
        if isinstance(pl.payload, VXLAN):
            vx = pl.payload
            inner = summary(vx.payload) if vx.payload else ""
            return (f"IP {ip.src}.{pl.sport} > {ip.dst}.{pl.dport}: VXLAN, flags [I] (0x08), "
                    f"vni {vx.vni}\n{inner}")
        return f"IP {ip.src}.{pl.sport} > {ip.dst}.{pl.dport}: UDP, length {payload_len(pl)}"
    if ip.proto == 50:
        return f"IP {ip.src} > {ip.dst}: ESP"
    return f"IP {ip.src} > {ip.dst}: ip-proto-{ip.proto} {payload_len(ip)}"


def summary(pkt: Packet, link: bool = False) -> str:
    """One tcpdump -n line for `pkt` (an Ether frame or an IP packet); -e style when link."""
    prefix = ""
    layer = pkt
    if isinstance(layer, Ether):
        if link:
            prefix = f"{layer.src} > {layer.dst}, "
        layer = layer.payload
        if isinstance(layer, Dot1Q):
            prefix += f"vlan {layer.vlan}, p {layer.prio}, "
            layer = layer.payload
    if isinstance(layer, ARP):
        if layer.op == 1:
            body = f"ARP, Request who-has {layer.pdst} tell {layer.psrc}, length 28"
        else:
            body = f"ARP, Reply {layer.psrc} is-at {layer.hwsrc}, length 28"
        return prefix + body
    if isinstance(layer, IP):
        return prefix + _l4(layer)
    if isinstance(layer, Raw) or layer is None:
        return prefix + "unknown"
    return prefix + layer.summary()
