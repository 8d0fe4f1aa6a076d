"""The embedded DNS server of one container sandbox (libnetwork's Resolver, resolver.go).

It listens on 127.0.0.11 at a random port inside the container's namespace; NAT rules in that
namespace (`dns_nat_rules`) send 127.0.0.11:53 there.  Each query is served by its own process:

- A for a Docker name: every address, TTL 600, shuffled on each query;
- AAAA or MX for a Docker name: an empty NOERROR answer, never forwarded;
- PTR for a container address: `<name>.<network>.`;
- anything else goes to at most 3 upstream servers in turn (4 s each, from the host's or the
  container's namespace); SERVFAIL, REFUSED or silence moves on, any other answer (NXDOMAIN,
  empty) is relayed unchanged; when none answers, SERVFAIL.

    dns = EmbeddedDns(place, view=lambda: nets, upstreams=[Upstream("192.168.0.1")]).start()
    place.ns.iptables_restore(dns_nat_rules(dns.port, dns.tcp_port), noflush=True)

The answer logic (`ResolverLogic`) is written over transport hooks, so the real resolver of
cnmsim.kernel.real.dns answers exactly as this one, with the same trace text.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

import simpy
from scapy.layers.dns import DNS, DNSRR, DNSRROPT

from cnmsim.engine.dns.names import DnsNetwork, external_access, lookup_name, ptr_to_ip, resolve_ip
from cnmsim.engine.dns.resolvconf import EMBEDDED_DNS, Upstream
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.kernel.sim.sockets import SockError, UdpSocket
from cnmsim.trace.explain import register

if TYPE_CHECKING:
    from cnmsim.packet.frame import Frame
    from cnmsim.place import Place

TTL = 600  # respTTL
MAX_UPSTREAMS = 3  # maxExtDNS
UPSTREAM_TIMEOUT = 4.0  # extIOTimeout
MIN_SIZE = 512  # dns.MinMsgSize: a UDP answer's limit without EDNS0
A, PTR, MX, AAAA = 1, 12, 15, 28
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
         33: "SRV", 255: "ANY"}

for _stage in ("dns:answer", "dns:forward", "dns:servfail"):
    register(_stage, None, "In {place}, the {reason}.")


def dns_nat_rules(port: int, tcp_port: int | None = None, address: str = EMBEDDED_DNS) -> str:
    """iptables-restore text for the container's namespace, as setupIPTable writes it.

    Rules are inserted (-I) one after the other, so iptables-save lists tcp before udp.
    """
    tport = tcp_port or port
    a = f"{address}/32"
    return (
        "*nat\n"
        ":DOCKER_OUTPUT - [0:0]\n"
        ":DOCKER_POSTROUTING - [0:0]\n"
        f"-I OUTPUT -d {a} -j DOCKER_OUTPUT\n"
        f"-I POSTROUTING -d {a} -j DOCKER_POSTROUTING\n"
        f"-A DOCKER_OUTPUT -d {a} -p tcp -m tcp --dport 53 -j DNAT --to-destination {address}:{tport}\n"
        f"-A DOCKER_OUTPUT -d {a} -p udp -m udp --dport 53 -j DNAT --to-destination {address}:{port}\n"
        f"-A DOCKER_POSTROUTING -s {a} -p tcp -m tcp --sport {tport} -j SNAT --to-source :53\n"
        f"-A DOCKER_POSTROUTING -s {a} -p udp -m udp --sport {port} -j SNAT --to-source :53\n"
        "COMMIT\n"
    )


class _ListenSocket(UdpSocket):
    """A UDP socket whose queue keeps each datagram's frame, so trace events can name the query."""

    def _push(self, item: Any, frame: Frame | None) -> None:
        super()._push((item, frame), frame)


class ResolverLogic:
    """What libnetwork's resolver answers, whatever carries the packets.

    Shared by the simulated server below and the real one (cnmsim.kernel.real.dns): `_answer`
    is a generator over the transport hooks (`_upstream_send`, `_upstream_reply`,
    `_upstream_close`, `_trace`), which yield simpy events here and return at once there.
    `view()` gives the sandbox's networks (in endpoint order) per query. proxy_dns: whether
    host-namespace upstreams may be used; None derives it from the view on each query (false when
    every network is internal). ndots_set: the container's resolv.conf set ndots itself, so
    unknown single-label names get an empty answer instead of being forwarded.
    """

    def __init__(self, view: Callable[[], list[DnsNetwork]], upstreams: Iterable[Upstream],
                 proxy_dns: bool | None, ndots_set: bool, address: str, rng: random.Random) -> None:
        self.view, self.address, self.rng = view, address, rng
        self.proxy_dns, self.ndots_set = proxy_dns, ndots_set
        self.upstreams: list[Upstream] = []
        self.set_upstreams(upstreams)
        self.port = 0
        self.tcp_port = 0
        self.queries = 0

    def nat_rules(self) -> str:
        return dns_nat_rules(self.port, self.tcp_port, self.address)

    def set_upstreams(self, upstreams: Iterable[Upstream]) -> None:
        """SetExtServers: own address filtered out (unless it is the host's), at most three kept."""
        ups = [u for u in upstreams if u.host_ns or u.addr != self.address]
        self.upstreams = ups[:MAX_UPSTREAMS]

    # ------------------------------------------------------------ transport hooks
    def _networks(self) -> list[DnsNetwork]:
        return self.view()

    def _upstream_send(self, up: Upstream, data: bytes, proto: str) -> Any:
        """A socket to `up` (from the host's or the container's namespace) that carried the
        query; raises OutputError when it cannot be sent."""
        raise NotImplementedError

    def _upstream_reply(self, sock: Any, qid: int) -> Generator[Any, Any, tuple[bytes, DNS] | str | None]:
        """(raw, parsed) of the reply with id `qid`, an errno name, or None after UPSTREAM_TIMEOUT."""
        raise NotImplementedError

    def _upstream_close(self, sock: Any) -> None:
        raise NotImplementedError

    def _trace(self, stage: str, verdict: str, reason: str, frame: Frame | None) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ answering
    def _answer(self, data: bytes, frame: Frame | None, proto: str = "udp") -> Generator[Any, Any, bytes | None]:
        """The bytes to send back for one message, or None (not a query: dropped)."""
        try:
            q = DNS(data)
            qd = q.qd[0]
            name = qd.qname.decode(errors="replace").removesuffix(".") or "."
        except Exception:  # noqa: BLE001  (not a query: dropped, as miekg/dns does)
            return None
        if q.qr:
            return None
        self.queries += 1
        nets = self._networks()
        resp = self._local(q, qd.qtype, name, nets, frame)
        if resp is not None:
            return truncate(resp, q) if proto == "udp" else bytes(resp)
        if qd.qtype in (A, AAAA) and self.ndots_set and "." not in name:
            self._trace("dns:answer", "nodata", f"embedded DNS {self.address} does not know the single-label "
                        f"name {name} and the container set ndots: empty answer, not forwarded", frame)
            return bytes(reply_to(q))
        proxy = external_access(nets) if self.proxy_dns is None else self.proxy_dns
        answer = yield from self._forward(data, q, name, proxy, frame, proto)
        if answer is None:
            self._trace("dns:servfail", "servfail", f"embedded DNS {self.address} got no usable answer for "
                        f"{name} from any upstream server: SERVFAIL", frame)
            answer = bytes(reply_to(q, rcode=2, ra=0))
        return answer

    def _local(self, q: DNS, qtype: int, name: str, nets: list[DnsNetwork], frame: Frame | None) -> DNS | None:
        """The answer from Docker's own records, or None when the query must be forwarded."""
        me = f"embedded DNS {self.address}"
        if qtype == PTR:
            ip = ptr_to_ip(name)
            ptr = resolve_ip(nets, ip) if ip else None
            if ptr is None:
                return None
            self._trace("dns:answer", "answer", f"{me} answered PTR {ip} → {ptr}", frame)
            rr = DNSRR(rrname=q.qd[0].qname, type="PTR", ttl=TTL, rdata=ptr + ".")
            return reply_to(q, an=[rr])
        if qtype not in (A, AAAA, MX):
            return None
        hit = lookup_name(nets, name)
        if hit is None:
            return None
        where = f"(network {hit.network.name})"
        if qtype != A:
            what = "IPv6 address" if qtype == AAAA else "mail exchanger"
            self._trace("dns:answer", "nodata", f"{me} knows {name} {where} but has no {what} for it: "
                        "empty answer (NOERROR), not forwarded", frame)
            return reply_to(q)
        ips = hit.addresses
        if len(ips) > 1:
            self.rng.shuffle(ips)
        self._trace("dns:answer", "answer", f"{me} answered {name} → {', '.join(ips)} {where}", frame)
        return reply_to(q, an=[DNSRR(rrname=q.qd[0].qname, type="A", ttl=TTL, rdata=ip) for ip in ips])

    def _forward(self, data: bytes, q: DNS, name: str, proxy: bool, frame: Frame | None,
                 proto: str = "udp") -> Generator[Any, Any, bytes | None]:
        """Ask each upstream in turn with the client's own query; the first usable answer."""
        me = f"embedded DNS {self.address}"
        qtype = TYPES.get(q.qd[0].qtype, str(q.qd[0].qtype))
        for i, up in enumerate(self.upstreams):
            then = "trying the next server" if i + 1 < len(self.upstreams) else "no server left"
            if up.host_ns and not proxy:
                self._trace("dns:forward", "skip", f"{me} skips upstream {up.addr}: it is reached from the "
                            "host's namespace and the container is only on internal networks", frame)
                continue
            side = "the host's" if up.host_ns else "the container's"
            try:
                sock = self._upstream_send(up, data, proto)
            except OutputError as e:
                self._trace("dns:forward", "fail", f"{me} cannot reach upstream {up.addr} from {side} "
                            f"namespace ({e}): {then}", frame)
                continue
            try:
                self._trace("dns:forward", "send", f"{me} does not know {name} ({qtype}): it forwards the "
                            f"query to {up.addr} from {side} namespace", frame)
                got = yield from self._upstream_reply(sock, q.id)
            finally:
                self._upstream_close(sock)
            if got is None:
                self._trace("dns:forward", "fail", f"{me}: no answer from {up.addr} within "
                            f"{UPSTREAM_TIMEOUT:g} s, {then}", frame)
                continue
            if isinstance(got, str):
                self._trace("dns:forward", "fail", f"{me}: {up.addr} is unreachable ({got}), {then}", frame)
                continue
            raw, ans = got
            rcode = RCODES.get(ans.rcode, str(ans.rcode))
            if ans.rcode in (2, 5):
                self._trace("dns:forward", "fail", f"{me}: {up.addr} answered {rcode}, {then}", frame)
                continue
            self._trace("dns:forward", "relay", f"{me} relays the answer of {up.addr} for {name} unchanged: "
                        f"{rcode}, {ans.ancount} answer record(s)", frame)
            return raw
        return None


class EmbeddedDns(ResolverLogic):
    """One sandbox's resolver on the simulated kernel (see ResolverLogic for the arguments)."""

    def __init__(self, place: Place, view: Callable[[], list[DnsNetwork]],
                 upstreams: Iterable[Upstream] = (), proxy_dns: bool | None = None,
                 ndots_set: bool = False, address: str = EMBEDDED_DNS) -> None:
        super().__init__(view, upstreams, proxy_dns, ndots_set, address, place.host.lab.ctx.rng)
        self.place = place
        self.ns = place.ns
        self.env = self.ns.kernel.ctx.env
        self.sock: _ListenSocket | None = None
        self.process: simpy.Process | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> EmbeddedDns:
        """Bind 127.0.0.11 at a random port (SetupFunc(0)) and start answering."""
        sock = _ListenSocket(self.ns)
        sock.bind(self.address, 0)
        assert sock.local is not None
        self.sock, self.port = sock, sock.local[1]
        self.tcp_port = self.ns.sockets.ephemeral_port("tcp", self.address)  # the TCP listener's port
        self.process = self.env.process(self._loop())
        return self

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
        if self.process is not None and self.process.is_alive:
            self.process.interrupt("stop")

    # ------------------------------------------------------------ serving
    def _loop(self) -> Generator[Any, Any, None]:
        assert self.sock is not None
        try:
            while True:
                got, frame = yield from self.sock.recvfrom(None)
                if isinstance(got, tuple):
                    self.env.process(self._serve(got[0], got[1], frame))
        except simpy.Interrupt:
            pass

    def _serve(self, data: bytes, client: tuple[str, int], frame: Frame | None) -> Generator[Any, Any, None]:
        answer = yield from self._answer(data, frame)
        if answer is not None:
            self._send(answer, client)

    def _upstream_send(self, up: Upstream, data: bytes, proto: str) -> UdpSocket:
        ns = self.place.host.root if up.host_ns else self.ns
        sock = ns.sockets.udp_socket()
        try:
            sock.sendto(data, (up.addr, 53))
        except OutputError:
            sock.close()
            raise
        return sock

    def _upstream_reply(self, sock: UdpSocket, qid: int) -> Generator[Any, Any, tuple[bytes, DNS] | str | None]:
        got = yield from _answer_for(sock, qid, self.env.now + UPSTREAM_TIMEOUT)
        return got.errno_name if isinstance(got, SockError) else got

    def _upstream_close(self, sock: UdpSocket) -> None:
        sock.close()

    def _send(self, data: bytes, client: tuple[str, int]) -> None:
        if self.sock is None or self.sock.closed:
            return
        try:
            self.sock.sendto(data, client)
        except OutputError:
            pass

    def _trace(self, stage: str, verdict: str, reason: str, frame: Frame | None) -> None:
        if self.ns.bus.on:
            self.ns.trace("lo", stage, verdict, reason, frame)


def _answer_for(sock: UdpSocket, qid: int, deadline: float) -> Generator[Any, Any, Any]:
    """(raw, parsed) of the first reply with the query's id, a SockError, or None at the deadline."""
    env = sock.ns.kernel.ctx.env
    while True:
        got = yield from sock.recvfrom(max(deadline - env.now, 0.0))
        if got is None or isinstance(got, SockError):
            return got
        try:
            ans = DNS(got[0])
        except Exception:  # noqa: BLE001  (garbage: keep waiting)
            continue
        if ans.id == qid and ans.qr:
            return got[0], ans


def reply_to(q: DNS, rcode: int = 0, ra: int = 1, an: list[DNSRR] | None = None) -> DNS:
    """The answer skeleton for query q: miekg/dns SetReply (id, opcode, RD, CD and the question
    copied, no EDNS) plus RecursionAvailable, except for a SERVFAIL made by SetRcode (ra=0)."""
    return DNS(id=q.id, qr=1, opcode=q.opcode, rd=q.rd, ra=ra, cd=q.cd, rcode=rcode, qd=q.qd,
               an=an or [])


def truncate(resp: DNS, q: DNS) -> bytes:
    """Msg.Truncate to 512 bytes or the query's EDNS0 size: uncompressed if it fits, else
    compressed, else the last answers dropped and TC set."""
    size = MIN_SIZE
    for rr in q.ar or []:
        if isinstance(rr, DNSRROPT):
            size = max(size, int(rr.rclass))
    raw = bytes(resp)
    if len(raw) <= size:
        return raw
    raw = bytes(resp.compress())
    answers = list(resp.an or [])
    while len(raw) > size and answers:
        answers.pop()
        resp = reply_to(q, an=answers)
        resp.tc = 1
        raw = bytes(resp.compress())
    return raw
