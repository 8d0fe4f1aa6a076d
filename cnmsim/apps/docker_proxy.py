"""docker-proxy, the userland proxy: one process per published port, in the host's namespace.

It listens on HOST_IP:HOST_PORT and, for each connection, connects to the container's
address and relays bytes both ways.  It is what answers when the DNAT rules do not apply:
connections to 127.0.0.1 (nat OUTPUT skips 127.0.0.0/8) and from containers on the same
bridge (`-A DOCKER -i docker0 -j RETURN`), which is why the container then sees the bridge's
gateway address as the client (moby: cmd/docker-proxy/tcp_proxy.go, libnetwork portmapper).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from cnmsim.apps.netutil import closing
from cnmsim.kernel.sim.ipv4 import OutputError


class DockerProxy:
    """`docker-proxy -proto tcp -host-ip H -host-port P -container-ip C -container-port Q`."""

    def __init__(self, ns: Any, proto: str, host_ip: str, host_port: int, ctr_ip: str, ctr_port: int) -> None:
        self.ns, self.proto = ns, proto
        self.host_ip, self.host_port, self.ctr_ip, self.ctr_port = host_ip, host_port, ctr_ip, ctr_port
        self.env = ns.kernel.ctx.env
        self.sock: Any = None
        self.process: simpy.Process | None = None

    @property
    def argv(self) -> list[str]:
        return ["/usr/bin/docker-proxy", "-proto", self.proto, "-host-ip", self.host_ip, "-host-port",
                str(self.host_port), "-container-ip", self.ctr_ip, "-container-port", str(self.ctr_port)]

    def start(self) -> DockerProxy:
        """Bind now; raises OutputError (EADDRINUSE) as the real proxy fails to start."""
        if self.proto == "tcp":
            sock = self.ns.sockets.tcp.socket()
            sock.bind(self.host_ip, self.host_port)
            sock.listen(511)
            self.sock = sock
            self.process = self.env.process(self._accept())
        else:
            sock = self.ns.sockets.udp_socket()
            sock.bind(self.host_ip, self.host_port)
            self.sock = sock
            self.process = self.env.process(self._udp())
        return self

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.process is not None and self.process.is_alive:
            self.process.interrupt("stop")

    def _accept(self) -> Generator[Any, Any, None]:
        try:
            while True:
                client = yield from self.sock.accept()
                if client is not None:
                    self.env.process(self._relay(client))
        except simpy.Interrupt:
            pass

    def _relay(self, client: Any) -> Generator[Any, Any, None]:
        backend = self.ns.sockets.tcp.socket()
        with closing(client, backend):
            try:
                yield from backend.connect(self.ctr_ip, self.ctr_port)
            except OutputError:
                return  # the proxy closes the client connection when the backend refuses
            up = self.env.process(self._pipe(client, backend))
            down = self.env.process(self._pipe(backend, client))
            yield up & down

    @staticmethod
    def _pipe(src: Any, dst: Any) -> Generator[Any, Any, None]:
        """Copy one direction until FIN (passed on as a half-close) or an error (both closed)."""
        try:
            while True:
                data = yield from src.recv(65536)
                if not data:
                    dst.shutdown()
                    return
                dst.send(data)
        except OutputError:
            src.close()
            dst.close()

    def _udp(self) -> Generator[Any, Any, None]:
        """UDP: one backend socket per client address, replies relayed back (udp_proxy.go)."""
        backends: dict[tuple[str, int], Any] = {}
        try:
            while True:
                got = yield from self.sock.recvfrom()
                if not isinstance(got, tuple):
                    continue
                data, client = got
                b = backends.get(client)
                if b is None:
                    b = backends[client] = self.ns.sockets.udp_socket()
                    self.env.process(self._udp_back(b, client))
                b.sendto(data, (self.ctr_ip, self.ctr_port))
        except simpy.Interrupt:
            for b in backends.values():
                b.close()

    def _udp_back(self, b: Any, client: tuple[str, int]) -> Generator[Any, Any, None]:
        while True:
            got = yield from b.recvfrom(90.0)  # UDPConnTrackTimeout
            if not isinstance(got, tuple) or self.sock is None:
                b.close()
                return
            self.sock.sendto(got[0], client)
