"""IPv4 fragmentation (ip_fragment -> ip_do_fragment) and reassembly (ip_defrag), net/ipv4.

Fragmenting: every fragment but the last carries a multiple of 8 payload bytes and MF; all
share the datagram's id and copy its header, offsets count 8-byte units.  This is one of the
places Linux copies data (the slow path builds a new skb per fragment), so the payload is
serialised once here.  All fragments keep the original frame id: one packet, several pieces.

Reassembly happens at local delivery: fragments are queued by (src, dst, id, protocol); the
datagram is rebuilt when the last piece arrives; a queue that is not complete after
`ipfrag_time` (30 s) is dropped, with an ICMP "fragment reassembly time exceeded" to the source
when the first fragment had arrived (ip_expire).  Overlapping fragments discard the whole
datagram, as Linux does since 4.19; exact duplicates are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scapy.layers.inet import IP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from cnmsim.packet.frame import Frame
from cnmsim.packet.sizes import wire_len
from cnmsim.trace.explain import register

if TYPE_CHECKING:
    from cnmsim.kernel.sim.netns import SimNetns

IPFRAG_TIME = 30.0  # net.ipv4.ipfrag_time
MF = 1  # scapy IP.flags bits: MF=1, DF=2


def fragment(ns: SimNetns, frame: Frame, ip: IP, mtu: int) -> list[Frame]:
    """Split `ip` (DF clear) into fragments that fit `mtu`; [] when impossible."""
    hlen = wire_len(ip) - wire_len(ip.payload)
    per = (mtu - hlen) & ~7
    if per < 8:
        ns.trace("", "ip:fragment", "drop", f"MTU {mtu} leaves no room for a fragment", frame)
        return []
    data = bytes(ip.payload)
    base = ip.frag
    more = bool(int(ip.flags) & MF)
    flags = int(ip.flags) & ~MF & ~2
    out: list[Frame] = []
    for start in range(0, len(data), per):
        last = start + per >= len(data)
        hdr = IP(version=4, tos=ip.tos, id=ip.id, flags=flags | (0 if last and not more else MF),
                 frag=base + start // 8, ttl=ip.ttl, proto=ip.proto, src=ip.src, dst=ip.dst,
                 options=ip.options)
        hdr.add_payload(Raw(data[start:start + per]))
        f = Frame(hdr, frame.id, frame.iif)
        f.mark, f.ct, f.cost, f.vlan = frame.mark, frame.ct, frame.cost, frame.vlan  # ip_copy_metadata
        f.meta = dict(frame.meta) if frame.meta else None
        out.append(f)
    if ns.bus.on:
        ns.trace("", "ip:fragment", "fragment", f"{hlen + len(data)}-byte packet (id {ip.id}) split into "
                 f"{len(out)} fragments of at most {hlen + per} bytes for MTU {mtu}", frame)
    return out


@dataclass(slots=True)
class FragQueue:
    """One datagram being reassembled (struct ipq)."""

    parts: dict[int, bytes] = field(default_factory=dict)  # byte offset -> data
    first: Frame | None = None  # the fragment with offset 0 (its header is the datagram's)
    total: int | None = None  # payload length, known once the last fragment arrived


class Reassembly:
    """ip_defrag for one namespace: `add()` returns the whole datagram once complete."""

    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self.queues: dict[tuple[str, str, int, int], FragQueue] = {}

    def add(self, frame: Frame, ip: IP) -> Frame | None:
        ns = self.ns
        key = (ip.src, ip.dst, ip.id, ip.proto)
        q = self.queues.get(key)
        if q is None:
            q = self.queues[key] = FragQueue()
            ns.kernel.ctx.later(IPFRAG_TIME, self.expire, key, q)
        pl = ip.payload
        data = pl.load if isinstance(pl, Raw) else bytes(pl)
        off = ip.frag * 8
        end = off + len(data)
        if not int(ip.flags) & MF:
            if q.total is not None and q.total != end or any(o + len(d) > end for o, d in q.parts.items()):
                return self.discard(key, frame, "fragments disagree on the datagram's length")
            q.total = end
        elif q.total is not None and end > q.total:
            return self.discard(key, frame, "a fragment lies beyond the datagram's end")
        if end + wire_len(ip) - wire_len(pl) > 65535:
            return self.discard(key, frame, "reassembled datagram would exceed 65535 bytes")
        for o, d in q.parts.items():
            if o == off and len(d) == len(data):
                ns.trace(frame.iif or "", "ip:reassemble", "drop", f"duplicate fragment at offset {off}", frame)
                return None
            if off < o + len(d) and o < end:
                return self.discard(key, frame, f"fragment at offset {off} overlaps one at {o}")
        q.parts[off] = data
        if off == 0:
            q.first = frame
        if q.total is None or q.first is None or not self._complete(q):
            if ns.bus.on:
                ns.trace(frame.iif or "", "ip:reassemble", "queue",
                         f"fragment {off}-{end} of datagram id {ip.id} from {ip.src} queued", frame)
            return None
        del self.queues[key]
        return self._build(frame, q)

    @staticmethod
    def _complete(q: FragQueue) -> bool:
        at = 0
        for o in sorted(q.parts):
            if o != at:
                return False
            at += len(q.parts[o])
        return at == q.total

    def _build(self, frame: Frame, q: FragQueue) -> Frame:
        """ip_frag_reasm: the completing fragment's frame becomes the whole datagram."""
        assert q.first is not None
        h = q.first.ip
        assert h is not None
        data = b"".join(q.parts[o] for o in sorted(q.parts))
        whole = IP(version=4, tos=h.tos, id=h.id, flags=int(h.flags) & ~MF, frag=0, ttl=h.ttl,
                   proto=h.proto, src=h.src, dst=h.dst, options=h.options)
        whole.add_payload(whole.guess_payload_class(data)(data))
        if isinstance(frame.pkt, Ether):
            frame.pkt.remove_payload()
            frame.pkt.add_payload(whole)
        else:
            frame.pkt = whole
        if self.ns.bus.on:
            self.ns.trace(frame.iif or "", "ip:reassemble", "done",
                          f"{len(q.parts)} fragments rebuilt into the {wire_len(whole)}-byte datagram id {h.id}", frame)
        return frame

    def discard(self, key: tuple[str, str, int, int], frame: Frame, why: str) -> None:
        self.queues.pop(key, None)
        self.ns.trace(frame.iif or "", "ip:reassemble", "drop", f"{why}: the whole datagram is discarded", frame)
        return None

    def expire(self, key: tuple[str, str, int, int], q: FragQueue) -> None:
        """ip_expire: give up after ipfrag_time; ICMP time exceeded if the first piece came."""
        if self.queues.get(key) is not q:
            return
        del self.queues[key]
        self.ns.trace("", "ip:reassemble", "expire", f"datagram id {key[2]} from {key[0]} incomplete after "
                      f"{IPFRAG_TIME:.0f} s: its fragments are dropped", q.first)
        if q.first is not None:
            from cnmsim.kernel.sim.icmp import send_error

            send_error(self.ns, q.first, 11, 1)


register("ip:fragment", "fragment", "{place} fragments the packet: {reason}.")
register("ip:fragment", "drop", "{place} cannot fragment the packet: {reason}.")
register("ip:reassemble", "queue", "{place} keeps the fragment until the rest arrives: {reason}.")
register("ip:reassemble", "done", "{place} reassembles the packet: {reason}.")
register("ip:reassemble", "drop", "{place} drops the fragment: {reason}.")
register("ip:reassemble", "expire", "{place} gives up reassembling: {reason}.")
