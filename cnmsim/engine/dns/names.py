"""Name resolution as libnetwork's embedded DNS does it (Sandbox.ResolveName / ResolveIP).

Pure data and functions: the engine builds one `DnsNetwork` per network a sandbox is attached to,
in the sandbox's endpoint order, and the server asks these functions on every query, so answers
always reflect the current endpoints.

    nets = [DnsNetwork("petsBridge", {"web": ["172.18.0.3"]}, {"172.18.0.3": "web"})]
    resolve_name(nets, "web")              -> ["172.18.0.3"]
    resolve_name(nets, "WEB.petsBridge.")  -> ["172.18.0.3"]
    resolve_name(nets, "example.com")      -> None (unknown: the server forwards it)
    resolve_ip(nets, "172.18.0.3")         -> "web.petsBridge"
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DnsNetwork:
    """The DNS records one network holds (libnetwork's svcRecords for that network).

    records: lower-cased name (container name, aliases, short ID, hostname) -> IPv4 addresses in
    registration order; reverse: IPv4 address -> the name its PTR answer uses (the first name
    registered for the endpoint), without the network suffix; internal: an `--internal` network.
    """

    name: str
    records: dict[str, list[str]] = field(default_factory=dict)
    reverse: dict[str, str] = field(default_factory=dict)
    internal: bool = False


@dataclass(frozen=True)
class NameHit:
    """What answered a name: the addresses, the network that holds them, the record's name."""

    addresses: list[str]
    network: DnsNetwork
    record: str


def candidates(name: str) -> list[tuple[str, str]]:
    """(name, network) pairs tried in order for `name`: `a.b.c` gives ("a.b.c", ""), ("a.b", "c"),
    ("a", "b.c"); "" means any network (libnetwork allows dots in both names and network names)."""
    name = name.removesuffix(".")
    out = [(name, "")]
    cut = len(name)
    while (i := name.rfind(".", 0, cut)) != -1:
        out.append((name[:i], name[i + 1:]))
        cut = i
    return out


def lookup_name(networks: list[DnsNetwork], name: str) -> NameHit | None:
    """The first network record matching `name`, or None when the name is not Docker's.

    The record name is matched case-insensitively (names are stored lower-cased); the network
    suffix is compared as written, as libnetwork compares it with the network's name.
    """
    for req, net_name in candidates(name):
        key = req.lower()
        for net in networks:
            if net_name and net_name != net.name:
                continue
            ips = net.records.get(key)
            if ips:
                return NameHit(list(dict.fromkeys(ips)), net, key)  # no duplicates, order kept
    return None


def resolve_name(networks: list[DnsNetwork], name: str) -> list[str] | None:
    """IPv4 addresses for `name` (a known name always has some), or None when unknown (forward)."""
    hit = lookup_name(networks, name)
    return hit.addresses if hit else None


def resolve_ip(networks: list[DnsNetwork], ip: str) -> str | None:
    """The PTR name `<name>.<network>` for an address, from the first network that knows it."""
    for net in networks:
        name = net.reverse.get(ip)
        if name:
            return f"{name}.{net.name}"
    return None


def ptr_to_ip(qname: str) -> str | None:
    """`3.0.18.172.in-addr.arpa.` -> `172.18.0.3`; None for anything else (it is forwarded)."""
    head, sep, tail = qname.lower().partition(".in-addr.arpa")
    parts = head.split(".")
    if not sep or tail not in ("", ".") or len(parts) != 4:
        return None
    if not all(p.isdigit() and int(p) < 256 for p in parts):
        return None
    return ".".join(reversed(parts))


def external_access(networks: list[DnsNetwork]) -> bool:
    """Whether the sandbox reaches the outside (any non-internal network): libnetwork's proxyDNS."""
    return any(not n.internal for n in networks)
