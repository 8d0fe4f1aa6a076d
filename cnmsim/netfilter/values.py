"""Parsing and printing of iptables' values: addresses, masks, ports, integers, marks.

Each function follows libxtables (xtables.c) so the canonical text matches iptables-save:
`10.1` is 10.1.0.0, `10.0.0.1/24` is saved `10.0.0.0/24`, a non-contiguous mask stays dotted,
a port range `:90` is `0:90`, a mark `1` is `0x1`.
"""

from __future__ import annotations

from cnmsim.netfilter.errors import param
from cnmsim.netfilter.names import PROTO_NAMES, PROTOCOLS, service_name, service_port

HOSTS = {"localhost": "127.0.0.1"}  # the only names resolved (no DNS in the text layer)


def strtoui(text: str, lo: int = 0, hi: int = 0xFFFFFFFF) -> int | None:
    """xtables_strtoui with base 0: decimal, 0x-hex or 0-octal, whole string, in [lo, hi]."""
    t = text.strip()
    try:
        if t.lower().startswith("0x"):
            v = int(t[2:], 16)
        elif len(t) > 1 and t.startswith("0"):
            v = int(t[1:], 8)
        else:
            v = int(t, 10)
    except ValueError:
        return None
    if not t or t[0] in "+-" or not lo <= v <= hi:
        return None
    return v


def ip_from_text(text: str, is_mask: bool = False) -> int | None:
    """__numeric_to_ipaddr: dotted quad, or (not a mask) fewer parts padded with zeros."""
    parts = text.split(".")
    if len(parts) > 4 or (is_mask and len(parts) != 4):
        return None
    octets = []
    for p in parts:
        v = strtoui(p, 0, 255)
        if v is None:
            return None
        octets.append(v)
    octets += [0] * (4 - len(octets))
    return int.from_bytes(bytes(octets), "big")


def ip_to_text(addr: int) -> str:
    return ".".join(str(b) for b in addr.to_bytes(4, "big"))


def mask_bits(mask: int) -> int | None:
    """The prefix length of a contiguous mask, else None."""
    inv = ~mask & 0xFFFFFFFF
    return 32 - inv.bit_length() if inv & (inv + 1) == 0 else None


def parse_host(text: str) -> int | None:
    addr = ip_from_text(text)
    if addr is None and text in HOSTS:
        addr = ip_from_text(HOSTS[text])
    return addr


def parse_net(text: str) -> tuple[int, int]:
    """`-s/-d` and friends: (address, mask); a bad host or mask raises iptables' error."""
    host, sep, m = text.partition("/")
    if sep:
        if "." in m:
            mask = ip_from_text(m, is_mask=True)
        else:
            bits = strtoui(m, 0, 32)
            mask = None if bits is None else (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
        if mask is None:
            raise param(f"invalid mask `{m}' specified")
    else:
        mask = 0xFFFFFFFF
    addr = parse_host(host)
    if addr is None:
        raise param(f"host/network `{host}' not found")
    return addr & mask, mask


def net_to_text(addr: int, mask: int, host_suffix: bool = True) -> str:
    """`10.0.0.0/24`, `1.2.3.4/32` (or `1.2.3.4` when host_suffix is off), `10.0.0.0/255.0.255.0`."""
    bits = mask_bits(mask)
    if bits == 32 and not host_suffix:
        return ip_to_text(addr)
    return f"{ip_to_text(addr)}/{bits if bits is not None else ip_to_text(mask)}"


def canon_net(text: str) -> str:
    addr, mask = parse_net(text)
    return net_to_text(addr, mask)


def proto_number(name: str) -> int | None:
    """xtables_parse_protocol: a number 0-255, `all`, or a /etc/protocols name (any case)."""
    v = strtoui(name, 0, 255)
    if v is not None:
        return v
    low = name.lower()
    return 0 if low == "all" else PROTOCOLS.get(low)


def proto_name(number: int) -> str:
    return PROTO_NAMES.get(number, str(number))


def parse_port(text: str, proto: str | None) -> int:
    """xtables_parse_port: a number 0-65535 or a service name for the protocol."""
    v = strtoui(text, 0, 0xFFFF)
    if v is None:
        v = service_port(text, proto)
    if v is None:
        raise param(f"invalid port/service `{text}' specified")
    return v


def port_text(port: int, proto: str, numeric: bool) -> str:
    return str(port) if numeric else service_name(port, proto) or str(port)


def parse_port_range(text: str, proto: str | None) -> tuple[int, int]:
    """`80`, `80:90`, `:90` (0:90), `90:` (90:65535); service names allowed."""
    lo, sep, hi = text.partition(":")
    a = parse_port(lo, proto) if lo else 0
    b = (parse_port(hi, proto) if hi else 0xFFFF) if sep else a
    return a, b


def range_text(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}:{hi}"


def parse_mark(text: str, ext: str, opt: str) -> tuple[int, int | None]:
    """`V[/M]` as xtables_parse_mark_mask; the mask is None when not given."""
    v, sep, m = text.partition("/")
    value = strtoui(v)
    mask = strtoui(m) if sep else None
    if value is None or (sep and mask is None):
        raise param(f"{ext}: bad integer value for option \"{opt}\", or out of range.\n")
    return value, mask
