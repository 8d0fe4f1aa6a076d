"""`iptables -L [CHAIN [N]] [-n] [-v] [-x] [--line-numbers]`, column for column.

The layout is iptables 1.8.9's print_header / print_rule_details / print_fw_details
(xshared.c): `%-9s` target, `%-4s` protocol (a number with -n, as nf_tables' iptables prints
it), `%-6s` interfaces with -v, `%-19s` addresses, then each match's and the target's own text.
Counters are abbreviated (K, M, G, T) unless -x.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnmsim.netfilter import values as V
from cnmsim.netfilter.commands import references
from cnmsim.netfilter.format import ordered_chains
from cnmsim.netfilter.matches import MATCHES
from cnmsim.netfilter.model import Chain, Rule, Ruleset
from cnmsim.netfilter.names import PROTOCOLS
from cnmsim.netfilter.targets import TARGETS


@dataclass
class ListFormat:
    numeric: bool = False
    verbose: bool = False
    exact: bool = False
    line_numbers: bool = False


def num(n: int, exact: bool, table: bool = True) -> str:
    """xtables_print_num: `%5llu ` or `%4lluK ` ... (`%8llu ` with -x); unpadded in headers."""
    if exact:
        return f"{n:8d} " if table else f"{n} "
    if n <= 99999:
        return f"{n:5d} " if table else f"{n} "
    for unit in "KMGT":
        n = (n + 500) // 1000
        if n <= 9999 or unit == "T":
            return f"{n:4d}{unit} " if table else f"{n}{unit} "
    return ""  # pragma: no cover - the loop always returns


def header(chain: Chain, refs: int, f: ListFormat) -> str:
    if chain.builtin:
        counts = ""
        if f.verbose:
            counts = (f" {num(chain.packets, f.exact, False)}packets, "
                      f"{num(chain.bytes, f.exact, False)}bytes")
        head = f"Chain {chain.name} (policy {chain.policy}{counts})\n"
    else:
        head = f"Chain {chain.name} ({refs} references)\n"
    cols = "num  " if f.line_numbers else ""
    if f.verbose:
        cols += f"{'pkts':>8} {'bytes':>10} " if f.exact else f"{'pkts':>5} {'bytes':>5} "
    cols += f"{'target':<9}  prot opt"
    if f.verbose:
        cols += f" {'in':<6} {'out':<6} "
    cols += f" {'source':<19}  {'destination':<19} "
    return head + cols + "\n"


NETWORKS = {"0.0.0.0": "default", "127.0.0.0": "loopback", "169.254.0.0": "link-local"}  # /etc/networks
HOSTNAMES = {"127.0.0.1": "localhost"}  # /etc/hosts (no DNS in the simulator)


def _addr(text: str | None, neg: bool, numeric: bool) -> str:
    if text is None:
        body = "0.0.0.0/0" if numeric else "anywhere"
    else:
        addr, mask = V.parse_net(text)
        body = "anywhere" if mask == 0 and not numeric else V.net_to_text(addr, mask, False)
        if not numeric and mask:
            ip, _, m = body.partition("/")
            names = HOSTNAMES if mask == 0xFFFFFFFF else NETWORKS
            body = names.get(ip, ip) + (f"/{m}" if m else "")
    return ("!" if neg else " ") + f"{body:<19} "


def _proto(rule: Rule, numeric: bool) -> str:
    name = rule.proto or "all"
    if numeric:
        text = name if name.isdigit() else str(0 if name == "all" else PROTOCOLS[name])
    else:
        text = name
    return ("!" if rule.proto_neg else " ") + f"{text:<4} "


def rule_line(rule: Rule, n: int, f: ListFormat) -> str:
    """One rule of `iptables -L` (without the newline)."""
    s = f"{n:<4} " if f.line_numbers else ""
    if f.verbose:
        s += num(rule.packets, f.exact) + num(rule.bytes, f.exact)
    t = rule.target
    name = "" if t is None else ("CT" if t.name == "NOTRACK" else t.name)
    s += f"{name:<9} " + _proto(rule, f.numeric)
    s += ("!" if rule.fragment is False else "-") + ("f" if rule.fragment is not None else "-") + " "
    if f.verbose:
        any_if = "*" if f.numeric else "any"
        iif = ("!" if rule.iif_neg else "") + (rule.iif or any_if)
        oif = ("!" if rule.oif_neg else "") + (rule.oif or any_if)
        s += f" {iif:<6} {oif:<6} "
    s += _addr(rule.src, rule.src_neg, f.numeric) + _addr(rule.dst, rule.dst_neg, f.numeric)
    if t is not None and t.goto:
        s += "[goto] "
    for m in rule.matches:
        ext = MATCHES.get(m.module)
        if ext is not None and ext.describe is not None:
            s += ext.describe({o.name: o for o in m.options}, f.numeric, rule)
    if t is not None and not t.goto:
        ext = TARGETS.get(t.name)
        if t.name == "NOTRACK":
            s += " NOTRACK"
        elif ext is not None and ext.describe is not None:
            s += ext.describe({o.name: o for o in t.options}, f.numeric, rule)
    return s


def list_table(rs: Ruleset, table: str, chain: str | None = None, rulenum: int | None = None,
               f: ListFormat | None = None) -> str:
    """The whole `iptables -L` output for a table (or one chain, or one rule of it)."""
    f = f or ListFormat()
    t = rs.tables[table]
    chains = [t.chains[chain]] if chain else ordered_chains(t)
    if chain and rulenum is not None:  # one rule: just its line
        rules = t.chains[chain].rules
        return rule_line(rules[rulenum - 1], rulenum, f) + "\n" if rulenum <= len(rules) else ""
    blocks = []
    for c in chains:
        text = header(c, references(t, c.name), f)
        for i, r in enumerate(c.rules, 1):
            text += rule_line(r, i, f) + "\n"
        blocks.append(text)
    return "\n".join(blocks)
