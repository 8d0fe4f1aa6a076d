"""Name tables iptables consults: protocols, services, ICMP types, address types, ct states.

They are copies of what iptables 1.8.9 reads on Debian 12 (/etc/protocols and /etc/services
from netbase, libxt_icmp.c, libxt_addrtype.c, libxt_conntrack.c), embedded so parsing and
printing never depend on the machine the simulator runs on.
"""

from __future__ import annotations

from cnmsim.netfilter.services import BY_NAME, BY_PORT

# /etc/protocols (name -> number); iptables-save prints the first name for a number
PROTOCOLS: dict[str, int] = {
    "ip": 0, "icmp": 1, "igmp": 2, "ggp": 3, "ipencap": 4, "st": 5, "tcp": 6, "egp": 8,
    "igp": 9, "pup": 12, "udp": 17, "hmp": 20, "xns-idp": 22, "rdp": 27, "iso-tp4": 29,
    "dccp": 33, "xtp": 36, "ddp": 37, "idpr-cmtp": 38, "ipv6": 41, "ipv6-route": 43,
    "ipv6-frag": 44, "idrp": 45, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "skip": 57,
    "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "rspf": 73, "vmtp": 81, "eigrp": 88,
    "ospf": 89, "ax.25": 93, "ipip": 94, "etherip": 97, "encap": 98, "pim": 103,
    "ipcomp": 108, "vrrp": 112, "l2tp": 115, "isis": 124, "sctp": 132, "fc": 133,
    "mobility-header": 135, "udplite": 136, "mpls-in-ip": 137, "manet": 138, "hip": 139,
    "shim6": 140, "wesp": 141, "rohc": 142, "ethernet": 143,
}
# iptables' own list (xtables_chain_protos) wins over /etc/protocols when printing
CHAIN_PROTOS: dict[int, str] = {6: "tcp", 132: "sctp", 17: "udp", 136: "udplite", 1: "icmp",
                                58: "ipv6-icmp", 50: "esp", 51: "ah", 135: "mh", 0: "all"}
PROTO_NAMES: dict[int, str] = {}
for _n, _v in PROTOCOLS.items():
    PROTO_NAMES.setdefault(_v, _n)
PROTO_NAMES.update(CHAIN_PROTOS)

def service_port(name: str, proto: str | None) -> int | None:
    """getservbyname(name, proto): the port, or None when /etc/services has no such entry."""
    entry = BY_NAME.get(name, {})
    if proto is None:
        return next(iter(entry.values()), None)
    return entry.get(proto)


def service_name(port: int, proto: str) -> str | None:
    """getservbyport(port, proto): the first name for the port (for `-L` without `-n`)."""
    return BY_PORT.get((port, proto))


# libxt_icmp.c icmp_codes: (name, type, code_min, code_max)
ICMP_CODES: tuple[tuple[str, int, int, int], ...] = (
    ("any", 0xFF, 0, 0xFF), ("echo-reply", 0, 0, 0xFF), ("pong", 0, 0, 0xFF),
    ("destination-unreachable", 3, 0, 0xFF), ("network-unreachable", 3, 0, 0),
    ("host-unreachable", 3, 1, 1), ("protocol-unreachable", 3, 2, 2),
    ("port-unreachable", 3, 3, 3), ("fragmentation-needed", 3, 4, 4),
    ("source-route-failed", 3, 5, 5), ("network-unknown", 3, 6, 6), ("host-unknown", 3, 7, 7),
    ("network-prohibited", 3, 9, 9), ("host-prohibited", 3, 10, 10),
    ("TOS-network-unreachable", 3, 11, 11), ("TOS-host-unreachable", 3, 12, 12),
    ("communication-prohibited", 3, 13, 13), ("host-precedence-violation", 3, 14, 14),
    ("precedence-cutoff", 3, 15, 15), ("source-quench", 4, 0, 0xFF), ("redirect", 5, 0, 0xFF),
    ("network-redirect", 5, 0, 0), ("host-redirect", 5, 1, 1), ("TOS-network-redirect", 5, 2, 2),
    ("TOS-host-redirect", 5, 3, 3), ("echo-request", 8, 0, 0xFF), ("ping", 8, 0, 0xFF),
    ("router-advertisement", 9, 0, 0xFF), ("router-solicitation", 10, 0, 0xFF),
    ("time-exceeded", 11, 0, 0xFF), ("ttl-exceeded", 11, 0, 0xFF),
    ("ttl-zero-during-transit", 11, 0, 0), ("ttl-zero-during-reassembly", 11, 1, 1),
    ("parameter-problem", 12, 0, 0xFF), ("ip-header-bad", 12, 0, 0),
    ("required-option-missing", 12, 1, 1), ("timestamp-request", 13, 0, 0xFF),
    ("timestamp-reply", 14, 0, 0xFF), ("address-mask-request", 17, 0, 0xFF),
    ("address-mask-reply", 18, 0, 0xFF),
)

# conntrack / state flags in the order iptables prints them
CT_STATES = ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT")
STATE_STATES = ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED")
CT_STATUS = ("EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED")
# libxt_addrtype.c rtn_names, in bit order
ADDR_TYPES = ("UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE",
              "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE")
# libxt_REJECT.c: canonical name, alias
REJECT_TYPES: tuple[tuple[str, str], ...] = (
    ("icmp-net-unreachable", "net-unreach"), ("icmp-host-unreachable", "host-unreach"),
    ("icmp-proto-unreachable", "proto-unreach"), ("icmp-port-unreachable", "port-unreach"),
    ("icmp-net-prohibited", "net-prohib"), ("icmp-host-prohibited", "host-prohib"),
    ("tcp-reset", "tcp-rst"), ("icmp-admin-prohibited", "admin-prohib"),
)
LOG_LEVELS = {"emerg": 0, "panic": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warn": 4,
              "warning": 4, "notice": 5, "info": 6, "debug": 7}
