"""The stream socket an app holds: the BSD calls, blocking in simulated time.

Blocking calls are generators an app runs with `yield from` inside its simpy process; they
raise `OutputError` (errno name + strerror, as the C library reports it) and accept a timeout
(None waits forever; a Ctrl-C arrives as simpy.Interrupt):

    srv = ns.sockets.tcp.socket(); srv.reuseaddr = True
    srv.bind("0.0.0.0", 80); srv.listen()
    conn = yield from srv.accept()                 # a connected TcpSocket
    data = yield from conn.recv(65536, timeout=5)  # bytes; b"" at EOF; None on timeout
    conn.send(b"..."); conn.close()                # FIN after the queued data
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from cnmsim.kernel.sim.tcp_tcb import sock_error

if TYPE_CHECKING:
    import simpy

    from cnmsim.kernel.sim.tcp import TcpLayer
    from cnmsim.kernel.sim.tcp_conn import TcpConn

SOMAXCONN = 4096


class TcpSocket:
    """One SOCK_STREAM socket: unbound, bound, listening or connected."""

    def __init__(self, layer: TcpLayer, conn: TcpConn | None = None) -> None:
        self.layer = layer
        self.env = layer.ctx.env
        self.local: tuple[str, int] | None = conn.local if conn else None
        self.conn = conn
        self.listening = False
        self.backlog = 0
        self.accept_queue: deque[TcpConn] = deque()
        self.pending = 0  # connections still in SYN_RECV
        self.reuseaddr = False  # SO_REUSEADDR
        self.closed = False
        self._waiters: list[simpy.Event] = []

    def __repr__(self) -> str:
        return f"<TcpSocket {self.local} {self.state}>"

    @property
    def state(self) -> str:
        if self.listening:
            return "LISTEN"
        return self.conn.state if self.conn else "CLOSE"

    @property
    def peer(self) -> tuple[str, int] | None:
        """getpeername()."""
        return self.conn.remote if self.conn else None

    # ------------------------------------------------------------ waiting
    def notify(self) -> None:
        """Wake the app's blocked call (the kernel's sk_data_ready / sk_state_change)."""
        waiters, self._waiters = self._waiters, []
        for ev in waiters:
            if not ev.triggered:
                ev.succeed()

    def _wait(self, deadline: float | None) -> Generator[Any, Any, bool]:
        """Sleep until notified (True) or until the deadline (False)."""
        ev = self.env.event()
        self._waiters.append(ev)
        if deadline is None:
            yield ev
            return True
        yield ev | self.env.timeout(max(0.0, deadline - self.env.now))
        return ev.triggered

    def _deadline(self, timeout: float | None) -> float | None:
        return None if timeout is None else self.env.now + timeout

    # ------------------------------------------------------------ set-up
    def bind(self, ip: str = "0.0.0.0", port: int = 0) -> None:
        if self.local is not None:
            raise sock_error("EINVAL")
        self.layer.bind(self, ip, port)

    def listen(self, backlog: int = 511) -> None:
        layer = self.layer
        if self.local is None:
            layer.bind(self, "0.0.0.0", 0)
        assert self.local is not None
        ip, port = self.local
        for (lip, lport) in layer.listeners:
            if lport == port and (lip == ip or "0.0.0.0" in (lip, ip)):
                raise sock_error("EADDRINUSE")
        if self in layer.bound:
            layer.bound.remove(self)
        layer.listeners[self.local] = self
        self.listening = True
        self.backlog = min(backlog, SOMAXCONN)

    def accept(self, timeout: float | None = None) -> Generator[Any, Any, TcpSocket | None]:
        """The next established connection, as a new socket; None on timeout."""
        if not self.listening:
            raise sock_error("EINVAL")
        deadline = self._deadline(timeout)
        while not self.accept_queue:
            if not (yield from self._wait(deadline)):
                return None
        conn = self.accept_queue.popleft()
        conn.listener, conn.queued = None, False
        sock = TcpSocket(self.layer, conn)
        conn.owner = sock
        return sock

    def connect(self, ip: str, port: int, timeout: float | None = None) -> Generator[Any, Any, None]:
        """Three-way handshake; raises ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH ...
        or EINPROGRESS when `timeout` (the app's own limit) runs out first."""
        from cnmsim.kernel.sim.tcp_conn import TcpConn

        layer = self.layer
        if self.conn is not None:
            raise sock_error("EISCONN")
        src, mss = layer.route(ip)
        if self.local is not None:
            layer.bound.remove(self)
            if self.local[0] != "0.0.0.0":
                src = self.local[0]
            lport = self.local[1]
        else:
            try:
                lport = layer.ns.sockets.ephemeral_port("tcp", src)
            except StopIteration:  # every port of ip_local_port_range is taken
                raise sock_error("EADDRNOTAVAIL") from None
        key = (src, lport, ip, port)
        if key in layer.conns:
            raise sock_error("EADDRNOTAVAIL")
        conn = TcpConn(layer, (src, lport), (ip, port), mss, owner=self, reuse=self.reuseaddr)
        self.conn, self.local = conn, (src, lport)
        layer.conns[key] = conn
        conn.active_open()
        deadline = self._deadline(timeout)
        while conn.state == "SYN_SENT":
            if not (yield from self._wait(deadline)):
                conn.app_close()
                raise sock_error("EINPROGRESS")
        if conn.state == "CLOSE":
            err, conn.error = conn.error or "ECONNRESET", None
            raise sock_error(err)

    # ------------------------------------------------------------ data
    def send(self, data: bytes) -> int:
        """Queue data for sending (the send buffer is unbounded); raises EPIPE, ECONNRESET ..."""
        c = self.conn
        if c is None:
            raise sock_error("ENOTCONN")
        if c.error:
            err, c.error = c.error, None
            raise sock_error(err)
        if c.fin_queued or c.state not in ("ESTABLISHED", "CLOSE_WAIT"):
            raise sock_error("EPIPE")
        c.app_send(bytes(data))
        return len(data)

    def recv(self, bufsize: int = 65536, timeout: float | None = None) -> Generator[Any, Any, bytes | None]:
        """Up to bufsize bytes; b"" once the peer sent FIN; None on timeout; raises ECONNRESET."""
        c = self.conn
        if c is None:
            raise sock_error("ENOTCONN")
        deadline = self._deadline(timeout)
        while True:
            if c.rcvbuf:
                return c.app_read(bufsize)
            if c.error:
                err, c.error = c.error, None
                c.eof = True
                raise sock_error(err)
            if c.eof or c.state == "CLOSE":
                return b""
            if not (yield from self._wait(deadline)):
                return None

    def drain(self, timeout: float | None = None) -> Generator[Any, Any, bool]:
        """Wait until everything sent was acknowledged (like SO_LINGER's wait); False on timeout."""
        c = self.conn
        deadline = self._deadline(timeout)
        while c is not None and c.sndbuf and c.state != "CLOSE":
            if not (yield from self._wait(deadline)):
                return False
        return True

    # ------------------------------------------------------------ teardown
    def shutdown(self) -> None:
        """shutdown(SHUT_WR): send FIN after the queued data; receiving goes on."""
        if self.conn is None:
            raise sock_error("ENOTCONN")
        self.conn.app_shutdown()

    def close(self) -> None:
        """close(): FIN (or RST if unread data is left); a listener resets its queued connections."""
        if self.closed:
            return
        self.closed = True
        layer = self.layer
        if self.listening:
            self.listening = False
            layer.listeners.pop(self.local, None)  # type: ignore[arg-type]
            for c in [c for c in layer.conns.values() if c.listener is self]:
                c.send_rst("the listening socket was closed")
                c.set_state("CLOSE", "the listening socket was closed")
        elif self.conn is not None:
            self.conn.app_close()
        elif self in layer.bound:
            layer.bound.remove(self)
        self.notify()
