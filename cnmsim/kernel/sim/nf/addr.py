"""IPv4 addresses as ints (what the rules compare), with memoised conversions both ways.

Rules and conntrack tuples hold addresses as 32-bit ints, so a match is a mask and a compare;
scapy holds them as dotted strings.  The caches are pure memos of a pure function (no lab state).
"""

from __future__ import annotations

import socket
import struct

_TO_INT: dict[str, int] = {}
_TO_STR: dict[int, str] = {}
_LIMIT = 1 << 20


def ip2int(s: str) -> int:
    """'10.0.0.2' -> 167772162."""
    v = _TO_INT.get(s)
    if v is None:
        if len(_TO_INT) > _LIMIT:
            _TO_INT.clear()
        v = _TO_INT[s] = struct.unpack("!I", socket.inet_aton(s))[0]
    return v


def int2ip(v: int) -> str:
    """167772162 -> '10.0.0.2'."""
    s = _TO_STR.get(v)
    if s is None:
        if len(_TO_STR) > _LIMIT:
            _TO_STR.clear()
        s = _TO_STR[v] = socket.inet_ntoa(struct.pack("!I", v))
    return s


def parse_net(text: str) -> tuple[int, int]:
    """'10.0.0.0/24' (or a host, or a dotted mask) -> (network int, mask int)."""
    addr, _, plen = text.strip().partition("/")
    if not plen:
        mask = 0xFFFFFFFF
    elif "." in plen:
        mask = ip2int(plen)
    else:
        n = int(plen)
        if not 0 <= n <= 32:
            raise ValueError(f"bad prefix length in {text!r}")
        mask = (0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF
    return ip2int(addr) & mask, mask


def parse_range(text: str) -> tuple[int, int]:
    """'1024:65535', '80', '80-90' -> (low, high) inclusive; ':' and '-' both separate."""
    t = text.strip().replace("-", ":")
    lo, sep, hi = t.partition(":")
    a = int(lo) if lo else 0
    b = (int(hi) if hi else 65535) if sep else a
    return (a, b) if a <= b else (b, a)
