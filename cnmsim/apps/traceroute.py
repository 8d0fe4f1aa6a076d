"""traceroute, as Debian's traceroute 2.1 prints it (UDP probes to 33434 and up, or -I ICMP echo).

    traceroute to 10.0.1.3 (10.0.1.3), 30 hops max, 60 byte packets
     1  10.0.0.1 (10.0.0.1)  0.123 ms  0.101 ms  0.098 ms
     2  * * *
Probes go out with TTL 1, 2, ...; a router answers with ICMP time exceeded (ipv4.forward), the
target with port unreachable (UDP) or an echo reply (-I), which ends the trace.  Up to 16
probes are in flight at once (-N), each waits up to 5 s, less once a nearer or the same hop
answered (-w MAX,HERE,NEAR = 5,3,10).  Options: -n, -m MAX, -q N, -w, -f FIRST, -p PORT, -I.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from scapy.layers.inet import ICMP, IP
from scapy.packet import Raw

from cnmsim.apps.netutil import getaddrinfo, parse_opts, reverse_hosts
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.kernel.sim.sockets import SockError
from cnmsim.shell.registry import Proc, command

ANNOT = {(3, 0): "!N", (3, 1): "!H", (3, 2): "!P", (3, 4): "!F", (3, 13): "!X", (3, 9): "!N", (3, 10): "!H"}
SIM_PROBES = 16


class Probe:
    __slots__ = ("ttl", "sent", "rtt", "addr", "annot", "done", "final", "sock", "key")

    def __init__(self, ttl: int, sent: float) -> None:
        self.ttl, self.sent = ttl, sent
        self.rtt: float | None = None
        self.addr: str | None = None
        self.annot = ""
        self.done = self.final = False
        self.sock: Any = None
        self.key: int = 0


def _usage(proc: Proc) -> int:
    return proc.fail("Usage:\n  traceroute [ -46dFITnreAUDV ] [ -f first_ttl ] [ -g gate,... ] [ -i device ] "
                     "[ -m max_ttl ] [ -N squeries ] [ -p port ] [ -t tos ] [ -l flow_label ] [ -w MAX,HERE,NEAR ] "
                     "[ -q nqueries ] [ -s src_addr ] [ -z sendwait ] [ --fwmark=num ] host [ packetlen ]", 2)


@command("traceroute", "traceroute.db")
def traceroute(proc: Proc) -> Generator[Any, Any, int]:
    opts, rest, err = parse_opts(proc.args, "fgimNptlwqszM")
    if err or not rest:
        return _usage(proc)
    host = rest[0]
    icmp = "I" in opts
    first, max_ttl = int(opts.get("f", 1)), int(opts.get("m", 30))
    nq = int(opts.get("q", 3))
    waits = [float(x) for x in opts.get("w", "5,3,10").split(",")] + [3.0, 10.0]
    wmax, here, near = waits[0], waits[1], waits[2]
    port = int(opts.get("p", 33434 if not icmp else 1))
    size = int(rest[1]) if len(rest) > 1 else 60
    addr, gai = yield from getaddrinfo(proc, host)
    if addr is None:
        proc.err(f"{host}: {gai}")
        proc.err(f"Cannot handle \"host\" cmdline arg `{host}' on position 1 (argc {len(proc.args)})")
        return 2
    ns = proc.ns
    try:
        ns.stack.route_output(addr)
    except OutputError as e:
        return proc.fail(f"connect: {e}", 1)
    proc.out(f"traceroute to {host} ({addr}), {max_ttl} hops max, {size} byte packets")
    names = None if "n" in opts else reverse_hosts(proc.place.files)
    env = proc.env
    start, end = 0, (max_ttl - first + 1) * nq
    probes: list[Probe | None] = [None] * end
    ping = ns.sockets.ping_socket() if icmp else None
    try:
        while start < end:
            outstanding = sum(1 for p in probes[start:end] if p is not None and not p.done)
            for n in range(start, end):  # up to -N probes in flight
                if outstanding >= SIM_PROBES:
                    break
                if probes[n] is None:
                    probes[n] = _send(proc, addr, first + n // nq, n, port, size, icmp, ping)
                    outstanding += 1
            pending = [p for p in probes[start:end] if p is not None and not p.done]
            if pending:
                done = [p for p in probes if p is not None and p.rtt is not None]
                until = min(_expiry(p, done, wmax, here, near) for p in pending)
                yield from _receive(proc, pending, ping, max(until - env.now, 0.0))
                done = [p for p in probes if p is not None and p.rtt is not None]
                for p in pending:
                    if not p.done and env.now >= _expiry(p, done, wmax, here, near) - 1e-9:
                        p.done = True
            n = start
            while n < end and probes[n] is not None and probes[n].done:  # type: ignore[union-attr]
                if probes[n].final:  # type: ignore[union-attr]
                    end = min(end, (n // nq + 1) * nq)
                if n % nq == nq - 1:
                    proc.out(_hop_line(probes[n - nq + 1:n + 1], names))  # type: ignore[arg-type]
                n += 1
            start = n
    finally:
        for p in probes:
            if p is not None and p.sock is not None:
                p.sock.close()
        if ping is not None:
            ping.close()
    return 0


def _send(proc: Proc, addr: str, ttl: int, n: int, port: int, size: int, icmp: bool, ping: Any) -> Probe:
    p = Probe(ttl, proc.env.now)
    data = bytes(range(0x40, 0x40 + size - 28)) if size > 28 else b""
    try:
        if icmp:
            p.key = port + n
            ip = IP(dst=addr, ttl=ttl)
            ip.add_payload(ICMP(id=ping.ident, seq=p.key))
            if data:
                ip[ICMP].add_payload(Raw(data))
            ping.send(ip)
        else:
            sock = proc.ns.sockets.udp_socket()
            p.sock = sock
            sock.sendto(data, (addr, port + n), ttl=ttl)
    except OutputError as e:
        p.done, p.annot = True, f"send: {e}"
    return p


def _expiry(p: Probe, done: list[Probe], wmax: float, here: float, near: float) -> float:
    """When to give up on p: MAX seconds, or HERE x an RTT seen at its hop, or NEAR x one further on."""
    t = wmax
    same = [q.rtt for q in done if q.ttl == p.ttl and q.rtt is not None]
    further = [q.rtt for q in done if q.ttl > p.ttl and q.rtt is not None]
    if same and here:
        t = min(t, here * same[0])
    elif further and near:
        t = min(t, near * further[0])
    return p.sent + t


def _receive(proc: Proc, pending: list[Probe], ping: Any, timeout: float) -> Generator[Any, Any, None]:
    """Wait for answers to outstanding probes (their sockets' error queues, or echo replies)."""
    env = proc.env
    if ping is not None:
        item = yield from ping.recv_item(timeout)
        while item is not None:
            if isinstance(item, SockError):
                q = item.quoted.payload if item.quoted is not None else None
                key, addr, final = getattr(q, "seq", None), item.offender, item.itype == 3
                annot = ANNOT.get((item.itype, item.code), "")
            else:
                reply, _ = item
                key, addr, final, annot = reply[ICMP].seq, reply.src, True, ""
            hit = next((p for p in pending if p.key == key), None)
            _answer(hit, env.now, addr, final, annot)
            item = ping.queue.items.pop(0) if ping.queue.items else None
        return
    gets = {p.sock.queue.get(): p for p in pending if p.sock is not None}
    if not gets:
        yield env.timeout(timeout)
        return
    yield env.any_of([*gets, env.timeout(timeout)])
    for ev, p in gets.items():
        if not ev.triggered:
            ev.cancel()
            continue
        item = ev.value
        if isinstance(item, SockError):
            annot = "" if (item.itype, item.code) == (3, 3) else ANNOT.get((item.itype, item.code), "")
            _answer(p, env.now, item.offender, item.itype == 3, annot)


def _answer(p: Probe | None, now: float, addr: str, final: bool, annot: str) -> None:
    if p is not None and not p.done:
        p.rtt, p.addr, p.done, p.final, p.annot = now - p.sent, addr, True, final, annot


def _hop_line(hop: list[Probe], names: dict[str, str] | None) -> str:
    """` 1  10.0.0.1 (10.0.0.1)  0.123 ms  0.101 ms` (-n: the address only), ` 2  * * *`."""
    s = f"{hop[0].ttl:2d} "
    last = None
    for p in hop:
        if p.rtt is None:
            s += " *"
            continue
        if p.addr != last:
            s += f" {p.addr}" if names is None else f" {names.get(p.addr, p.addr)} ({p.addr})"  # type: ignore[arg-type]
            last = p.addr
        s += f"  {p.rtt * 1000:.3f} ms" + (f" {p.annot}" if p.annot else "")
    return s
