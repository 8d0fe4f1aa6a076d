"""Apply one iptables command to a Ruleset, with iptables-nft 1.8.9's refusals.

`apply(ruleset, cmd)` edits the ruleset in place (callers hand it a copy, so a refusal leaves
the original untouched) and raises `IptError` with the tool's words and exit status:
`Chain already exists.` (1), `Index of insertion too big.` (1), `Chain 'X' does not exist`
(2), `CHAIN_DEL failed (Device or resource busy): chain X` (4, nft's commit-time refusal).
Listing commands (-L/-S) change nothing; cnmsim.netfilter.format prints them.
"""

from __future__ import annotations

from cnmsim.netfilter.errors import FATAL, IptError, busy, kernel, param
from cnmsim.netfilter.model import BUILTIN_CHAINS, STANDARD_TARGETS, Chain, Rule, Ruleset, Table
from cnmsim.netfilter.parse import Command, check_options
from cnmsim.netfilter.targets import TARGETS, kernel_check

NO_CHAIN = "No chain/target/match by that name."
CREATING = set("AINP")


def get_table(rs: Ruleset, name: str) -> Table:
    if name not in rs.tables:
        raise IptError(f"table '{name}' does not exist\nPerhaps iptables or your kernel needs "
                       "to be upgraded.", 3, FATAL)
    return rs.tables[name]


def references(table: Table, name: str) -> int:
    """How many rules jump or go to chain `name` (the `(N references)` of `-L`)."""
    return sum(1 for c in table.chains.values() for r in c.rules
               if r.target is not None and r.target.name == name)


def reachable(table: Table, start: str) -> set[str]:
    """The chains a packet entering `start` can be sent to by jumps and gotos (and `start`)."""
    seen, todo = {start}, [start]
    while todo:
        for r in table.chains[todo.pop()].rules:
            t = r.target
            if t is not None and t.name in table.chains and t.name not in seen:
                seen.add(t.name)
                todo.append(t.name)
    return seen


def same_rule(a: Rule, b: Rule) -> bool:
    """Rule equality as -D/-C see it: everything but the counters."""
    return (a.src, a.src_neg, a.dst, a.dst_neg, a.iif, a.iif_neg, a.oif, a.oif_neg, a.proto,
            a.proto_neg, a.fragment, a.matches, a.target) == (
        b.src, b.src_neg, b.dst, b.dst_neg, b.iif, b.iif_neg, b.oif, b.oif_neg, b.proto,
        b.proto_neg, b.fragment, b.matches, b.target)


def check_chain_name(name: str) -> None:
    """What `-N`/`-E` accept as a new chain name (xshared.c / nft.c)."""
    if len(name) >= 29:
        raise param(f"chain name `{name}' too long (must be under 29 chars)")
    if name.startswith("-"):
        raise param("chain name not allowed to start with `-'")
    if name.startswith("!"):
        raise param("chain name not allowed to start with `!'")
    if name in TARGETS or name in STANDARD_TARGETS:
        raise param("chain name may not clash with target name")


def _chain(table: Table, name: str | None) -> Chain:
    if name is None or name not in table.chains:
        raise kernel(NO_CHAIN)
    return table.chains[name]


def _check_rule(table: Table, chain: Chain, cmd: Command, op: str) -> Rule:
    """Checks for a rule being added: -i/-o by chain, the jump target, the kernel's checks."""
    rule = cmd.rule or Rule()
    if chain.name in ("PREROUTING", "INPUT") and rule.oif is not None:
        raise param(f"Can't use -o with {chain.name}\n")
    if chain.name in ("POSTROUTING", "OUTPUT") and rule.iif is not None:
        raise param(f"Can't use -i with {chain.name}\n")
    jump = cmd.jump_chain
    if jump is not None and (jump not in table.chains or table.chains[jump].builtin):
        raise param(f"Chain '{jump}' does not exist")
    if jump is not None and chain.name in reachable(table, jump):  # the kernel's ELOOP
        raise IptError(f"{op} failed (Too many links): rule in chain {chain.name}", 4, "commit")
    if rule.src == "0.0.0.0/0" and rule.src_neg or rule.dst == "0.0.0.0/0" and rule.dst_neg:
        raise IptError(f"{op} failed (Invalid argument): rule in chain {chain.name}", 4, "commit")
    kernel_check(rule, table.name, chain.name, chain.builtin, op)
    return rule


def apply(rs: Ruleset, cmd: Command) -> None:
    """Carry out one parsed command on `rs` (in place); raises IptError on refusal."""
    table = get_table(rs, cmd.table)
    check_options(cmd)
    op = cmd.op
    if op is None:
        raise param("no command specified")
    if op in ("L", "S"):
        if cmd.chain is not None and cmd.chain not in table.chains:
            raise IptError(f"chain `{cmd.chain}' in table `{cmd.table}' is incompatible, use "
                           "'nft' tool.", 1, FATAL)
        return
    if cmd.table not in rs.present and (op in "RE" or op == "D" and cmd.rulenum is not None
                                        or op in "XZ" and cmd.chain is not None):
        raise kernel(NO_CHAIN)  # nf_tables has no such table yet, so no such chain either
    if op in ("A", "I", "R", "D", "C"):
        _rule_command(table, cmd)
    elif op == "N":
        check_chain_name(cmd.chain or "")
        if cmd.chain in table.chains:
            raise kernel("Chain already exists.")
        table.chains[cmd.chain or ""] = Chain(cmd.chain or "")
    elif op == "X":
        _delete_chains(table, cmd.chain)
    elif op == "F":
        for c in [_chain(table, cmd.chain)] if cmd.chain else table.chains.values():
            c.rules.clear()
    elif op == "Z":
        _zero(table, cmd)
    elif op == "P":
        _policy(table, cmd)
    elif op == "E":
        _rename(table, cmd)
    if op in CREATING or op == "F" and cmd.chain is not None:
        rs.present.add(cmd.table)  # these create the table in nf_tables; -F/-X/-Z alone do not


def _rule_command(table: Table, cmd: Command) -> None:
    chain = _chain(table, cmd.chain)
    rules = chain.rules
    if cmd.op == "A":
        rules.append(_check_rule(table, chain, cmd, "RULE_APPEND"))
    elif cmd.op == "I":
        rule = _check_rule(table, chain, cmd, "RULE_INSERT")
        pos = cmd.rulenum or 1
        if pos > len(rules) + 1:
            raise kernel("Index of insertion too big.")
        rules.insert(pos - 1, rule)
    elif cmd.op == "R":
        rule = _check_rule(table, chain, cmd, "RULE_REPLACE")
        if cmd.rulenum is None or cmd.rulenum > len(rules):
            raise kernel("Index of replacement too big.")
        rules[cmd.rulenum - 1] = rule
    elif cmd.op == "D" and cmd.rulenum is not None:
        if cmd.rulenum > len(rules):
            raise kernel("Index of deletion too big.")
        del rules[cmd.rulenum - 1]
    else:  # -D or -C with a rule spec
        want = _check_rule(table, chain, cmd, "RULE_DELETE")
        hit = next((i for i, r in enumerate(rules) if same_rule(r, want)), None)
        if hit is None:
            raise kernel("Bad rule (does a matching rule exist in that chain?).")
        if cmd.op == "D":
            del rules[hit]


def _delete_chains(table: Table, name: str | None) -> None:
    """-X CHAIN, or -X alone (every user chain; all or nothing, like one nft batch)."""
    if name is not None:
        if name in table.chains and table.chains[name].builtin:
            raise busy("CHAIN_DEL", f"chain {name}")
        victims = [_chain(table, name)]
    else:
        victims = sorted((c for c in table.chains.values() if not c.builtin), key=lambda c: c.name)
    gone = {c.name for c in victims}
    for c in victims:
        refs = sum(1 for other in table.chains.values() if other.name not in gone
                   for r in other.rules if r.target is not None and r.target.name == c.name)
        if c.rules or refs:
            raise busy("CHAIN_DEL", f"chain {c.name}")
    for c in victims:
        del table.chains[c.name]


def _zero(table: Table, cmd: Command) -> None:
    if cmd.rulenum is not None:  # iptables-nft 1.8.9 accepts `-Z CHAIN N` but zeroes nothing
        _chain(table, cmd.chain)
        return
    for c in [_chain(table, cmd.chain)] if cmd.chain else table.chains.values():
        c.packets = c.bytes = 0
        for r in c.rules:
            r.packets = r.bytes = 0


def _policy(table: Table, cmd: Command) -> None:
    name = cmd.chain or ""
    if name not in BUILTIN_CHAINS[table.name]:
        raise kernel("Bad built-in chain name.")
    policy = cmd.args[0] if cmd.args else ""
    if policy not in ("ACCEPT", "DROP"):
        raise kernel("Bad policy name. Run `dmesg' for more information.")
    table.chains[name].policy = policy


def _rename(table: Table, cmd: Command) -> None:
    old, new = cmd.chain or "", cmd.args[0] if cmd.args else ""
    check_chain_name(new)
    chain = _chain(table, old)
    if chain.builtin:  # nft would rename the base chain; cnmsim keeps built-ins fixed
        raise kernel("Invalid argument.")
    if new in table.chains:
        raise kernel("File exists.")
    table.chains = {(new if k == old else k): c for k, c in table.chains.items()}
    chain.name = new
    for c in table.chains.values():
        for r in c.rules:
            if r.target is not None and r.target.name == old:
                r.target.name = new
