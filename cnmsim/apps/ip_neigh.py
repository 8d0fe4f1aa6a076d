"""`ip neigh`: show (also -br), add, replace, change, del and flush ARP entries.

As iproute2 does, `show` hides NOARP entries unless `nud all`/`nud noarp` asks for them, and
`flush` leaves PERMANENT and NOARP entries alone.  The kernel dumps its hash table in hash
order; the simulator lists entries in the order they were created.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from cnmsim.apps.iputil import (
    ToolError,
    check_mac,
    duparg2,
    find_link,
    guarded,
    invarg,
    matches,
    next_arg,
)
from cnmsim.kernel.api import KernelError, Neigh
from cnmsim.shell.registry import Proc

STATES = ("PERMANENT", "NOARP", "REACHABLE", "STALE", "NONE", "INCOMPLETE", "DELAY", "PROBE",
          "FAILED")


def run(proc: Proc, opts, args: list[str]) -> int:  # noqa: ANN001
    cmd = args.pop(0) if args else "show"
    if matches(cmd, "add"):
        return guarded(proc, lambda: modify(proc, args, "add"))
    if matches(cmd, "change") or cmd == "chg":
        return guarded(proc, lambda: modify(proc, args, "change"))
    if matches(cmd, "replace"):
        return guarded(proc, lambda: modify(proc, args, "replace"))
    if matches(cmd, "delete"):
        return guarded(proc, lambda: modify(proc, args, "del"))
    if matches(cmd, "show") or matches(cmd, "list") or matches(cmd, "lst"):
        return guarded(proc, lambda: show(proc, opts, args))
    if matches(cmd, "flush"):
        return guarded(proc, lambda: flush(proc, args))
    return proc.fail(f'Command "{cmd}" is unknown, try "ip neigh help".', 255)


def _nud(arg: str) -> str:
    s = arg.upper()
    if s not in STATES and s != "ALL":
        raise invarg("nud state is bad", arg)
    return s


def _filter(proc: Proc, args: list[str]) -> tuple[str | None, set[str] | None, IPv4Network | None]:
    dev = to = None
    states: set[str] | None = None
    while args:
        a = args.pop(0)
        if a == "dev":
            dev = find_link(proc.ns.links(), next_arg(args)).name
        elif a == "nud":
            s = _nud(next_arg(args))
            states = (states or set()) | (set(STATES) if s == "ALL" else {s})
        elif a in ("proxy", "unused", "nomaster", "vrf", "master"):
            if a in ("vrf", "master"):
                next_arg(args)
        else:
            if a == "to":
                a = next_arg(args)
            if to is not None:
                raise duparg2("to", a)
            try:
                to = IPv4Network(a, strict=False)
            except ValueError:
                raise ToolError(f'Error: any valid prefix is expected rather than "{a}".', 1) from None
    return dev, states, to


def _select(proc: Proc, args: list[str], default: set[str]) -> tuple[list[Neigh], str | None]:
    dev, states, to = _filter(proc, args)
    wanted = states if states is not None else default
    rows = [n for n in proc.ns.neighs() if n.state in wanted and (dev is None or n.dev == dev)
            and (to is None or IPv4Address(n.ip) in to)]
    return rows, dev


def neigh_line(n: Neigh, dev_filter: str | None) -> str:
    s = f"{n.ip} "
    if dev_filter is None:
        s += f"dev {n.dev} "
    if n.lladdr:
        s += f"lladdr {n.lladdr} "
    if n.router:
        s += "router "
    if n.proxy:
        s += "proxy "
    return s + f"{n.state} "


def show(proc: Proc, opts, args: list[str]) -> int:  # noqa: ANN001
    rows, dev = _select(proc, args, set(STATES) - {"NOARP"})
    for n in rows:
        if opts.brief:
            proc.out(f"{n.ip:<39} {n.dev:<16} {n.lladdr or ''}")
        else:
            proc.out(neigh_line(n, dev))
    return 0


def modify(proc: Proc, args: list[str], how: str) -> int:
    ip = dev = mac = None
    state, router, proxy = "PERMANENT", False, False
    while args:
        a = args.pop(0)
        if a == "lladdr":
            mac = check_mac(next_arg(args))
        elif a == "dev":
            dev = next_arg(args)
        elif a == "nud":
            state = _nud(next_arg(args))
        elif a == "router":
            router = True
        elif a == "proxy":
            proxy = True
        elif a in ("extern_learn", "managed"):
            pass
        else:
            if a == "to":
                a = next_arg(args)
            if ip is not None:
                raise duparg2("to", a)
            ip = a
    if ip is None or dev is None:
        raise ToolError("Device and destination are required arguments.", 255)
    try:
        ip = str(IPv4Address(ip))
    except ValueError:
        raise ToolError(f'Error: inet address is expected rather than "{ip}".', 1) from None
    find_link(proc.ns.links(), dev)
    ns = proc.ns
    if how == "del":
        ns.neigh_del(ip, dev)
        return 0
    exists = any(n.ip == ip and n.dev == dev for n in ns.neighs())
    if how == "change" and not exists:
        raise KernelError("RTNETLINK answers: No such file or directory", "ENOENT")
    ns.neigh_add(Neigh(ip, dev, mac, state, router=router, proxy=proxy), replace=how != "add")
    return 0


def flush(proc: Proc, args: list[str]) -> int:
    if not args:
        raise ToolError("Flush requires arguments.", 1)
    rows, _ = _select(proc, args, set(STATES) - {"PERMANENT", "NOARP"})
    for n in rows:
        proc.ns.neigh_del(n.ip, n.dev)
    return 0
