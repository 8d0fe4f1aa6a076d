"""`ip route`: show (main, local, all tables), get, add, del, replace, change, flush.

Lines are formatted as iproute2 6.1's print_route() does: every field is followed by a space
(so each line ends in one), and a field fixed by the filter (`dev X`, `proto P`, `table T`)
is left out.  A nexthop whose device has no carrier is flagged `linkdown`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network

from cnmsim.apps import ip_linkfmt as fmt
from cnmsim.apps.iputil import (
    ToolError,
    duparg2,
    find_link,
    guarded,
    invarg,
    ipv4,
    matches,
    next_arg,
)
from cnmsim.kernel.api import KernelError, Route
from cnmsim.shell.registry import Proc

TYPES = ("unicast", "local", "broadcast", "multicast", "blackhole", "unreachable", "prohibit",
         "throw", "nat", "anycast")
PROTOS = {"0": "unspec", "1": "redirect", "2": "kernel", "3": "boot", "4": "static", "8": "gated",
          "9": "ra", "10": "mrt", "11": "zebra", "12": "bird", "13": "dnrouted", "14": "xorp",
          "15": "ntk", "16": "dhcp", "42": "babel", "186": "bgp", "187": "isis", "188": "ospf",
          "189": "rip", "192": "eigrp"}
SCOPES = {"0": "global", "200": "site", "253": "link", "254": "host", "255": "nowhere",
          "universe": "global"}
TABLES = {"254": "main", "255": "local", "main": "main", "local": "local", "all": "all",
          "0": "all", "default": "default", "253": "default"}


def run(proc: Proc, opts, args: list[str]) -> int:  # noqa: ANN001
    cmd = args.pop(0) if args else "show"
    if matches(cmd, "add") or matches(cmd, "append"):
        return guarded(proc, lambda: modify(proc, args, "add"))
    if matches(cmd, "change") or cmd == "chg":
        return guarded(proc, lambda: modify(proc, args, "change"))
    if matches(cmd, "replace"):
        return guarded(proc, lambda: modify(proc, args, "replace"))
    if matches(cmd, "delete"):
        return guarded(proc, lambda: modify(proc, args, "del"))
    if matches(cmd, "show") or matches(cmd, "list") or matches(cmd, "lst"):
        return guarded(proc, lambda: show(proc, args))
    if matches(cmd, "get"):
        return guarded(proc, lambda: get(proc, args))
    if matches(cmd, "flush"):
        return guarded(proc, lambda: flush(proc, args))
    return proc.fail(f'Command "{cmd}" is unknown, try "ip route help".', 255)


@dataclass
class Filter:
    table: str = "main"
    dev: str | None = None
    proto: str | None = None
    scope: str | None = None
    type: str | None = None
    via: str | None = None
    prefix: IPv4Network | None = None
    mode: str = "exact"  # how prefix selects: "exact", "root" (inside it), "match" (covers it)

    def wants(self, r: Route) -> bool:
        if self.dev is not None and r.dev != self.dev:
            return False
        if self.proto is not None and (r.proto or "boot") != self.proto:
            return False
        if self.scope is not None and scope_of(r) != self.scope:
            return False
        if self.type is not None and r.type != self.type:
            return False
        if self.via is not None and r.via != self.via:
            return False
        if self.prefix is not None:
            net = network(r.dst)
            if self.mode == "exact" and net != self.prefix:
                return False
            if self.mode == "root" and not net.subnet_of(self.prefix):
                return False
            if self.mode == "match" and not self.prefix.subnet_of(net):
                return False
        return True


def network(dst: str) -> IPv4Network:
    return IPv4Network("0.0.0.0/0" if dst == "default" else dst, strict=False)


def scope_of(r: Route) -> str:
    if r.scope:
        return r.scope
    if r.type == "local":
        return "host"
    return "link" if r.dev and not r.via and r.type == "unicast" else "global"


def _prefix(arg: str) -> IPv4Network:
    if arg in ("default", "all", "any"):
        return IPv4Network("0.0.0.0/0")
    try:
        return IPv4Network(arg, strict=False)
    except ValueError:
        raise ToolError(f'Error: any valid prefix is expected rather than "{arg}".', 1) from None


def _table(arg: str) -> str:
    t = TABLES.get(arg)
    if t is None:
        raise invarg("table id value is invalid\n", arg)
    return t


def parse_filter(args: list[str], links: list) -> Filter:  # noqa: ANN001
    f = Filter()
    while args:
        a = args.pop(0)
        if a == "table":
            f.table = _table(next_arg(args))
        elif a in ("dev", "oif"):
            f.dev = find_link(links, next_arg(args)).name
        elif a in ("proto", "protocol"):
            p = next_arg(args)
            f.proto = PROTOS.get(p, p)
        elif a == "scope":
            s = next_arg(args)
            f.scope = SCOPES.get(s, s)
        elif a == "type":
            f.type = next_arg(args)
        elif a == "via":
            f.via = ipv4(next_arg(args))
        elif a in ("root", "match", "exact"):
            f.mode, f.prefix = a, _prefix(next_arg(args))
        else:
            if a == "to":
                a = next_arg(args)
            if f.prefix is not None:
                raise duparg2("to", a)
            f.prefix = _prefix(a)
    return f


def route_line(r: Route, f: Filter, links: fmt.Links) -> str:
    """One route as print_route() prints it."""
    s = "" if r.type == "unicast" else f"{r.type} "
    s += f"{r.dst} "
    if r.via:
        s += f"via {r.via} "
    if r.dev and f.dev is None:
        s += f"dev {r.dev} "
    if r.table != "main" and f.table == "all":
        s += f"table {r.table} "
    if r.proto and r.proto != "boot" and f.proto is None:
        s += f"proto {r.proto} "
    scope = scope_of(r)
    if scope != "global" and f.scope is None:
        s += f"scope {scope} "
    if r.src:
        s += f"src {r.src} "
    if r.metric:
        s += f"metric {r.metric} "
    li = links.get(r.dev or "")
    if li is not None and li.up and not li.lower_up and r.type == "unicast":
        s += "linkdown "
    if r.mtu:
        s += f"mtu {r.mtu} "
    return s


def show(proc: Proc, args: list[str]) -> int:
    links = proc.ns.links()
    f = parse_filter(args, links)
    ctx = fmt.Links(links)
    tables = ["main", "local"] if f.table == "all" else [f.table]
    for t in tables:
        for r in proc.ns.routes(t) if t in ("main", "local") else []:
            r = replace(r, table=t)
            if f.wants(r):
                proc.out(route_line(r, f, ctx))
    return 0


def get(proc: Proc, args: list[str]) -> int:
    dst = None
    while args:
        a = args.pop(0)
        if a in ("from", "iif", "oif", "mark", "tos", "uid", "vrf", "ipproto", "sport", "dport"):
            next_arg(args)
        elif a in ("connected", "fibmatch", "notify"):
            pass
        else:
            if a == "to":
                a = next_arg(args)
            if dst is not None:
                raise duparg2("to", a)
            dst = a
    if dst is None:
        raise ToolError("need at least a destination address", 1)
    try:
        IPv4Address(dst.split("/")[0])
    except ValueError:
        raise ToolError(f'Error: any valid prefix is expected rather than "{dst}".', 1) from None
    r = proc.ns.route_get(dst.split("/")[0])
    kind = "" if r.type == "unicast" else f"{r.type} "
    via = f"via {r.via} " if r.via else ""
    dev = "lo" if r.type == "local" else r.dev
    src = f"src {r.src} " if r.src else ""
    flags = {"local": "<local> ", "broadcast": "<local,brd> "}.get(r.type, "")
    mtu = f"mtu {r.mtu} " if r.mtu else ""
    expires = f"expires {r.expires}sec " if r.expires is not None else ""
    proc.out(f"{kind}{r.dst} {via}dev {dev} {src}uid 0 \n    cache {flags}{expires}{mtu}")
    return 0


def parse_route(args: list[str], links: list) -> Route:  # noqa: ANN001
    """iproute_modify(): the route an add/del/replace/change line describes."""
    kw: dict[str, object] = {}
    rtype = "unicast"
    dst: str | None = None
    while args:
        a = args.pop(0)
        if a == "via":
            kw["via"] = ipv4(next_arg(args))
        elif a in ("dev", "oif"):
            kw["dev"] = find_link(links, next_arg(args)).name
        elif a == "src":
            kw["src"] = ipv4(next_arg(args))
        elif a in ("metric", "priority", "preference"):
            v = next_arg(args)
            if not v.isdigit():
                raise invarg('"metric" value is invalid\n', v)
            kw["metric"] = int(v)
        elif a == "mtu":
            v = next_arg(args)
            if v == "lock":
                v = next_arg(args)
            if not v.isdigit():
                raise invarg('"mtu" value is invalid\n', v)
            kw["mtu"] = int(v)
        elif a == "scope":
            s = next_arg(args)
            kw["scope"] = SCOPES.get(s, s)
        elif a in ("proto", "protocol"):
            p = next_arg(args)
            p = PROTOS.get(p, p)
            kw["proto"] = None if p == "boot" else p
        elif a == "table":
            kw["table"] = _table(next_arg(args))
        elif a in ("onlink", "pervasive"):
            pass
        elif a in TYPES and dst is None and rtype == "unicast":
            rtype = a
        else:
            if a == "to":
                a = next_arg(args)
            if dst is not None:
                raise duparg2("to", a)
            _prefix(a)  # syntax only: host bits are the kernel's to refuse ("Invalid prefix ...")
            dst = "default" if a in ("default", "all", "any") else a
    if dst is None:
        raise ToolError('Error: either "to" is duplicate, or "" is a garbage.', 255)
    return Route(dst=dst, type=rtype, **kw)  # type: ignore[arg-type]


def modify(proc: Proc, args: list[str], how: str) -> int:
    ns = proc.ns
    r = parse_route(args, ns.links())
    if how == "del":
        ns.route_del(r)
        return 0
    if how == "change":
        same = [x for x in ns.routes(r.table) if network(x.dst) == network(r.dst)
                and (x.metric or 0) == (r.metric or 0)]
        if not same:
            raise KernelError("RTNETLINK answers: No such file or directory", "ENOENT")
    ns.route_add(r, replace=how != "add")
    return 0


def flush(proc: Proc, args: list[str]) -> int:
    if not args:
        raise ToolError('"ip route flush" requires arguments.', 1)
    links = proc.ns.links()
    f = parse_filter(args, links)
    if f.table in ("main", "all"):  # the kernel's own local table is left alone
        for r in proc.ns.routes("main"):
            if f.wants(r):
                proc.ns.route_del(Route(dst=r.dst, via=r.via, dev=r.dev, metric=r.metric or 0,
                                        type=r.type))
    return 0
