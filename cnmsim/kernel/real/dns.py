"""Docker's embedded DNS for real: libnetwork's resolver on 127.0.0.11 inside a sandbox.

    dns = RealEmbeddedDns(place, view=lambda: nets, upstreams=[Upstream("10.0.0.53")]).start()
    iptables-restore --noflush (in the sandbox) < dns.nat_rules()   # 127.0.0.11:53 -> the ports

As libnetwork's resolver does from dockerd, it listens from the engine's process: a UDP socket
and a TCP listener created inside the container's namespace (nsenter.socket_in) at 127.0.0.11
port 0, so the kernel picks the ports that the DNAT rules then name. Each query is answered on
its own thread by the simulated resolver's own logic (cnmsim.engine.dns.server.ResolverLogic:
Docker names, PTR, AAAA/MX nodata, the ndots rule, upstreams in order with the same timeout,
SERVFAIL when none answers), over real sockets; forwarded queries leave from the container's or
the host's namespace as each upstream says, over the client's protocol (UDP or TCP).

Threads never change engine state: `view()` is only read (a copy per query, retried if the
engine changes it meanwhile), and trace events are handed to the engine's thread (`lab.post`).
"""

from __future__ import annotations

import errno
import random
import select
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

from scapy.layers.dns import DNS

from cnmsim.engine.dns.names import DnsNetwork
from cnmsim.engine.dns.resolvconf import EMBEDDED_DNS, Upstream
from cnmsim.engine.dns.server import UPSTREAM_TIMEOUT, ResolverLogic
from cnmsim.kernel.real.apps import drive, immediate
from cnmsim.kernel.real.nsenter import socket_in
from cnmsim.kernel.sim.ipv4 import OutputError

if TYPE_CHECKING:
    from cnmsim.packet.frame import Frame
    from cnmsim.place import Place

TCP_IDLE = 8.0  # miekg/dns: a TCP client connection idle this long is closed
POLL = 0.25  # how often the loops look at the stop flag


def _errno_name(e: OSError) -> str:
    if isinstance(e, TimeoutError) and e.errno is None:
        return "ETIMEDOUT"
    return errno.errorcode.get(e.errno or 0, "EIO")


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _recv_msg(sock: socket.socket) -> bytes | None:
    """One length-prefixed DNS message from a TCP stream; None at EOF."""
    head = _recv_exact(sock, 2)
    return None if head is None else _recv_exact(sock, struct.unpack("!H", head)[0])


class RealEmbeddedDns(ResolverLogic):
    """EmbeddedDns's interface (start, stop, nat_rules, set_upstreams, port, tcp_port, queries,
    upstreams) with real sockets in the sandbox `place.ns` (a RealNetns: `real_name`)."""

    def __init__(self, place: Place, view: Callable[[], list[DnsNetwork]],
                 upstreams: Iterable[Upstream] = (), proxy_dns: bool | None = None,
                 ndots_set: bool = False, address: str = EMBEDDED_DNS) -> None:
        super().__init__(view, upstreams, proxy_dns, ndots_set, address, random.Random())
        self.place = place
        self.ns: Any = place.ns
        self.lab = place.host.lab
        self.udp: socket.socket | None = None
        self.tcp: socket.socket | None = None
        self.stopped = threading.Event()
        self._loops: list[threading.Thread] = []

    # ------------------------------------------------------------ lifecycle
    def start(self) -> RealEmbeddedDns:
        """Bind 127.0.0.11:0 for UDP and TCP in the sandbox and start answering (OSError if the
        sandbox's lo is down: 127.0.0.0/8 is local only while lo is up)."""
        real = self.ns.real_name
        udp = socket_in(real, socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket_in(real, socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((self.address, 0))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((self.address, 0))
            tcp.listen(128)
        except OSError:
            udp.close()
            tcp.close()
            raise
        self.udp, self.tcp = udp, tcp
        self.port, self.tcp_port = udp.getsockname()[1], tcp.getsockname()[1]
        self._loops = [threading.Thread(target=target, name=f"dns-{name}:{real}", daemon=True)
                       for target, name in ((self._udp_loop, "udp"), (self._tcp_loop, "tcp"))]
        for t in self._loops:
            t.start()
        return self

    def stop(self) -> None:
        """Stop answering; both sockets are closed when this returns."""
        self.stopped.set()
        for sock in (self.udp, self.tcp):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the loop's select (even for UDP)
                except OSError:
                    pass
        for t in self._loops:
            t.join(2.0)

    # ------------------------------------------------------------ serving (threads)
    def _udp_loop(self) -> None:
        assert self.udp is not None
        with self.udp as sock:
            while not self.stopped.is_set():
                if not select.select([sock], [], [], POLL)[0] or self.stopped.is_set():
                    continue
                try:
                    data, client = sock.recvfrom(65535)
                except OSError:
                    continue
                threading.Thread(target=self._serve_udp, args=(data, client), daemon=True).start()

    def _serve_udp(self, data: bytes, client: tuple[str, int]) -> None:
        answer = self._query(data, "udp")
        if answer is not None and self.udp is not None and not self.stopped.is_set():
            try:
                self.udp.sendto(answer, client)
            except OSError:
                pass

    def _tcp_loop(self) -> None:
        assert self.tcp is not None
        with self.tcp as sock:
            while not self.stopped.is_set():
                if not select.select([sock], [], [], POLL)[0] or self.stopped.is_set():
                    continue
                try:
                    conn, _ = sock.accept()
                except OSError:
                    continue
                threading.Thread(target=self._serve_tcp, args=(conn,), daemon=True).start()

    def _serve_tcp(self, conn: socket.socket) -> None:
        """Length-prefixed queries until the client closes or stays idle TCP_IDLE seconds."""
        conn.settimeout(TCP_IDLE)
        with conn:
            while not self.stopped.is_set():
                try:
                    data = _recv_msg(conn)
                except OSError:
                    return
                if data is None:
                    return
                answer = self._query(data, "tcp")
                if answer is None:
                    return
                try:
                    conn.sendall(struct.pack("!H", len(answer)) + answer)
                except OSError:
                    return

    def _query(self, data: bytes, proto: str) -> bytes | None:
        try:
            return drive(self._answer(data, None, proto))
        except Exception:  # noqa: BLE001  (one bad query must not end the resolver)
            traceback.print_exc(file=sys.stderr)
            return None

    # ------------------------------------------------------------ ResolverLogic's hooks
    def _networks(self) -> list[DnsNetwork]:
        """A copy of the engine's view, taken again if the engine changed it while copying."""
        for _ in range(5):
            try:
                return [DnsNetwork(n.name, {k: list(v) for k, v in n.records.items()}, dict(n.reverse),
                                   n.internal) for n in self.view()]
            except (RuntimeError, KeyError, AttributeError, TypeError):
                time.sleep(0.01)
        return []

    def _upstream_send(self, up: Upstream, data: bytes, proto: str) -> socket.socket:
        real = self.place.host.root.real_name if up.host_ns else self.ns.real_name
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        sock = socket_in(real, socket.AF_INET, kind)
        sock.settimeout(UPSTREAM_TIMEOUT)
        try:
            sock.connect((up.addr, 53))
            sock.sendall(struct.pack("!H", len(data)) + data if proto == "tcp" else data)
        except OSError as e:
            sock.close()
            raise OutputError(_errno_name(e), e.strerror or str(e)) from None
        return sock

    def _upstream_reply(self, sock: socket.socket, qid: int) -> Generator[Any, Any, tuple[bytes, DNS] | str | None]:
        return immediate(self._reply_from(sock, qid))

    @staticmethod
    def _reply_from(sock: socket.socket, qid: int) -> tuple[bytes, DNS] | str | None:
        deadline = time.monotonic() + UPSTREAM_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                raw = _recv_msg(sock) if sock.type == socket.SOCK_STREAM else sock.recv(65535)
            except TimeoutError:
                return None
            except OSError as e:  # ECONNREFUSED: the ICMP port unreachable of a connected socket
                return _errno_name(e)
            if raw is None:
                return "ECONNRESET"
            try:
                ans = DNS(raw)
            except Exception:  # noqa: BLE001  (garbage: keep waiting)
                continue
            if ans.id == qid and ans.qr:
                return raw, ans
        return None

    def _upstream_close(self, sock: socket.socket) -> None:
        sock.close()

    def _trace(self, stage: str, verdict: str, reason: str, frame: Frame | None) -> None:
        """The resolver's decision as the simulated one reports it, emitted on the engine's thread."""
        bus = self.lab.bus
        if not bus.on:
            return
        host, ns = self.place.host.name, self.ns.name

        def emit() -> None:
            if bus.on:
                bus.emit(host, ns, "lo", stage, verdict, reason)
        self.lab.post(emit)
