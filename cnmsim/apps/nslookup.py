"""nslookup, as bind9 9.18 prints it on a Debian host and as busybox 1.36 prints it in busybox/alpine.

    nslookup [-type=TYPE] [-port=N] [-timeout=N] [-retry=N] NAME [SERVER]

An address as NAME asks for its PTR record.  Both read /etc/resolv.conf (nameservers, search).
A SERVER given by name is first resolved with the system resolver (getaddrinfo: /etc/hosts, then
DNS on port 53 whatever -port says); "Server:" shows it as given, "Address:" its address.  Not
resolved: bind9 says "nslookup: couldn't get address for 'X': not found" (or ": failure" when no
DNS server answered), busybox "nslookup: bad address 'X'"; both exit 1.
- bind9: an A query, then AAAA when A succeeded; "Server:"/"Address: IP#53" over the answers;
  an empty AAAA answer prints nothing; 5 s per try, 3 tries.  Exit 1 when a lookup failed.
- busybox: A and AAAA at once from one socket, each reply printed as it comes
  ("Non-authoritative answer:" even for an empty one), resent every 2.5 s for 5 s; SERVFAIL is
  re-asked at once a few times.  Exit 1 when an answer had an error rcode.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from scapy.layers.dns import DNS, DNSQR

from cnmsim.apps.dig import TYPE_CODES, dname, ptr_name, rcode_text, rdata_text
from cnmsim.apps.netutil import NONAME, getaddrinfo
from cnmsim.apps.resolver import dns_exchange, is_ipv4, resolv_conf
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.kernel.sim.sockets import SockError
from cnmsim.shell.registry import Proc, command

RTYPE_TEXT = {1: "internet address = ", 2: "nameserver = ", 5: "canonical name = ", 12: "name = ",
              15: "mail exchanger = ", 16: "text = ", 28: "has AAAA address ", 33: "service = "}
BB_NAMES = {2: "nameserver", 5: "canonical name", 12: "name"}
BUSYBOX_USAGE = ("BusyBox v1.36.1 (2023-05-18 22:34:17 UTC) multi-call binary.\n\n"
                 "Usage: nslookup [-type=QUERY_TYPE] [-debug] HOST [DNS_SERVER]\n\n"
                 "Query DNS about HOST\n\n"
                 "QUERY_TYPE: soa,ns,a,aaaa,cname,mx,txt,ptr,srv,any")


def _parse(proc: Proc) -> tuple[dict[str, str], list[str]]:
    opts: dict[str, str] = {}
    rest: list[str] = []
    for a in proc.args:
        if a.startswith("-") and len(a) > 1 and not rest:
            k, _, v = a[1:].partition("=")
            opts[{"query": "type", "querytype": "type", "q": "type", "t": "timeout"}.get(k, k)] = v
        else:
            rest.append(a)
    return opts, rest


def _names(proc: Proc, name: str) -> list[str]:
    """Names to try: as given first when it has at least ndots dots, then with each search domain."""
    _, search, options = resolv_conf(proc.place.files)
    ndots = int(options.get("ndots", "1") or 1)
    if name.endswith(".") or not search:
        return [name]
    qualified = [f"{name}.{s}" for s in search if s != "."]
    return [name, *qualified] if name.count(".") >= ndots else [*qualified, name]


@command("nslookup")
def nslookup(proc: Proc) -> Generator[Any, Any, int]:
    opts, rest = _parse(proc)
    busybox = proc.place.flavour == "busybox"
    if not rest or len(rest) > 2:
        return proc.fail(BUSYBOX_USAGE if busybox else "Usage: nslookup [-opt ...] host [server]", 1)
    qtype = opts.get("type", "").upper()
    if qtype and qtype not in TYPE_CODES:
        return proc.fail(f"nslookup: invalid query type \"{qtype.lower()}\"" if busybox
                         else f"unknown query type: {qtype.lower()}", 1)
    servers = [rest[1]] if len(rest) > 1 else resolv_conf(proc.place.files)[0]
    port = int(opts.get("port", "53") or 53)
    labels: dict[str, str] = {}  # address -> the server as the user named it
    if len(rest) > 1 and not is_ipv4(rest[1]):
        addr, why = yield from getaddrinfo(proc, rest[1])
        if addr is None:
            return proc.fail(f"nslookup: bad address '{rest[1]}'" if busybox else
                             f"nslookup: couldn't get address for '{rest[1]}': "
                             f"{'not found' if why == NONAME else 'failure'}", 1)
        servers, labels = [addr], {addr: rest[1]}
    if busybox:
        return (yield from _busybox(proc, rest[0], qtype, servers or ["127.0.0.1"], port, opts, labels))
    return (yield from _bind(proc, rest[0], qtype, servers or ["127.0.0.1"], port, opts, labels))


# ---------------------------------------------------------------- bind9 9.18
def _ask(proc: Proc, servers: list[str], port: int, qname: str, qt: int, timeout: float,
         tries: int) -> Generator[Any, Any, tuple[str, DNS] | None]:
    """(server, reply) from the first server that answers within its tries, else None."""
    for server in servers:
        for _ in range(tries):
            q = DNS(id=proc.lab.ctx.rng.randrange(1 << 16), rd=1, ad=1, qd=DNSQR(qname=dname(qname), qtype=qt))
            try:
                got = yield from dns_exchange(proc, server, bytes(q), timeout, port)
            except OutputError:
                got = None
            if isinstance(got, tuple):
                return server, got[1]
            why = "connection refused" if isinstance(got, SockError) else "timed out"
            proc.out(f";; communications error to {server}#{port}: {why}")
    return None


def _bind(proc: Proc, name: str, qtype: str, servers: list[str], port: int,
          opts: dict[str, str], labels: dict[str, str]) -> Generator[Any, Any, int]:
    default = not qtype
    timeout = float(opts.get("timeout") or 5)
    tries = int(opts.get("retry") or 3)
    if default and is_ipv4(name):
        lookups = [(ptr_name(name), 12)]
    else:
        lookups = [(name, TYPE_CODES[qtype or "A"])]
    failed = a_noanswer = False
    while lookups:
        qname, qt = lookups.pop(0)
        names = _names(proc, qname) if qt != 12 else [qname]
        for n in names:  # the next search domain after an NXDOMAIN; only the last reply is shown
            got = yield from _ask(proc, servers, port, n, qt, timeout, tries)
            if got is None:
                proc.out(";; no servers could be reached\n")
                return 1
            if got[1].rcode != 3:
                qname = n
                break
        server, ans = got
        if not default or qt == 1:
            proc.out(f"Server:\t\t{labels.get(server, server)}\nAddress:\t{server}#{port}\n")
        shown = qname.removesuffix(".")
        if ans.rcode != 0:
            proc.out(f"** server can't find {shown}: {rcode_text(ans.rcode)}")
            failed = True
            continue
        if default and qt == 1:
            lookups.append((qname, 28))
        if not ans.aa and (not default or qt == 1):
            proc.out("Non-authoritative answer:")
        rrs = list((ans.an or [])[:ans.ancount])
        for rr in rrs:
            owner = dname(rr.rrname).removesuffix(".")
            if rr.type in (1, 28):
                proc.out(f"Name:\t{owner}\nAddress: {rdata_text(rr)}")
            else:
                proc.out(f"{owner}\t{RTYPE_TEXT.get(rr.type, f'rdata_{rr.type} = ')}{rdata_text(rr)}")
        if not rrs:
            if default and qt == 1:
                a_noanswer = True
            elif not default or (qt == 28 and a_noanswer):
                proc.out(f"*** Can't find {shown}: No answer")
        if not ans.aa and qt not in (1, 28):
            proc.out("\nAuthoritative answers can be found from:")
            for rr in (ans.ns or [])[:ans.nscount]:
                proc.out(f"{dname(rr.rrname).removesuffix('.')}\t{RTYPE_TEXT.get(rr.type, '')}{rdata_text(rr)}")
    proc.out()
    return 1 if failed else 0


# ---------------------------------------------------------------- busybox 1.36
def _busybox(proc: Proc, name: str, qtype: str, servers: list[str], port: int,
             opts: dict[str, str], labels: dict[str, str]) -> Generator[Any, Any, int]:
    timeout = float(opts.get("timeout") or 5)
    retry = int(opts.get("retry") or 2)
    if not qtype and is_ipv4(name):
        queries = [(ptr_name(name).removesuffix("."), 12)]
    else:
        types = [TYPE_CODES[qtype]] if qtype else [1, 28]
        _, search, _ = resolv_conf(proc.place.files)
        search = [s for s in search if s != "."]
        names = [f"{name}.{s}" for s in search] if search and "." not in name else [name]
        queries = [(n, t) for t in types for n in (names if t != 12 else [name])]
    base = proc.lab.ctx.rng.randrange(1 << 16)
    packets = [bytes(DNS(id=(base + i) & 0xFFFF, rd=1, qd=DNSQR(qname=n, qtype=t)))
               for i, (n, t) in enumerate(queries)]
    state = {"exit": 0, "pending": set(range(len(queries)))}
    for server in servers:
        replies = yield from _bb_send(proc, server, port, queries, packets, state, timeout, retry,
                                      labels.get(server, server))
        if replies > 0:
            break
    else:
        proc.out(";; connection timed out; no servers could be reached\n")
        return 1
    for i in sorted(state["pending"]):
        proc.out(f"*** Can't find {queries[i][0]}: No answer")
    if state["pending"]:
        proc.out()
    return state["exit"]


def _bb_send(proc: Proc, server: str, port: int, queries: list[tuple[str, int]], packets: list[bytes],
             state: dict[str, Any], timeout: float, retry: int, label: str) -> Generator[Any, Any, int]:
    """send_queries(): resend what is unanswered every timeout/retry seconds until timeout."""
    env = proc.env
    sock = proc.ns.sockets.udp_socket()
    pending: set[int] = state["pending"]
    interval = timeout / retry
    replies = heard = 0
    try:
        start = sent_at = env.now

        def send(which: list[int]) -> bool:
            try:
                for i in which:
                    sock.sendto(packets[i], (server, port))
            except OutputError as e:
                proc.err(f"nslookup: write to '{server}': {e}")
                return False
            return True

        if not send(sorted(pending)):
            return -1
        servfail_retry = 2 * len(queries)
        while env.now - start < timeout and pending:
            if env.now - sent_at >= interval:
                if not send(sorted(pending)):
                    return -1
                sent_at, servfail_retry = env.now, 2 * len(queries)
            wait = min(interval - (env.now - sent_at), timeout - (env.now - start))
            got = yield from sock.recvfrom(max(wait, 0.0))
            if got is None or isinstance(got, SockError):
                continue
            if heard == 0:
                proc.out(f"Server:\t\t{label}\nAddress:\t{server}:{port}\n")
            heard += 1
            try:
                ans = DNS(got[0])
            except Exception:  # noqa: BLE001
                continue
            qn = next((i for i, p in enumerate(packets) if int.from_bytes(p[:2], "big") == ans.id), None)
            if qn is None or qn not in pending:
                continue
            if ans.rcode == 2 and servfail_retry:
                servfail_retry -= 1
                send([qn])
                continue
            pending.discard(qn)
            if ans.rcode != 0:
                proc.out(f"** server can't find {queries[qn][0]}: {rcode_text(ans.rcode)}")
                state["exit"] = 1
            else:
                _bb_print(proc, ans)
            proc.out()
            replies += 1
        return replies
    finally:
        sock.close()


def _bb_print(proc: Proc, ans: DNS) -> None:
    """parse_reply(): names without their final dot, one line (or two) per record."""
    if not ans.aa:
        proc.out("Non-authoritative answer:")
    for rr in (ans.an or [])[:ans.ancount]:
        owner = dname(rr.rrname).removesuffix(".") or "."
        text = rdata_text(rr)
        if rr.type in (1, 28):
            proc.out(f"Name:\t{owner}\nAddress: {text}")
        elif rr.type in BB_NAMES:
            proc.out(f"{owner}\t{BB_NAMES[rr.type]} = {text.removesuffix('.')}")
        elif rr.type == 15:
            pref, _, host = text.partition(" ")
            proc.out(f"{owner}\tmail exchanger = {pref} {host.removesuffix('.')}")
        elif rr.type == 16:
            proc.out(f"{owner}\ttext = {text.split(' ')[0]}")
