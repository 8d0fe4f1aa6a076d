"""conntrack (conntrack-tools 1.4.7): list, count and flush the namespace's connection tracking table.

    conntrack -L [-p PROTO] [-s|-d|-r|-q ADDR] [--sport|--dport|--reply-port-src|--reply-port-dst PORT]
                 [--state STATE] [-m MARK] [-u STATUS] [-n|-g|-j] [-o extended]
    conntrack -C        the number of entries
    conntrack -F        empty the table
Entries come from the kernel api (`Netns.conntrack_list()`); lines are printed as
libnetfilter_conntrack's default format, the summary goes to stderr.  Entries are shown oldest
first (the kernel shows them in hash order).
"""

from __future__ import annotations

from cnmsim.kernel import api
from cnmsim.shell.registry import Proc, command

VERSION = "conntrack v1.4.7 (conntrack-tools)"
TRY = "Try `conntrack -h' or 'conntrack --help' for more information."
HELP = """Command line interface for the connection tracking system. Version 1.4.7
Usage: conntrack [commands] [options]

Commands:
  -L [table] [options]\t\tList conntrack or expectation table
  -G [table] parameters\t\tGet conntrack or expectation
  -D [table] parameters\t\tDelete conntrack or expectation
  -I [table] parameters\t\tCreate a conntrack or expectation
  -U [table] parameters\t\tUpdate a conntrack
  -E [table] [options]\t\tShow events
  -F [table]\t\t\tFlush table
  -C [table]\t\t\tShow counter
  -S\t\t\t\tShow statistics

Tables: conntrack, expect, dying, unconfirmed
"""
COMMANDS = {"-L": "L", "--dump": "L", "-C": "C", "--count": "C", "-F": "F", "--flush": "F"}
UNSUPPORTED = ("-G", "--get", "-D", "--delete", "-I", "--create", "-U", "--update", "-E",
               "--event", "-S", "--stats")
ADDR_OPTS = {"-s": "src", "--src": "src", "--orig-src": "src", "-d": "dst", "--dst": "dst",
             "--orig-dst": "dst", "-r": "rsrc", "--reply-src": "rsrc", "-q": "rdst",
             "--reply-dst": "rdst", "-m": "mark", "--mark": "mark", "-u": "status",
             "--status": "status", "-o": "output", "--output": "output", "-p": "proto",
             "--proto": "proto", "--protonum": "proto", "-f": "family", "--family": "family"}
PORT_OPTS = {"--sport": "sport", "--orig-port-src": "sport", "--dport": "dport",
             "--orig-port-dst": "dport", "--reply-port-src": "rsport", "--reply-port-dst": "rdport"}
NAT_FLAGS = {"-n": "SRC_NAT", "--src-nat": "SRC_NAT", "-g": "DST_NAT", "--dst-nat": "DST_NAT",
             "-j": "ANY_NAT", "--any-nat": "ANY_NAT"}
PROTOS = {"tcp": 6, "udp": 17, "icmp": 1, "udplite": 136, "sctp": 132, "dccp": 33, "gre": 47}


def _tuple(proto: int, t: api.CtTuple) -> str:
    s = f"src={t.src} dst={t.dst} "
    if t.type is not None:
        return s + f"type={t.type} code={t.code} id={t.id} "
    if t.sport is not None:
        return s + f"sport={t.sport} dport={t.dport} "
    return s


def line(e: api.Conntrack, extended: bool = False) -> str:
    """One entry as `conntrack -L` prints it."""
    out = ("ipv4     2 " if extended else "") + f"{e.proto:<8} {e.protonum} {e.timeout} "
    if e.state:
        out += f"{e.state} "
    out += _tuple(e.protonum, e.orig)
    if "SEEN_REPLY" not in e.status:
        out += "[UNREPLIED] "
    out += _tuple(e.protonum, e.reply)
    if "ASSURED" in e.status:
        out += "[ASSURED] "
    return out + f"mark={e.mark} use={e.use}"


def _matches(e: api.Conntrack, f: dict[str, str], nat: set[str]) -> bool:
    checks = (("src", e.orig.src), ("dst", e.orig.dst), ("rsrc", e.reply.src), ("rdst", e.reply.dst),
              ("sport", e.orig.sport), ("dport", e.orig.dport), ("rsport", e.reply.sport),
              ("rdport", e.reply.dport), ("mark", e.mark))
    for key, have in checks:
        if key in f and str(have) != f[key]:
            return False
    if "proto" in f and e.protonum != PROTOS.get(f["proto"], -1) and f["proto"] != str(e.protonum):
        return False
    if "state" in f and e.state != f["state"].upper():
        return False
    if "status" in f and not all(s.upper() in e.status for s in f["status"].split(",")):
        return False
    if "SRC_NAT" in nat and "SRC_NAT" not in e.status:
        return False
    if "DST_NAT" in nat and "DST_NAT" not in e.status:
        return False
    return not ("ANY_NAT" in nat and not ({"SRC_NAT", "DST_NAT"} & set(e.status)))


@command("conntrack")
def conntrack(proc: Proc) -> int:
    args = list(proc.args)
    if not args:
        proc.out(HELP, end="")
        return 0
    cmd: str | None = None
    filters: dict[str, str] = {}
    nat: set[str] = set()
    while args:
        a = args.pop(0)
        if a in ("-h", "--help"):
            proc.out(HELP, end="")
            return 0
        if a in ("-V", "--version"):
            proc.out(f"{VERSION}")
            return 0
        if a in COMMANDS:
            if cmd is not None:
                return proc.fail(f"{VERSION}: Invalid parameters\n{TRY}", 2)
            cmd = COMMANDS[a]
            if args and args[0] in ("conntrack", "expect", "dying", "unconfirmed"):
                table = args.pop(0)
                if table != "conntrack":
                    return proc.fail(f"{VERSION}: Operation not supported", 1)
        elif a in UNSUPPORTED:
            return proc.fail(f"{VERSION}: Operation not supported", 1)
        elif a in NAT_FLAGS:
            nat.add(NAT_FLAGS[a])
        elif a in ADDR_OPTS or (a in PORT_OPTS and "proto" in filters) or (a == "--state" and "proto" in filters):
            key = ADDR_OPTS.get(a) or PORT_OPTS.get(a) or "state"
            if not args:
                return proc.fail(f"{VERSION}: option `{a}' requires an argument\n{TRY}", 2)
            filters[key] = args.pop(0)
        else:
            return proc.fail(f"{VERSION}: unknown option `{a}'\n{TRY}", 2)
    if cmd is None:
        return proc.fail(f"{VERSION}: Invalid parameters\n{TRY}", 2)
    if "proto" in filters and filters["proto"] not in PROTOS and not filters["proto"].isdigit():
        return proc.fail(f"{VERSION}: `{filters['proto']}' unsupported protocol\n{TRY}", 2)
    if cmd == "F":
        proc.ns.conntrack_flush()
        proc.err(f"{VERSION}: connection tracking table has been emptied.")
        return 0
    if cmd == "C":  # the table's counter: filters do not apply
        proc.out(str(len(proc.ns.conntrack_list())))
        return 0
    entries = [e for e in proc.ns.conntrack_list() if _matches(e, filters, nat)]
    extended = filters.get("output", "") == "extended"
    for e in entries:
        proc.out(line(e, extended))
    proc.err(f"{VERSION}: {len(entries)} flow entries have been shown.")
    return 0
