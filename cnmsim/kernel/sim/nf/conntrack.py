"""Connection tracking of one namespace (net/netfilter/nf_conntrack_core.c and the l4 trackers).

A connection is known by two tuples, `(proto, src, sport, dst, dport)` with addresses as ints:
the original direction (as the first packet looked) and the reply direction (what a reply
looks like, after NAT changed it).  Both are hashed once the entry is confirmed, which happens
at the end of the hook path (POSTROUTING or INPUT): the entry of a dropped first packet is
never confirmed and simply disappears.  ICMP tuples carry the echo id as the source "port" and
type<<8|code as the destination "port".

    table = ConnTable(clock)                        # clock() -> simulated seconds
    got = table.packet(key, proto, tcpflags)        # (Conn, ctinfo), or None for INVALID
    table.confirm(conn)                             # at the last hook
    table.related(quoted_key)                       # an ICMP error about a tracked packet

Timeouts are Linux's defaults and expire lazily: an entry found past its deadline is removed.
The module knows nothing of iptables, so IPVS (or anything else) may keep a ConnTable of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from cnmsim.kernel import api

# enum ip_conntrack_info
CT_ESTABLISHED, CT_RELATED, CT_NEW, CT_IS_REPLY = 0, 1, 2, 3
CT_ESTABLISHED_REPLY, CT_RELATED_REPLY, CT_UNTRACKED = 3, 4, 7
UNTRACKED = (None, CT_UNTRACKED)  # what NOTRACK puts in frame.ct

# ct->status bits (include/uapi/linux/netfilter/nf_conntrack_common.h)
S_EXPECTED, S_SEEN_REPLY, S_ASSURED, S_CONFIRMED = 1, 2, 4, 8
S_SRC_NAT, S_DST_NAT, S_SRC_NAT_DONE, S_DST_NAT_DONE = 16, 32, 128, 256
STATUS_NAMES = ((S_EXPECTED, "EXPECTED"), (S_SEEN_REPLY, "SEEN_REPLY"), (S_ASSURED, "ASSURED"),
                (S_CONFIRMED, "CONFIRMED"), (S_SRC_NAT, "SRC_NAT"), (S_DST_NAT, "DST_NAT"))

Key = tuple[int, int, int, int, int]  # (proto, src, sport, dst, dport)

# TCP states (enum tcp_conntrack) and the transition table of nf_conntrack_proto_tcp.c
NONE, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2 = range(10)
IV, IG = 10, 11  # invalid, ignored
TCP_NAMES = ("NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK",
             "TIME_WAIT", "CLOSE", "SYN_SENT2")
sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2 = range(10)
sIV, sIG = IV, IG
TCP_TABLE = (
    (  # ORIGINAL  sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
        (sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2),  # syn
        (sIV, sIV, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR),  # synack
        (sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV),  # fin
        (sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV),  # ack
        (sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL),  # rst
        (sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV),  # none
    ),
    (  # REPLY
        (sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2),
        (sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR),
        (sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV),
        (sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG),
        (sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL),
        (sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV),
    ),
)
I_SYN, I_SYNACK, I_FIN, I_ACK, I_RST, I_NONE = range(6)
TCP_TIMEOUTS = (0, 120, 60, 432000, 120, 60, 30, 120, 10, 120)  # nf_conntrack_tcp_timeout_*
UDP_TIMEOUT, UDP_STREAM_TIMEOUT, ICMP_TIMEOUT, GENERIC_TIMEOUT = 30, 120, 30, 600
ICMP_INVERSE = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17}
ICMP_NEW = (8, 13, 15, 17)  # only requests may start an ICMP "connection"
ICMP_ERRORS = (3, 4, 5, 11, 12)
PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 47: "gre", 132: "sctp", 33: "dccp", 136: "udplite"}


def tcp_index(flags: int) -> int:
    """get_conntrack_index(): which row of the table a segment's flags select."""
    if flags & 4:
        return I_RST
    if flags & 2:
        return I_SYNACK if flags & 16 else I_SYN
    if flags & 1:
        return I_FIN
    return I_ACK if flags & 16 else I_NONE


def invert(key: Key) -> Key | None:
    """nf_ct_invert_tuple: the tuple a reply would carry (None: ICMP type with no reply)."""
    p, s, sp, d, dp = key
    if p == 1:
        inv = ICMP_INVERSE.get(dp >> 8)
        return None if inv is None else (1, d, sp, s, inv << 8 | (dp & 255))
    return (p, d, dp, s, sp)


class Conn:
    """One nf_conn: both tuples, status bits, protocol state, deadline and mark."""

    __slots__ = ("table", "id", "orig", "reply", "status", "state", "expires", "mark", "stream_ts",
                 "masq_dev")

    def __init__(self, table: ConnTable, orig: Key, reply: Key, now: float) -> None:
        self.table = table
        self.id = 0
        self.orig = orig
        self.reply = reply
        self.status = 0
        self.state = NONE  # TCP state; unused for other protocols
        self.expires = now
        self.mark = 0
        self.stream_ts = now + 2.0  # UDP: a flow still active after 2 s becomes a "stream"
        self.masq_dev: str | None = None

    @property
    def proto(self) -> int:
        return self.orig[0]

    @property
    def confirmed(self) -> bool:
        return bool(self.status & S_CONFIRMED)

    def tuple(self, direction: int) -> Key:
        return self.reply if direction else self.orig

    def state_name(self) -> str | None:
        return TCP_NAMES[self.state] if self.orig[0] == 6 else None

    def __repr__(self) -> str:
        return f"<Conn #{self.id} {self.orig} / {self.reply} status={self.status:#x}>"


class ConnTable:
    """The conntrack hash of one namespace: confirmed entries by both tuples, in creation order."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.hash: dict[Key, tuple[Conn, int]] = {}
        self.conns: dict[int, Conn] = {}  # confirmed entries by id, oldest first
        self._ids = 0

    def __len__(self) -> int:
        return len(self.conns)

    # ------------------------------------------------------------ lookup and lifetime
    def find(self, key: Key, now: float | None = None) -> tuple[Conn, int] | None:
        """(conn, direction) of the confirmed entry with this tuple; expired entries go away."""
        hit = self.hash.get(key)
        if hit is None:
            return None
        if hit[0].expires <= (self.clock() if now is None else now):
            self.kill(hit[0])
            return None
        return hit

    def taken(self, key: Key, ignore: Conn | None = None) -> bool:
        """nf_conntrack_tuple_taken: another live entry already uses this tuple."""
        hit = self.find(key)
        return hit is not None and hit[0] is not ignore

    def kill(self, conn: Conn) -> None:
        """nf_ct_kill: forget the entry now (both tuples)."""
        if self.conns.pop(conn.id, None) is None:
            return
        for k in (conn.orig, conn.reply):
            hit = self.hash.get(k)
            if hit is not None and hit[0] is conn:
                del self.hash[k]

    def confirm(self, conn: Conn) -> bool:
        """__nf_conntrack_confirm: hash both tuples; False on a clash (the packet is dropped)."""
        if conn.status & S_CONFIRMED:
            return True
        now = self.clock()
        if self.find(conn.orig, now) is not None or self.find(conn.reply, now) is not None:
            return False
        self._ids += 1
        conn.id = self._ids
        if self._ids % 4096 == 0:  # expiry is lazy; sweep now and then so dead flows do not pile up
            self.entries()
        conn.status |= S_CONFIRMED
        self.hash[conn.orig] = (conn, 0)
        self.hash[conn.reply] = (conn, 1)
        self.conns[conn.id] = conn
        return True

    def entries(self) -> list[Conn]:
        """Live confirmed entries, oldest first (expired ones are removed on the way)."""
        now = self.clock()
        for c in [c for c in self.conns.values() if c.expires <= now]:
            self.kill(c)
        return list(self.conns.values())

    def flush(self) -> int:
        n = len(self.conns)
        self.hash.clear()
        self.conns.clear()
        return n

    # ------------------------------------------------------------ nf_conntrack_in
    def packet(self, key: Key, tcpflags: int = 0) -> tuple[Conn, int] | None:
        """Track one packet that is not an ICMP error: (conn, ctinfo), or None when INVALID."""
        now = self.clock()
        hit = self.find(key, now)
        if hit is None:
            conn = self._new(key, tcpflags, now)
            return None if conn is None else (conn, CT_NEW)
        conn, d = hit
        ok = self._update(conn, d, tcpflags, now)
        if ok is None:  # a SYN reopening a closed connection: forget it and start over
            self.kill(conn)
            conn = self._new(key, tcpflags, now)
            return None if conn is None else (conn, CT_NEW)
        if not ok:
            return None
        if d:
            conn.status |= S_SEEN_REPLY
            return conn, CT_ESTABLISHED_REPLY
        return conn, (CT_ESTABLISHED if conn.status & S_SEEN_REPLY else CT_NEW)

    def related(self, quoted: Key) -> tuple[Conn, int] | None:
        """icmp_error_message: an error quoting a packet of a tracked connection is RELATED
        to it, travelling in the direction opposite to the quoted packet's."""
        inv = invert(quoted)
        hit = self.find(inv) if inv is not None else None
        if hit is None:
            return None
        conn, d = hit
        return conn, (CT_RELATED_REPLY if d else CT_RELATED)

    def _new(self, key: Key, tcpflags: int, now: float) -> Conn | None:
        reply = invert(key)
        if reply is None:
            return None
        p = key[0]
        conn = Conn(self, key, reply, now)
        if p == 6:
            idx = tcp_index(tcpflags)
            if idx == I_SYN:
                conn.state = SYN_SENT
            elif idx == I_ACK:  # nf_conntrack_tcp_loose=1: pick up a connection in the middle
                conn.state = ESTABLISHED
            else:
                return None
            conn.expires = now + TCP_TIMEOUTS[conn.state]
        elif p == 17:
            conn.expires = now + UDP_TIMEOUT
        elif p == 1:
            if key[4] >> 8 not in ICMP_NEW:
                return None
            conn.expires = now + ICMP_TIMEOUT
        else:
            conn.expires = now + GENERIC_TIMEOUT
        return conn

    def _update(self, conn: Conn, d: int, tcpflags: int, now: float) -> bool | None:
        """The l4 tracker's packet(): refresh the timeout; False = INVALID, None = reopen."""
        p = conn.orig[0]
        if p == 6:
            return self._tcp(conn, d, tcpflags, now)
        if p == 17:
            if conn.status & S_SEEN_REPLY:
                if now > conn.stream_ts:
                    conn.expires = now + UDP_STREAM_TIMEOUT
                    conn.status |= S_ASSURED
                else:
                    conn.expires = now + UDP_TIMEOUT
            else:
                conn.expires = now + UDP_TIMEOUT
            return True
        conn.expires = now + (ICMP_TIMEOUT if p == 1 else GENERIC_TIMEOUT)
        return True

    def _tcp(self, conn: Conn, d: int, flags: int, now: float) -> bool | None:
        idx = tcp_index(flags)
        old = conn.state
        new = TCP_TABLE[d][idx][old]
        if new == SYN_SENT and d == 0 and old >= TIME_WAIT:
            return None
        if new == IG:
            return True
        if new == IV:
            return False
        conn.state = new
        if not conn.status & S_SEEN_REPLY:
            if idx == I_RST:  # the only answer was a reset: no connection worth keeping
                self.kill(conn)
                return True
        elif new == ESTABLISHED and old in (SYN_RECV, ESTABLISHED):
            conn.status |= S_ASSURED
        conn.expires = now + (TCP_TIMEOUTS[CLOSE] if idx == I_RST else TCP_TIMEOUTS[new])
        return True


def record(conn: Conn, now: float) -> api.Conntrack:
    """The api record `conntrack -L` prints (timeout as the kernel shows it: whole seconds left)."""
    from cnmsim.kernel.sim.nf.addr import int2ip

    p = conn.orig[0]

    def tup(k: Key) -> api.CtTuple:
        if p == 1:
            return api.CtTuple(int2ip(k[1]), int2ip(k[3]), type=k[4] >> 8, code=k[4] & 255, id=k[2])
        if p in (6, 17, 132, 33, 136):
            return api.CtTuple(int2ip(k[1]), int2ip(k[3]), k[2], k[4])
        return api.CtTuple(int2ip(k[1]), int2ip(k[3]))

    left = max(0, math.ceil(conn.expires - now) - 1)  # at least a jiffy has passed since the refresh
    status = tuple(name for bit, name in STATUS_NAMES if conn.status & bit)
    return api.Conntrack(PROTO_NAMES.get(p, "unknown"), p, left, tup(conn.orig), tup(conn.reply),
                         conn.state_name(), status, conn.mark, 1)
