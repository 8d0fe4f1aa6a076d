"""The IPVS connection table (net/netfilter/ipvs/ip_vs_conn.c, ip_vs_proto_tcp.c, _udp.c).

A connection binds client addr:port -> virtual addr:port -> real server addr:port.  It is
found from the client side (`in`: proto, caddr, cport, vaddr, vport) and, for NAT, from the
real server's replies (`out`: proto, daddr, dport, caddr, cport).  Persistence templates
(cport 0) bind a client (or its netmask) to a real server and control the connections made
through them.  Every packet re-arms the entry's timer with its state's timeout; timers are
kept in a heap and fired lazily, before anything reads or changes the table, so counters and
listings are exact at every simulated instant without a process per entry.
"""

from __future__ import annotations

import heapq
import itertools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnmsim.kernel.sim.ipvs import Dest, Ipvs

# tcp_timeouts[] (seconds); ESTABLISHED, FIN_WAIT and the UDP timeout are `ipvsadm --set`
TCP_TIMEOUTS: dict[str, int] = {
    "NONE": 2, "ESTABLISHED": 900, "SYN_SENT": 120, "SYN_RECV": 60, "FIN_WAIT": 120,
    "TIME_WAIT": 120, "CLOSE": 10, "CLOSE_WAIT": 60, "LAST_ACK": 30, "LISTEN": 120, "SYNACK": 120,
}
UDP_TIMEOUT = 300
TEMPLATE_RETRY = 60  # a template that still controls connections is re-armed for 60 s
# tcp_state_active_table[]: what counts in ActiveConn (pre-established states too, since 4.9)
ACTIVE = frozenset(("ESTABLISHED", "SYN_SENT", "SYN_RECV", "SYNACK"))

_S = ("NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT", "CLOSE",
      "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK")


def _row(text: str) -> dict[str, str]:
    short = {"NO": "NONE", "ES": "ESTABLISHED", "SS": "SYN_SENT", "SR": "SYN_RECV", "FW": "FIN_WAIT",
             "TW": "TIME_WAIT", "CL": "CLOSE", "CW": "CLOSE_WAIT", "LA": "LAST_ACK", "LI": "LISTEN",
             "SA": "SYNACK"}
    return dict(zip(_S, (short[w] for w in text.split()), strict=True))


# tcp_states[]: [direction][syn, fin, ack, rst] -> next state, from each current state
#                       NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
TCP_STATES: dict[str, tuple[dict[str, str], ...]] = {
    "INPUT": (_row("SR ES ES SR SR SR SR SR SR SR SR"), _row("CL CW SS TW TW TW CL CW LA LI TW"),
              _row("CL ES SS ES FW TW CL CW CL LI ES"), _row("CL CL CL SR CL CL CL CL LA LI SR")),
    "OUTPUT": (_row("SS ES SS SR SS SS SS SS SS LI SR"), _row("TW FW SS TW FW TW CL TW LA LI TW"),
               _row("ES ES SS ES FW TW CL CW LA ES ES"), _row("CL CL SS CL CL TW CL CL CL CL CL")),
    "INPUT_ONLY": (_row("SR ES ES SR SR SR SR SR SR SR SR"), _row("CL FW SS TW FW TW CL CW LA LI TW"),
                   _row("CL ES SS ES FW TW CL CW CL LI ES"), _row("CL CL CL SR CL CL CL CL LA LI CL")),
}


class Conn:
    """struct ip_vs_conn: one connection or persistence template."""

    __slots__ = ("proto", "caddr", "cport", "vaddr", "vport", "daddr", "dport", "dest", "fwd",
                 "state", "timeout", "expires", "inactive", "nooutput", "template", "nfct",
                 "control", "n_control", "assured", "seq", "alive", "fwmark", "hashed")

    def __init__(self, proto: str, caddr: str, cport: int, vaddr: str, vport: int, daddr: str,
                 dport: int, dest: Dest, template: bool, fwmark: int, seq: int) -> None:
        self.proto, self.caddr, self.cport, self.vaddr, self.vport = proto, caddr, cport, vaddr, vport
        self.daddr, self.dport, self.dest, self.template = daddr, dport, dest, template
        self.fwd = dest.fwd
        self.state = "UDP" if proto == "UDP" and not template else "NONE"
        self.timeout = 3.0  # ip_vs_conn_new: 3 s until the first state transition
        self.expires = 0.0
        self.inactive = True  # IP_VS_CONN_F_INACTIVE: dest->conn_flags always carries it
        self.nooutput = self.fwd != "Masq"  # IP_VS_CONN_F_NOOUTPUT: replies bypass the director
        self.nfct = False  # IP_VS_CONN_F_NFCT: net.ipv4.vs.conntrack was 1 at creation
        self.control: Conn | None = None  # the template that scheduled this connection
        self.n_control = 0  # connections this template controls
        self.assured = False  # IP_VS_CTPL_S_ASSURED (templates)
        self.seq, self.alive, self.fwmark, self.hashed = seq, True, fwmark, True

    @property
    def in_key(self) -> tuple:
        return (self.proto, self.caddr, self.cport, self.vaddr, self.vport)

    @property
    def out_key(self) -> tuple:
        return (self.proto, self.daddr, self.dport, self.caddr, self.cport)

    def state_name(self) -> str:
        if self.template:
            return "ASSURED" if self.assured else "NONE"
        return self.state

    def __repr__(self) -> str:
        return (f"<Conn {self.proto} {self.caddr}:{self.cport} -> {self.vaddr}:{self.vport} -> "
                f"{self.daddr}:{self.dport} {self.state_name()}>")


class ConnTable:
    """All connections of one namespace's IPVS, with their lazily fired timers."""

    def __init__(self, ipvs: Ipvs) -> None:
        self.ipvs = ipvs
        self.by_in: dict[tuple, Conn] = {}
        self.by_out: dict[tuple, Conn] = {}
        self.templates: dict[tuple, Conn] = {}
        self.entries: dict[int, Conn] = {}  # every live entry, in creation order (for listing)
        self.heap: list[tuple[float, int, Conn]] = []
        self._seq = itertools.count(1)
        self.tcp_timeouts = dict(TCP_TIMEOUTS)
        self.udp_timeout = UDP_TIMEOUT

    # ------------------------------------------------------------ lifecycle
    def new(self, proto: str, caddr: str, cport: int, vaddr: str, vport: int, daddr: str,
            dport: int, dest: Dest, template: bool = False, fwmark: int = 0) -> Conn:
        """ip_vs_conn_new + ip_vs_bind_dest: hash it and count it on its real server."""
        c = Conn(proto, caddr, cport, vaddr, vport, daddr, dport, dest, template, fwmark, next(self._seq))
        c.nfct = not template and self.ipvs.sysctl("conntrack") == "1"
        if template:
            self.templates[c.in_key] = c
            dest.persist += 1
        else:
            self.by_in[c.in_key] = c
            if c.fwd == "Masq":
                self.by_out[c.out_key] = c
            dest.inactive += 1
        dest.refs += 1
        if dest.u_threshold and dest.active + dest.inactive >= dest.u_threshold:
            dest.overload = True
        self.entries[c.seq] = c
        return c

    def put(self, c: Conn, now: float) -> None:
        """ip_vs_conn_put: re-arm the timer for the current timeout."""
        first = c.expires == 0.0
        c.expires = now + c.timeout
        if first:
            heapq.heappush(self.heap, (c.expires, c.seq, c))

    def expire_now(self, c: Conn, now: float) -> None:
        """ip_vs_conn_expire_now: the timer fires at once (timeout 0)."""
        c.timeout = 0.0
        c.expires = now
        self._expire(c, now)

    def purge(self, now: float) -> None:
        """Fire every timer that is due (call before reading or changing the table)."""
        heap = self.heap
        while heap and heap[0][0] <= now:
            _, seq, c = heapq.heappop(heap)
            if not c.alive:
                continue
            if c.expires > now:  # refreshed since it was pushed: wait for the new time
                heapq.heappush(heap, (c.expires, seq, c))
                continue
            self._expire(c, now)

    def _expire(self, c: Conn, now: float) -> None:
        """ip_vs_conn_expire: a template that still controls connections waits 60 s more."""
        if c.n_control:
            c.timeout = TEMPLATE_RETRY
            c.expires = now + TEMPLATE_RETRY
            heapq.heappush(self.heap, (c.expires, c.seq, c))
            return
        self.unlink(c)
        ct = c.control
        if ct is not None:
            ct.n_control -= 1
            # drop a controlling template that is no longer used, unless it is assured
            if c.timeout == 0 and not ct.n_control and ct.alive and not ct.assured:
                self.expire_now(ct, now)

    def unlink(self, c: Conn) -> None:
        """Unhash the entry and release its real server (ip_vs_unbind_dest)."""
        if not c.alive:
            return
        c.alive = False
        self.entries.pop(c.seq, None)
        if c.template:
            if self.templates.get(c.in_key) is c:
                del self.templates[c.in_key]
        else:
            if self.by_in.get(c.in_key) is c:
                del self.by_in[c.in_key]
            if self.by_out.get(c.out_key) is c:
                del self.by_out[c.out_key]
        d = c.dest
        if c.template:
            d.persist -= 1
        elif c.inactive:
            d.inactive -= 1
        else:
            d.active -= 1
        d.refs -= 1
        total = d.active + d.inactive
        if d.l_threshold:
            if total < d.l_threshold:
                d.overload = False
        elif d.u_threshold:
            if total * 4 < d.u_threshold * 3:
                d.overload = False
        else:
            d.overload = False
        self.ipvs.dest_released(d)

    def invalidate_template(self, ct: Conn) -> None:
        """ip_vs_check_template failed: rehash with ports 65535 so nothing finds it again."""
        if self.templates.get(ct.in_key) is ct:
            del self.templates[ct.in_key]
        ct.cport, ct.vport, ct.dport = 0, 0xFFFF, 0xFFFF
        ct.hashed = False

    # ------------------------------------------------------------ state
    def set_state(self, c: Conn, direction: str, flags: str) -> None:
        """tcp_state_transition / udp_state_transition for one packet (flags: "S", "F", "A", "R")."""
        if c.proto == "UDP":
            c.timeout = self.udp_timeout
            if direction == "OUTPUT" and c.control is not None:
                c.control.assured = True
            return
        if c.nooutput:
            if direction == "OUTPUT":
                c.nooutput = False
            else:
                direction = "INPUT_ONLY"
        idx = 3 if "R" in flags else 0 if "S" in flags else 1 if "F" in flags else 2 if "A" in flags else -1
        new = TCP_STATES[direction][idx][c.state] if idx >= 0 else "CLOSE"
        if new != c.state:
            d = c.dest
            if not c.inactive and new not in ACTIVE:
                d.active -= 1
                d.inactive += 1
                c.inactive = True
            elif c.inactive and new in ACTIVE:
                d.active += 1
                d.inactive -= 1
                c.inactive = False
            if new == "ESTABLISHED" and c.control is not None:
                c.control.assured = True
        c.state = new
        c.timeout = self.tcp_timeouts[new]

    def conns_of(self, dest: Dest) -> list[Conn]:
        return [c for c in self.entries.values() if c.dest is dest]
