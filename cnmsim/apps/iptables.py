"""`iptables`, `iptables-save`, `iptables-restore` (iptables 1.8.9, nf_tables backend).

Each command works through the kernel api's two text verbs only, so the seam stays text and
the real backend is driven the same way: read the namespace's rules with
`ns.iptables_save(counters=True)`, load them into a Ruleset (cnmsim.netfilter.restore), apply
the command to a copy (cnmsim.netfilter.commands), and write the result back with
`ns.iptables_restore(text, counters=True)`, so counters survive.  A refused command writes
nothing.  Exit codes are iptables': 1 for kernel refusals, 2 for parameter problems, 4 when
nf_tables rejects the batch.
"""

from __future__ import annotations

from cnmsim.apps.iptables_help import IPTABLES_HELP, RESTORE_HELP
from cnmsim.kernel.api import KernelError
from cnmsim.netfilter.commands import apply
from cnmsim.netfilter.errors import VERSION, IptError
from cnmsim.netfilter.format import EPOCH, ctime, list_rules, save
from cnmsim.netfilter.listing import ListFormat, list_table
from cnmsim.netfilter.model import TABLES, Ruleset
from cnmsim.netfilter.parse import parse_command
from cnmsim.netfilter.restore import restore
from cnmsim.shell.registry import Proc, command


def _load(proc: Proc) -> Ruleset:
    """The namespace's ruleset, read back from its iptables-save text."""
    return restore(Ruleset(), proc.ns.iptables_save(counters=True), counters=True)


def _store(proc: Proc, rs: Ruleset) -> None:
    proc.ns.iptables_restore(save(rs, counters=True), counters=True)


def _dated(proc: Proc, text: str) -> str:
    """iptables-save's date lines, from the lab's simulated clock (seconds since the epoch)."""
    return text.replace(f"on {EPOCH}", f"on {ctime(proc.env.now)}")


@command("iptables", "iptables-nft")
def iptables(proc: Proc) -> int:
    args = proc.args
    if args and args[0] in ("-h", "--help"):
        proc.out(IPTABLES_HELP, end="")
        return 0
    if args and args[0] in ("-V", "--version"):
        proc.out(f"iptables {VERSION}")
        return 0
    try:
        cmd = parse_command(list(args))
        if cmd.op is None:
            raise IptError("no command specified")
        rs = _load(proc)
        new = rs.copy()
        apply(new, cmd)
    except IptError as e:
        return proc.fail(e.render("iptables"), e.status)
    except KernelError as e:
        return proc.fail(str(e), getattr(e, "status", 1))
    fmt = ListFormat(cmd.numeric, cmd.verbose > 0, cmd.exact, cmd.line_numbers)
    if cmd.op == "L":
        proc.out(list_table(new, cmd.table, cmd.chain, cmd.rulenum, fmt), end="")
        if cmd.zero:
            _zero_after_list(proc, new, cmd.table, cmd.chain)
        return 0
    if cmd.op == "S":
        proc.out(list_rules(new, cmd.table, cmd.chain, cmd.rulenum, cmd.verbose > 0), end="")
        return 0
    if cmd.op == "C":
        return 0
    try:
        _store(proc, new)
    except KernelError as e:
        return proc.fail(str(e), getattr(e, "status", 1))
    return 0


def _zero_after_list(proc: Proc, rs: Ruleset, table: str, chain: str | None) -> None:
    t = rs.tables[table]
    for c in [t.chains[chain]] if chain else t.chains.values():
        c.packets = c.bytes = 0
        for r in c.rules:
            r.packets = r.bytes = 0
    if chain:
        proc.out(f"Zeroing chain `{chain}'")
    rs.present.add(table)
    _store(proc, rs)


@command("iptables-save", "iptables-nft-save")
def iptables_save(proc: Proc) -> int:
    table, counters, args = None, False, list(proc.args)
    while args:
        a = args.pop(0)
        if a in ("-c", "--counters"):
            counters = True
        elif a in ("-t", "--table") or a.startswith("--table="):
            table = a.partition("=")[2] or (args.pop(0) if args else "")
        elif a.startswith("-t") and len(a) > 2:
            table = a[2:]
        elif a in ("-V", "--version"):
            proc.out(f"iptables-save {VERSION}")
            return 0
        elif a in ("-M", "--modprobe", "-f", "--file"):
            args = args[1:]
        elif a not in ("-4", "-6", "--ipv4", "--ipv6"):
            opt = a.lstrip("-")[:1] if not a.startswith("--") else a
            proc.err(f"iptables-save: invalid option -- '{opt}'" if not a.startswith("--")
                     else f"iptables-save: unrecognized option '{a}'")
            return proc.fail("Look at manual page `iptables-save.8' for more information.", 1)
    if table is not None and table not in TABLES:
        return proc.fail(f"Table `{table}' does not exist", 1)
    proc.out(_dated(proc, proc.ns.iptables_save(table, counters=counters)), end="")
    return 0


@command("iptables-restore", "iptables-nft-restore")
def iptables_restore(proc: Proc) -> int:
    noflush = counters = test = False
    files: list[str] = []
    args = list(proc.args)
    while args:
        a = args.pop(0)
        if a in ("-n", "--noflush"):
            noflush = True
        elif a in ("-c", "--counters"):
            counters = True
        elif a in ("-t", "--test"):
            test = True
        elif a in ("-h", "--help"):
            proc.out(RESTORE_HELP, end="")
            return 0
        elif a in ("-V", "--version"):
            proc.out(f"iptables-restore {VERSION}")
            return 0
        elif a in ("-T", "--table", "-M", "--modprobe", "-w", "--wait", "-W", "--wait-interval"):
            args = args[1:]
        elif a in ("-v", "--verbose", "-4", "-6", "--ipv4", "--ipv6"):
            pass
        elif a.startswith("-") and a != "-":
            proc.err(f"iptables-restore: invalid option -- '{a.lstrip('-')[:1]}'")
            return proc.fail("Try `iptables-restore -h' for more information.", 1)
        else:
            files.append(a)
    if files:
        text = proc.place.files.get(files[0])
        if text is None:
            return proc.fail(f"Can't open {files[0]}: No such file or directory", 1)
    else:
        text = proc.stdin
    try:
        if test:
            restore(_load(proc), text, noflush=noflush, counters=counters)
        else:
            proc.ns.iptables_restore(text, noflush=noflush, counters=counters)
    except KernelError as e:
        return proc.fail(str(e), getattr(e, "status", 1))
    return 0
