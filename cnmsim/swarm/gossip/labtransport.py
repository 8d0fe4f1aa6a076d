"""Gossip over a Lab's simulated kernels: memberlist's UDP and TCP port 7946 between hosts.

Each node is a lab host; its memberlist binds UDP 0.0.0.0:7946 (and sends from it, as
memberlist does) and listens on TCP 7946 for push-pull and the TCP ping fallback.  A message
travels as a datagram of its real size whose first 8 bytes name it, so the packets are
scapy frames that cross the hosts' routes, iptables rules, MTUs, segments (loss, latency) and
pcaps like any other traffic: block 7946 with iptables on one host and the others suspect it.
For 10 to 10,000-host studies use `FastTransport`, which models the same path without frames.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.swarm.gossip.api import Message

if TYPE_CHECKING:
    from cnmsim.lab import Lab

PORT = 7946


class LabTransport:
    """Transport for a cluster whose node i is the lab host `hosts[i]`."""

    def __init__(self, lab: Lab, hosts: list[str], port: int = PORT) -> None:
        self.lab, self.hosts, self.port = lab, list(hosts), port
        self.addrs = []
        for h in self.hosts:
            addr = lab[h].address
            if addr is None:
                raise ValueError(f"host {h} has no address on the LAN to gossip from")
            self.addrs.append(addr)
        self.node_of = {a: i for i, a in enumerate(self.addrs)}
        self.deliver: Callable[[Message], None] | None = None
        self.pending: dict[int, Message] = {}  # message id -> message, until it arrives
        self.seq = 0
        self.udp: list[Any] = []
        self.procs: list[simpy.Process] = []

    def bind(self, deliver: Callable[[Message], None]) -> None:
        self.deliver = deliver
        env = self.lab.env
        for h in self.hosts:
            ns = self.lab[h].root
            sock = ns.sockets.udp_socket()
            sock.bind("0.0.0.0", self.port)
            self.udp.append(sock)
            self.procs.append(env.process(self._udp_loop(sock)))
            lsock = ns.sockets.tcp.socket()
            lsock.reuseaddr = True
            lsock.bind("0.0.0.0", self.port)
            lsock.listen(511)
            self.procs.append(env.process(self._tcp_accept(lsock)))

    def _arrived(self, data: bytes) -> None:
        msg = self.pending.pop(int.from_bytes(data[:8], "big"), None)
        if msg is not None and self.deliver is not None:
            self.deliver(msg)

    def _udp_loop(self, sock: Any) -> Generator[Any, Any, None]:
        while True:
            got = yield from sock.recvfrom()
            if isinstance(got, tuple):
                self._arrived(got[0])

    def _tcp_accept(self, lsock: Any) -> Generator[Any, Any, None]:
        env = self.lab.env
        while True:
            conn = yield from lsock.accept()
            if conn is not None:
                env.process(self._tcp_read(conn))

    def _tcp_read(self, conn: Any) -> Generator[Any, Any, None]:
        buf = b""
        try:
            while True:
                chunk = yield from conn.recv(65536, timeout=30.0)
                if not chunk:
                    break
                buf += chunk
        except OutputError:
            pass
        conn.close()
        while len(buf) >= 4:  # length-prefixed: 4 bytes size, then the message
            size = int.from_bytes(buf[:4], "big")
            self._arrived(buf[4:4 + size])
            buf = buf[4 + size:]

    def _payload(self, msg: Message) -> bytes:
        self.seq += 1
        self.pending[self.seq] = msg
        return self.seq.to_bytes(8, "big") + bytes(max(msg.size, 8) - 8)

    def send(self, msg: Message) -> None:
        data = self._payload(msg)
        if not msg.reliable:
            try:
                self.udp[msg.src].sendto(data, (self.addrs[msg.dst], self.port))
            except OutputError:
                self.pending.pop(self.seq, None)  # no route: lost like the real datagram
            return
        self.lab.env.process(self._tcp_send(msg.src, msg.dst, data, self.seq))

    def _tcp_send(self, src: int, dst: int, data: bytes, seq: int) -> Generator[Any, Any, None]:
        sock = self.lab[self.hosts[src]].root.sockets.tcp.socket()
        try:
            yield from sock.connect(self.addrs[dst], self.port, timeout=10.0)  # TCPTimeout (LAN)
            sock.send(len(data).to_bytes(4, "big") + data)
            sock.shutdown()
            yield from sock.drain(timeout=10.0)
        except OutputError:
            self.pending.pop(seq, None)
        finally:
            sock.close()

    def reachable(self, src: int, dst: int) -> bool:
        """Whether a route to dst exists from src; the connect itself may still be refused."""
        try:
            self.lab[self.hosts[src]].root.route_get(self.addrs[dst])
            return True
        except Exception:  # noqa: BLE001  (no route: the kernel refuses)
            return False
