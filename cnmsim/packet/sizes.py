"""Packet sizes without serialising: MTU checks run per hop and must not call bytes()."""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import NoPayload, Packet, Raw

FIXED = {Ether: 14, Dot1Q: 4, ARP: 28, UDP: 8, ICMP: 8, VXLAN: 8}


def wire_len(pkt: Packet) -> int:
    """Length in bytes of `pkt` and everything it carries, as it would be on the wire."""
    n = 0
    layer = pkt
    while layer is not None and not isinstance(layer, NoPayload):
        cls = type(layer)
        if cls is Raw:
            n += len(layer.load)
        elif cls is IP:
            n += layer.ihl * 4 if layer.ihl else 20 + (len(IP(options=layer.options)) - 20 if layer.options else 0)
        elif cls is TCP:
            n += layer.dataofs * 4 if layer.dataofs else 20 + _tcp_opts_len(layer)
        elif cls in FIXED:
            n += FIXED[cls]
        else:  # a layer we do not know the size of: ask scapy for its header only
            return n + len(layer)
        layer = layer.payload
    return n


def l2_payload_len(eth: Packet) -> int:
    """Bytes after the Ethernet header and its 802.1Q tags: what an MTU limits."""
    pl = eth.payload
    while type(pl) is Dot1Q:
        pl = pl.payload
    return wire_len(pl)


def _tcp_opts_len(tcp: TCP) -> int:
    if not tcp.options:
        return 0
    raw = len(TCP(options=tcp.options)) - 20
    return raw


def ip_len(ip: IP) -> int:
    """Total length of an IPv4 packet (header + payload)."""
    return wire_len(ip)
