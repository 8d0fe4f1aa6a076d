"""The match modules (`-m NAME`): options, canonical text and `-L` text, per libxt_*.c 1.8.9.

Supported: tcp, udp, sctp, icmp, conntrack, state, addrtype, comment, multiport, mark, set,
statistic, physdev, ipvs, policy, and (matches_extra.py) limit, iprange, length, pkttype, mac,
connmark, ttl, and (matches_ipsec.py) bpf.  Values are kept as iptables-save prints them.
"""

from __future__ import annotations

from cnmsim.netfilter import values as V
from cnmsim.netfilter.errors import param
from cnmsim.netfilter.ext import Ctx, Ext, OptSpec, upper_list
from cnmsim.netfilter.l4 import (
    TCP_ONCE,
    icmp_desc,
    icmp_finish,
    icmp_type,
    multiport,
    multiport_desc,
    multiport_finish,
    needs_proto,
    ports,
    sctp_desc,
    syn,
    tcp_desc,
    tcp_flags,
    udp_desc,
)
from cnmsim.netfilter.matches_extra import EXTRA_MATCHES
from cnmsim.netfilter.matches_ipsec import IPSEC_MATCHES
from cnmsim.netfilter.model import Option, Rule
from cnmsim.netfilter.names import ADDR_TYPES, CT_STATES, CT_STATUS, STATE_STATES


def _ct_addr(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    _, mask = V.parse_net(values[0])
    addr = V.parse_host(values[0].partition("/")[0])
    return (V.net_to_text(addr or 0, mask, host_suffix=False),)


def _ct_ports(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    lo, hi = V.parse_port_range(values[0], None)
    return (V.range_text(lo, hi),)


def _ct_proto(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    n = V.proto_number(values[0])
    if n is None:
        raise param(f'unknown protocol "{values[0]}" specified')
    if n == 0:
        raise param("conntrack: --ctproto 0 ... nonsense, use \"! --ctproto 0\" instead.")
    return (str(n),)


def _ct_status(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    seen = set()
    for item in values[0].split(","):
        u = item.upper()
        if u != "NONE" and u not in CT_STATUS:
            raise param(f'Bad ctstatus "{item}"')
        seen.add(u)
    return (",".join(n for n in CT_STATUS if n in seen) or "NONE",)


def _ct_expire(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    lo, sep, hi = values[0].partition(":")
    a, b = V.strtoui(lo), V.strtoui(hi) if sep else V.strtoui(lo)
    if a is None or b is None:
        raise param('conntrack: bad value for option "--ctexpire", or out of range (0-4294967295).\n')
    if a > b:
        raise param(f"expire min. range value \"{a}\" must be less than max. value \"{b}\"")
    return (V.range_text(a, b),)


def _ct_dir(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    u = values[0].upper()
    if u not in ("ORIGINAL", "REPLY"):
        raise param(f'Bad ctdir "{values[0]}"')
    return (u,)


def _plain_desc(prefix: str, strip: str = "--"):  # noqa: ANN202 - a Describe
    """`-L` text that is the save text without the dashes: `ctstate NEW ! ctorigdst 1.2.3.4`."""
    def describe(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
        parts = [prefix] if prefix else []
        for o in opts.values():
            parts.append(("! " if o.neg else "") + " ".join([o.name.removeprefix(strip), *o.values]))
        return " " + " ".join(parts) if parts else ""
    return describe


def _addrtype_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    if "--limit-iface-in" in opts and "--limit-iface-out" in opts:
        raise param("addrtype: you can't specify both --limit-iface-in and --limit-iface-out")


def _addrtype_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    s = " ADDRTYPE match"
    for key, label in (("--src-type", "src-type"), ("--dst-type", "dst-type")):
        if o := opts.get(key):
            s += f" {label} {'!' if o.neg else ''}{o.values[0]}"
    s += " limit-in" if "--limit-iface-in" in opts else ""
    return s + (" limit-out" if "--limit-iface-out" in opts else "")


def _comment(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    if len(values[0]) > 255:
        raise param('comment: option "--comment" must be shorter than 256 characters.\n')
    return (values[0],)


def mark_text(value: int, mask: int | None) -> str:
    return f"0x{value:x}" if mask in (None, 0xFFFFFFFF) else f"0x{value:x}/0x{mask:x}"


def _mark(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    return (mark_text(*V.parse_mark(values[0], "mark", "--mark")),)


def _mark_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    o = opts["--mark"]
    return f" mark match{' !' if o.neg else ''} {o.values[0]}"


def _set(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    name, flags = values
    dims = flags.split(",")
    if len(dims) > 6 or any(d not in ("src", "dst") for d in dims):
        raise param("You must specify (the comma separated list of) 'src' or 'dst'.")
    return name, flags


def _set_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    o = opts["--match-set"]
    s = f"{' !' if o.neg else ''} match-set {o.values[0]} {o.values[1]}"
    return s + (" return-nomatch" if "--return-nomatch" in opts else "")


def _probability(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    try:
        p = float(values[0])
    except ValueError:
        p = -1.0
    if not 0.0 <= p <= 1.0:
        raise param('statistic: bad value for option "--probability", or out of range (0-1).\n')
    return (f"{round(p * 0x80000000) / 0x80000000:.11f}",)


def _uint(ext: str, opt: str):  # noqa: ANN202 - a Canon
    def canon(values: list[str], ctx: Ctx) -> tuple[str, ...]:
        v = V.strtoui(values[0])
        if v is None:
            raise param(f'{ext}: bad value for option "{opt}", or out of range (0-4294967295).\n')
        return (str(v),)
    return canon


def _statistic_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    mode = opts.get("--mode")
    if mode is None:
        raise param('statistic: option "--mode" must be specified\n')
    if mode.values[0] == "random":
        if "--probability" not in opts:
            raise param("--probability must be specified when using random mode")
        if "--every" in opts or "--packet" in opts:
            raise param("--every and --packet can't be specified in random mode")
    else:
        if "--probability" in opts:
            raise param("--probability can only be specified in random mode")
        if "--every" not in opts:
            raise param("--every must be specified when using nth mode")
        if "--packet" not in opts:
            raise param('statistic: option "--every" also requires "--packet".\n')
        every, packet = int(opts["--every"].values[0]), int(opts["--packet"].values[0])
        if every == 0 or packet > every - 1:
            raise param("the --packet p must be 0 <= p <= n-1")


def _mode(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    if values[0] not in ("random", "nth"):
        raise param(f'Bad mode "{values[0]}"')
    return (values[0],)


def _statistic_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    if opts["--mode"].values[0] == "random":
        o = opts["--probability"]
        return f" statistic mode random{' !' if o.neg else ''} probability {o.values[0]}"
    o, packet = opts["--every"], opts["--packet"].values[0]
    return (f" statistic mode nth{' !' if o.neg else ''} every {o.values[0]}"
            + (f" packet {packet}" if packet != "0" else ""))


def _physdev_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    return " PHYSDEV match" + "".join(
        (" !" if o.neg else "") + " " + " ".join([o.name, *o.values]) for o in opts.values())


def _iface(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    if len(values[0]) >= 16:
        raise param(f"interface name `{values[0]}' must be shorter than IFNAMSIZ (15)")
    return (values[0],)


def _vdir(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    u = values[0].upper()
    if u not in ("ORIGINAL", "REPLY"):
        raise param(f'ipvs: Bad value for --vdir parameter: "{values[0]}"')
    return (u,)


def _vmethod(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    u = values[0].upper()
    if u not in ("GATE", "IPIP", "MASQ"):
        raise param(f'ipvs: Bad value for --vmethod parameter: "{values[0]}"')
    return (u,)


def _vport(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    return (str(V.parse_port(values[0], None)),)


def _ipvs_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    if not opts:
        raise param("IPVS: At least one option is required")
    if len(opts) > 1 and "--ipvs" in opts:
        if opts["--ipvs"].neg:
            raise param("! --ipvs cannot be together with other options")
        del opts["--ipvs"]  # implied by the others, and not printed with them


def _choice(ext: str, opt: str, allowed: tuple[str, ...]):  # noqa: ANN202 - a Canon
    def canon(values: list[str], ctx: Ctx) -> tuple[str, ...]:
        if values[0] not in allowed:
            raise param(f"{ext}: bad value for option \"{opt}\"")
        return (values[0],)
    return canon


def _policy_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    if "--dir" not in opts:
        raise param("policy match: neither --dir in nor --dir out specified")
    opts.setdefault("--pol", Option("--pol", ("ipsec",)))


def _policy_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    s = f" policy match dir {opts['--dir'].values[0]} pol {opts['--pol'].values[0]}"
    return s + (" strict" if "--strict" in opts else "")


_CT_ADDRS = ("--ctorigsrc", "--ctorigdst", "--ctreplsrc", "--ctrepldst")
_CT_PORTS = ("--ctorigsrcport", "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport")

MATCHES: dict[str, Ext] = {e.name: e for e in (
    Ext("tcp", [
        OptSpec("--sport", canon=ports(True), aliases=("--source-port",), once=TCP_ONCE["--sport"]),
        OptSpec("--dport", canon=ports(True), aliases=("--destination-port",),
                once=TCP_ONCE["--dport"]),
        OptSpec("--tcp-option", canon=_uint("tcp", "--tcp-option")),
        OptSpec("--tcp-flags", 2, canon=tcp_flags, once=TCP_ONCE["--tcp-flags"]),
        OptSpec("--syn", 0, canon=syn, store="--tcp-flags", once=TCP_ONCE["--tcp-flags"]),
    ], needs_proto("tcp", "TCP"), tcp_desc),
    Ext("udp", [
        OptSpec("--sport", canon=ports(False), aliases=("--source-port",), once=TCP_ONCE["--sport"]),
        OptSpec("--dport", canon=ports(False), aliases=("--destination-port",),
                once=TCP_ONCE["--dport"]),
    ], needs_proto("udp", "UDP"), udp_desc),
    Ext("sctp", [
        OptSpec("--sport", canon=ports(True), aliases=("--source-port",)),
        OptSpec("--dport", canon=ports(True), aliases=("--destination-port",)),
    ], needs_proto("sctp", "SCTP"), sctp_desc),
    Ext("icmp", [OptSpec("--icmp-type", canon=icmp_type)], icmp_finish, icmp_desc),
    Ext("conntrack", [
        OptSpec("--ctstate", canon=upper_list(CT_STATES, 'Bad ctstate "{}"')),
        OptSpec("--ctproto", canon=_ct_proto),
        *(OptSpec(n, canon=_ct_addr) for n in _CT_ADDRS),
        OptSpec("--ctorigsrcport", canon=_ct_ports), OptSpec("--ctreplsrcport", canon=_ct_ports),
        OptSpec("--ctorigdstport", canon=_ct_ports), OptSpec("--ctrepldstport", canon=_ct_ports),
        OptSpec("--ctstatus", canon=_ct_status), OptSpec("--ctexpire", canon=_ct_expire),
        OptSpec("--ctdir", invert=False, canon=_ct_dir),
    ], None, _plain_desc("")),
    Ext("state", [OptSpec("--state", canon=upper_list(STATE_STATES, 'Bad state "{}"'))],
        None, _plain_desc("")),
    Ext("addrtype", [
        OptSpec("--src-type", canon=upper_list(ADDR_TYPES, 'addrtype: bad type "{}"')),
        OptSpec("--dst-type", canon=upper_list(ADDR_TYPES, 'addrtype: bad type "{}"')),
        OptSpec("--limit-iface-in", 0, invert=False), OptSpec("--limit-iface-out", 0, invert=False),
    ], _addrtype_finish, _addrtype_desc),
    Ext("comment", [OptSpec("--comment", invert=False, canon=_comment, quote=True)], None,
        lambda o, n, r: f" /* {o['--comment'].values[0]} */" if "--comment" in o else ""),
    Ext("multiport", [
        OptSpec("--sports", canon=multiport, aliases=("--source-ports",)),
        OptSpec("--dports", canon=multiport, aliases=("--destination-ports",)),
        OptSpec("--ports", canon=multiport),
    ], multiport_finish, multiport_desc),
    Ext("mark", [OptSpec("--mark", canon=_mark)], None, _mark_desc),
    Ext("set", [OptSpec("--match-set", 2, canon=_set),
                OptSpec("--return-nomatch", 0, invert=False)], None, _set_desc),
    Ext("statistic", [
        OptSpec("--mode", invert=False, canon=_mode), OptSpec("--probability", canon=_probability),
        OptSpec("--every", canon=_uint("statistic", "--every")),
        OptSpec("--packet", invert=False, canon=_uint("statistic", "--packet")),
    ], _statistic_finish, _statistic_desc),
    Ext("physdev", [
        OptSpec("--physdev-is-in", 0), OptSpec("--physdev-in", canon=_iface),
        OptSpec("--physdev-is-out", 0), OptSpec("--physdev-out", canon=_iface),
        OptSpec("--physdev-is-bridged", 0),
    ], None, _physdev_desc),
    Ext("ipvs", [
        OptSpec("--ipvs", 0), OptSpec("--vproto", canon=_ct_proto),
        OptSpec("--vaddr", canon=_ct_addr), OptSpec("--vport", canon=_vport),
        OptSpec("--vdir", invert=False, canon=_vdir), OptSpec("--vmethod", canon=_vmethod),
        OptSpec("--vportctl", canon=_vport),
    ], _ipvs_finish, _plain_desc("")),
    Ext("policy", [
        OptSpec("--dir", invert=False, canon=_choice("policy", "--dir", ("in", "out"))),
        OptSpec("--pol", invert=False, canon=_choice("policy", "--pol", ("none", "ipsec"))),
        OptSpec("--strict", 0, invert=False),
    ], _policy_finish, _policy_desc),
)} | EXTRA_MATCHES | IPSEC_MATCHES
# the implicit match `-p NAME` loads when an option is unknown (xshared.c load_proto)
PROTO_MATCHES = {"tcp": "tcp", "udp": "udp", "sctp": "sctp", "icmp": "icmp"}
