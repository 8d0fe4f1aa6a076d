"""`ip address`: show (also -br, -o, -4, -s, -d), add, del and flush IPv4 addresses.

cnmsim's kernel is IPv4-only, so this prints what an IPv6-disabled kernel prints
(`net.ipv6.conf.all.disable_ipv6=1`): `inet` lines only, never `inet6` ones; `-6` shows nothing.
"""

from __future__ import annotations

from ipaddress import IPv4Interface

from cnmsim.apps import ip_linkfmt as fmt
from cnmsim.apps.iputil import ToolError, duparg2, find_link, guarded, matches, next_arg
from cnmsim.kernel.api import AddrInfo, KernelError
from cnmsim.shell.registry import Proc

LFT = "       valid_lft forever preferred_lft forever"
WILDCARD = """Warning: Executing wildcard deletion to stay compatible with old scripts.
         Explicitly specify the prefix length ({0}/32) to avoid this warning.
         This special behaviour is likely to disappear in further releases,
         fix your scripts!"""


def run(proc: Proc, opts, args: list[str]) -> int:  # noqa: ANN001
    cmd = args.pop(0) if args else "show"
    if matches(cmd, "add"):
        return guarded(proc, lambda: add(proc, args))
    if matches(cmd, "delete"):
        return guarded(proc, lambda: delete(proc, args))
    if matches(cmd, "show") or matches(cmd, "lst") or matches(cmd, "list"):
        return guarded(proc, lambda: show(proc, opts, args))
    if matches(cmd, "flush"):
        return guarded(proc, lambda: flush(proc, args))
    return proc.fail(f'Command "{cmd}" is unknown, try "ip address help".', 255)


def ordered(addrs: list[AddrInfo]) -> list[AddrInfo]:
    """A device's primaries come before its secondaries (inet_insert_ifa)."""
    return sorted(addrs, key=lambda a: a.secondary)


def inet_line(a: AddrInfo) -> str:
    brd = f" brd {a.broadcast}" if a.broadcast else ""
    sec = " secondary" if a.secondary else ""
    return f"    inet {a.address}{brd} scope {a.scope}{sec} {a.dev}"


def _filters(args: list[str]) -> tuple[str | None, bool]:
    dev, only_up = None, False
    while args:
        a = args.pop(0)
        if a == "up":
            only_up = True
        elif a in ("scope", "label", "to", "type", "master"):
            next_arg(args)
        else:
            if a == "dev":
                a = next_arg(args)
            if dev is not None:
                raise duparg2("dev", a)
            dev = a
    return dev, only_up


def show(proc: Proc, opts, args: list[str]) -> int:  # noqa: ANN001
    ns = proc.ns
    links = ns.links()
    ctx = fmt.Links(links)
    dev, only_up = _filters(args)
    if dev is not None and ctx.get(dev) is None:
        raise ToolError(f'Device "{dev}" does not exist.', 1)
    by_dev: dict[str, list[AddrInfo]] = {}
    for a in ns.addrs():
        by_dev.setdefault(a.dev, []).append(a)
    v6 = opts.family in ("inet6",)
    v4_only = opts.family == "inet" or v6
    for li in links:
        if dev is not None and li.name != dev or only_up and not li.up:
            continue
        addrs = [] if v6 else ordered(by_dev.get(li.name, []))
        if v4_only and not addrs:
            continue
        if opts.brief:
            proc.out(f"{fmt.display_name(li, ctx):<16} {fmt.operstate(li, ctx):<14} "
                     + "".join(f"{a.address} " for a in addrs))
        elif opts.oneline:
            for a in addrs:
                proc.out(f"{li.ifindex}: {li.name}{inet_line(a)}\\{LFT}")
        else:
            lines = fmt.link_block(li, ctx, opts.details, 0, mode=False, link=not v4_only)
            for a in addrs:
                lines += [inet_line(a), LFT]
            if opts.stats:
                lines += fmt.stats(li, opts.stats)
            proc.out("\n".join(lines))
    return 0


def _parse(args: list[str]) -> tuple[str | None, str | None, str | None]:
    cidr = dev = brd = None
    while args:
        a = args.pop(0)
        if a == "dev":
            dev = next_arg(args)
        elif a in ("brd", "broadcast"):
            brd = next_arg(args)
        elif a in ("scope", "label", "valid_lft", "preferred_lft", "metric"):
            next_arg(args)
        elif a in ("noprefixroute", "home", "nodad"):
            pass
        else:
            if a == "local":
                a = next_arg(args)
            if cidr is not None:
                raise duparg2("local", a)
            cidr = a
    return cidr, dev, brd


def _prefix(cidr: str | None) -> IPv4Interface:
    try:
        if cidr is None or cidr.count("/") > 1:
            raise ValueError
        return IPv4Interface(cidr)
    except ValueError:
        raise ToolError(f'Error: any valid prefix is expected rather than "{cidr}".', 1) from None


def add(proc: Proc, args: list[str]) -> int:
    cidr, dev, brd = _parse(args)
    if dev is None:
        raise ToolError('Not enough information: "dev" argument is required.', 1)
    iface = _prefix(cidr)
    find_link(proc.ns.links(), dev)
    if brd == "+":
        brd = str(iface.network.broadcast_address)
    elif brd == "-":
        brd = str(iface.network.network_address)
    elif brd is not None:
        brd = str(_prefix(brd).ip)
    proc.ns.addr_add(dev, str(iface) if "/" in str(cidr) else str(iface.ip), broadcast=brd)
    return 0


def delete(proc: Proc, args: list[str]) -> int:
    cidr, dev, _ = _parse(args)
    if dev is None:
        raise ToolError('Not enough information: "dev" argument is required.', 1)
    find_link(proc.ns.links(), dev)
    if cidr is None:
        raise KernelError("RTNETLINK answers: Operation not supported", "EOPNOTSUPP")
    iface = _prefix(cidr)
    if "/" not in cidr:
        proc.err(WILDCARD.format(iface.ip))
        proc.ns.addr_del(dev, str(iface.ip))
    else:
        proc.ns.addr_del(dev, str(iface))
    return 0


def flush(proc: Proc, args: list[str]) -> int:
    if not args:
        raise ToolError("Flush requires arguments.", 1)
    dev, _ = _filters(args)
    links = proc.ns.links()
    if dev is not None:
        find_link(links, dev, f'Device "{dev}" does not exist.')
    # secondaries first: deleting a primary would promote or drop them
    for a in reversed(ordered(proc.ns.addrs())):
        if dev is None or a.dev == dev:
            proc.ns.addr_del(a.dev, a.address)
    return 0
