"""The daemon's host-port allocator (libnetwork portallocator): one map per (host IP, protocol).

Explicit ports are taken if free ("Bind for 0.0.0.0:8000 failed: port is already allocated"
when not); port 0 takes the next free port of the ephemeral range after the last one handed
out, wrapping, so -P ports climb 32768, 32769 ... (portallocator.go findPort).  0.0.0.0
conflicts with every address of the same protocol, as a wildcard bind does.
"""

from __future__ import annotations

from cnmsim.engine.errors import EngineError


class PortAllocator:
    def __init__(self, begin: int = 32768, end: int = 60999) -> None:
        self.begin, self.end = begin, end
        self.used: dict[tuple[str, str], set[int]] = {}
        self.last: dict[tuple[str, str], int] = {}

    def _taken(self, ip: str, proto: str, port: int) -> bool:
        if ip == "0.0.0.0":
            return any(port in ports for (_, p), ports in self.used.items() if p == proto)
        return port in self.used.get((ip, proto), set()) or port in self.used.get(("0.0.0.0", proto), set())

    def request(self, ip: str, proto: str, port: int = 0) -> int:
        """Reserve PORT (or the next ephemeral one) for ip/proto; raise the daemon's message."""
        if port:
            if self._taken(ip, proto, port):
                raise EngineError(f"Bind for {ip}:{port} failed: port is already allocated")
            self.used.setdefault((ip, proto), set()).add(port)
            return port
        key = (ip, proto)
        cur = self.last.get(key, self.end)
        for _ in range(self.end - self.begin + 1):
            cur = self.begin if cur >= self.end else cur + 1
            if not self._taken(ip, proto, cur):
                self.last[key] = cur
                self.used.setdefault(key, set()).add(cur)
                return cur
        raise EngineError("all ports are allocated")

    def release(self, ip: str, proto: str, port: int) -> None:
        self.used.get((ip, proto), set()).discard(port)
