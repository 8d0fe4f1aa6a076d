"""The TCP control block: sequence space, options, windows, output and timers (the Linux way).

What is modelled, as net/ipv4/tcp_input.c and tcp_output.c do it:
- handshake with an ISN from the lab RNG and Linux's SYN options
  `[mss M,sackOK,TS val V ecr E,nop,wscale 7]`; data segments carry `[nop,nop,TS ...]`;
- windows: 64240 (44 x 1460) offered in a SYN, scaled by 7 afterwards (`win 502`), never
  more than the free receive buffer; the peer's window and a congestion window (IW10, slow
  start, halved on loss) limit what is in flight; zero-window probes;
- acknowledgements: quick ACKs for the first segments, then every second full segment or a
  40 ms delayed ACK; immediate duplicate ACKs (with SACK blocks) for out-of-order data;
- retransmission: RTO from RFC 6298 (initial 1 s, at least 200 ms over the smoothed RTT,
  doubling up to 120 s), fast retransmit on 3 duplicate ACKs, go-back-N after a timeout;
  `tcp_syn_retries` (6: a connect gives up after 127 s), `tcp_synack_retries`, `tcp_retries2`;
- teardown: FIN_WAIT1/2, CLOSING, TIME_WAIT (the full 60 s of TCP_TIMEWAIT_LEN), CLOSE_WAIT,
  LAST_ACK; RST on close with unread data or on data after close; RFC 5961 challenge ACKs.
Not modelled: Nagle, SACK-based recovery on the sender, window auto-tuning, keepalives, PAWS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scapy.layers.inet import IP, TCP
from scapy.packet import Raw

from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.packet.frame import Frame

if TYPE_CHECKING:
    from cnmsim.kernel.sim.tcp import TcpLayer

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
M32 = 0xFFFFFFFF
WSCALE = 7  # what Linux offers with the default tcp_rmem
TIME_WAIT_LEN = 60.0  # TCP_TIMEWAIT_LEN: not tunable in Linux
DELACK = 0.04  # TCP_DELACK_MIN
RTO_MIN, RTO_MAX, RTO_INIT = 0.2, 120.0, 1.0
QUICKACKS = 16  # TCP_MAX_QUICKACKS
SYNCHRONIZED = ("ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSE_WAIT", "CLOSING", "LAST_ACK",
                "TIME_WAIT")
STRERROR = {
    "ECONNREFUSED": "Connection refused", "ETIMEDOUT": "Connection timed out",
    "ECONNRESET": "Connection reset by peer", "EHOSTUNREACH": "No route to host",
    "ENETUNREACH": "Network is unreachable", "EPIPE": "Broken pipe",
    "EADDRINUSE": "Address already in use", "EADDRNOTAVAIL": "Cannot assign requested address",
    "ENOTCONN": "Transport endpoint is not connected", "EISCONN": "Transport endpoint is already connected",
    "EINPROGRESS": "Operation now in progress", "EINVAL": "Invalid argument",
    "EMSGSIZE": "Message too long", "EPROTO": "Protocol error",
}


def sock_error(errno_name: str) -> OutputError:
    """The exception a socket call raises, with the C library's strerror text."""
    return OutputError(errno_name, STRERROR.get(errno_name, errno_name))


def seq_lt(a: int, b: int) -> bool:
    """a comes before b in sequence space (RFC 1982 arithmetic)."""
    return ((a - b) & M32) > 0x7FFFFFFF


def seq_le(a: int, b: int) -> bool:
    return a == b or seq_lt(a, b)


def seq_diff(a: int, b: int) -> int:
    """a - b in sequence space, signed."""
    d = (a - b) & M32
    return d - (1 << 32) if d > 0x7FFFFFFF else d


def _opt_len(kind: str, value: Any) -> int:
    """Bytes of one TCP option on the wire (SACK: 2 + 8 per block)."""
    if kind == "NOP":
        return 1
    if kind == "SAck":
        return 2 + 4 * len(value)
    return {"MSS": 4, "SAckOK": 2, "Timestamp": 10, "WScale": 3}[kind]


class Timer:
    """A restartable one-shot timer: re-arming moves a deadline instead of adding simpy events."""

    __slots__ = ("ctx", "fn", "deadline", "_at")

    def __init__(self, ctx: Any, fn: Any) -> None:
        self.ctx, self.fn = ctx, fn
        self.deadline: float | None = None
        self._at: float | None = None  # when the pending simpy event fires

    def arm(self, delay: float) -> None:
        self.deadline = self.ctx.env.now + delay
        if self._at is None or self._at > self.deadline:
            self._at = self.deadline
            self.ctx.later(delay, self._fire, self.deadline)

    def cancel(self) -> None:
        self.deadline = None

    def _fire(self, at: float) -> None:
        if at != self._at:
            return  # superseded by an earlier event
        self._at = None
        if self.deadline is None:
            return
        now = self.ctx.env.now
        if now < self.deadline:
            self._at = self.deadline
            self.ctx.later(self.deadline - now, self._fire, self.deadline)
            return
        self.deadline = None
        self.fn()


class Tcb:
    """The TCB of one connection, keyed by (local ip, local port, remote ip, remote port).

    Holds the state and the sending side; TcpConn (tcp_conn.py) adds the receiving side.
    """

    def __init__(self, layer: TcpLayer, local: tuple[str, int], remote: tuple[str, int],
                 mss: int, owner: Any = None, listener: Any = None, reuse: bool = False) -> None:
        ns = layer.ns
        ctx = ns.kernel.ctx
        self.layer, self.ns, self.ctx, self.env = layer, ns, ctx, ctx.env
        self.local, self.remote = local, remote
        self.key = (local[0], local[1], remote[0], remote[1])
        self.owner, self.listener, self.reuse = owner, listener, reuse
        self.state = "CLOSE"
        self.iss = ctx.rng.getrandbits(32)
        self.ts_off = ctx.rng.getrandbits(32)
        self.ttl = int(ns.sysctls.get("net.ipv4.ip_default_ttl", "64"))
        self.snd_una = self.snd_nxt = self.snd_max = self.iss
        self.buf_seq = (self.iss + 1) & M32  # sequence number of sndbuf[0]
        self.sndbuf = bytearray()
        self.fin_queued = False
        self.snd_wnd = self.snd_wl1 = self.snd_wl2 = 0
        self.snd_ws = self.rcv_ws = 0
        self.irs = self.rcv_nxt = self.rcv_adv = 0
        self.rcvbuf = bytearray()
        self.ooo: dict[int, tuple[bytes, bool]] = {}
        self.adv_mss = mss  # what we announce (route MTU - 40)
        self.mss = min(mss, 536)  # what we send, once the peer's MSS is known
        self.rcv_clamp = (65535 // mss) * mss  # 64240 for a 1500 MTU
        self.ts_ok = self.sack_ok = False
        self.ts_recent = 0
        self.peer_opts: dict[str, Any] = {}
        self.rto, self.srtt, self.rttvar = RTO_INIT, 0.0, 0.0
        self.retries = 0
        self.rtt_seq: int | None = None
        self.rtt_t = 0.0
        self.cwnd, self.ssthresh, self.dupacks = 10 * self.mss, 1 << 30, 0
        self.quickack, self.unacked = QUICKACKS, 0
        self.eof = self.orphan = self.persist = self.queued = False
        self.error: str | None = None
        self.soft_error: str | None = None
        self.rtx = Timer(ctx, self._on_rtx)
        self.delack = Timer(ctx, self._on_delack)
        self.linger = Timer(ctx, lambda: self.set_state("CLOSE", "the TIME_WAIT/FIN_WAIT2 timer expired"))

    # ------------------------------------------------------------ helpers
    def __repr__(self) -> str:
        return f"<TcpConn {self.local[0]}:{self.local[1]} -> {self.remote[0]}:{self.remote[1]} {self.state}>"

    @property
    def name(self) -> str:
        return f"{self.local[0]}:{self.local[1]} <-> {self.remote[0]}:{self.remote[1]}"

    def set_state(self, new: str, why: str, frame: Frame | None = None) -> None:
        old, self.state = self.state, new
        if self.ns.bus.on:
            self.ns.trace("", "tcp:state", "change", f"{self.name} {old} -> {new}: {why}", frame)
        if new == "TIME_WAIT":
            self.rtx.cancel()
            self.linger.arm(TIME_WAIT_LEN)
        if new == "CLOSE":
            for t in (self.rtx, self.delack, self.linger):
                t.cancel()
            self.layer.unhash(self)
        self.notify()

    def notify(self) -> None:
        for s in (self.owner, self.listener):
            if s is not None:
                s.notify()

    def fail(self, errno_name: str, why: str, frame: Frame | None = None) -> None:
        self.error = errno_name
        self.set_state("CLOSE", why, frame)

    def _tsval(self) -> int:
        return (int(self.env.now * 1000) + self.ts_off) & M32

    def _syn_options(self, peer: dict[str, Any] | None) -> list[tuple[str, Any]]:
        """Linux's SYN (peer None) or SYN-ACK options, 4-byte aligned as tcp_options_write lays them out."""
        ts = ("Timestamp", (self._tsval(), self.ts_recent if peer else 0))
        opts: list[tuple[str, Any]] = [("MSS", self.adv_mss)]
        sack = peer is None or self.sack_ok
        tsok = peer is None or self.ts_ok
        if sack and tsok:
            opts += [("SAckOK", b""), ts]
        elif tsok:
            opts += [("NOP", None), ("NOP", None), ts]
        elif sack:
            opts += [("NOP", None), ("NOP", None), ("SAckOK", b"")]
        if peer is None or "ws" in peer:
            opts += [("NOP", None), ("WScale", WSCALE)]
        return opts

    def _adv_window(self, syn: bool) -> int:
        free = max(0, self.rcv_clamp - len(self.rcvbuf))
        if syn:
            w = min(free, 65535)
            self.rcv_adv = (self.rcv_nxt + w) & M32
            return w
        ws = self.rcv_ws
        w = min((free + (1 << ws) - 1) >> ws, 65535)
        edge = (self.rcv_nxt + (w << ws)) & M32
        if seq_lt(self.rcv_adv, edge):  # the right edge never moves left (tcp_select_window)
            self.rcv_adv = edge
        return w

    # ------------------------------------------------------------ output
    def xmit(self, flags: int, seq: int, data: bytes = b"", opts: list | None = None,
             stage: str = "tcp:send", why: str = "") -> bool:
        """Build one segment and hand it to IP; False when the stack refused it (no route ...)."""
        ns = self.ns
        if opts is None:
            opts = [("NOP", None), ("NOP", None), ("Timestamp", (self._tsval(), self.ts_recent))] if self.ts_ok else []
            if self.sack_ok and self.ooo and flags == ACK:
                opts += self._sack_blocks()
        olen = sum(_opt_len(k, v) for k, v in opts)
        ip = IP(src=self.local[0], dst=self.remote[0], ttl=self.ttl, flags="DF")
        tcp = TCP(sport=self.local[1], dport=self.remote[1], seq=seq & M32,
                  ack=self.rcv_nxt if flags & ACK else 0, flags=flags,
                  window=self._adv_window(bool(flags & SYN)), options=opts, dataofs=5 + olen // 4)
        ip.add_payload(tcp)
        if data:
            tcp.add_payload(Raw(data))
        fid = self.ctx.next_id()
        if ns.bus.on:
            ns.trace("", stage, "send", why or self._describe(flags, seq, len(data)), Frame(ip, fid))
        if flags & ACK:
            self.delack.cancel()
            self.unacked = 0
        try:
            ns.stack.output(ip, fid=fid)
        except OutputError as e:
            self.soft_error = e.errno_name
            if ns.bus.on:
                ns.trace("", stage, "drop", f"the stack refused the segment: {e}")
            return False
        return True

    def _sack_blocks(self) -> list[tuple[str, Any]]:
        blocks: list[int] = []
        for s in sorted(self.ooo, key=lambda k: seq_diff(k, self.rcv_nxt))[:3]:
            blocks += [s, (s + len(self.ooo[s][0])) & M32]
        return [("NOP", None), ("NOP", None), ("SAck", tuple(blocks))] if blocks else []

    def _describe(self, flags: int, seq: int, n: int) -> str:
        rel = seq_diff(seq, self.iss)
        got = seq_diff(self.rcv_nxt, self.irs) - 1 - (1 if self.eof else 0) if self.irs else 0
        ack = f", acknowledging {got} bytes received" if flags & ACK and got > 0 else ""
        if flags & SYN:
            kind = "SYN-ACK" if flags & ACK else "SYN"
            return f"{kind} to {self.remote[0]}:{self.remote[1]} (ISN {self.iss}, mss {self.adv_mss})"
        if n:
            fin = " and FIN" if flags & FIN else ""
            return f"{n} bytes of data (stream bytes {rel}-{rel + n - 1}){fin} to {self.remote[0]}:{self.remote[1]}{ack}"
        if flags & FIN:
            return f"FIN to {self.remote[0]}:{self.remote[1]}: no more data from this side{ack}"
        return f"an ACK to {self.remote[0]}:{self.remote[1]}{ack}"

    def send_ack(self) -> None:
        self.xmit(ACK, self.snd_nxt)

    def send_rst(self, why: str) -> None:
        if self.ns.bus.on:
            self.ns.trace("", "tcp:reset", "send", f"{self.name}: {why}")
        self.xmit(RST | ACK, self.snd_nxt, opts=[])

    def segment(self, flags: int, seq: int, data: bytes = b"") -> None:
        """Send a data/FIN segment at seq; a retransmission when it was sent before."""
        end = (seq + len(data) + (1 if flags & FIN else 0)) & M32
        again = seq_lt(seq, self.snd_max)
        if again:
            self.rtt_seq = None  # Karn: no RTT sample from a retransmitted segment
            stage, why = "tcp:retransmit", f"resending {self._describe(flags, seq, len(data))} (RTO now {self.rto:g} s)"
        else:
            stage, why = "tcp:send", ""
            if self.rtt_seq is None:
                self.rtt_seq, self.rtt_t = end, self.env.now
        if seq_lt(self.snd_max, end):
            self.snd_max = end
        self.xmit(flags, seq, data, stage=stage, why=why if self.ns.bus.on else "")
        if self.rtx.deadline is None:
            self.rtx.arm(self.rto)

    def output(self) -> None:
        """Send what the windows allow: new or go-back-N data, then the FIN (tcp_write_xmit)."""
        if self.state not in ("ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT1", "LAST_ACK", "CLOSING"):
            return
        wnd = min(self.snd_wnd, self.cwnd)
        while True:
            inflight = seq_diff(self.snd_nxt, self.snd_una)
            off = seq_diff(self.snd_nxt, self.buf_seq)
            avail = len(self.sndbuf) - off
            if avail > 0:
                room = wnd - inflight
                if room <= 0:
                    if self.snd_wnd == 0 and inflight == 0 and self.rtx.deadline is None:
                        self.persist = True  # zero window: probe it (tcp_probe_timer)
                        self.rtx.arm(self.rto)
                    return
                n = min(avail, self.mss, room)
                last = off + n == len(self.sndbuf)
                fin = FIN if self.fin_queued and last else 0
                self.segment(ACK | (PSH if last else 0) | fin, self.snd_nxt, bytes(self.sndbuf[off:off + n]))
                self.snd_nxt = (self.snd_nxt + n + (1 if fin else 0)) & M32
            elif avail == 0 and self.fin_queued:
                self.segment(ACK | FIN, self.snd_nxt)
                self.snd_nxt = (self.snd_nxt + 1) & M32
            else:
                return

    # ------------------------------------------------------------ timers
    def _rtt_sample(self, r: float) -> None:
        if self.srtt == 0.0:
            self.srtt, self.rttvar = r, r / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        self.rto = min(max(self.srtt + max(4 * self.rttvar, RTO_MIN), RTO_MIN), RTO_MAX)

    def _sysctl(self, key: str, default: int) -> int:
        return int(self.ns.sysctls.get(f"net.ipv4.{key}", default))

    def _on_rtx(self) -> None:
        st = self.state
        bus = self.ns.bus
        if st in ("SYN_SENT", "SYN_RECV"):
            limit = self._sysctl("tcp_syn_retries", 6) if st == "SYN_SENT" else self._sysctl("tcp_synack_retries", 5)
            if self.retries >= limit:
                if st == "SYN_SENT":
                    self.fail(self.soft_error or "ETIMEDOUT", f"no answer to {limit + 1} SYNs (tcp_syn_retries={limit})")
                else:
                    self.set_state("CLOSE", f"no ACK for {limit + 1} SYN-ACKs (tcp_synack_retries={limit})")
                return
            self.retries += 1
            self.rto = min(self.rto * 2, RTO_MAX)
            self.rtt_seq = None  # Karn: the handshake gives no RTT sample now
            kind = "SYN" if st == "SYN_SENT" else "SYN-ACK"
            why = f"no answer to the {kind} within {self.rto / 2:g} s: {kind} again (retry {self.retries} of {limit})" if bus.on else ""
            self.xmit(SYN | (ACK if st == "SYN_RECV" else 0), self.iss,
                      opts=self._syn_options(self.peer_opts if st == "SYN_RECV" else None),
                      stage="tcp:retransmit", why=why)
            self.rtx.arm(self.rto)
            return
        if self.persist:
            if bus.on:
                self.ns.trace("", "tcp:send", "probe", f"{self.name}: the peer's window is 0, probing it")
            self.xmit(ACK, (self.snd_una - 1) & M32)
            self.rto = min(self.rto * 2, RTO_MAX)
            self.rtx.arm(self.rto)
            return
        if self.snd_una == self.snd_max:
            return
        self.retries += 1
        limit = self._sysctl("tcp_retries2", 15)
        if self.retries > limit:
            self.fail(self.soft_error or "ETIMEDOUT", f"{limit} retransmissions unanswered (tcp_retries2={limit})")
            return
        inflight = seq_diff(self.snd_max, self.snd_una)
        self.ssthresh = max(inflight // 2, 2 * self.mss)
        self.cwnd, self.dupacks = self.mss, 0
        self.rto = min(self.rto * 2, RTO_MAX)
        self.snd_nxt = self.snd_una  # go back N: everything unacknowledged is resent
        self.output()
        self.rtx.arm(self.rto)

    def _on_delack(self) -> None:
        if self.unacked and self.state in SYNCHRONIZED:
            self.send_ack()
