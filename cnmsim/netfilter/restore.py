"""`iptables-restore` text into a Ruleset, as iptables-nft 1.8.9's xtables-restore reads it.

The input is tables (`*filter` ... `COMMIT`); in each, chain lines (`:NAME POLICY [p:b]`) and
command lines (`[p:b] -A ...`, and `-I/-D/-R/-N/-X/-F/-Z/-P/-E/-C`, which nft's restore also
takes).  Without --noflush a table named in the input is replaced whole (its rules and user
chains go, built-in policies reset); tables not named are untouched.  A `[p:b]` counter is kept
only with --counters.

All or nothing: the work happens on a copy and the original is returned untouched when any
line fails.  (The real nft tool commits each table at its COMMIT, so an error in a later table
leaves earlier ones applied; cnmsim keeps the api's promise instead.)  Errors carry the tool's
text with `Error occurred at line: N` and its exit status (cnmsim.netfilter.errors).
"""

from __future__ import annotations

import re

from cnmsim.netfilter.commands import apply
from cnmsim.netfilter.errors import IptablesError, IptError, bad_argument, kernel, param
from cnmsim.netfilter.model import BUILTIN_CHAINS, TABLES, Chain, Ruleset, Table
from cnmsim.netfilter.parse import parse_command, split_line

PROG = "iptables-restore"
COUNTERS = re.compile(r"^\[(\d+):(\d+)\]\s*")


def restore(ruleset: Ruleset, text: str, noflush: bool = False, counters: bool = False) -> Ruleset:
    """A new Ruleset with `text` loaded; raises IptablesError (a KernelError) on any error."""
    try:
        return _restore(ruleset, text, noflush, counters)
    except _LineError as e:
        raise IptablesError(e.err.render(PROG, e.line), e.err.status) from None
    except _Plain as e:
        raise IptablesError(str(e), 1) from None


class _LineError(Exception):
    def __init__(self, err: IptError, line: int | None) -> None:
        super().__init__(err.msg)
        self.err, self.line = err, line


class _Plain(Exception):
    """An error iptables-restore prints as is (`iptables-restore: COMMIT expected at line 6`)."""


def _restore(ruleset: Ruleset, text: str, noflush: bool, counters: bool) -> Ruleset:
    named = {ln.strip()[1:].strip() for ln in text.split("\n") if ln.strip().startswith("*")}
    rs = ruleset.copy(named if noflush else None)
    table: str | None = None
    touched = False
    pending: IptError | None = None  # a jump to a missing chain: nft reports it at COMMIT
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if table is None:
            if not line.startswith("*"):
                raise _Plain(f"{PROG}: line {n} failed")
            name = line[1:].strip()
            if name not in TABLES:
                raise _LineError(param(f"{PROG}: line {n} table name '{name}' invalid"), n)
            table, touched, pending = name, False, None
            if not noflush:
                _flush_table(rs, name)
            continue
        if line == "COMMIT":
            if pending is not None:
                raise _LineError(pending, n)
            if touched:
                rs.present.add(table)
            table = None
            continue
        try:
            if line.startswith(":"):
                _chain_line(rs.tables[table], line, n, counters)
            else:
                pending = _command_line(rs, table, line, counters) or pending
            touched = True
        except IptError as e:
            raise _LineError(e, n) from None
    if table is not None:
        raise _Plain(f"{PROG}: COMMIT expected at line {len(lines) + 1}")
    return rs


def _flush_table(rs: Ruleset, name: str) -> None:
    """Replace the table by an empty one (policies ACCEPT), keeping whether it exists."""
    rs.tables[name] = Table.empty(name)


def _chain_line(table: Table, line: str, n: int, counters: bool) -> None:
    """`:NAME POLICY [p:b]`: set a built-in's policy, or create (or flush) a user chain."""
    parts = line[1:].split()
    if len(parts) < 2:
        raise param(f"{PROG}: line {n} policy invalid")
    name, policy = parts[0], parts[1]
    if len(name) >= 29:
        raise param(f"Invalid chain name `{name}'")
    pk = by = 0
    if len(parts) > 2:
        m = re.fullmatch(r"\[(\d+):(\d+)\]", parts[2])
        if m is None:
            raise param(f"invalid policy counters for chain '{name}'")
        pk, by = int(m.group(1)), int(m.group(2))
    if name in BUILTIN_CHAINS[table.name]:
        chain = table.chains[name]
        if policy != "-":
            if policy not in ("ACCEPT", "DROP"):
                raise kernel("Bad policy name.")
            chain.policy = policy
        if counters:
            chain.packets, chain.bytes = pk, by
        return
    if name in table.chains:
        table.chains[name].rules.clear()
    else:
        table.chains[name] = Chain(name)


def _command_line(rs: Ruleset, table: str, line: str, counters: bool) -> IptError | None:
    """One command line; a jump to a missing chain is returned (deferred), not raised."""
    m = COUNTERS.match(line)
    pk = by = None
    if m is not None:
        pk, by = int(m.group(1)), int(m.group(2))
        line = line[m.end():]
    argv = split_line(line)
    if argv and not argv[0].startswith("-"):
        raise bad_argument(argv[0])
    if any(a in ("-t", "--table") for a in argv):
        raise param("The -t option cannot be used in iptables-restore.\n")
    cmd = parse_command(argv, table)
    if cmd.rule is not None and counters and pk is not None and by is not None:
        cmd.rule.packets, cmd.rule.bytes = pk, by
    if cmd.op in ("L", "S"):
        return None  # listing inside a restore prints; cnmsim's restore has no stdout
    try:
        apply(rs, cmd)
    except IptError as e:
        if e.msg.startswith("Chain '") and e.msg.endswith("' does not exist"):
            return e
        raise
    return None
