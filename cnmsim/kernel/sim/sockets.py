"""Sockets of one namespace: ICMP echo (ping) sockets and UDP; TCP lives in tcp.py.

Apps are simpy processes; a receive is an event they yield on, with a timeout:

    sock = ns.sockets.udp(); sock.bind("0.0.0.0", 53)
    got = yield from sock.recvfrom(timeout=2.0)    # (data, (ip, port)) or None
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror
from scapy.packet import Raw

from cnmsim.packet.frame import Frame

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.netns import SimNetns


@dataclass(slots=True)
class SockError:
    """An error queued on a socket (ICMP error or local failure), as IP_RECVERR reports it."""

    errno_name: str
    offender: str  # address that reported it ("From X")
    itype: int = 0
    code: int = 0
    mtu: int = 0
    quoted: Any = None  # the quoted inner packet (IPerror)


class Socket:
    """Common part: a receive queue of (item, arrival time) in simulated time."""

    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self.queue: simpy.Store = simpy.Store(ns.kernel.ctx.env)
        self.closed = False

    def _push(self, item: Any, frame: Frame | None) -> None:
        delay = frame.cost if frame is not None else 0.0
        if delay > 0:
            self.ns.kernel.ctx.later(delay, self.queue.put, item)
        else:
            self.queue.put(item)

    def recv_item(self, timeout: float | None) -> Generator[Any, Any, Any]:
        """Wait for the next queued item; None on timeout."""
        env = self.ns.kernel.ctx.env
        get = self.queue.get()
        if timeout is None:
            return (yield get)
        res = yield get | env.timeout(timeout)
        if get in res:
            return res[get]
        get.cancel()
        return None


class PingSocket(Socket):
    """An ICMP echo socket: gets the replies and errors for its identifier."""

    def __init__(self, ns: SimNetns, ident: int) -> None:
        super().__init__(ns)
        self.ident = ident
        self.pmtudisc = "want"  # IP_MTU_DISCOVER: "do", "want" (the default), "dont", "probe"

    def send(self, ip: IP, oif: str | None = None) -> Frame:
        return self.ns.stack.output(ip, oif=oif, pmtudisc=self.pmtudisc)

    def close(self) -> None:
        self.closed = True
        self.ns.sockets.ping.pop(self.ident, None)


class UdpSocket(Socket):
    def __init__(self, ns: SimNetns) -> None:
        super().__init__(ns)
        self.local: tuple[str, int] | None = None
        self.peer: tuple[str, int] | None = None

    def bind(self, ip: str = "0.0.0.0", port: int = 0) -> None:
        table = self.ns.sockets
        port = port or table.ephemeral_port("udp", ip)
        if (ip, port) in table.udp or ("0.0.0.0", port) in table.udp:
            from cnmsim.kernel.sim.ipv4 import OutputError

            raise OutputError("EADDRINUSE", "Address already in use")
        self.local = (ip, port)
        table.udp[(ip, port)] = self

    def connect(self, ip: str, port: int) -> None:
        if self.local is None:
            self.bind()
        self.peer = (ip, port)

    def sendto(self, data: bytes, addr: tuple[str, int], ttl: int = 64) -> Frame:
        if self.local is None:
            self.bind()
        assert self.local is not None
        src = self.local[0] if self.local[0] != "0.0.0.0" else None
        ip = IP(dst=addr[0], ttl=ttl, **({"src": src} if src else {}))
        udp = UDP(sport=self.local[1], dport=addr[1])
        udp.add_payload(Raw(data))  # add_payload, not `/`: `/` copies both layers
        ip.add_payload(udp)
        return self.ns.stack.output(ip)

    def send(self, data: bytes) -> Frame:
        assert self.peer is not None
        return self.sendto(data, self.peer)

    def recvfrom(self, timeout: float | None = None) -> Generator[Any, Any, Any]:
        """(data, (ip, port)), a SockError, or None on timeout."""
        return (yield from self.recv_item(timeout))

    def close(self) -> None:
        self.closed = True
        if self.local is not None:
            self.ns.sockets.udp.pop(self.local, None)


class SocketTable:
    """Per-namespace socket lookup (the kernel's socket hash tables)."""

    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self.ping: dict[int, PingSocket] = {}
        self.udp: dict[tuple[str, int], UdpSocket] = {}
        from cnmsim.kernel.sim.tcp import TcpLayer

        self.tcp = TcpLayer(ns)

    # ------------------------------------------------------------ creation
    def ping_socket(self) -> PingSocket:
        rng = self.ns.kernel.ctx.rng
        ident = rng.randrange(1, 1 << 16)
        while ident in self.ping:
            ident = rng.randrange(1, 1 << 16)
        s = self.ping[ident] = PingSocket(self.ns, ident)
        return s

    def udp_socket(self) -> UdpSocket:
        return UdpSocket(self.ns)

    def ephemeral_port(self, proto: str, ip: str = "0.0.0.0") -> int:
        """A free port from net.ipv4.ip_local_port_range, drawn from the lab's RNG."""
        lo, hi = (int(x) for x in self.ns.sysctl_get("net.ipv4.ip_local_port_range").split())
        used = {p for (_, p) in self.udp} if proto == "udp" else self.tcp.ports_in_use()
        rng = self.ns.kernel.ctx.rng
        for _ in range(64):
            p = rng.randint(lo, hi)
            if p not in used:
                return p
        return next(p for p in range(lo, hi + 1) if p not in used)

    # ------------------------------------------------------------ delivery
    def lookup_udp(self, dst: str, port: int) -> UdpSocket | None:
        return self.udp.get((dst, port)) or self.udp.get(("0.0.0.0", port))

    def deliver(self, dev: NetDevice, frame: Frame, ip: IP, l4: UDP | TCP) -> None:
        ns = self.ns
        if isinstance(l4, TCP):
            self.tcp.rcv(dev, frame, ip, l4)
            return
        sock = self.lookup_udp(ip.dst, l4.dport)
        if sock is None:
            if ns.bus.on:
                ns.trace(dev.name, "udp:rcv", "drop", f"no socket on UDP port {l4.dport}: port unreachable", frame)
            from cnmsim.kernel.sim.icmp import send_error

            send_error(ns, frame, 3, 3)
            return
        encap = getattr(sock, "encap_rcv", None)
        if encap is not None:  # a UDP tunnel socket (vxlan) takes the whole packet (encap_rcv)
            encap(dev, frame, ip, l4)
            return
        if ns.bus.on:
            ns.trace(dev.name, "udp:rcv", "deliver", f"to the socket bound to {sock.local[0]}:{sock.local[1]}", frame)
        data = bytes(l4.payload.load) if isinstance(l4.payload, Raw) else bytes(l4.payload)
        sock._push((data, (ip.src, l4.sport)), frame)

    def deliver_icmp(self, dev: NetDevice, frame: Frame, ip: IP, icmp: ICMP) -> None:
        sock = self.ping.get(icmp.id) if icmp.type == 0 else None
        if sock is None:
            self.ns.trace(dev.name, "icmp:rcv", "drop", f"no socket waits for ICMP type {icmp.type} id {icmp.id}", frame)
            return
        if self.ns.bus.on:
            self.ns.trace(dev.name, "icmp:rcv", "deliver", f"echo reply to the ping socket id {icmp.id}", frame)
        sock._push((ip, self.ns.kernel.ctx.env.now + frame.cost), frame)

    def icmp_error(self, frame: Frame, ip: IP, icmp: ICMP) -> None:
        """Hand an ICMP error to the socket that sent the quoted packet."""
        inner = icmp.payload
        if not isinstance(inner, IP):
            return
        err = SockError(_errno(icmp.type, icmp.code), ip.src, icmp.type, icmp.code,
                        int(icmp.nexthopmtu or 0), inner)
        sock = self._sender_of(inner)
        if sock is None:
            self.ns.trace("", "icmp:error", "drop", "no local socket sent the quoted packet", frame)
            return
        self.ns.trace("", "icmp:error", "deliver", f"{err.errno_name} from {ip.src} to the sending socket", frame)
        if isinstance(sock, Socket):
            sock._push(err, frame)
        else:
            sock.on_icmp_error(err)

    def local_error(self, frame: Frame, errno_name: str) -> None:
        ip = frame.ip
        if ip is None:
            return
        sock = self._sender_of(ip)
        if sock is None:
            return
        err = SockError(errno_name, ip.src, 3, 1, 0, ip)
        if isinstance(sock, Socket):
            sock._push(err, None)
        else:
            sock.on_icmp_error(err)

    def _sender_of(self, inner: IP) -> Any:
        pl = inner.payload
        if isinstance(pl, ICMP):
            return self.ping.get(pl.id)
        if isinstance(pl, UDP):
            return self.lookup_udp(inner.src, pl.sport)
        if isinstance(pl, TCP):
            return self.tcp.lookup_sender(inner.src, pl.sport, inner.dst, pl.dport)
        return None


def _errno(itype: int, code: int) -> str:
    if itype == 11:
        return "EHOSTUNREACH"
    if itype == 3:
        return {0: "ENETUNREACH", 1: "EHOSTUNREACH", 3: "ECONNREFUSED", 4: "EMSGSIZE",
                13: "EHOSTUNREACH"}.get(code, "EHOSTUNREACH")
    return "EPROTO"


__all__ = ["IPerror", "PingSocket", "SockError", "SocketTable", "UdpSocket"]
