"""NAT on top of conntrack (net/netfilter/nf_nat_core.c, nf_nat_proto.c).

A NAT target only decides, for a connection's first packet, what its tuple becomes: the
entry's reply tuple is changed so that replies look like replies to the translated packet
(nf_nat_setup_info).  Every packet of the connection, in both directions, is then rewritten
from the entry (nf_nat_packet): the original direction gets the new source/destination, the
reply direction gets the old ones back.  ICMP errors related to a NATed connection have their
quoted header translated too (nf_nat_icmp_reply_translation).

Ports: a source NAT keeps the source port when the resulting tuple is free, else it tries
others, from a random offset, in 1024-65535 (600-1023 or 1-511 for privileged ports), or in
the --to-ports range; a DNAT never changes the port unless given one.
"""

from __future__ import annotations

import zlib
from random import Random
from typing import TYPE_CHECKING

from scapy.layers.inet import ICMP, TCP, UDP, ICMPerror, IPerror, TCPerror, UDPerror
from scapy.packet import Raw

from cnmsim.kernel.sim.nf.addr import int2ip, ip2int
from cnmsim.kernel.sim.nf.conntrack import (
    S_DST_NAT,
    S_DST_NAT_DONE,
    S_SRC_NAT,
    S_SRC_NAT_DONE,
    Conn,
    ConnTable,
    Key,
    invert,
)

if TYPE_CHECKING:
    from scapy.layers.inet import IP

SRC, DST = 0, 1  # enum nf_nat_manip_type
NAT_MASK = S_SRC_NAT | S_DST_NAT
MAX_ATTEMPTS = 128  # NF_NAT_MAX_ATTEMPTS


class NatRange:
    """--to-source/--to-destination/--to-ports: addresses and ports (None: unchanged)."""

    __slots__ = ("min_ip", "max_ip", "min_port", "max_port", "random", "persistent")

    def __init__(self, min_ip: int | None = None, max_ip: int | None = None,
                 min_port: int | None = None, max_port: int | None = None,
                 random: bool = False, persistent: bool = False) -> None:
        self.min_ip, self.max_ip = min_ip, max_ip if max_ip is not None else min_ip
        self.min_port, self.max_port = min_port, max_port if max_port is not None else min_port
        self.random, self.persistent = random, persistent

    @classmethod
    def parse(cls, spec: str, random: bool = False, persistent: bool = False) -> NatRange:
        """'10.0.0.2', '10.0.0.2:80', '10.0.0.2-10.0.0.9:1000-2000', ':8080'."""
        addr, _, ports = spec.rpartition(":") if ":" in spec else (spec, "", "")
        r = cls(random=random, persistent=persistent)
        if addr:
            lo, _, hi = addr.partition("-")
            r.min_ip, r.max_ip = ip2int(lo), ip2int(hi or lo)
        if ports:
            lo, _, hi = ports.partition("-")
            r.min_port, r.max_port = int(lo), int(hi or lo)
        return r

    @classmethod
    def ports(cls, spec: str | None, random: bool = False) -> NatRange:
        """--to-ports of MASQUERADE/REDIRECT: '8080' or '1024-2000'."""
        r = cls(random=random)
        if spec:
            lo, _, hi = spec.replace(":", "-").partition("-")
            r.min_port, r.max_port = int(lo), int(hi or lo)
        return r

    def describe(self) -> str:
        s = ""
        if self.min_ip is not None:
            s = int2ip(self.min_ip) + (f"-{int2ip(self.max_ip)}" if self.max_ip != self.min_ip else "")
        if self.min_port is not None:
            s += f":{self.min_port}" + (f"-{self.max_port}" if self.max_port != self.min_port else "")
        return s


def initialized(conn: Conn, manip: int) -> bool:
    return bool(conn.status & (S_SRC_NAT_DONE if manip == SRC else S_DST_NAT_DONE))


def setup(table: ConnTable, conn: Conn, manip: int, r: NatRange | None, rng: Random) -> None:
    """nf_nat_setup_info: choose the translated tuple and make replies come back to it."""
    cur = invert(conn.reply)
    assert cur is not None
    new = unique_tuple(table, cur, conn, manip, r, rng)
    if new != cur:
        reply = invert(new)
        assert reply is not None
        conn.reply = reply
        conn.status |= S_SRC_NAT if manip == SRC else S_DST_NAT
    conn.status |= S_SRC_NAT_DONE if manip == SRC else S_DST_NAT_DONE


def _used(table: ConnTable, t: Key, conn: Conn) -> bool:
    reply = invert(t)
    return reply is not None and table.taken(reply, conn)


def unique_tuple(table: ConnTable, cur: Key, conn: Conn, manip: int, r: NatRange | None,
                 rng: Random) -> Key:
    """get_unique_tuple: map the address into the range, then find a free port if needed."""
    p, s, sp, d, dp = cur
    if r is not None and r.min_ip is not None:
        ip = r.min_ip
        if r.max_ip != r.min_ip:  # find_best_ips_proto: a stable hash of the addresses
            h = zlib.crc32(f"{s}-{0 if r.persistent else d}".encode())
            ip = r.min_ip + h % (r.max_ip - r.min_ip + 1)
        s, d = (ip, d) if manip == SRC else (s, ip)
    t = (p, s, sp, d, dp)
    specified = r is not None and r.min_port is not None
    if not (r is not None and r.random):
        if specified:
            assert r is not None
            port = sp if (manip == SRC or p == 1) else dp
            if r.min_port <= port <= r.max_port and (r.min_port == r.max_port or not _used(table, t, conn)):
                return t
        elif not _used(table, t, conn):
            return t
    return _l4_unique(table, t, conn, manip, r, rng)


def _l4_unique(table: ConnTable, t: Key, conn: Conn, manip: int, r: NatRange | None,
               rng: Random) -> Key:
    """nf_nat_l4proto_unique_tuple: try ports from a random offset (128 attempts, halving)."""
    p = t[0]
    if p not in (6, 17, 1, 132, 136):
        return t
    icmp = p == 1
    key_src = manip == SRC or icmp
    port = t[2] if key_src else t[4]
    if r is not None and r.min_port is not None:
        lo, size = r.min_port, r.max_port - r.min_port + 1
    elif icmp:
        lo, size = 0, 65536
    elif manip == DST:
        return t  # a DNAT without ports cannot change the port
    elif port < 1024:
        lo, size = (1, 511) if port < 512 else (600, 424)
    else:
        lo, size = 1024, 65535 - 1024 + 1
    random_off = (r is not None and r.random) or manip != DST or icmp
    off = rng.getrandbits(16) if random_off else 0
    attempts = min(size, MAX_ATTEMPTS)
    cand = t
    while True:
        for i in range(attempts):
            newport = lo + (off + i) % size
            cand = (p, t[1], newport, t[3], t[4]) if key_src else (p, t[1], t[2], t[3], newport)
            if not _used(table, cand, conn):
                return cand
        if attempts >= size or attempts < 16:
            return cand
        attempts //= 2
        off = rng.getrandbits(16)


def _statusbit(manip: int, d: int) -> int:
    bit = S_SRC_NAT if manip == SRC else S_DST_NAT
    return bit ^ NAT_MASK if d else bit


def manip_pkt(ip: IP, target: Key, manip: int) -> None:
    """nf_nat_ipv4_manip_pkt: set the source (or destination) address and port of `ip`."""
    l4 = ip.payload
    t = type(l4)
    if manip == SRC:
        ip.src = int2ip(target[1])
        if t is TCP or t is UDP or t is TCPerror or t is UDPerror:
            l4.sport = target[2]
        elif t is ICMP or t is ICMPerror:
            l4.id = target[2]
    else:
        ip.dst = int2ip(target[3])
        if t is TCP or t is UDP or t is TCPerror or t is UDPerror:
            l4.dport = target[4]
        elif t is ICMP or t is ICMPerror:
            l4.id = target[2]
    if t is Raw and not ip.frag and ip.proto in (1, 6, 17):
        _patch_first_fragment(l4, ip.proto, target, manip)
    ip.chksum = None
    if t in (TCP, UDP, ICMP):
        l4.chksum = None


def _patch_first_fragment(raw: Raw, proto: int, target: Key, manip: int) -> None:
    """A first fragment carries the transport header as bytes: write the new port (or echo id)."""
    b = bytearray(raw.load)
    if len(b) < 8:
        return
    if proto == 1:
        b[4:6] = target[2].to_bytes(2, "big")
    elif manip == SRC:
        b[0:2] = target[2].to_bytes(2, "big")
    else:
        b[2:4] = target[4].to_bytes(2, "big")
    raw.load = bytes(b)


def nat_packet(conn: Conn, ctinfo: int, manip: int, ip: IP) -> bool:
    """nf_nat_packet: apply the entry's translation for this hook; True when it rewrote."""
    d = 1 if ctinfo >= 3 else 0
    if not conn.status & _statusbit(manip, d):
        return False
    target = invert(conn.reply if d == 0 else conn.orig)
    assert target is not None
    manip_pkt(ip, target, manip)
    return True


def icmp_reply_translation(conn: Conn, ctinfo: int, manip: int, ip: IP) -> bool:
    """An ICMP error about a NATed connection: translate the quoted header back (the inverse
    manip), then the outer header as a packet of the connection; True when it rewrote."""
    d = 1 if ctinfo >= 3 else 0
    if not conn.status & _statusbit(manip, d):
        return False
    icmp = ip.payload
    inner = icmp.payload
    other = conn.orig if d else conn.reply
    if isinstance(inner, IPerror):
        manip_pkt(inner, other, DST if manip == SRC else SRC)
    icmp.chksum = None
    target = invert(other)
    assert target is not None
    if manip == SRC:
        ip.src = int2ip(target[1])
    else:
        ip.dst = int2ip(target[3])
    ip.chksum = None
    return True
