"""tcpdump-style one-line packet descriptions (`tcpdump -n` without the timestamp).

Used for trace summaries and by the simulated `tcpdump`, so both read like the real tool:
    IP 172.17.0.2 > 172.17.0.3: ICMP echo request, id 1, seq 1, length 64
    ARP, Request who-has 10.0.0.3 tell 10.0.0.2, length 28
    IP 10.0.0.2.41234 > 10.0.0.3.80: Flags [S], seq 12345, win 64240, options [mss 1460,...], length 0

`summary()` is stateless and cheap (trace events call it); a `Formatter` adds what tcpdump
keeps between packets or takes from options: relative TCP sequence numbers, `-e` link
headers, names instead of numbers (without `-n`), and no VLAN prefix unless `-e`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from scapy.layers.dns import DNS
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, CookedLinuxV2, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet, Raw

from cnmsim.packet.services import service_name

ICMP_TYPES = {
    0: "echo reply", 8: "echo request", 3: "unreachable", 11: "time exceeded in-transit",
}
UNREACH = {
    0: "net {dst} unreachable", 1: "host {dst} unreachable", 2: "{dst} protocol {proto} unreachable",
    3: "{dst} {l4} port {port} unreachable", 4: "{dst} unreachable - need to frag (mtu {mtu})",
    9: "net {dst} unreachable - admin prohibited", 10: "host {dst} unreachable - admin prohibited",
    13: "host {dst} unreachable - admin prohibited filter",
}
TCP_FLAGS = [("F", 0x01), ("S", 0x02), ("R", 0x04), ("P", 0x08), ("U", 0x20), ("E", 0x40), ("W", 0x80)]
ETHERTYPES = {0x0800: "IPv4", 0x0806: "ARP", 0x8100: "802.1Q", 0x86DD: "IPv6"}
HTTP_CMDS = ("GET", "PUT", "POST", "HEAD", "OPTIONS", "DELETE", "TRACE", "CONNECT", "PATCH")
DNS_RCODES = {0: "", 1: " FormErr", 2: " ServFail", 3: " NXDomain", 4: " NotImp", 5: " Refused"}
DNS_TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV"}


def payload_len(layer: Packet) -> int:
    """Bytes after this layer's header, without serialising the whole packet."""
    from cnmsim.packet.sizes import wire_len

    return wire_len(layer.payload) if layer.payload else 0


def _tcp_flags(tcp: TCP) -> str:
    f = int(tcp.flags)
    s = "".join(ch for ch, bit in TCP_FLAGS if f & bit)
    if f & 0x10:
        s += "."
    return s or "none"


def _tcp_options(opts: list, rel: Callable[[int], int]) -> str:
    out = []
    for k, v in opts:
        if k == "MSS":
            out.append(f"mss {v}")
        elif k == "WScale":
            out.append(f"wscale {v}")
        elif k == "Timestamp":
            out.append(f"TS val {v[0]} ecr {v[1]}")
        elif k == "SAckOK":
            out.append("sackOK")
        elif k == "NOP":
            out.append("nop")
        elif k == "EOL":
            out.append("eol")
        elif k == "SAck":
            blocks = "".join(f"{{{rel(v[i]) & 0xFFFFFFFF}:{rel(v[i + 1]) & 0xFFFFFFFF}}}" for i in range(0, len(v) - 1, 2))
            out.append(f"sack {len(v) // 2} {blocks}")
        else:
            out.append(str(k).lower())
    return ",".join(out)


def _http(data: bytes) -> str:
    """tcpdump's txtproto_print without -v: `: HTTP` plus a request or status line."""
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    words = line.split(" ")
    if words and (words[0] in HTTP_CMDS or (
            words[0].startswith("HTTP/") and len(words) > 1 and len(words[1]) == 3 and words[1].isdigit())):
        return f": HTTP: {line}"
    return ": HTTP"


def _dns(pl: Packet, length: int) -> str | None:
    """tcpdump's ns_print without -v: `1234+ A? example.com. (29)` / `1234 1/0/0 A 1.2.3.4 (45)`."""
    if isinstance(pl, DNS):
        return _dns_text(pl, length)
    return _dns_bytes(pl.load if isinstance(pl, Raw) else bytes(pl), length)


@lru_cache(maxsize=256)
def _dns_bytes(data: bytes, length: int) -> str | None:
    """Parsed once per message: a traced DNS packet is summarised at every hop."""
    try:
        d = DNS(data)
    except Exception:  # noqa: BLE001  (not DNS after all)
        return None
    return _dns_text(d, length)


def _dns_text(d: DNS, length: int) -> str | None:
    qd = d.qd[0] if d.qdcount and d.qd else None
    q = ""
    if qd is not None:
        name = qd.qname.decode() if isinstance(qd.qname, bytes) else str(qd.qname)
        q = f" {DNS_TYPES.get(qd.qtype, qd.qtype)}? {name if name.endswith('.') else name + '.'}"
    if not d.qr:
        more = "" if d.qdcount == 1 else f" [{d.qdcount}q]"
        return f"{d.id}{'+' if d.rd else ''}{more}{q} ({length})"
    s = f"{d.id}{DNS_RCODES.get(d.rcode, f' Resp{d.rcode}')}{'*' if d.aa else ''}{'' if d.ra else '-'}"
    s += f" {d.ancount}/{d.nscount}/{d.arcount}"
    answers = []
    for i in range(d.ancount):
        try:
            rr = d.an[i]
        except (IndexError, TypeError):
            break
        data = rr.rdata.decode() if isinstance(rr.rdata, bytes) else rr.rdata
        answers.append(f" {DNS_TYPES.get(rr.type, rr.type)} {data}")
    return s + ",".join(answers) + f" ({length})"


class Formatter:
    """A tcpdump printer: `numeric` (-n), `link` (-e), relative TCP sequence numbers."""

    def __init__(self, numeric: bool = True, link: bool = False, relative: bool = False,
                 hosts: dict[str, str] | None = None, vlan_prefix: bool = False) -> None:
        self.numeric, self.link, self.relative = numeric, link, relative
        self.hosts = hosts or {}
        self.vlan_prefix = vlan_prefix  # trace summaries show the tag even without -e
        self.tcp_seqs: dict[tuple, list[int]] = {}

    def addr(self, ip: str) -> str:
        return ip if self.numeric else self.hosts.get(ip, ip)

    def port(self, p: int, proto: str) -> str:
        return str(p) if self.numeric else (service_name(p, proto) or str(p))

    # ------------------------------------------------------------ layers
    def line(self, pkt: Packet) -> str:
        """One line for `pkt` (an Ether or cooked frame, or a bare IP packet)."""
        layer, prefix = pkt, ""
        if isinstance(layer, Ether):
            if self.link:
                return f"{layer.src} > {layer.dst}, " + self._ethertype(layer.type, layer.payload, wire_len_of(pkt))
            layer = layer.payload
            while isinstance(layer, Dot1Q):
                if self.vlan_prefix:
                    prefix += f"vlan {layer.vlan}, p {layer.prio}, "
                layer = layer.payload
        elif isinstance(layer, CookedLinuxV2):
            if self.link:
                src = ":".join(f"{b:02x}" for b in bytes(layer.src)[:6])
                return f"ifindex {layer.ifindex} {src} " + self._ethertype(layer.proto, layer.payload, wire_len_of(pkt))
            layer = layer.payload
        return prefix + self._l3(layer, with_proto=True)

    def _ethertype(self, etype: int, pl: Packet, length: int) -> str:
        s = f"ethertype {ETHERTYPES.get(etype, 'Unknown')} (0x{etype:04x}), length {length}: "
        while isinstance(pl, Dot1Q):
            s += f"vlan {pl.vlan}, p {pl.prio}, ethertype {ETHERTYPES.get(pl.type, 'Unknown')} (0x{pl.type:04x}), "
            pl = pl.payload
        return s + self._l3(pl, with_proto=False)

    def _l3(self, layer: Packet, with_proto: bool) -> str:
        if isinstance(layer, ARP):
            a = self.addr
            if layer.op == 1:
                body = f"Request who-has {a(layer.pdst)} tell {a(layer.psrc)}, length 28"
            else:
                body = f"Reply {a(layer.psrc)} is-at {layer.hwsrc}, length 28"
            return ("ARP, " if with_proto else "") + body
        if isinstance(layer, IP):
            return ("IP " if with_proto else "") + self._ip(layer)
        if isinstance(layer, Raw) or layer is None:
            return "unknown"
        return layer.summary()

    def _ip(self, ip: IP) -> str:
        pl = ip.payload
        src, dst = self.addr(ip.src), self.addr(ip.dst)
        if ip.frag:
            return f"{src} > {dst}: ip-proto-{ip.proto}"
        if isinstance(pl, ICMP):
            return f"{src} > {dst}: " + self._icmp(pl)
        if isinstance(pl, TCP):
            return f"{src}.{self.port(pl.sport, 'tcp')} > {dst}.{self.port(pl.dport, 'tcp')}: " + self._tcp(ip, pl)
        if isinstance(pl, UDP):
            head = f"{src}.{self.port(pl.sport, 'udp')} > {dst}.{self.port(pl.dport, 'udp')}: "
            if isinstance(pl.payload, VXLAN):
                vx = pl.payload
                inner = self.line(vx.payload) if vx.payload else ""
                return head + f"VXLAN, flags [I] (0x{int(vx.flags or 0):02x}), vni {vx.vni}\n{inner}"
            n = payload_len(pl)
            if 53 in (pl.sport, pl.dport) and n:
                d = _dns(pl.payload, n)
                if d is not None:
                    return head + d
            return head + f"UDP, length {n}"
        if ip.proto == 50:  # print-esp.c
            head = bytes(pl)[:8] if pl is not None else b""
            if len(head) < 8:
                return f"{src} > {dst}: ESP"
            return (f"{src} > {dst}: ESP(spi=0x{int.from_bytes(head[:4], 'big'):08x},"
                    f"seq=0x{int.from_bytes(head[4:], 'big'):x}), length {payload_len(ip)}")
        return f"{src} > {dst}: ip-proto-{ip.proto} {payload_len(ip)}"

    def _icmp(self, icmp: ICMP) -> str:
        t, code = icmp.type, icmp.code
        ln = 8 + payload_len(icmp)
        if t in (0, 8):
            return f"ICMP {ICMP_TYPES[t]}, id {icmp.id}, seq {icmp.seq}, length {ln}"
        if t == 3:
            inner = icmp.payload if isinstance(icmp.payload, IP) else None
            dst = self.addr(inner.dst) if inner is not None else "?"
            l4 = inner.payload if inner is not None else None
            port = getattr(l4, "dport", "?")
            kind = "tcp" if isinstance(l4, TCP) else "udp"
            tmpl = UNREACH.get(code, "{dst} unreachable - code " + str(code))
            text = tmpl.format(dst=dst, l4=kind, port=port, mtu=icmp.nexthopmtu,
                               proto=inner.proto if inner is not None else "?")
            return f"ICMP {text}, length {ln}"
        if t == 11:
            return f"ICMP {'time exceeded in-transit' if code == 0 else 'ip reassembly time exceeded'}, length {ln}"
        return f"ICMP type-#{t}, length {ln}"

    def _tcp(self, ip: IP, tcp: TCP) -> str:
        f = int(tcp.flags)
        seq, ack = tcp.seq, tcp.ack
        rel: Callable[[int], int] = lambda x: x  # noqa: E731
        if self.relative and f & 0x10:
            seq, ack, rel = self._relative(ip, tcp, f)
        s = f"Flags [{_tcp_flags(tcp)}]"
        n = payload_len(tcp)
        if n or f & 0x07:
            s += f", seq {seq}" + (f":{(seq + n) & 0xFFFFFFFF}" if n else "")
        if f & 0x10:
            s += f", ack {ack}"
        s += f", win {tcp.window}"
        if tcp.options:
            s += f", options [{_tcp_options(tcp.options, rel)}]"
        s += f", length {n}"
        if n and (tcp.sport in (80, 8080) or tcp.dport in (80, 8080)):
            pl = tcp.payload
            s += _http(pl.load if isinstance(pl, Raw) else bytes(pl))
        return s

    def _relative(self, ip: IP, tcp: TCP, f: int) -> tuple[int, int, Callable[[int], int]]:
        """print-tcp.c: the first ACK-bearing packet (or a SYN) of a conversation sets the bases."""
        rev = tcp.sport > tcp.dport or (tcp.sport == tcp.dport and ip.src > ip.dst)
        key = (ip.dst, ip.src, tcp.dport, tcp.sport) if rev else (ip.src, ip.dst, tcp.sport, tcp.dport)
        th = self.tcp_seqs.get(key)
        seq, ack = tcp.seq, tcp.ack
        if th is None or f & 0x02:
            th = self.tcp_seqs[key] = [(ack - 1) & 0xFFFFFFFF, seq] if rev else [seq, (ack - 1) & 0xFFFFFFFF]
            base_seq, base_ack = (th[1], th[0]) if rev else (th[0], th[1])
            return seq, ack, lambda x: (x - base_ack) & 0xFFFFFFFF
        base_seq, base_ack = (th[1], th[0]) if rev else (th[0], th[1])
        return ((seq - base_seq) & 0xFFFFFFFF, (ack - base_ack) & 0xFFFFFFFF,
                lambda x: (x - base_ack) & 0xFFFFFFFF)


def wire_len_of(pkt: Packet) -> int:
    from cnmsim.packet.sizes import wire_len

    return wire_len(pkt)


_TRACE = Formatter(vlan_prefix=True)


def summary(pkt: Packet, link: bool = False) -> str:
    """One tcpdump -n line for `pkt` (an Ether frame or an IP packet); -e style when link."""
    if link:
        return Formatter(link=True).line(pkt)
    return _TRACE.line(pkt)
