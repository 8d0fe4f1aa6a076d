"""A frame in flight: a scapy packet plus sidecar metadata kept out of scapy fields.

As in ns-3 (wire bytes plus tags), the scapy packet is what is on the wire; the sidecar
holds what Linux keeps in the sk_buff but never sends: the ingress device, the mark,
the conntrack reference.  Hops mutate the packet in place (TTL, NAT, encapsulation); it is
copied only where Linux copies (flooding to several ports, capture) and serialised only
when a pcap or the real backend asks for bytes.
"""

from __future__ import annotations

from typing import Any

from scapy.layers.inet import IP
from scapy.layers.l2 import Ether
from scapy.packet import Packet


class Frame:
    """One packet travelling through the simulated kernel."""

    __slots__ = ("pkt", "id", "iif", "mark", "ct", "cost", "meta", "vlan")

    def __init__(self, pkt: Packet, fid: int, iif: str | None = None) -> None:
        self.pkt = pkt
        self.id = fid  # stable id: every trace event of this packet carries it
        self.iif = iif  # name of the device the frame last entered on
        self.mark = 0  # skb->mark (netfilter MARK, IPVS fwmark)
        self.ct: Any = None  # conntrack entry, filled by netfilter
        self.cost = 0.0  # simulated processing latency accumulated on the host path
        self.meta: dict[str, Any] | None = None  # rarely used extras (physdev in/out ...)
        self.vlan: int | None = None  # VLAN id while the frame sits on a trunk

    @property
    def ip(self) -> IP | None:
        """The IPv4 header, when the frame carries one directly after Ethernet."""
        pl = self.pkt.payload if isinstance(self.pkt, Ether) else self.pkt
        return pl if isinstance(pl, IP) else None

    def clone(self, fid: int) -> Frame:
        """A copy with its own packet, as skb_clone+copy where Linux floods or captures."""
        f = Frame(self.pkt.copy(), fid, self.iif)
        f.mark, f.ct, f.cost, f.vlan = self.mark, self.ct, self.cost, self.vlan
        f.meta = dict(self.meta) if self.meta else None
        return f

    def scrub(self, xnet: bool) -> None:
        """skb_scrub_packet: crossing a veth forgets conntrack and bridge-netfilter state;
        crossing into another namespace also forgets the mark."""
        self.ct = None
        self.meta = None
        if xnet:
            self.mark = 0

    def set_meta(self, key: str, value: Any) -> None:
        if self.meta is None:
            self.meta = {}
        self.meta[key] = value

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self.meta.get(key, default) if self.meta else default

    def __len__(self) -> int:
        return len(self.pkt)

    def __repr__(self) -> str:
        return f"<Frame #{self.id} {self.pkt.summary()}>"
