"""A pcap-filter(7) subset, compiled to a Python predicate on a scapy frame.

    expr     := term (("or" | "||") term)*
    term     := factor (("and" | "&&") factor)*
    factor   := ("not" | "!") factor | "(" expr ")" | primitive
    primitive:= [ether|ip|arp|tcp|udp|icmp] [src|dst|src or dst|src and dst] [host|net|port|portrange] ID
              | ip | arp | tcp | udp | icmp | vlan [ID] | greater N | less N
A bare ID after `and`/`or` reuses the previous qualifiers (`host a or b`).  As in pcap, a
`vlan` keyword makes the primitives after it look inside the 802.1Q tag.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, CookedLinuxV2, Dot1Q, Ether
from scapy.packet import Packet

from cnmsim.packet.services import service_port
from cnmsim.packet.sizes import wire_len

Pred = Callable[[list[Packet], Packet], bool]  # (levels, whole frame) -> match
PROTOS = {"ip": None, "arp": None, "tcp": 6, "udp": 17, "icmp": 1}
IP_PROTO_NAMES = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
                  "pim": 103, "vrrp": 112, "sctp": 132}
TOKEN = re.compile(r"\(|\)|&&|\|\||!=|!|[^\s()!&|]+")


class FilterError(Exception):
    """What tcpdump reports after `can't parse filter expression: `."""


def levels(pkt: Packet) -> list[Packet]:
    """The layer after the link header, then the layer after each 802.1Q tag."""
    layer = pkt.payload if isinstance(pkt, (Ether, CookedLinuxV2)) else pkt
    out = [layer]
    while isinstance(layer, Dot1Q):
        layer = layer.payload
        out.append(layer)
    return out


class Parser:
    def __init__(self, text: str, resolve: Callable[[str], str | None] | None = None) -> None:
        self.toks = TOKEN.findall(text)
        self.i = 0
        self.depth = 0  # vlan keywords seen so far
        self.resolve = resolve
        self.last: tuple[str | None, str | None, str] | None = None  # (proto, dir, type)

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        if self.i >= len(self.toks):
            raise FilterError("syntax error")
        self.i += 1
        return self.toks[self.i - 1]

    def parse(self) -> Pred:
        if not self.toks:
            return lambda lv, pkt: True
        p = self.expr()
        if self.peek() is not None:
            raise FilterError("syntax error")
        return p

    def expr(self) -> Pred:
        p = self.term()
        while self.peek() in ("or", "||"):
            self.take()
            q = self.term()
            p = (lambda a, b: lambda lv, pkt: a(lv, pkt) or b(lv, pkt))(p, q)
        return p

    def term(self) -> Pred:
        p = self.factor()
        while self.peek() in ("and", "&&"):
            self.take()
            q = self.factor()
            p = (lambda a, b: lambda lv, pkt: a(lv, pkt) and b(lv, pkt))(p, q)
        return p

    def factor(self) -> Pred:
        t = self.peek()
        if t in ("not", "!"):
            self.take()
            inner = self.factor()
            return lambda lv, pkt: not inner(lv, pkt)
        if t == "(":
            self.take()
            p = self.expr()
            if self.take() != ")":
                raise FilterError("syntax error")
            return p
        return self.primitive()

    def primitive(self) -> Pred:
        t = self.take()
        if t == "vlan":
            vid = int(self.take()) if (self.peek() or "").isdigit() else None
            d = self.depth
            self.depth += 1
            return lambda lv, pkt: (len(lv) > d + 1 and isinstance(lv[d], Dot1Q)
                                    and (vid is None or lv[d].vlan == vid))
        if t in ("greater", "less"):
            n = int(self.take())
            return (lambda lv, pkt: wire_len(pkt) >= n) if t == "greater" else (lambda lv, pkt: wire_len(pkt) <= n)
        if t == "proto" or (t == "ip" and self.peek() == "proto"):  # `ip proto 50`, `ip proto esp`
            if t == "ip":
                self.take()
            return self._ip_proto(self.take().lstrip("\\"))
        proto = None
        if t in PROTOS or t == "ether":
            proto = t
            nxt = self.peek()
            if nxt not in ("src", "dst", "host", "net", "port", "portrange"):
                return self._proto(t)
            t = self.take()
        dirs = None
        if t in ("src", "dst"):
            dirs = t
            if self.peek() in ("or", "and") and self.i + 1 < len(self.toks) and self.toks[self.i + 1] in ("src", "dst"):
                dirs = f"{t} {self.take()} {self.take()}"
            t = self.take() if self.peek() in ("host", "net", "port", "portrange") else "host"
        kind = t
        if kind not in ("host", "net", "port", "portrange"):
            if self.last is None:  # a bare word: `host a or b` reuses the qualifiers
                raise FilterError("syntax error")
            proto, dirs, kind = self.last
            self.i -= 1
        self.last = (proto, dirs, kind)
        return self._qualified(proto, dirs, kind, self.take())

    def _ip_proto(self, value: str) -> Pred:
        """pcap-filter's `ip proto PROTOCOL`: a number or a name (icmp, igmp, tcp, udp, ah, esp ...)."""
        num = int(value) if value.isdigit() else IP_PROTO_NAMES.get(value)
        if num is None:
            raise FilterError(f"unknown ip proto '{value}'")
        d = self.depth
        return lambda lv, pkt: len(lv) > d and isinstance(lv[d], IP) and lv[d].proto == num

    def _proto(self, name: str) -> Pred:
        d = self.depth
        num = PROTOS.get(name)
        if name == "arp":
            return lambda lv, pkt: len(lv) > d and isinstance(lv[d], ARP)
        if name in ("ip", "ether"):
            return lambda lv, pkt: len(lv) > d and isinstance(lv[d], IP)
        return lambda lv, pkt: len(lv) > d and isinstance(lv[d], IP) and lv[d].proto == num

    def _qualified(self, proto: str | None, dirs: str | None, kind: str, value: str) -> Pred:
        d = self.depth
        src = dirs is None or "src" in dirs
        dst = dirs is None or "dst" in dirs
        both = dirs is not None and " and " in dirs
        if proto == "ether":
            mac = value.lower()
            return lambda lv, pkt: _match(isinstance(pkt, Ether) and pkt.src == mac,
                                          isinstance(pkt, Ether) and pkt.dst == mac, src, dst, both)
        if kind in ("host", "net"):
            net = self._network(value, kind)
            arp_ok = proto in (None, "arp")
            ip_ok = proto in (None, "ip", "tcp", "udp", "icmp")
            num = PROTOS.get(proto or "")

            def addr(lv: list[Packet], pkt: Packet) -> bool:
                if len(lv) <= d:
                    return False
                layer = lv[d]
                if isinstance(layer, IP) and ip_ok and (num is None or layer.proto == num):
                    s, t = layer.src, layer.dst
                elif isinstance(layer, ARP) and arp_ok:
                    s, t = layer.psrc, layer.pdst
                else:
                    return False
                return _match(IPv4Address(s) in net, IPv4Address(t) in net, src, dst, both)
            return addr
        lo, _, hi = value.partition("-") if kind == "portrange" else (value, "", value)
        ports = range(self._port(lo, proto), self._port(hi, proto) + 1)
        l4s = (TCP,) if proto == "tcp" else (UDP,) if proto == "udp" else (TCP, UDP)

        def port(lv: list[Packet], pkt: Packet) -> bool:
            if len(lv) <= d or not isinstance(lv[d], IP) or lv[d].frag:
                return False
            l4 = lv[d].payload
            return isinstance(l4, l4s) and _match(l4.sport in ports, l4.dport in ports, src, dst, both)
        return port

    def _network(self, value: str, kind: str) -> IPv4Network:
        if self.peek() == "mask":
            self.take()
            value = f"{value}/{self.take()}"
        try:
            if kind == "host" and "/" not in value:
                IPv4Address(value)
            return IPv4Network(value if "/" in value or kind == "host" else _classful(value), strict=False)
        except ValueError:
            ip = self.resolve(value) if self.resolve and kind == "host" else None
            if ip is None:
                raise FilterError(f"unknown host '{value}'") from None
            return IPv4Network(ip)

    @staticmethod
    def _port(value: str, proto: str | None) -> int:
        if value.isdigit():
            return int(value)
        p = service_port(value, "udp" if proto == "udp" else "tcp") or service_port(value, "udp")
        if p is None:
            raise FilterError(f"unknown port '{value}'")
        return p


def _match(s: bool, d: bool, src: bool, dst: bool, both: bool) -> bool:
    if both:
        return s and d
    return (src and s) or (dst and d)


def _classful(value: str) -> str:
    """`net 10` is 10.0.0.0/8, `net 192.168.1` is 192.168.1.0/24."""
    parts = value.split(".")
    return ".".join(parts + ["0"] * (4 - len(parts))) + f"/{8 * len(parts)}"


def compile_filter(text: str, resolve: Callable[[str], str | None] | None = None) -> Callable[[Packet], bool]:
    """A predicate on a frame (Ether, cooked, or bare IP); raises FilterError."""
    pred = Parser(text, resolve).parse()

    def match(pkt: Packet, _p: Any = pred) -> bool:
        return _p(levels(pkt), pkt)
    return match
