"""ipvsadm 1.31 (Debian): administer the namespace's IPVS table through the kernel api.

    ipvsadm -A -t|-u ADDR[:PORT] | -f MARK [-s SCHED] [-p [TIMEOUT]] [-M NETMASK]   (-E edits, -D deletes)
    ipvsadm -a|-e -t|-u|-f SERVICE -r ADDR[:PORT] [-g|-m|-i] [-w WEIGHT] [-x U] [-y L]   (-d deletes)
    ipvsadm -L|-l [-n] [-c] [--stats|--rate|--thresholds|--persistent-conn] [--timeout] [--nosort] [--exact]
    ipvsadm -C | -Z [SERVICE] | -S [-n] | -R (rules on stdin) | --set TCP TCPFIN UDP | -h | -v
Options are parsed as popt does (clusters like -Lnc, `-p` with an optional value); the legal
combinations come from ipvsadm's commands_v_options table; kernel refusals print ipvs_strerror()
text and exit 255, usage errors exit 2.  Not supported: IPv6, SCTP, the sync daemon, -b, --pe,
-o, the --tun-* options (they are reported as unknown options).
"""

from __future__ import annotations

import shlex
import socket
from dataclasses import dataclass, field, replace

from cnmsim.apps import ipvsadm_fmt as fmt
from cnmsim.apps.resolver import hosts_lookup
from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.packet.services import service_port
from cnmsim.shell.registry import Proc, command

CMDS = ("add-service", "edit-service", "delete-service", "flush", "list", "add-server", "delete-server",
        "edit-server", "set", "start-daemon", "stop-daemon", "restore", "save", "zero")
OPTS = ("numeric", "connection", "service-address", "scheduler", "persistent", "netmask", "real-server",
        "forwarding-method", "weight", "u-threshold", "l-threshold", "mcast-interface", "timeout", "daemon",
        "stats", "rate", "thresholds", "persistent-conn", "nosort", "syncid", "exact", "ops", "pe",
        "sched-flags", "mcast-group", "mcast-port", "mcast-ttl", "sync-maxlen", "tun-info", "tun-type",
        "tun-port", "tun-nocsum", "tun-csum", "tun-remcsum")
# commands_v_options[][] of ipvsadm 1.31: '+' compulsory, 'x' illegal, '1' exclusive, ' ' optional
TABLE = ("xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx" "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx" "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" " 11xxxxxxxxx11       xxxxxxx xxxxx" "xx+xxx+    xxxxxxxxxxxxxxxxxx     "
         "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx" "xx+xxx+    xxxxxxxxxxxxxxxxxx     " "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxx xxxxxxx xxxx    xxxxxx" "xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
# popt table: name -> (short, tag, argument: "" none, "req", "opt")
POPT: dict[str, tuple[str, str, str]] = {
    "add-service": ("A", "A", ""), "edit-service": ("E", "E", ""), "delete-service": ("D", "D", ""),
    "clear": ("C", "C", ""), "list": ("L", "L", ""), "zero": ("Z", "Z", ""), "add-server": ("a", "a", ""),
    "edit-server": ("e", "e", ""), "delete-server": ("d", "d", ""), "set": ("", "set", ""),
    "help": ("h", "h", ""), "version": ("v", "v", ""), "restore": ("R", "R", ""), "save": ("S", "S", ""),
    "tcp-service": ("t", "t", "req"), "udp-service": ("u", "u", "req"), "fwmark-service": ("f", "f", "req"),
    "scheduler": ("s", "s", "req"), "persistent": ("p", "p", "opt"), "netmask": ("M", "M", "req"),
    "real-server": ("r", "r", "req"), "masquerading": ("m", "m", ""), "ipip": ("i", "i", ""),
    "gatewaying": ("g", "g", ""), "weight": ("w", "w", "req"), "u-threshold": ("x", "x", "req"),
    "l-threshold": ("y", "y", "req"), "numeric": ("n", "n", ""), "connection": ("c", "c", ""),
    "timeout": ("", "timeout", ""), "daemon": ("", "daemon", ""), "stats": ("", "stats", ""),
    "rate": ("", "rate", ""), "thresholds": ("", "thresholds", ""), "persistent-conn": ("", "persistent-conn", ""),
    "nosort": ("", "nosort", ""), "sort": ("", "sort", ""), "exact": ("X", "X", ""),
}
SHORT = {s: (name, tag, arg) for name, (s, tag, arg) in POPT.items() if s} | {"l": ("list", "L", "")}
COMMANDS = {"A": 0, "E": 1, "D": 2, "C": 3, "L": 4, "a": 5, "d": 6, "e": 7, "set": 8, "R": 11, "S": 12, "Z": 13}
OPTION_OF = {"t": 2, "u": 2, "f": 2, "s": 3, "p": 4, "M": 5, "r": 6, "m": 7, "i": 7, "g": 7, "w": 8, "x": 9,
             "y": 10, "n": 0, "c": 1, "timeout": 12, "daemon": 13, "stats": 14, "rate": 15, "thresholds": 16,
             "persistent-conn": 17, "nosort": 18, "X": 20}
FORMAT_OF = {"n": fmt.FMT_NUMERIC, "stats": fmt.FMT_STATS, "rate": fmt.FMT_RATE, "thresholds": fmt.FMT_THRESHOLDS,
             "persistent-conn": fmt.FMT_PERSISTENTCONN, "nosort": fmt.FMT_NOSORT, "X": fmt.FMT_EXACT}
MAX_TIMEOUT = 86400 * 31


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@dataclass
class Entry:
    """struct ipvs_command_entry, with ipvsadm's defaults (weight 1, direct routing, /32 mask)."""

    cmd: int = -1
    options: set[int] = field(default_factory=set)
    format: int = 0
    svc: api.IpvsService = field(default_factory=lambda: api.IpvsService(scheduler=""))
    dest: api.IpvsDest = field(default_factory=lambda: api.IpvsDest("0.0.0.0", 0, 1, "Route"))
    timeouts: tuple[int, int, int] = (0, 0, 0)


def _fail(proc: Proc, msg: str, code: int = 2) -> Exit:
    proc.err(msg)
    return Exit(code)


def _tryhelp(proc: Proc) -> Exit:
    p = proc.argv[0]
    return _fail(proc, f"Try `{p} -h' or '{p} --help' for more information.", 255)


def popt(args: list[str]) -> tuple[list[tuple[str, str | None, str]], list[str], str | None]:
    """(options as (tag, value, word), leftover arguments, error as poptBadOption + poptStrerror)."""
    out: list[tuple[str, str | None, str]] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word.startswith("--") and len(word) > 2:
            name, eq, val = word[2:].partition("=")
            spec = POPT.get(name)
            if spec is None:
                return out, rest, f"{word}: unknown option"
            if spec[2] == "req" and not eq:
                if i >= len(args):
                    return out, rest, f"{word}: missing argument"
                val, i = args[i], i + 1
            elif spec[2] == "opt" and not eq and i < len(args) and not args[i].startswith("-"):
                val, i = args[i], i + 1
            out.append((spec[1], val if (eq or spec[2]) else None, word))
            continue
        if not word.startswith("-") or word == "-":
            rest.append(word)
            continue
        j = 1
        while j < len(word):
            spec = SHORT.get(word[j])
            if spec is None:
                return out, rest, f"{word}: unknown option"
            val: str | None = None
            if spec[2]:
                val = word[j + 1:] or None
                if val is None and i < len(args) and (spec[2] == "req" or not args[i].startswith("-")):
                    val, i = args[i], i + 1
                if val is None and spec[2] == "req":
                    return out, rest, f"{word}: missing argument"
                out.append((spec[1], val, word))
                break
            out.append((spec[1], None, word))
            j += 1
    return out, rest, None


def _number(s: str, lo: int, hi: int) -> int | None:
    """string_to_number: a whole decimal number within [lo, hi]."""
    try:
        n = int(s, 10)
    except ValueError:
        return None
    return n if lo <= n <= hi and s.strip() == s else None


def _addr(proc: Proc, text: str) -> str | None:
    try:
        return socket.inet_ntoa(socket.inet_aton(text))  # inet_aton, shorthand forms included
    except OSError:
        return hosts_lookup(proc.place.files, text)


def parse_service(proc: Proc, buf: str, proto: str) -> tuple[int, str | None, int]:
    """parse_service: (1 addr | 2 port, address, port); 0 when unusable."""
    if buf.isdigit() or buf.startswith("["):
        return 0, None, 0
    host, sep, port_text = buf.rpartition(":") if ":" in buf else (buf, "", "")
    addr = _addr(proc, host)
    if addr is None:
        return 0, None, 0
    if not sep:
        return 1, addr, 0
    port = _number(port_text, 0, 65535)
    if port is None:
        port = service_port(port_text, proto.lower()) if proto in ("TCP", "UDP") else None
    return (0, None, 0) if port is None else (3, addr, port)


def _timeout(proc: Proc, text: str | None, lo: int) -> int:
    if text is None:
        return 300  # IPVS_SVC_PERSISTENT_TIMEOUT
    n = _number(text, lo, MAX_TIMEOUT)
    if n is None:
        raise _fail(proc, f"invalid timeout value `{text}' specified")
    return n


def parse_options(proc: Proc, args: list[str]) -> Entry:
    opts, rest, bad = popt(args)
    e = Entry()
    if not opts:
        raise _tryhelp(proc)
    tag = opts[0][0]
    if tag == "h":
        proc.out(fmt.version_line())
        proc.out(fmt.USAGE.format(p=proc.argv[0]), end="")
        raise Exit(0)
    if tag == "v":
        proc.out(fmt.version_line())
        raise Exit(0)
    if tag not in COMMANDS:
        raise _tryhelp(proc)
    e.cmd = COMMANDS[tag]
    for tag, val, word in opts[1:]:
        opt = OPTION_OF.get(tag)
        if opt is None:
            if tag in COMMANDS:
                raise _fail(proc, "multiple commands specified")
            raise _fail(proc, f"invalid option `{word}'")
        if opt in e.options and tag != "sort":
            raise _fail(proc, f"multiple '{OPTS[opt]}' options specified")
        e.options.add(opt)
        e.format |= FORMAT_OF.get(tag, 0)
        _apply(proc, e, tag, val)
    if bad is not None:
        raise _fail(proc, bad, 255)
    if e.cmd == COMMANDS["set"]:
        if len(rest) < 3:
            raise _fail(proc, "--set option requires 3 timeout values")
        e.timeouts = tuple(_timeout(proc, v, 0) for v in rest[:3])  # type: ignore[assignment]
        rest = rest[3:]
    if rest:
        raise _fail(proc, f"unexpected argument {rest[0]}")
    return e


def _apply(proc: Proc, e: Entry, tag: str, val: str | None) -> None:
    if tag in ("t", "u"):
        proto = "TCP" if tag == "t" else "UDP"
        kind, addr, port = parse_service(proc, val or "", proto)
        if not kind & 1:
            raise _fail(proc, "illegal virtual server address[:port] specified")
        e.svc = replace(e.svc, proto=proto, addr=addr, port=port, fwmark=0)
    elif tag == "f":
        mark = _number(val or "", 1, 0xFFFFFFFF)
        if mark is None:
            raise _fail(proc, f"invalid fwmark value `{val}' specified")
        e.svc = replace(e.svc, proto="FWM", addr=None, port=0, fwmark=mark)
    elif tag == "s":
        e.svc = replace(e.svc, scheduler=val or "")
    elif tag == "p":
        e.svc = replace(e.svc, persistent=_timeout(proc, val, 1))
    elif tag == "M":
        mask = _addr(proc, val or "")
        if mask is None:
            raise _fail(proc, "illegal virtual server persistent mask specified")
        e.svc = replace(e.svc, netmask=mask)
    elif tag == "r":
        kind, addr, port = parse_service(proc, val or "", e.svc.proto)
        if not kind & 1:
            raise _fail(proc, "illegal real server address[:port] specified")
        e.dest = replace(e.dest, addr=addr or "", port=port if kind & 2 else e.svc.port)
    elif tag in ("m", "g", "i"):
        e.dest = replace(e.dest, forward={"m": "Masq", "g": "Route", "i": "Tunnel"}[tag])
    elif tag in ("w", "x", "y"):
        n = _number(val or "", 0, 65535 if tag == "w" else 2**31 - 1)
        if n is None:
            raise _fail(proc, {"w": "illegal weight specified", "x": "illegal u_threshold specified",
                               "y": "illegal l_threshold specified"}[tag])
        e.dest = replace(e.dest, **{"w": {"weight": n}, "x": {"u_threshold": n}, "y": {"l_threshold": n}}[tag])


def opt_check(proc: Proc, e: Entry) -> None:
    """generic_opt_check against commands_v_options."""
    row = TABLE[e.cmd * len(OPTS):(e.cmd + 1) * len(OPTS)]
    last = None
    for j, rule in enumerate(row):
        if j not in e.options:
            if rule == "+":
                raise _fail(proc, f"You need to supply the '{OPTS[j]}' option for the '{CMDS[e.cmd]}' command")
            continue
        if rule == "x":
            raise _fail(proc, f"Illegal '{OPTS[j]}' option with the '{CMDS[e.cmd]}' command")
        if rule == "1":
            if last is not None:
                raise _fail(proc, f"The option '{OPTS[j]}' conflicts with the '{OPTS[last]}' option "
                            f"in the '{CMDS[e.cmd]}' command")
            last = j


def process(proc: Proc, args: list[str], reading_stdin: bool = False) -> int:
    e = parse_options(proc, args)
    opt_check(proc, e)
    ns = proc.ns
    svc, dest = e.svc, e.dest
    cmd = CMDS[e.cmd]
    if cmd in ("add-service", "edit-service"):
        if not svc.fwmark and not svc.port and svc.persistent is None:
            raise _fail(proc, "Zero port specified for non-persistent service")
        svc = replace(svc, scheduler=svc.scheduler or "wlc")
    if cmd in ("add-server", "edit-server") and not svc.fwmark and dest.forward in ("Route", "Tunnel"):
        dest = replace(dest, port=svc.port)  # DR and TUN keep the virtual port
    name = fmt.Namer(proc.place.files, bool(e.format & fmt.FMT_NUMERIC))
    if cmd == "list":
        if e.options & {1, 12, 13} and e.options & {14, 15, 16, 17}:
            raise _fail(proc, "options conflicts in the list command")
        if 1 in e.options:
            proc.out(fmt.list_conns(ns.ipvs_conns(), name), end="")
        elif 2 in e.options:
            match = [(s, d) for s, d in ns.ipvs_services() if _same(s, svc)]
            if not match:
                raise _fail(proc, "No such service", 1)
            proc.out(fmt.title(e.format) + fmt.service_entry(*match[0], e.format, name), end="")
        elif 12 in e.options:
            proc.out("Timeout (tcp tcpfin udp): {} {} {}".format(*ns.ipvs_timeouts()))
        elif 13 not in e.options:
            proc.out(fmt.list_all(ns.ipvs_services(), e.format, name), end="")
        return 0
    if cmd == "save":
        proc.out(fmt.list_all(ns.ipvs_services(), e.format | fmt.FMT_RULE, name), end="")
        return 0
    if cmd == "restore":
        if reading_stdin:
            raise _tryhelp(proc)
        result = 0
        for line in proc.stdin.splitlines():
            words = shlex.split(line)
            if words:
                result = process(proc, words, reading_stdin=True)
        return result
    calls = {
        "flush": lambda: ns.ipvs_clear(),
        "add-service": lambda: ns.ipvs_service_add(svc),
        "edit-service": lambda: ns.ipvs_service_edit(svc),
        "delete-service": lambda: ns.ipvs_service_del(svc),
        "zero": lambda: ns.ipvs_zero(svc if 2 in e.options else None),
        "add-server": lambda: ns.ipvs_dest_add(svc, dest),
        "edit-server": lambda: ns.ipvs_dest_edit(svc, dest),
        "delete-server": lambda: ns.ipvs_dest_del(svc, dest.addr, dest.port),
        "set": lambda: ns.ipvs_set_timeouts(*e.timeouts),
    }
    try:
        calls[cmd]()
    except KernelError as err:
        proc.err(str(err))
        return 255
    return 0


def _same(a: api.IpvsService, b: api.IpvsService) -> bool:
    return (a.fwmark == b.fwmark) if a.fwmark or b.fwmark else (a.proto, a.addr, a.port) == (b.proto, b.addr, b.port)


@command("ipvsadm")
def ipvsadm(proc: Proc) -> int:
    try:
        if not proc.args:  # no argument: list the table
            proc.out(fmt.list_all(proc.ns.ipvs_services(), 0, fmt.Namer(proc.place.files, False)), end="")
            return 0
        return process(proc, list(proc.args))
    except Exit as e:
        return e.code
