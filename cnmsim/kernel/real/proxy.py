"""docker-proxy for real: the userland proxy of one published port, in the host's namespace.

    proxy = RealDockerProxy(host.root, "tcp", "0.0.0.0", 8000, "172.17.0.2", 80).start()
    proxy.stop()

As cnmsim.apps.docker_proxy models it (moby cmd/docker-proxy): it listens on HOST_IP:HOST_PORT
in the host's namespace and, per TCP connection, connects to the container from the host's
namespace (so the container sees the host's bridge address as the client) and copies bytes both
ways, passing a FIN on as a half-close; a refused backend closes the client. UDP: one connected
backend socket per client address, replies relayed back, closed after 90 s without a reply
(UDPConnTrackTimeout) or on an error, as the simulated proxy does. Sockets live in the namespace
(nsenter.socket_in); the copying runs on daemon threads of the engine's process.
"""

from __future__ import annotations

import select
import socket
import threading
from typing import Any

from cnmsim.kernel.real.nsenter import socket_in

UDP_CONNTRACK_TIMEOUT = 90.0  # udp_proxy.go UDPConnTrackTimeout
POLL = 0.25  # how often the loops look at the stop flag


def _shut(*socks: socket.socket) -> None:
    """Wake every thread blocked on these sockets (close alone does not on Linux)."""
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class RealDockerProxy:
    """`docker-proxy -proto P -host-ip H -host-port N -container-ip C -container-port M`."""

    def __init__(self, root_ns: Any, proto: str, host_ip: str, host_port: int, ip: str, port: int) -> None:
        self.root_ns, self.proto = root_ns, proto
        self.host_ip, self.host_port, self.ctr_ip, self.ctr_port = host_ip, int(host_port), ip, int(port)
        self.sock: socket.socket | None = None
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()  # relayed connections, closed with the proxy
        self._backends: dict[tuple[str, int], socket.socket] = {}
        self._loop: threading.Thread | None = None

    @property
    def argv(self) -> list[str]:
        return ["/usr/bin/docker-proxy", "-proto", self.proto, "-host-ip", self.host_ip, "-host-port",
                str(self.host_port), "-container-ip", self.ctr_ip, "-container-port", str(self.ctr_port)]

    def _socket(self, kind: int) -> socket.socket:
        return socket_in(self.root_ns.real_name, socket.AF_INET, kind)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> RealDockerProxy:
        """Bind now; raises OSError (EADDRINUSE ...) as the real proxy fails to start."""
        tcp = self.proto == "tcp"
        sock = self._socket(socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        try:
            if tcp:  # Go's net.Listen sets SO_REUSEADDR on TCP listeners
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host_ip, self.host_port))
            if tcp:
                sock.listen(511)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self._loop = threading.Thread(target=self._accept if tcp else self._udp, daemon=True,
                                      name=f"docker-proxy:{self.host_port}/{self.proto}")
        self._loop.start()
        return self

    def stop(self) -> None:
        """The process ends: its listener (closed, the port free, when this returns) and every
        relayed connection close."""
        self.stopped.set()
        with self._lock:
            live = list(self._open) + list(self._backends.values())
        _shut(*live)
        if self.sock is not None and self._loop is not None:
            _shut(self.sock)  # wakes the loop's select, even for an unconnected UDP socket
            self._loop.join(2.0)

    # ------------------------------------------------------------ TCP
    def _accept(self) -> None:
        assert self.sock is not None
        with self.sock as sock:
            while not self.stopped.is_set():
                if not select.select([sock], [], [], POLL)[0] or self.stopped.is_set():
                    continue
                try:
                    client, _ = sock.accept()
                except OSError:
                    continue
                threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        backend = self._socket(socket.SOCK_STREAM)
        with self._lock:
            self._open.update((client, backend))
        try:
            try:
                backend.connect((self.ctr_ip, self.ctr_port))
            except OSError:
                return  # the proxy closes the client connection when the backend refuses
            if self.stopped.is_set():
                return
            pipes = [threading.Thread(target=self._pipe, args=(a, b), daemon=True)
                     for a, b in ((client, backend), (backend, client))]
            for t in pipes:
                t.start()
            for t in pipes:
                t.join()
        finally:
            with self._lock:
                self._open.difference_update((client, backend))
            client.close()
            backend.close()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        """Copy one direction until FIN (passed on as a half-close) or an error (both closed)."""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
        except OSError:
            _shut(src, dst)

    # ------------------------------------------------------------ UDP
    def _udp(self) -> None:
        """One backend socket per client address, replies relayed back (udp_proxy.go)."""
        assert self.sock is not None
        with self.sock as sock:
            while not self.stopped.is_set():
                if not select.select([sock], [], [], POLL)[0] or self.stopped.is_set():
                    continue
                try:
                    data, client = sock.recvfrom(65535)
                except OSError:
                    continue
                with self._lock:
                    b = self._backends.get(client)
                if b is None:
                    b = self._socket(socket.SOCK_DGRAM)
                    try:
                        b.connect((self.ctr_ip, self.ctr_port))
                    except OSError:
                        b.close()
                        continue
                    with self._lock:
                        self._backends[client] = b
                    threading.Thread(target=self._udp_back, args=(b, client), daemon=True).start()
                try:
                    b.send(data)
                except OSError:
                    pass

    def _udp_back(self, b: socket.socket, client: tuple[str, int]) -> None:
        b.settimeout(UDP_CONNTRACK_TIMEOUT)
        try:
            while True:
                data = b.recv(65535)
                if self.stopped.is_set() or self.sock is None:
                    return
                self.sock.sendto(data, client)
        except OSError:
            return  # idle for 90 s, or an ICMP error: closed (the next datagram opens another)
        finally:
            with self._lock:
                if self._backends.get(client) is b:
                    del self._backends[client]
            b.close()
