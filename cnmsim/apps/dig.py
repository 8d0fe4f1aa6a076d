"""dig, as bind9 9.18 (Debian bookworm's bind9-dnsutils) prints it.

    dig [@SERVER] [-x ADDR] [-p PORT] [-t TYPE] [NAME] [TYPE] [+short] [+timeout=N] [+tries=N] [+retry=N]
        [+[no]recurse] [+[no]edns]

The query goes over UDP (with EDNS0, a 1232-byte buffer and a client cookie, as 9.18 sends it) to
SERVER or to the first nameserver of /etc/resolv.conf; each try waits +timeout (5 s), +tries (3)
times.  Records are laid out in dig's columns (TTL at 24, class at 32, type at 40, data at 48).
Exit status: 0 when a reply came (whatever its rcode), 9 when none did, 1 on usage errors.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from scapy.layers.dns import DNS, DNSQR, DNSRROPT, EDNS0TLV

from cnmsim.apps.resolver import dns_exchange, is_ipv4, resolv_conf
from cnmsim.kernel.sim.ipv4 import OutputError
from cnmsim.kernel.sim.sockets import SockError
from cnmsim.shell.registry import Proc, command

VERSION = "9.18.33-1~deb12u2-Debian"
TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
         33: "SRV", 255: "ANY"}
TYPE_CODES = {v: k for k, v in TYPES.items()}
RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
          "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"]
FLAGS = ("qr", "aa", "tc", "rd", "ra", "ad", "cd")


def rcode_text(rcode: int) -> str:
    return RCODES[rcode] if rcode < len(RCODES) else f"RESERVED{rcode}"


def dname(b: bytes | str) -> str:
    """A domain name as text, with its final dot."""
    s = b.decode(errors="replace") if isinstance(b, bytes) else b
    return s if s.endswith(".") else s + "."


def rdata_text(rr: Any) -> str:
    """The record's data as master-file text (dig's and nslookup's RDATA column)."""
    t = rr.type
    if t in (2, 5, 12):
        return dname(rr.rdata)
    if t == 15:
        return f"{rr.preference} {dname(rr.exchange)}"
    if t == 16:
        return " ".join('"' + (x.decode(errors="replace") if isinstance(x, bytes) else str(x)) + '"'
                        for x in rr.rdata)
    if t == 6:
        return (f"{dname(rr.mname)} {dname(rr.rname)} {rr.serial} {rr.refresh} {rr.retry} "
                f"{rr.expire} {rr.minimum}")
    if t == 33:
        return f"{rr.priority} {rr.weight} {rr.port} {dname(rr.target)}"
    return str(rr.rdata)


def ptr_name(addr: str) -> str:
    return ".".join(reversed(addr.split("."))) + ".in-addr.arpa."


def _indent(col: int, to: int) -> tuple[str, int]:
    """Pad from column `col` to `to` with tabs (8 wide), or one space when already past it."""
    to = max(to, col + 1)
    ntabs = to // 8 - col // 8
    pad = "\t" * ntabs + " " * (to % 8) if ntabs > 0 else " " * (to - col)
    return pad, to


def columns(*cells: tuple[str, int]) -> str:
    """Cells placed at their columns, as dns_master_style lays out dig's records."""
    out, col = "", 0
    for i, (text, at) in enumerate(cells):
        if i:
            pad, col = _indent(col, at)
            out += pad
        out += text
        col += len(text)
    return out


def record_line(rr: Any) -> str:
    typ = TYPES.get(rr.type, f"TYPE{rr.type}")
    return columns((dname(rr.rrname), 0), (str(rr.ttl), 24), ("IN", 32), (typ, 40), (rdata_text(rr), 48))


def _records(section: Any, count: int) -> list[Any]:
    return [rr for rr in (section or [])[:count] if not isinstance(rr, DNSRROPT)]


def render(ans: DNS) -> list[str]:
    """The reply as dig prints it between ';; Got answer:' and ';; Query time:'."""
    flags = " ".join(f for f in FLAGS if getattr(ans, f))
    opt = [rr for rr in (ans.ar or []) if isinstance(rr, DNSRROPT)]
    sections = [("ANSWER", _records(ans.an, ans.ancount)), ("AUTHORITY", _records(ans.ns, ans.nscount)),
                ("ADDITIONAL", _records(ans.ar, ans.arcount))]
    out = [f";; ->>HEADER<<- opcode: QUERY, status: {rcode_text(ans.rcode)}, id: {ans.id}",
           f";; flags: {flags}; QUERY: {ans.qdcount}, ANSWER: {ans.ancount}, "
           f"AUTHORITY: {ans.nscount}, ADDITIONAL: {ans.arcount}"]
    if ans.rd and not ans.ra:
        out.append(";; WARNING: recursion requested but not available")
    out.append("")
    if opt:
        do = " do" if int(opt[0].z) & 0x8000 else ""
        out += [";; OPT PSEUDOSECTION:", f"; EDNS: version: {opt[0].version}, flags:{do}; udp: {opt[0].rclass}"]
    if ans.qd:
        out.append(";; QUESTION SECTION:")
        out += [columns((";" + dname(q.qname), 0), ("IN", 32), (TYPES.get(q.qtype, f"TYPE{q.qtype}"), 40))
                for q in ans.qd]
        out.append("")
    for title, rrs in sections:
        if rrs:
            out += [f";; {title} SECTION:", *map(record_line, rrs), ""]
    return out


def build_query(proc: Proc, name: str, qtype: int, recurse: bool = True, edns: bool = True) -> bytes:
    """dig 9.18's query: RD (unless +norecurse), AD, EDNS0 with 1232 bytes and a client cookie."""
    rng = proc.lab.ctx.rng
    q = DNS(id=rng.randrange(1 << 16), rd=int(recurse), ad=1, qd=DNSQR(qname=name, qtype=qtype))
    if edns:
        cookie = EDNS0TLV(optcode=10, optdata=bytes(rng.randrange(256) for _ in range(8)))
        q.ar = DNSRROPT(rclass=1232, z=0, rdata=[cookie])
    return bytes(q)


def _parse(proc: Proc) -> dict[str, Any] | str:
    o: dict[str, Any] = {"server": None, "name": None, "type": None, "short": False, "timeout": 5,
                         "tries": 3, "port": 53, "recurse": True, "edns": True}
    args = list(proc.args)
    while args:
        a = args.pop(0)
        if a.startswith("@"):
            o["server"] = a[1:]
        elif a in ("-x", "-t", "-p", "-q"):
            if not args:
                return f"dig: option requires an argument -- '{a[1]}'"
            v = args.pop(0)
            if a == "-x":
                if not is_ipv4(v):
                    return f"Invalid IP address {v}"
                o["name"], o["type"] = ptr_name(v), 12
            elif a == "-t":
                if v.upper() not in TYPE_CODES:
                    return f"dig: invalid type: {v}"
                o["type"] = TYPE_CODES[v.upper()]
            elif a == "-p":
                o["port"] = int(v)
            else:
                o["name"] = v
        elif a.startswith("+"):
            key, _, val = a[1:].partition("=")
            if key == "short":
                o["short"] = True
            elif key in ("timeout", "time") and val.isdigit():
                o["timeout"] = max(int(val), 1)
            elif key == "tries" and val.isdigit():
                o["tries"] = max(int(val), 1)
            elif key == "retry" and val.isdigit():
                o["tries"] = int(val) + 1
            elif key in ("recurse", "norecurse", "rec", "norec"):
                o["recurse"] = not key.startswith("no")
            elif key in ("edns", "noedns"):
                o["edns"] = key == "edns"
            elif key not in ("cmd", "nocmd", "search", "nosearch", "cookie", "nocookie"):
                return f"Invalid option: {a}"
        elif a.upper() in TYPE_CODES and o["name"] is not None and o["type"] is None:
            o["type"] = TYPE_CODES[a.upper()]
        elif a.upper() in ("IN",):
            continue
        elif o["name"] is None:
            o["name"] = a
        elif a.upper() in TYPE_CODES:
            o["type"] = TYPE_CODES[a.upper()]
        else:
            o["name"] = a
    return o


@command("dig")
def dig(proc: Proc) -> Generator[Any, Any, int]:
    o = _parse(proc)
    if isinstance(o, str):
        return proc.fail(o, 1)
    name = o["name"] if o["name"] is not None else "."
    qtype = o["type"] or (2 if o["name"] is None else 1)  # plain `dig` asks for the root's NS
    servers = [o["server"]] if o["server"] else resolv_conf(proc.place.files)[0] or ["127.0.0.1"]
    banner = ["", f"; <<>> DiG {VERSION} <<>> {' '.join(proc.args)}".rstrip()]
    if o["server"]:
        banner.append("; (1 server found)")
    banner.append(";; global options: +cmd")
    qname = dname(name) if name != "." else "."
    for server in servers:
        for _ in range(o["tries"]):
            query = build_query(proc, qname, qtype, o["recurse"], o["edns"])
            sent = proc.env.now
            try:
                got = yield from dns_exchange(proc, server, query, o["timeout"], o["port"])
            except OutputError as e:
                proc.out(f";; UDP setup with {server}#{o['port']}({server}) for {name} failed: {e}.")
                break
            if got is None or isinstance(got, SockError):
                why = "connection refused" if isinstance(got, SockError) and got.errno_name == "ECONNREFUSED" \
                    else "timed out"
                proc.out(f";; communications error to {server}#{o['port']}: {why}")
                continue
            raw, ans = got
            if o["short"]:
                for rr in _records(ans.an, ans.ancount):
                    proc.out(rdata_text(rr))
                return 0
            ms = int((proc.env.now - sent) * 1000)
            when = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(proc.env.now))
            for line in [*banner, ";; Got answer:", *render(ans),
                         f";; Query time: {ms} msec", f";; SERVER: {server}#{o['port']}({server}) (UDP)",
                         f";; WHEN: {when}", f";; MSG SIZE  rcvd: {len(raw)}", ""]:
                proc.out(line)
            return 0
    if not o["short"]:
        for line in [*banner, ";; no servers could be reached"]:
            proc.out(line)
    return 9
