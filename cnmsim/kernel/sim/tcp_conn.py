"""One TCP connection's state machine: opening, segment arrival, the application's calls.

Segment processing follows RFC 9293 3.10.7 in Linux's order (tcp_rcv_state_process): sequence
check, RST, SYN, ACK, data, FIN.  The control block and the sending side are in tcp_tcb.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnmsim.kernel.sim.tcp_tcb import (
    ACK,
    DELACK,
    FIN,
    M32,
    PSH,
    RST,
    SYN,
    TIME_WAIT_LEN,
    WSCALE,
    Tcb,
    seq_diff,
    seq_le,
    seq_lt,
)

if TYPE_CHECKING:
    from cnmsim.kernel.sim.tcp import Seg
    from cnmsim.packet.frame import Frame


class TcpConn(Tcb):
    """A connection from SYN to CLOSE (active or passive open)."""

    # ------------------------------------------------------------ opening
    def active_open(self) -> None:
        """connect(): send the SYN and wait in SYN_SENT."""
        self.set_state("SYN_SENT", f"connect() to {self.remote[0]}:{self.remote[1]}")
        self.rtt_t = self.env.now
        self.snd_nxt = self.snd_max = (self.iss + 1) & M32
        if not self.xmit(SYN, self.iss, opts=self._syn_options(None)):
            self.fail(self.soft_error or "ENETUNREACH", "the SYN could not be sent")
            return
        self.rtx.arm(self.rto)

    def passive_open(self, seg: Seg, frame: Frame) -> None:
        """A listener got a SYN: answer with SYN-ACK and wait in SYN_RECV (a request socket)."""
        self.irs = seg.seq
        self.rcv_nxt = (seg.seq + 1) & M32
        self._negotiate(seg)
        eff = self.adv_mss - (12 if self.ts_ok else 0)
        self.rcv_clamp = (65535 // eff) * eff  # 65160 with timestamps (45 x 1448)
        self.set_state("SYN_RECV", f"SYN from {self.remote[0]}:{self.remote[1]} to a listening socket", frame)
        self.rtt_t = self.env.now
        self.snd_nxt = self.snd_max = (self.iss + 1) & M32
        self.rtt_seq = self.snd_nxt
        self.xmit(SYN | ACK, self.iss, opts=self._syn_options(self.peer_opts))
        self.rtx.arm(self.rto)

    # ------------------------------------------------------------ input
    def rcv(self, seg: Seg, frame: Frame) -> None:
        """A segment for this connection (tcp_rcv_state_process)."""
        if self.state == "SYN_SENT":
            self._rcv_syn_sent(seg, frame)
            return
        bus = self.ns.bus
        if not self._acceptable(seg):
            if bus.on:
                self.ns.trace("", "tcp:rcv", "drop", f"{self.name}: segment outside the receive window, answered with an ACK", frame)
            if not seg.flags & RST:
                self.send_ack()
                if self.state == "TIME_WAIT" and seg.flags & FIN:
                    self.linger.arm(TIME_WAIT_LEN)
            return
        if self.ts_ok and seg.ts is not None and seq_le(seg.seq, self.rcv_nxt):
            self.ts_recent = seg.ts
        if seg.flags & RST:
            if seg.seq == self.rcv_nxt:
                self._rcv_rst(frame)
            else:  # RFC 5961 3.2: a RST inside the window but not exactly at rcv_nxt
                self.send_ack()
            return
        if seg.flags & SYN:
            if self.state == "SYN_RECV" and seg.seq == self.irs:
                self.xmit(SYN | ACK, self.iss, opts=self._syn_options(self.peer_opts), stage="tcp:retransmit",
                          why="the SYN came again: SYN-ACK again")
            else:
                self.send_ack()  # RFC 5961 4.2 challenge ACK
            return
        if not seg.flags & ACK:
            return
        if self.state == "SYN_RECV":
            if not (seq_lt(self.snd_una, seg.ack) and seq_le(seg.ack, self.snd_max)):
                self.layer.send_reset_for(self.local, self.remote, seg, "the ACK does not match our SYN-ACK")
                return
            self.snd_wnd = seg.wnd << self.snd_ws
            self.snd_wl1, self.snd_wl2 = seg.seq, seg.ack
            self.set_state("ESTABLISHED", "the handshake's ACK arrived", frame)
            self.layer.established(self)
        if not self._rcv_ack(seg, frame):
            return
        if seg.data or seg.flags & FIN:
            self._rcv_data(seg, frame)
        self.output()

    def _acceptable(self, seg: Seg) -> bool:
        n = len(seg.data) + (1 if seg.flags & SYN else 0) + (1 if seg.flags & FIN else 0)
        wnd = max(seq_diff(self.rcv_adv, self.rcv_nxt), 0)
        off = seq_diff(seg.seq, self.rcv_nxt)
        if n == 0 or wnd == 0:
            return off == 0 if wnd == 0 else 0 <= off < wnd
        return 0 <= off < wnd or 0 <= off + n - 1 < wnd

    def _rcv_syn_sent(self, seg: Seg, frame: Frame) -> None:
        f = seg.flags
        if f & ACK and (seq_le(seg.ack, self.iss) or seq_lt(self.snd_max, seg.ack)):
            if not f & RST:
                self.layer.send_reset_for(self.local, self.remote, seg, "the ACK does not match our SYN")
            return
        if f & RST:
            if f & ACK:
                if self.ns.bus.on:
                    self.ns.trace("", "tcp:reset", "rcv", f"{self.name}: nothing listens there (connection refused)", frame)
                self.fail("ECONNREFUSED", "the SYN was answered with RST", frame)
            return
        if not f & SYN:
            return
        self.irs = seg.seq
        self.rcv_nxt = (seg.seq + 1) & M32
        self._negotiate(seg)
        if not f & ACK:  # simultaneous open
            self.set_state("SYN_RECV", "a SYN crossed ours", frame)
            self.xmit(SYN | ACK, self.iss, opts=self._syn_options(self.peer_opts))
            return
        if self.retries == 0:
            self._rtt_sample(self.env.now - self.rtt_t)
        else:
            self.rto = 3.0  # RFC 6298 5.7: SYN was retransmitted
        self.retries = 0
        self.rtx.cancel()
        self.snd_una = seg.ack
        self.snd_wnd, self.snd_wl1, self.snd_wl2 = seg.wnd, seg.seq, seg.ack
        self.set_state("ESTABLISHED", "the SYN-ACK arrived", frame)
        self.send_ack()
        self.output()

    def _negotiate(self, seg: Seg) -> None:
        """Take the peer's SYN options: MSS, window scale, timestamps, SACK."""
        peer = seg.options
        self.peer_opts = peer
        self.ts_ok = "ts" in peer
        self.sack_ok = "sackok" in peer
        if "ws" in peer:
            self.snd_ws, self.rcv_ws = min(peer["ws"], 14), WSCALE
        self.ts_recent = peer.get("ts", 0)
        self.mss = min(peer.get("mss", 536), self.adv_mss) - (12 if self.ts_ok else 0)
        self.cwnd = 10 * self.mss

    def _rcv_rst(self, frame: Frame) -> None:
        st = self.state
        if self.ns.bus.on:
            self.ns.trace("", "tcp:reset", "rcv", f"{self.name}: the peer reset the connection in {st}", frame)
        if st == "SYN_RECV":
            self.set_state("CLOSE", "the handshake was reset", frame)
        elif st in ("ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSE_WAIT"):
            self.fail("EPIPE" if st == "CLOSE_WAIT" else "ECONNRESET", "RST received", frame)
        else:
            self.set_state("CLOSE", "RST received", frame)

    def _rcv_ack(self, seg: Seg, frame: Frame) -> bool:
        ack = seg.ack
        if seq_lt(self.snd_max, ack):
            self.send_ack()  # acknowledges something never sent
            return False
        wnd = seg.wnd << self.snd_ws
        if seq_lt(self.snd_una, ack):
            n = min(max(seq_diff(ack, self.buf_seq), 0), len(self.sndbuf))
            del self.sndbuf[:n]
            self.buf_seq = (self.buf_seq + n) & M32
            acked = seq_diff(ack, self.snd_una)
            self.snd_una = ack
            if seq_lt(self.snd_nxt, ack):
                self.snd_nxt = ack
            if self.rtt_seq is not None and seq_le(self.rtt_seq, ack):
                self._rtt_sample(self.env.now - self.rtt_t)
                self.rtt_seq = None
            self.retries = 0
            if self.dupacks >= 3:
                self.cwnd = self.ssthresh
            elif self.cwnd < self.ssthresh:
                self.cwnd += min(acked, self.mss)
            else:
                self.cwnd += max(self.mss * self.mss // self.cwnd, 1)
            self.dupacks = 0
            if self.snd_una == self.snd_max:
                self.rtx.cancel()
            else:
                self.rtx.arm(self.rto)
            self.notify()
        elif (ack == self.snd_una and not seg.data and not seg.flags & (SYN | FIN)
              and wnd == self.snd_wnd and self.snd_una != self.snd_max):
            self.dupacks += 1
            if self.dupacks == 3:
                self._fast_retransmit(frame)
        if seq_lt(self.snd_wl1, seg.seq) or (self.snd_wl1 == seg.seq and seq_le(self.snd_wl2, ack)):
            self.snd_wnd, self.snd_wl1, self.snd_wl2 = wnd, seg.seq, ack
            if wnd and self.persist:
                self.persist = False
                self.rtx.cancel()
        if self.fin_queued and not self.sndbuf and ack == (self.buf_seq + 1) & M32:
            st = self.state
            if st == "FIN_WAIT1":
                self.set_state("FIN_WAIT2", "our FIN was acknowledged", frame)
                if self.orphan:
                    self.linger.arm(float(self._sysctl("tcp_fin_timeout", 60)))
            elif st == "CLOSING":
                self.set_state("TIME_WAIT", "our FIN was acknowledged", frame)
            elif st == "LAST_ACK":
                self.set_state("CLOSE", "our FIN was acknowledged", frame)
                return False
        return True

    def _fast_retransmit(self, frame: Frame) -> None:
        inflight = seq_diff(self.snd_max, self.snd_una)
        self.ssthresh = max(inflight // 2, 2 * self.mss)
        self.cwnd = self.ssthresh + 3 * self.mss
        n = min(self.mss, len(self.sndbuf))
        fin = FIN if self.fin_queued and n == len(self.sndbuf) else 0
        if self.ns.bus.on:
            self.ns.trace("", "tcp:retransmit", "fast", f"{self.name}: 3 duplicate ACKs for byte {seq_diff(self.snd_una, self.iss)}: fast retransmit", frame)
        self.segment(ACK | fin | (PSH if n == len(self.sndbuf) else 0), self.snd_una, bytes(self.sndbuf[:n]))

    def _rcv_data(self, seg: Seg, frame: Frame) -> None:
        st = self.state
        if st not in ("ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2"):
            return
        data, seq, fin = seg.data, seg.seq, bool(seg.flags & FIN)
        if self.orphan and data and seq_lt(self.rcv_nxt, (seq + len(data)) & M32):
            self.send_rst("data arrived after the application closed the socket")
            self.fail("ECONNRESET", "data after close", frame)
            return
        off = seq_diff(self.rcv_nxt, seq)
        if off > 0:
            data, seq = data[off:], self.rcv_nxt
        bus = self.ns.bus
        if seq != self.rcv_nxt:
            if seq not in self.ooo:
                self.ooo[seq] = (data, fin)
            if bus.on:
                self.ns.trace("", "tcp:rcv", "queue", f"{self.name}: out of order ({seq_diff(seq, self.rcv_nxt)} bytes ahead of what is expected): kept, duplicate ACK sent", frame)
            self.send_ack()
            return
        room = max(seq_diff(self.rcv_adv, self.rcv_nxt), 0)
        if len(data) > room:
            data, fin = data[:room], False
        had_ooo = bool(self.ooo)
        self.rcvbuf += data
        self.rcv_nxt = (self.rcv_nxt + len(data)) & M32
        got = len(data)
        while self.ooo:
            hit = next((k for k in self.ooo if seq_le(k, self.rcv_nxt)), None)
            if hit is None:
                break
            d, f = self.ooo.pop(hit)
            o = seq_diff(self.rcv_nxt, hit)
            if o < len(d):
                self.rcvbuf += d[o:]
                self.rcv_nxt = (self.rcv_nxt + len(d) - o) & M32
                got += len(d) - o
            fin = fin or (f and o <= len(d))
        if bus.on and got:
            self.ns.trace("", "tcp:rcv", "deliver", f"{self.name}: {got} bytes in order, queued for the application", frame)
        self.unacked += got
        if fin:
            self.rcv_nxt = (self.rcv_nxt + 1) & M32
            self.eof = True
            self.unacked += 1
            if st == "ESTABLISHED":
                # tcp_fin: pingpong mode, the ACK waits (40 ms) to ride on our own FIN
                self.quickack = 0
                self.set_state("CLOSE_WAIT", "the peer sent FIN (it has no more data)", frame)
            elif st == "FIN_WAIT1":
                self.set_state("CLOSING", "FIN received while ours is unacknowledged", frame)
            else:
                self.set_state("TIME_WAIT", "the peer's FIN arrived after ours was acknowledged", frame)
        if (fin and st != "ESTABLISHED") or had_ooo or self.quickack > 0 or self.unacked >= 2 * self.mss:
            self.quickack = max(self.quickack - 1, 0)
            self.send_ack()
        elif self.unacked:
            self.delack.arm(DELACK)
        self.notify()

    def on_icmp_error(self, err: Any) -> None:
        """An ICMP error (or a local ARP failure) about one of our segments (tcp_v4_err)."""
        bus = self.ns.bus
        if err.itype == 3 and err.code == 4 and err.mtu:
            mss = err.mtu - 40 - (12 if self.ts_ok else 0)
            if mss < self.mss:
                self.mss = mss
                self.snd_nxt = self.snd_una
                self.output()
            return
        if self.state == "SYN_SENT":
            self.fail(err.errno_name, f"ICMP error from {err.offender} while connecting")
            return
        self.soft_error = err.errno_name  # reported only if the connection times out
        if bus.on:
            self.ns.trace("", "tcp:rcv", "error", f"{self.name}: soft error {err.errno_name} from {err.offender}, retransmissions go on")

    # ------------------------------------------------------------ application side
    def app_read(self, n: int) -> bytes:
        before = max(seq_diff(self.rcv_adv, self.rcv_nxt), 0)
        data = bytes(self.rcvbuf[:n])
        del self.rcvbuf[:n]
        free = self.rcv_clamp - len(self.rcvbuf)
        if self.state in ("ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2") and free >= 2 * before and free - before >= self.mss:
            self.send_ack()  # window update (tcp_cleanup_rbuf)
        return data

    def app_send(self, data: bytes) -> None:
        self.sndbuf += data
        self.output()

    def app_shutdown(self) -> None:
        """shutdown(SHUT_WR) and the orderly part of close(): queue a FIN after the data."""
        if self.fin_queued:
            return
        if self.state == "ESTABLISHED":
            self.fin_queued = True
            self.set_state("FIN_WAIT1", "the application closed its sending side")
        elif self.state == "CLOSE_WAIT":
            self.fin_queued = True
            self.set_state("LAST_ACK", "the application closed too")
        self.output()

    def app_close(self) -> None:
        self.orphan = True
        st = self.state
        if st in ("SYN_SENT", "SYN_RECV", "LISTEN"):
            self.set_state("CLOSE", "closed before the handshake finished")
        elif self.rcvbuf and st in ("ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT1", "FIN_WAIT2"):
            self.send_rst("closed with unread data")
            self.set_state("CLOSE", "closed with unread data: reset")
        elif st == "FIN_WAIT2":
            self.linger.arm(float(self._sysctl("tcp_fin_timeout", 60)))
        else:
            self.app_shutdown()
