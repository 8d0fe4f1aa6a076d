"""ipset 7.17 (Debian 12): the namespace's IP sets, for iptables' `-m set --match-set NAME src|dst`.

    ipset create NAME hash:net|hash:ip [family inet] [hashsize N] [maxelem N] [-exist]
    ipset add|del NAME ADDR[/LEN] [-exist]     ipset test NAME ADDR
    ipset list [NAME] [-t] [-n]     ipset save [NAME]     ipset restore (from stdin)
    ipset flush [NAME]     ipset destroy [NAME]     ipset version
Kernel refusals print `ipset v7.17: <reason>` and exit 1; syntax errors exit 2.  Members are
listed in the order they were added (the kernel lists them in hash order).
"""

from __future__ import annotations

from cnmsim.kernel.sim.nf.ipset import TYPES, IpSet, IpsetError, IpsetTable, of
from cnmsim.shell.registry import Proc, command

PREFIX = "ipset v7.17: "
TRY = "Try `ipset help' for more information."
ALIASES = {"create": "create", "n": "create", "-N": "create", "add": "add", "-A": "add",
           "del": "del", "-D": "del", "test": "test", "-T": "test", "list": "list", "-L": "list",
           "save": "save", "-S": "save", "flush": "flush", "-F": "flush", "destroy": "destroy",
           "x": "destroy", "-X": "destroy", "restore": "restore", "-R": "restore",
           "version": "version", "-v": "version", "-V": "version", "help": "help", "-h": "help"}


def listing(t: IpsetTable, s: IpSet, terse: bool) -> str:
    lines = [f"Name: {s.name}", f"Type: {s.type}", f"Revision: {TYPES[s.type]}",
             f"Header: {s.header()}", f"Size in memory: {s.memsize()}",
             f"References: {t.references(s.name)}", f"Number of entries: {len(s.members)}"]
    if not terse:
        lines += ["Members:", *s.member_texts()]
    return "\n".join(lines)


def save(s: IpSet) -> list[str]:
    return [f"create {s.name} {s.type} {s.header()}", *(f"add {s.name} {m}" for m in s.member_texts())]


def run(t: IpsetTable, proc: Proc, argv: list[str]) -> int:
    """One ipset command (also one line of `ipset restore`)."""
    flags = {a for a in argv if a in ("-exist", "-!", "-t", "-terse", "-n", "-name", "-q", "-quiet")}
    args = [a for a in argv if a not in flags]
    exist = bool(flags & {"-exist", "-!"})
    quiet = bool(flags & {"-q", "-quiet"})
    if not args or args[0] not in ALIASES:
        what = args[0] if args else ""
        return proc.fail(f"{PREFIX}No command specified: unknown argument {what}\n{TRY}", 2)
    cmd, rest = ALIASES[args[0]], args[1:]
    if cmd == "version":
        proc.out("ipset v7.17, protocol version: 7")
        return 0
    if cmd == "help":
        proc.out("ipset v7.17\n\nUsage: ipset [options] COMMAND\n\nCommands:\n"
                 "create SETNAME TYPENAME [type-specific-options]\n"
                 "add SETNAME ENTRY\ndel SETNAME ENTRY\ntest SETNAME ENTRY\n"
                 "destroy [SETNAME]\nlist [SETNAME]\nsave [SETNAME]\nrestore\nflush [SETNAME]")
        return 0
    if cmd in ("create", "add", "del", "test") and len(rest) < 2:
        return proc.fail(f"{PREFIX}Syntax error: command {cmd} requires arguments\n{TRY}", 2)
    if cmd == "create":
        opts = dict(zip(rest[2::2], rest[3::2], strict=False))
        if opts.get("family", "inet") != "inet":
            return proc.fail(f"{PREFIX}Syntax error: IPv6 sets are not supported here", 1)
        t.create(rest[0], rest[1], exist, int(opts.get("hashsize", 1024)), int(opts.get("maxelem", 65536)))
    elif cmd == "add":
        t.get(rest[0]).add(rest[1], exist)
    elif cmd == "del":
        t.get(rest[0]).delete(rest[1], exist)
    elif cmd == "test":
        if t.get(rest[0]).test(rest[1]):
            if not quiet:
                proc.err(f"Warning: {rest[1]} is in set {rest[0]}.")
            return 0
        if not quiet:
            proc.err(f"{rest[1]} is NOT in set {rest[0]}.")
        return 1
    elif cmd in ("list", "save"):
        sets = [t.get(rest[0])] if rest else list(t.sets.values())
        if cmd == "save":
            for s in sets:
                for ln in save(s):
                    proc.out(ln)
        elif flags & {"-n", "-name"}:
            for s in sets:
                proc.out(s.name)
        elif sets:
            proc.out("\n\n".join(listing(t, s, bool(flags & {"-t", "-terse"})) for s in sets))
    elif cmd == "flush":
        for s in ([t.get(rest[0])] if rest else list(t.sets.values())):
            s.flush()
    elif cmd == "destroy":
        t.destroy(rest[0] if rest else None)
    elif cmd == "restore":
        for n, ln in enumerate(proc.stdin.splitlines(), 1):
            if ln.strip() and not ln.startswith("#"):
                try:
                    run(t, proc, ln.split() + (["-exist"] if exist else []))
                except IpsetError as e:
                    return proc.fail(f"{PREFIX}Error in line {n}: {e}", 1)
    return 0


@command("ipset")
def ipset(proc: Proc) -> int:
    try:
        return run(of(proc.ns), proc, list(proc.args))
    except IpsetError as e:
        return proc.fail(f"{PREFIX}{e}", 1)
    except ValueError as e:
        return proc.fail(f"{PREFIX}Syntax error: {e}", 1)
