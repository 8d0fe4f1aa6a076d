"""nc, as netcat-openbsd (Debian 1.219) prints it.

    nc -l [-p] PORT        listen, print what arrives, send stdin; exit when the peer closes (-k: keep)
    nc HOST PORT           connect, send stdin, print what arrives; -N shuts down after stdin,
                           -q SECS quits SECS after stdin ends
    nc -z -v HOST PORT[-PORT]   port check: `Connection to H P port [tcp/http] succeeded!`
    -u UDP, -w SECS connect/idle timeout, -n numeric, -s ADDR source, -v verbose.
A pasted stdin (a pipe) ends after its text; no stdin is a terminal that never ends.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from cnmsim.apps.netutil import closing, getaddrinfo, parse_opts
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.kernel.sim.sockets import SockError
from cnmsim.packet.services import service_name, service_port
from cnmsim.shell.registry import Proc, command

USAGE = "usage: nc [-46CDdFhklNnrStUuvZz] [-I length] [-i interval] [-M ttl]\n" \
        "\t  [-m minttl] [-O length] [-P proxy_username] [-p source_port]\n" \
        "\t  [-q seconds] [-s sourceaddr] [-T keyword] [-V rtable] [-W recvlimit]\n" \
        "\t  [-w timeout] [-X proxy_protocol] [-x proxy_address[:port]]\n" \
        "\t  [destination] [port]"
UDP_SCAN_TIMEOUT = 3


def _ports(spec: str, proto: str) -> list[int] | str:
    """A port, a service name or a LO-HI range; the error text when invalid."""
    lo, sep, hi = spec.partition("-")
    a = int(lo) if lo.isdigit() else service_port(lo, proto)
    if a is None or not 0 < a <= 65535:
        return f"nc: port number invalid: {lo}"
    b = a
    if sep:
        if not hi.isdigit() or not 0 < int(hi) <= 65535:
            return f"nc: port number invalid: {hi}"
        b = int(hi)
    return list(range(min(a, b), max(a, b) + 1))


@command("nc", "netcat", "nc.openbsd")
def nc(proc: Proc) -> Generator[Any, Any, int]:
    opts, rest, err = parse_opts(proc.args, "pqswIiMmOPTVWXx")
    if err or "h" in opts:
        return proc.fail((f"nc: {err}\n" if err else "") + USAGE, 1)
    udp = "u" in opts
    proto = "udp" if udp else "tcp"
    wait = float(opts["w"]) if "w" in opts else None
    if "l" in opts:
        port = opts.get("p") or (rest[-1] if rest else "")
        if not port:
            return proc.fail("nc: missing port number", 1)
        ports = _ports(port, proto)
        if isinstance(ports, str):
            return proc.fail(ports, 1)
        return (yield from _listen(proc, opts, ports[0], udp))
    if not rest:
        return proc.fail(USAGE, 1)
    if len(rest) < 2:
        return proc.fail("nc: missing port number", 1)
    host = rest[0]
    ports = []
    for spec in rest[1:]:
        got = _ports(spec, proto)
        if isinstance(got, str):
            return proc.fail(got, 1)
        ports += got
    addr, gai = yield from getaddrinfo(proc, host)
    if addr is None:
        return proc.fail(f'nc: getaddrinfo for host "{host}" port {rest[1]}: {gai}', 1)
    shown = host if host == addr else f"{host} ({addr})"
    status = 1
    for port in ports:
        svc = (None if "n" in opts else service_name(port, proto)) or "*"
        try:
            sock = yield from _connect(proc, addr, port, udp, wait, opts.get("s"), opts.get("p"))
        except OutputError as e:
            if "v" in opts:
                how = "timed out" if e.errno_name == "EINPROGRESS" else "failed"
                proc.err(f"nc: connect to {shown} port {port} ({proto}) {how}: {e}")
            continue
        with closing(sock):
            if udp and "z" in opts and not (yield from _udptest(proc, sock, wait)):
                status = 1
                continue
            status = 0
            if "v" in opts:
                proc.err(f"Connection to {shown} {port} port [{proto}/{svc}] succeeded!")
            if "z" not in opts:
                return (yield from _pump(proc, sock, opts, udp, server=False))
    return status


def _connect(proc: Proc, addr: str, port: int, udp: bool, wait: float | None,
             src: str | None, sport: str | None) -> Generator[Any, Any, Any]:
    ns = proc.ns
    if udp:
        ns.stack.route_output(addr)  # ENETUNREACH before anything is sent
        sock = ns.sockets.udp_socket()
        sock.bind(src or "0.0.0.0", int(sport) if sport else 0)
        sock.connect(addr, port)
        return sock
    sock = ns.sockets.tcp.socket()
    if src or sport:
        sock.bind(src or "0.0.0.0", int(sport) if sport else 0)
    try:
        yield from sock.connect(addr, port, timeout=wait)
    except OutputError:
        sock.close()
        raise
    return sock


def _udptest(proc: Proc, sock: Any, wait: float | None) -> Generator[Any, Any, bool]:
    """Debian's udptest(): write X, then once a second for 3 s; refused means an ICMP came back."""
    for i in range(1 + int(wait if wait is not None else UDP_SCAN_TIMEOUT)):
        if i:
            yield proc.env.timeout(1.0)
        while sock.queue.items:
            item = sock.queue.items.pop(0)
            if isinstance(item, SockError) and item.errno_name == "ECONNREFUSED":
                return False
        try:
            sock.send(b"X")
        except OutputError:
            return False
    return True


def _listen(proc: Proc, opts: dict[str, str], port: int, udp: bool) -> Generator[Any, Any, int]:
    ns = proc.ns
    src = opts.get("s", "0.0.0.0")
    if udp:
        sock = ns.sockets.udp_socket()
        try:
            sock.bind(src, port)
        except OutputError as e:
            return proc.fail(f"nc: {e}", 1)
        if "v" in opts:
            proc.err(f"Bound on {src} {port}")
        with closing(sock):
            return (yield from _pump(proc, sock, opts, udp=True, server=True))
    srv = ns.sockets.tcp.socket()
    srv.reuseaddr = True
    try:
        srv.bind(src, port)
        srv.listen(1)
    except OutputError as e:
        return proc.fail(f"nc: {e}", 1)
    if "v" in opts:
        proc.err(f"Listening on {src} {port}")
    with closing(srv):
        while True:
            conn = yield from srv.accept()
            if "v" in opts:
                proc.err(f"Connection received on {conn.peer[0]} {conn.peer[1]}")
            with closing(conn):
                code = yield from _pump(proc, conn, opts, udp=False, server=True)
            if "k" not in opts:
                return code


def _pump(proc: Proc, sock: Any, opts: dict[str, str], udp: bool, server: bool) -> Generator[Any, Any, int]:
    """readwrite(): send stdin, print what arrives, until EOF (TCP) or a timeout."""
    env = proc.env
    data = proc.stdin.encode()
    wait = float(opts["w"]) if "w" in opts else None
    quit_after = float(opts["q"]) if "q" in opts and float(opts["q"]) >= 0 else None
    stdin_done = bool(data)  # a pipe ends; an empty stdin is a terminal that never does
    peer = None
    if data and not (udp and server):
        sock.send(data)
        if "N" in opts and not udp:
            sock.shutdown()
    deadline = None
    if stdin_done and quit_after is not None:
        deadline = env.now + quit_after
    while True:
        timeout = wait
        if deadline is not None:
            timeout = max(0.0, deadline - env.now) if timeout is None else min(timeout, deadline - env.now)
        if udp:
            got = yield from sock.recvfrom(timeout)
            if got is None:
                return 0
            if isinstance(got, SockError):
                continue
            chunk, src = got
            if server and peer is None:
                peer = src
                sock.connect(*src)  # nc -u -l talks to its first peer only
                if data:
                    sock.send(data)
            proc.out(chunk.decode("utf-8", "replace"), end="")
            continue
        try:
            chunk = yield from sock.recv(65536, timeout)
        except OutputError:
            return 0 if server else 1  # reset by the peer: netcat just stops
        if not chunk:  # EOF, or idle for -w / -q seconds
            return 0
        proc.out(chunk.decode("utf-8", "replace"), end="")
