"""TCP of one namespace: the socket hash tables, segment demultiplexing and resets.

    sock = ns.sockets.tcp.socket()                 # an app-facing TcpSocket (tcp_socket.py)
    yield from sock.connect("10.0.0.3", 80)        # raises OutputError: ECONNREFUSED ...
    sock.send(b"GET / HTTP/1.1\\r\\n\\r\\n"); data = yield from sock.recv(timeout=5)

A segment is processed after the host-path latency it accumulated (`frame.cost`), in arrival
order, as softirq processing would; that also keeps two stacks joined by a veth from calling
each other recursively.  A segment for no connection and no listener gets a RST
(tcp_v4_send_reset), which the client reports as `Connection refused`.  The connection state
machine is in tcp_conn.py, the control block and output in tcp_tcb.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scapy.layers.inet import IP, TCP
from scapy.packet import NoPayload, Raw

from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.kernel.sim.tcp_conn import TcpConn
from cnmsim.kernel.sim.tcp_socket import TcpSocket
from cnmsim.kernel.sim.tcp_tcb import ACK, FIN, M32, RST, SYN, seq_lt, sock_error
from cnmsim.packet.frame import Frame
from cnmsim.trace.explain import register

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.netns import SimNetns

register("tcp:rcv", None, "{place} (TCP) takes the segment: {reason}.")
register("tcp:rcv", "reset", "{place} answers with a TCP reset (RST): {reason}.")
register("tcp:rcv", "drop", "{place} (TCP) ignores the segment: {reason}.")
register("tcp:send", None, "{place} (TCP) sends {reason}.")
register("tcp:send", "drop", "{place} (TCP) could not send: {reason}.")
register("tcp:retransmit", None, "{place} got no acknowledgement in time and retransmits: {reason}.")
register("tcp:reset", "send", "{place} resets the connection {reason}.")
register("tcp:reset", "rcv", "{place} receives a reset (RST) for {reason}.")
register("tcp:state", None, "The TCP connection on {place} changes state: {reason}.")


@dataclass(slots=True)
class Seg:
    """The fields of a received segment that the state machine reads."""

    seq: int
    ack: int
    flags: int
    wnd: int
    data: bytes
    options: dict[str, Any]
    ts: int | None


def parse_segment(tcp: TCP) -> Seg:
    opts: dict[str, Any] = {}
    for k, v in tcp.options:
        if k == "Timestamp":
            opts["ts"], opts["ecr"] = v
        elif k == "MSS":
            opts["mss"] = v
        elif k == "WScale":
            opts["ws"] = v
        elif k == "SAckOK":
            opts["sackok"] = True
    pl = tcp.payload
    data = pl.load if type(pl) is Raw else b"" if isinstance(pl, NoPayload) else bytes(pl)
    return Seg(tcp.seq, tcp.ack, int(tcp.flags), tcp.window, data, opts, opts.get("ts"))


class TcpLayer:
    """The namespace's TCP: listeners, connections (4-tuple) and bound sockets."""

    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self.ctx = ns.kernel.ctx
        self.conns: dict[tuple[str, int, str, int], TcpConn] = {}
        self.listeners: dict[tuple[str, int], TcpSocket] = {}
        self.bound: list[TcpSocket] = []
        self._busy = 0.0  # when the last queued segment will have been processed

    def socket(self) -> TcpSocket:
        """socket(AF_INET, SOCK_STREAM)."""
        return TcpSocket(self)

    # ------------------------------------------------------------ tables
    def ports_in_use(self) -> set[int]:
        used = {s.local[1] for s in self.bound if s.local}
        used.update(p for (_, p) in self.listeners)
        used.update(c.local[1] for c in self.conns.values())
        return used

    def lookup_sender(self, src: str, sport: int, dst: str, dport: int) -> TcpConn | None:
        """The connection that sent a packet quoted in an ICMP error."""
        return self.conns.get((src, sport, dst, dport))

    def _holders(self, port: int):  # noqa: ANN202
        for s in self.bound:
            if s.local and s.local[1] == port:
                yield s.local[0], s.reuseaddr, False
        for (ip, p), s in self.listeners.items():
            if p == port:
                yield ip, s.reuseaddr, True
        for c in self.conns.values():
            if c.local[1] == port:
                yield c.local[0], c.reuse, False

    def bind(self, sock: TcpSocket, ip: str, port: int) -> None:
        """inet_bind + inet_csk_get_port: EADDRNOTAVAIL, EADDRINUSE (SO_REUSEADDR aware)."""
        ip = ip or "0.0.0.0"
        if ip != "0.0.0.0" and self.ns.addr_owner(ip) is None:
            raise sock_error("EADDRNOTAVAIL")
        if port == 0:
            port = self.ns.sockets.ephemeral_port("tcp", ip)
        for other, reuse, listening in self._holders(port):
            if ip != "0.0.0.0" and other != "0.0.0.0" and ip != other:
                continue
            if sock.reuseaddr and reuse and not listening:
                continue
            raise sock_error("EADDRINUSE")
        sock.local = (ip, port)
        self.bound.append(sock)

    def route(self, dst: str) -> tuple[str, int]:
        """(source address, MSS to announce) for a connection to dst; raises ENETUNREACH."""
        rt = self.ns.stack.route_output(dst)
        src = rt.src or (self.ns.select_source(rt.dev, rt.via or dst) if rt.dev else None)
        if src is None:
            raise sock_error("EADDRNOTAVAIL")
        mtu = rt.mtu or (rt.dev.mtu if rt.dev else 1500)
        return src, min(mtu, 65535) - 40

    def unhash(self, conn: TcpConn) -> None:
        if self.conns.get(conn.key) is conn:
            del self.conns[conn.key]
        lst = conn.listener
        if lst is not None:
            if conn.queued and conn in lst.accept_queue:
                lst.accept_queue.remove(conn)
            elif not conn.queued:
                lst.pending -= 1
            conn.listener = None

    def established(self, conn: TcpConn) -> None:
        """A passive connection finished its handshake: it joins the listener's accept queue."""
        lst = conn.listener
        if lst is not None and not conn.queued:
            lst.pending -= 1
            conn.queued = True
            lst.accept_queue.append(conn)
            lst.notify()

    # ------------------------------------------------------------ input
    def rcv(self, dev: NetDevice, frame: Frame, ip: IP, tcp: TCP) -> None:
        """tcp_v4_rcv: queue the segment for processing after its host-path latency."""
        now = self.ctx.env.now
        at = max(now + frame.cost, self._busy)
        self._busy = at
        self.ctx.later(at - now, self._process, dev, frame, ip, tcp)

    def _process(self, dev: NetDevice, frame: Frame, ip: IP, tcp: TCP) -> None:
        ns = self.ns
        seg = parse_segment(tcp)
        key = (ip.dst, tcp.dport, ip.src, tcp.sport)
        conn = self.conns.get(key)
        if conn is not None and conn.state == "TIME_WAIT" and seg.flags & (SYN | ACK) == SYN \
                and seq_lt(conn.rcv_nxt, seg.seq):
            conn.set_state("CLOSE", "a new SYN reuses the port pair", frame)
            conn = None
        if conn is not None:
            if ns.bus.on:
                ns.trace(dev.name, "tcp:rcv", "accept", f"it belongs to the connection {conn.name} ({conn.state})", frame)
            conn.rcv(seg, frame)
            return
        lst = self.listeners.get((ip.dst, tcp.dport)) or self.listeners.get(("0.0.0.0", tcp.dport))
        if lst is None:
            self.send_reset(ip, tcp, seg, f"no socket listens on TCP port {tcp.dport}", frame, dev)
            return
        f = seg.flags
        if f & RST:
            return
        if f & ACK:
            self.send_reset(ip, tcp, seg, "an ACK for a connection the listener does not know", frame, dev)
            return
        if not f & SYN:
            return
        if len(lst.accept_queue) > lst.backlog:
            if ns.bus.on:
                ns.trace(dev.name, "tcp:rcv", "drop", f"the accept queue of port {tcp.dport} is full (backlog {lst.backlog})", frame)
            return
        if ns.bus.on:
            ns.trace(dev.name, "tcp:rcv", "syn", f"SYN from {ip.src}:{tcp.sport} for the socket listening on {lst.local[0]}:{lst.local[1]}", frame)
        mss = self.route(ip.src)[1] if self._routable(ip.src) else 536
        conn = TcpConn(self, (ip.dst, tcp.dport), (ip.src, tcp.sport), mss, listener=lst, reuse=lst.reuseaddr)
        self.conns[key] = conn
        lst.pending += 1
        conn.passive_open(seg, frame)

    def _routable(self, dst: str) -> bool:
        try:
            self.ns.stack.route_output(dst)
        except OutputError:
            return False
        return True

    # ------------------------------------------------------------ resets
    def send_reset(self, ip: IP, tcp: TCP, seg: Seg, why: str, frame: Frame | None = None,
                   dev: NetDevice | None = None) -> None:
        """Answer a segment nobody wants with RST (never a RST to a RST, nor to a broadcast)."""
        ns = self.ns
        if seg.flags & RST or ip.dst == "255.255.255.255" or ip.dst in ns.bcast_addrs:
            if ns.bus.on:
                ns.trace(dev.name if dev else "", "tcp:rcv", "drop", why, frame)
            return
        if ns.bus.on:
            ns.trace(dev.name if dev else "", "tcp:rcv", "reset", why, frame)
        self.send_reset_for((ip.dst, tcp.dport), (ip.src, tcp.sport), seg, why, quiet=True)

    def send_reset_for(self, local: tuple[str, int], remote: tuple[str, int], seg: Seg, why: str,
                       quiet: bool = False) -> None:
        if seg.flags & RST:
            return
        if seg.flags & ACK:
            seq, ack, flags = seg.ack, 0, RST
        else:
            n = len(seg.data) + (1 if seg.flags & SYN else 0) + (1 if seg.flags & FIN else 0)
            seq, ack, flags = 0, (seg.seq + n) & M32, RST | ACK
        ip = IP(src=local[0], dst=remote[0], ttl=64, flags="DF", id=0)
        ip.add_payload(TCP(sport=local[1], dport=remote[1], seq=seq, ack=ack, flags=flags, window=0,
                           dataofs=5))
        fid = self.ctx.next_id()
        if self.ns.bus.on and not quiet:
            self.ns.trace("", "tcp:reset", "send", f"to {remote[0]}:{remote[1]}: {why}", Frame(ip, fid))
        try:
            self.ns.stack.output(ip, fid=fid)
        except OutputError:
            pass


__all__ = ["Seg", "TcpConn", "TcpLayer", "TcpSocket", "parse_segment"]
