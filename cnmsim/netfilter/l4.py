"""The layer-4 matches: tcp, udp, icmp and multiport (libxt_tcp.c, libxt_udp.c, libxt_icmp.c,
libxt_multiport.c in iptables 1.8.9): ports, TCP flags, ICMP types, and their `-L` text.
"""

from __future__ import annotations

from cnmsim.netfilter import values as V
from cnmsim.netfilter.errors import param
from cnmsim.netfilter.ext import Ctx
from cnmsim.netfilter.model import Option, Rule
from cnmsim.netfilter.names import ICMP_CODES

TCP_FLAGS = (("FIN", 0x01), ("SYN", 0x02), ("RST", 0x04), ("PSH", 0x08), ("ACK", 0x10),
             ("URG", 0x20))
FLAG_NAMES = dict(TCP_FLAGS) | {"ALL": 0x3F, "NONE": 0}


def _flags_value(text: str) -> int:
    v = 0
    for f in text.split(","):
        if f.upper() not in FLAG_NAMES:
            raise param(f"Unknown TCP flag `{f}'")
        v |= FLAG_NAMES[f.upper()]
    return v


def flags_text(v: int) -> str:
    return ",".join(n for n, b in TCP_FLAGS if v & b) or "NONE"


def ports(check_order: bool):  # noqa: ANN202 - a Canon
    def canon(values: list[str], ctx: Ctx) -> tuple[str, ...]:
        lo, hi = V.parse_port_range(values[0], ctx.proto)
        if check_order and lo > hi:
            raise param("invalid portrange (min > max)")
        return (V.range_text(lo, hi),)
    return canon


def tcp_flags(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    return flags_text(_flags_value(values[0])), flags_text(_flags_value(values[1]))


def syn(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    return "FIN,SYN,RST,ACK", "SYN"


def needs_proto(name: str, label: str):  # noqa: ANN202 - a Finish
    def finish(opts: dict[str, Option], ctx: Ctx) -> None:
        if ctx.rule.proto != name or ctx.rule.proto_neg:
            raise param(f"{label} match requires '-p {name}'")
        for key in ("--sport", "--dport"):  # the full range matches everything: not kept
            if key in opts and opts[key].values == ("0:65535",) and not opts[key].neg:
                del opts[key]
    return finish


def _port_desc(name: str, opt: Option | None, proto: str, numeric: bool) -> str:
    if opt is None:
        return ""
    inv = "!" if opt.neg else ""
    lo, _, hi = opt.values[0].partition(":")
    if not hi:
        return f" {name}:{inv}{V.port_text(int(lo), proto, numeric)}"
    return f" {name}s:{inv}{V.port_text(int(lo), proto, numeric)}:{V.port_text(int(hi), proto, numeric)}"


def tcp_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    s = " tcp" + _port_desc("spt", opts.get("--sport"), "tcp", numeric)
    s += _port_desc("dpt", opts.get("--dport"), "tcp", numeric)
    if o := opts.get("--tcp-option"):
        s += f" option={'!' if o.neg else ''}{o.values[0]}"
    if o := opts.get("--tcp-flags"):
        mask, comp = (_flags_value(v) for v in o.values)
        body = f"0x{mask:02X}/0x{comp:02X}" if numeric else f"{flags_text(mask)}/{flags_text(comp)}"
        s += f" flags:{'!' if o.neg else ''}{body}"
    return s


def udp_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    return (" udp" + _port_desc("spt", opts.get("--sport"), "udp", numeric)
            + _port_desc("dpt", opts.get("--dport"), "udp", numeric))


def sctp_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    return (" sctp" + _port_desc("spt", opts.get("--sport"), "sctp", numeric)
            + _port_desc("dpt", opts.get("--dport"), "sctp", numeric))


def icmp_type(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    text = values[0]
    hits = [c for c in ICMP_CODES if c[0].lower().startswith(text.lower())]
    if len({(t, lo, hi) for _, t, lo, hi in hits}) > 1 or (len(hits) > 1 and text.lower() not in
                                                          (h[0].lower() for h in hits)):
        raise param(f"Ambiguous ICMP type `{text}': `{hits[0][0]}' or `{hits[1][0]}'?")
    if hits:
        _, t, lo, hi = hits[0]
    else:
        ty, sep, co = text.partition("/")
        t_ = V.strtoui(ty, 0, 255)
        if t_ is None:
            raise param(f"Unknown ICMP type `{text}'")
        c_ = V.strtoui(co, 0, 255) if sep else 0
        if c_ is None:
            raise param(f"Unknown ICMP code `{text}'")
        t, lo, hi = (t_, c_, c_) if sep else (t_, 0, 0xFF)
    if t == 0xFF:
        return ("any",)
    return (str(t) if (lo, hi) == (0, 0xFF) else f"{t}/{lo}",)


def icmp_parts(value: str) -> tuple[int, int, int]:
    """(type, code_min, code_max) of a canonical `--icmp-type` value."""
    if value == "any":
        return 0xFF, 0, 0xFF
    t, sep, c = value.partition("/")
    return (int(t), int(c), int(c)) if sep else (int(t), 0, 0xFF)


def icmp_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    o = opts.get("--icmp-type")
    if o is None:
        return " icmp"  # pragma: no cover - iptables always stores a type
    t, lo, hi = icmp_parts(o.values[0])
    inv = "!" if o.neg else ""
    if not numeric:
        name = next((c[0] for c in ICMP_CODES if c[1:] == (t, lo, hi)), None)
        if name:
            return f" icmp {inv}{name}"
    s = f" icmp {inv}" if inv else " icmp"
    s += f"type {t}"
    if lo == hi:
        s += f" code {lo}"
    elif (lo, hi) != (0, 0xFF):
        s += f" codes {lo}-{hi}"
    return s


def icmp_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    if ctx.rule.proto != "icmp" or ctx.rule.proto_neg:
        raise param("ICMP match requires '-p icmp'")
    opts.setdefault("--icmp-type", Option("--icmp-type", ("any",)))


def multiport(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    items, count = [], 0
    for part in values[0].split(","):
        lo, sep, hi = part.partition(":")
        a = V.parse_port(lo, ctx.proto)
        if sep:
            b = V.parse_port(hi, ctx.proto)
            if a > b:
                raise param("invalid portrange specified")
            items.append(f"{a}:{b}")
            count += 2
        else:
            items.append(str(a))
            count += 1
    if count > 15:
        raise param("too many ports specified")
    return (",".join(items),)


def multiport_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    if len(opts) > 1:
        raise param("multiport can only have one option")
    if not opts:
        raise param("multiport expects an option")
    if ctx.rule.proto is None or ctx.rule.proto_neg:
        raise param("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'")
    if ctx.rule.proto not in ("tcp", "udp", "udplite", "sctp", "dccp"):
        raise param("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP")


def multiport_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    o = next(iter(opts.values()))
    proto = rule.proto or "tcp"
    text = ",".join(":".join(V.port_text(int(p), proto, numeric) for p in item.split(":"))
                     for item in o.values[0].split(","))
    return f" multiport {o.name[2:]} {' !' if o.neg else ''}{text}"



TCP_ONCE = {"--sport": "Only one `--source-port' allowed",
            "--dport": "Only one `--destination-port' allowed",
            "--tcp-flags": "Only one of `--syn' or `--tcp-flags'  allowed"}
