"""The C library's stub resolver: numeric address, /etc/hosts, then DNS to resolv.conf's servers."""

from __future__ import annotations

from collections.abc import Generator
from ipaddress import IPv4Address
from typing import Any

from scapy.layers.dns import DNS, DNSQR

from cnmsim.kernel.sim.sockets import SockError
from cnmsim.shell.registry import Proc

TIMEOUT = 5.0  # resolv.conf defaults: timeout:5 attempts:2
ATTEMPTS = 2


def is_ipv4(s: str) -> bool:
    try:
        IPv4Address(s)
        return True
    except ValueError:
        return False


def hosts_lookup(files: dict[str, str], name: str) -> str | None:
    for line in files.get("/etc/hosts", "").splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2 and name in parts[1:] and is_ipv4(parts[0]):
            return parts[0]
    return None


def resolv_conf(files: dict[str, str]) -> tuple[list[str], list[str], dict[str, str]]:
    """(nameservers, search domains, options) from /etc/resolv.conf."""
    servers, search, options = [], [], {}
    for line in files.get("/etc/resolv.conf", "").splitlines():
        parts = line.split()
        if not parts or parts[0].startswith(("#", ";")):
            continue
        if parts[0] == "nameserver" and len(parts) > 1:
            servers.append(parts[1])
        elif parts[0] in ("search", "domain"):
            search = parts[1:]
        elif parts[0] == "options":
            for o in parts[1:]:
                k, _, v = o.partition(":")
                options[k] = v
    return servers, search, options


def dns_query(proc: Proc, server: str, name: str, qtype: str = "A",
              timeout: float = TIMEOUT) -> Generator[Any, Any, DNS | None]:
    """One UDP query to server:53; the parsed DNS answer, or None on timeout/refusal."""
    sock = proc.ns.sockets.udp_socket()
    try:
        qid = proc.lab.ctx.rng.randrange(1 << 16)
        q = DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
        try:
            sock.sendto(bytes(q), (server, 53))
        except Exception:  # noqa: BLE001  (no route: the resolver tries the next server)
            return None
        while True:
            got = yield from sock.recvfrom(timeout)
            if got is None or not isinstance(got, tuple):
                return None
            data, _ = got
            ans = DNS(data)
            if ans.id == qid:
                return ans
    finally:
        sock.close()


def dns_exchange(proc: Proc, server: str, query: bytes, timeout: float,
                 port: int = 53) -> Generator[Any, Any, tuple[bytes, DNS] | SockError | None]:
    """Send one DNS query (wire bytes) from a fresh UDP socket and wait for the reply with its id.

    (raw, parsed) of the reply, a SockError when an ICMP error came back, or None on timeout;
    raises OutputError when the query cannot be sent at all (no route).
    """
    sock = proc.ns.sockets.udp_socket()
    qid = int.from_bytes(query[:2], "big")
    try:
        sock.sendto(query, (server, port))
        deadline = proc.env.now + timeout
        while True:
            got = yield from sock.recvfrom(max(deadline - proc.env.now, 0.0))
            if got is None or isinstance(got, SockError):
                return got
            try:
                ans = DNS(got[0])
            except Exception:  # noqa: BLE001  (not DNS: a stub resolver ignores it)
                continue
            if ans.id == qid and ans.qr:
                return got[0], ans
    finally:
        sock.close()


def resolve(proc: Proc, name: str) -> Generator[Any, Any, str | None]:
    """getaddrinfo(name) for IPv4: an address, or None when the name does not resolve."""
    if is_ipv4(name):
        return name
    hit = hosts_lookup(proc.place.files, name)
    if hit:
        return hit
    servers, _, _ = resolv_conf(proc.place.files)
    for _ in range(ATTEMPTS):
        for s in servers:
            ans = yield from dns_query(proc, s, name)
            if ans is None:
                continue
            if ans.rcode != 0:
                return None
            for i in range(ans.ancount):
                rr = ans.an[i]
                if rr.type == 1:
                    return rr.rdata if isinstance(rr.rdata, str) else str(rr.rdata)
            return None
    return None
