"""Helpers the network tools share: getaddrinfo with its error text, reverse /etc/hosts, clocks."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

from cnmsim.apps.resolver import ATTEMPTS, dns_query, hosts_lookup, is_ipv4, resolv_conf
from cnmsim.shell.registry import Proc

NONAME = "Name or service not known"  # EAI_NONAME: the name does not exist
AGAIN = "Temporary failure in name resolution"  # EAI_AGAIN: no DNS server answered


def getaddrinfo(proc: Proc, name: str) -> Generator[Any, Any, tuple[str | None, str]]:
    """(address, "") or (None, gai_strerror text), as glibc's resolver decides between them."""
    if is_ipv4(name):
        return name, ""
    hit = hosts_lookup(proc.place.files, name)
    if hit:
        return hit, ""
    servers, _, _ = resolv_conf(proc.place.files)
    for _ in range(ATTEMPTS):
        for s in servers or ["127.0.0.1"]:  # no nameserver line: glibc asks the local host
            ans = yield from dns_query(proc, s, name)
            if ans is None:
                continue
            if ans.rcode not in (0, 3):
                continue  # SERVFAIL, REFUSED: try the next server
            for i in range(ans.ancount):
                rr = ans.an[i]
                if rr.type == 1:
                    return (rr.rdata if isinstance(rr.rdata, str) else str(rr.rdata)), ""
            return None, NONAME
    return None, AGAIN


def reverse_hosts(files: dict[str, str]) -> dict[str, str]:
    """address -> first name, from /etc/hosts (what gethostbyaddr finds without DNS)."""
    out: dict[str, str] = {}
    for line in files.get("/etc/hosts", "").splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2 and is_ipv4(parts[0]):
            out.setdefault(parts[0], parts[1])
    return out


def clock(t: float) -> str:
    """HH:MM:SS.uuuuuu of simulated seconds (the lab's clock starts at midnight UTC)."""
    us = int(round(t * 1e6))
    s, us = divmod(us, 1_000_000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h % 24:02d}:{m:02d}:{s:02d}.{us:06d}"


def parse_opts(args: list[str], with_value: str, long: dict[str, str] | None = None
               ) -> tuple[dict[str, str], list[str], str | None]:
    """getopt-style parsing: (options, operands, error). `with_value` lists letters taking a value;
    `long` maps --long names to letters (their value after '=' or as the next word)."""
    opts: dict[str, str] = {}
    rest: list[str] = []
    args = list(args)
    while args:
        a = args.pop(0)
        if a == "--":
            rest += args
            break
        if a.startswith("--") and long is not None:
            name, eq, val = a[2:].partition("=")
            letter = long.get(name)
            if letter is None:
                return opts, rest, f"unrecognized option '{a}'"
            if letter in with_value and not eq:
                if not args:
                    return opts, rest, f"option '{a}' requires an argument"
                val = args.pop(0)
            opts[letter] = val
        elif a.startswith("-") and len(a) > 1:
            i = 1
            while i < len(a):
                ch = a[i]
                if ch in with_value:
                    val = a[i + 1:] or (args.pop(0) if args else None)
                    if val is None:
                        return opts, rest, f"option requires an argument -- '{ch}'"
                    opts[ch] = val
                    break
                opts[ch] = ""
                i += 1
        else:
            rest.append(a)
    return opts, rest, None


@contextmanager
def closing(*socks: Any) -> Iterator[None]:
    """Close the sockets when the block ends, except when the simulation itself is discarded
    (GeneratorExit: the process was garbage-collected, nothing may be sent any more)."""
    try:
        yield
    except GeneratorExit:
        raise
    except BaseException:
        for s in socks:
            s.close()
        raise
    for s in socks:
        s.close()
