"""A small DNS server on UDP 53 (scapy's DNS), authoritative for a zone and optionally forwarding.

    srv = serve_dns(place, {"example.com": "198.51.100.10"}, forwarders=["198.51.100.53"])
- A queries for a zone name get its address (aa=1, TTL 300); other types get an empty answer;
- names under a zone name that it does not list get NXDOMAIN (aa=1);
- PTR queries for a zone address get the name back;
- anything else, when the query asks for recursion (rd=1), goes to the forwarders and their
  answer is relayed (SERVFAIL if none answers); without forwarders the answer is NXDOMAIN.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy
from scapy.layers.dns import DNS, DNSRR

from cnmsim.kernel.sim.ipv4 import OutputError

if TYPE_CHECKING:
    from cnmsim.place import Place

TTL = 300
FORWARD_TIMEOUT = 5.0


def _norm(name: str | bytes) -> str:
    s = name.decode() if isinstance(name, bytes) else name
    return s.rstrip(".").lower()


class DnsServer:
    """One UDP socket on port 53 and a process answering it."""

    def __init__(self, place: Place, zone: dict[str, str], forwarders: list[str] | None = None,
                 port: int = 53, recursive: bool = True) -> None:
        self.place, self.port, self.recursive = place, port, recursive  # recursive: the RA flag
        self.ns = place.ns
        self.env = self.ns.kernel.ctx.env
        self.zone = {_norm(k): v for k, v in zone.items()}
        self.reverse = {".".join(reversed(ip.split("."))) + ".in-addr.arpa": name for name, ip in self.zone.items()}
        self.forwarders = list(forwarders or [])
        self.sock: Any = None
        self.process: simpy.Process | None = None
        self.queries = 0

    def start(self) -> DnsServer:
        sock = self.ns.sockets.udp_socket()
        sock.bind("0.0.0.0", self.port)
        self.sock = sock
        self.process = self.env.process(self._loop())
        return self

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
        if self.process is not None and self.process.is_alive:
            self.process.interrupt("stop")

    def _loop(self) -> Generator[Any, Any, None]:
        try:
            while True:
                got = yield from self.sock.recvfrom(None)
                if not isinstance(got, tuple):
                    continue  # an ICMP error about an earlier answer
                data, client = got
                try:
                    q = DNS(data)
                except Exception:  # noqa: BLE001  (not DNS: ignored, as a server would)
                    continue
                if q.qr or not q.qdcount or not q.qd:
                    continue
                self.queries += 1
                ans = self.answer(q)
                if ans is not None:
                    self._reply(ans, client)
                elif self.forwarders and q.rd:
                    self.env.process(self._forward(q, data, client))
                else:
                    self._reply(self._response(q, rcode=3, aa=False), client)
        except simpy.Interrupt:
            pass

    def _reply(self, ans: DNS, client: tuple[str, int]) -> None:
        try:
            self.sock.sendto(bytes(ans.compress()), client)  # names as pointers, as servers send them
        except OutputError:
            pass

    def _response(self, q: DNS, rcode: int = 0, aa: bool = True, an: Any = None) -> DNS:
        return DNS(id=q.id, qr=1, opcode=q.opcode, aa=int(aa), rd=q.rd, ra=int(self.recursive),
                   rcode=rcode, qd=q.qd, an=[] if an is None else an)

    def answer(self, q: DNS) -> DNS | None:
        """The authoritative answer, or None when the name is outside the zone."""
        qd = q.qd[0]
        name = _norm(qd.qname)
        if qd.qtype == 12 and name in self.reverse:
            return self._response(q, an=DNSRR(rrname=qd.qname, type="PTR", ttl=TTL,
                                              rdata=self.reverse[name] + "."))
        if name in self.zone:
            if qd.qtype in (1, 255):
                return self._response(q, an=DNSRR(rrname=qd.qname, type="A", ttl=TTL, rdata=self.zone[name]))
            return self._response(q)  # NODATA
        if any(name.endswith("." + z) for z in self.zone):
            return self._response(q, rcode=3)
        return None

    def _forward(self, q: DNS, data: bytes, client: tuple[str, int]) -> Generator[Any, Any, None]:
        """Ask each forwarder in turn with our own socket and query id; relay what comes back."""
        rng = self.ns.kernel.ctx.rng
        for server in self.forwarders:
            sock = self.ns.sockets.udp_socket()
            try:
                fq = DNS(data)
                fq.id = rng.randrange(1 << 16)
                try:
                    sock.sendto(bytes(fq), (server, 53))
                except OutputError:
                    continue
                got = yield from sock.recvfrom(FORWARD_TIMEOUT)
                if not isinstance(got, tuple):
                    continue
                ans = DNS(got[0])
                if ans.id != fq.id:
                    continue
                ans.id, ans.aa = q.id, 0
                self._reply(ans, client)
                return
            finally:
                sock.close()
        self._reply(self._response(q, rcode=2, aa=False), client)


def serve_dns(place: Place, zone: dict[str, str], forwarders: list[str] | None = None,
              port: int = 53, recursive: bool = True) -> DnsServer:
    """Start a DNS server on place's namespace (background process)."""
    return DnsServer(place, zone, forwarders, port, recursive).start()
