"""Compile a table's rules, once per ruleset generation, into predicates over a packet View.

Each rule becomes one Python function `lambda v: <cond> and <cond> ...` generated from its
matches, with addresses, masks and ports as literals, so a rule costs one call and a few slot
reads (no scapy access, no per-rule parsing).  Matches that need state or lookups (conntrack
tuples, addrtype, ipsets, statistic ...) compile to closures the expression calls
(matches.py).  A chain becomes a list of `(predicate, kind, arg, rule, number)`; the engine walks
it as ipt_do_table does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cnmsim.kernel.sim.nf import matches, targets
from cnmsim.kernel.sim.nf.addr import parse_net, parse_range
from cnmsim.netfilter.model import Chain, Match, Rule, Table
from cnmsim.netfilter.names import PROTOCOLS

if TYPE_CHECKING:
    from cnmsim.kernel.sim.nf.engine import Engine

Pred = Callable[[Any], bool]
PROTOS = PROTOCOLS | {"all": 0, "icmpv6": 58, "mh": 135}
TCP_FLAGS = {"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ECE": 64, "CWR": 128,
             "ALL": 0xFF, "NONE": 0}
ICMP_TYPES = {"any": (255, 0, 255), "echo-reply": (0, 0, 0), "pong": (0, 0, 0),
              "destination-unreachable": (3, 0, 255), "network-unreachable": (3, 0, 0),
              "host-unreachable": (3, 1, 1), "protocol-unreachable": (3, 2, 2),
              "port-unreachable": (3, 3, 3), "fragmentation-needed": (3, 4, 4),
              "source-quench": (4, 0, 255), "redirect": (5, 0, 255), "echo-request": (8, 0, 0),
              "ping": (8, 0, 0), "router-advertisement": (9, 0, 255),
              "router-solicitation": (10, 0, 255), "time-exceeded": (11, 0, 255), "ttl-exceeded": (11, 0, 255),
              "ttl-zero-during-transit": (11, 0, 0), "parameter-problem": (12, 0, 255),
              "timestamp-request": (13, 0, 0), "timestamp-reply": (14, 0, 0)}


class CChain:
    """A compiled chain: its rules as tuples, and its model Chain for the policy counters."""

    __slots__ = ("name", "chain", "builtin", "policy", "rules")

    def __init__(self, chain: Chain) -> None:
        self.name = chain.name
        self.chain = chain
        self.builtin = chain.builtin
        self.policy = targets.K_ACCEPT if chain.policy in (None, "ACCEPT") else targets.K_DROP
        self.rules: list[tuple[Pred | None, int, Any, Rule, int]] = []


class CTable:
    """A compiled table: chains by name, plus what the compiler could not model."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.chains: dict[str, CChain] = {}
        self.warnings: list[str] = []
        self.needs_ct = False  # a rule reads or writes conntrack state


def text(v: str) -> str:
    """A canonical value as printed by iptables-save, without its shell quotes."""
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    return v


def proto_number(p: str) -> int:
    p = p.lower()
    if p in PROTOS:
        return PROTOS[p]
    return int(p)


def icmp_type(spec: str) -> tuple[int, int, int]:
    """'8', '8/0', 'echo-request' -> (type, code min, code max)."""
    s = text(spec)
    if s in ICMP_TYPES:
        return ICMP_TYPES[s]
    t, _, c = s.partition("/")
    return (int(t), int(c), int(c)) if c else (int(t), 0, 255)


def tcp_flags(names: str) -> int:
    bits = 0
    for n in names.split(","):
        bits |= TCP_FLAGS[n.strip().upper()]
    return bits


class Builder:
    """Collects the conditions of one rule and the names they reference."""

    def __init__(self, env: dict[str, Any]) -> None:
        self.env = env
        self.conds: list[str] = []

    def ref(self, obj: Any) -> str:
        name = f"_f{len(self.env)}"
        self.env[name] = obj
        return name

    def add(self, expr: str, neg: bool = False) -> None:
        self.conds.append(f"not ({expr})" if neg else f"({expr})")

    def call(self, fn: Callable[[Any], bool], neg: bool = False) -> None:
        self.add(f"{self.ref(fn)}(v)", neg)


def addr_cond(b: Builder, field: str, spec: str, neg: bool) -> None:
    net, mask = parse_net(spec)
    if mask == 0:
        if neg:
            b.conds.append("False")
        return
    b.add(f"(v.{field} & {mask}) == {net}", neg)


def iface_cond(b: Builder, field: str, name: str, neg: bool) -> None:
    if name.endswith("+"):
        if name == "+":
            if neg:
                b.conds.append("False")
            return
        b.add(f"v.{field}.startswith({name[:-1]!r})", neg)
    else:
        b.add(f"v.{field} == {name!r}", neg)


def range_expr(field: str, spec: str) -> str:
    lo, hi = parse_range(text(spec))
    return f"v.{field} == {lo}" if lo == hi else f"{lo} <= v.{field} <= {hi}"


def l4_match(b: Builder, m: Match, t: CTable) -> None:
    """-m tcp / -m udp: ports and TCP flags (a non-first fragment never matches)."""
    for o in m.options:
        if o.name in ("--dport", "--destination-port", "--sport", "--source-port"):
            field = "dport" if o.name.startswith("--d") else "sport"
            expr = range_expr(field, o.values[0])
            b.add(f"v.{field} >= 0 and not ({expr})" if o.neg else expr)
        elif o.name in ("--tcp-flags", "--syn"):
            mask, comp = (0x17, 0x02) if o.name == "--syn" else (tcp_flags(o.values[0]), tcp_flags(o.values[1]))
            b.add(f"v.sport >= 0 and (v.tcpflags & {mask}) {'!=' if o.neg else '=='} {comp}")
        else:
            t.warnings.append(f"-m {m.module} {o.name} is not modelled: the rule never matches")
            b.conds.append("False")


def icmp_match(b: Builder, m: Match) -> None:
    for o in m.options:
        ty, lo, hi = icmp_type(o.values[0])
        if ty == 255:
            expr = "v.itype >= 0"
        elif lo == hi:
            expr = f"v.itype == {ty} and v.icode == {lo}"
        else:
            expr = f"v.itype == {ty} and {lo} <= v.icode <= {hi}"
        b.add(f"v.itype >= 0 and not ({expr})" if o.neg else expr)


def multiport_match(b: Builder, m: Match) -> None:
    for o in m.options:
        singles: set[int] = set()
        ranges: list[tuple[int, int]] = []
        for part in text(o.values[0]).split(","):
            lo, hi = parse_range(part)
            if lo == hi:
                singles.add(lo)
            else:
                ranges.append((lo, hi))
        fields = {"--dports": ("dport",), "--destination-ports": ("dport",), "--sports": ("sport",),
                  "--source-ports": ("sport",), "--ports": ("sport", "dport")}[o.name]
        alts = []
        for f in fields:
            if singles:
                alts.append(f"v.{f} in {b.ref(frozenset(singles))}")
            alts += [f"{lo} <= v.{f} <= {hi}" for lo, hi in ranges]
        b.add("v.sport >= 0 and " + ("not " if o.neg else "") + "(" + " or ".join(alts) + ")")


def mark_match(b: Builder, m: Match) -> None:
    for o in m.options:
        val, _, mask = text(o.values[0]).partition("/")
        msk = int(mask, 0) if mask else 0xFFFFFFFF
        b.add(f"(v.mark & {msk}) == {int(val, 0) & msk}", o.neg)


def state_match(b: Builder, m: Match, t: CTable) -> bool:
    """-m state --state / -m conntrack with only --ctstate: one bit test, inline."""
    t.needs_ct = True
    o = m.options[0]
    b.add(f"v.ctstate & {matches.state_bits(o.values[0])}", o.neg)
    return True


def compile_rule(rule: Rule, t: CTable, eng: Engine) -> Pred | None:
    """The rule's matches as one predicate (None when it matches everything)."""
    env: dict[str, Any] = {}
    b = Builder(env)
    if rule.src is not None:
        addr_cond(b, "src", rule.src, rule.src_neg)
    if rule.dst is not None:
        addr_cond(b, "dst", rule.dst, rule.dst_neg)
    if rule.iif is not None:
        iface_cond(b, "iif", rule.iif, rule.iif_neg)
    if rule.oif is not None:
        iface_cond(b, "oif", rule.oif, rule.oif_neg)
    if rule.proto is not None:
        p = proto_number(rule.proto)
        if p:
            b.add(f"v.proto == {p}", rule.proto_neg)
        elif rule.proto_neg:
            b.conds.append("False")
    if rule.fragment is not None:
        b.add("v.frag", not rule.fragment)
    for m in rule.matches:
        mod = m.module
        if mod in ("tcp", "udp", "udplite", "sctp"):
            l4_match(b, m, t)
        elif mod in ("icmp",):
            icmp_match(b, m)
        elif mod == "multiport":
            multiport_match(b, m)
        elif mod == "mark":
            mark_match(b, m)
        elif mod == "comment":
            continue
        elif mod == "state" or (mod == "conntrack" and len(m.options) == 1
                                and m.options[0].name == "--ctstate"):
            state_match(b, m, t)
        elif mod in matches.BUILDERS:
            if mod in ("conntrack", "connmark"):
                t.needs_ct = True
            b.call(matches.BUILDERS[mod](m, eng))
        else:
            t.warnings.append(f"-m {mod} is not modelled: the rule never matches")
            b.conds.append("False")
    if not b.conds:
        return None
    return eval("lambda v: " + " and ".join(b.conds), env)  # noqa: S307  (our own generated code)


def compile_table(table: Table, eng: Engine) -> CTable:
    """Every chain of `table`, with jump targets resolved to compiled chains."""
    t = CTable(table.name)
    for name, chain in table.chains.items():
        t.chains[name] = CChain(chain)
    for name, chain in table.chains.items():
        out = t.chains[name].rules
        for num, rule in enumerate(chain.rules, 1):
            pred = compile_rule(rule, t, eng)
            kind, arg = targets.compile_target(rule, t, eng)
            out.append((pred, kind, arg, rule, num))
    return t
