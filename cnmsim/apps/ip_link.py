"""`ip link`: show, add (veth, bridge, dummy, vxlan, macvlan, vlan), set and delete links.

Parsing follows iproute2 6.1 (iplink.c) and its exit statuses; the work is done by the
`api.Netns` verbs and the output is formatted from `api.LinkInfo` records (ip_linkfmt.py).
"""

from __future__ import annotations

from cnmsim.apps import ip_linkfmt as fmt
from cnmsim.apps.iputil import (
    ToolError,
    check_mac,
    duparg2,
    find_link,
    guarded,
    invarg,
    ipv4,
    matches,
    next_arg,
    on_off,
    uint,
)
from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.shell.registry import Proc

VXLAN_USAGE = """Usage: ... vxlan id VNI
\t\t[ { group | remote } IP_ADDRESS ]
\t\t[ local ADDR ]
\t\t[ ttl TTL ]
\t\t[ tos TOS ]
\t\t[ df DF ]
\t\t[ flowlabel LABEL ]
\t\t[ dev PHYS_DEV ]
\t\t[ dstport PORT ]
\t\t[ srcport MIN MAX ]
\t\t[ [no]learning ]
\t\t[ [no]proxy ]
\t\t[ [no]rsc ]
\t\t[ [no]l2miss ]
\t\t[ [no]l3miss ]
\t\t[ ageing SECONDS ]
\t\t[ maxaddress NUMBER ]
\t\t[ [no]udpcsum ]
\t\t[ [no]udp6zerocsumtx ]
\t\t[ [no]udp6zerocsumrx ]
\t\t[ [no]remcsumtx ] [ [no]remcsumrx ]
\t\t[ [no]external ] [ gbp ] [ gpe ]
\t\t[ [no]vnifilter ]

Where:\tVNI\t:= 0-16777215
\tADDR\t:= { IP_ADDRESS | any }
\tTOS\t:= { NUMBER | inherit }
\tTTL\t:= { 1..255 | auto | inherit }
\tDF\t:= { unset | set | inherit }
\tLABEL := 0-1048575"""
MACVLAN_MODES = ("private", "vepa", "bridge", "passthru", "source")
KINDS = ("veth", "bridge", "dummy", "vxlan", "macvlan", "vlan")


def run(proc: Proc, opts, args: list[str]) -> int:  # noqa: ANN001
    cmd = args.pop(0) if args else "show"
    if matches(cmd, "add"):
        return guarded(proc, lambda: add(proc, args))
    if matches(cmd, "set") or matches(cmd, "change"):
        return guarded(proc, lambda: set_link(proc, args))
    if matches(cmd, "delete"):
        return guarded(proc, lambda: delete(proc, args))
    if matches(cmd, "show") or matches(cmd, "lst") or matches(cmd, "list"):
        return guarded(proc, lambda: show(proc, opts, args))
    return proc.fail(f'Command "{cmd}" is unknown, try "ip link help".', 255)


# ---------------------------------------------------------------- show
def show(proc: Proc, opts, args: list[str]) -> int:  # noqa: ANN001
    links = proc.ns.links()
    ctx = fmt.Links(links)
    dev = master = kind = None
    only_up = False
    while args:
        a = args.pop(0)
        if a == "up":
            only_up = True
        elif a == "master":
            master = next_arg(args)
            if ctx.get(master) is None:
                raise invarg("Device does not exist\n", master)
        elif a == "type":
            kind = next_arg(args)
        else:
            if a == "dev":
                a = next_arg(args)
            if dev is not None:
                raise duparg2("dev", a)
            dev = a
    if dev is not None and ctx.get(dev) is None:
        raise ToolError(f'Device "{dev}" does not exist.', 1)
    for li in links:
        if dev is not None and li.name != dev or only_up and not li.up:
            continue
        if master is not None and li.master != master:
            continue
        if kind is not None and not (li.kind == kind or kind == "bridge_slave" and li.master):
            continue
        if opts.brief:
            proc.out(fmt.brief(li, ctx))
            continue
        lines = fmt.link_block(li, ctx, opts.details, opts.stats)
        if opts.oneline:
            proc.out("\\".join(lines).replace("\n", "\\"))
        else:
            proc.out("\n".join(lines))
    return 0


# ---------------------------------------------------------------- add
def _common(proc: Proc, args: list[str], o: dict[str, object]) -> list[str]:
    """The generic part of `ip link add` (name, link, address, mtu, netns); returns the rest."""
    while args:
        a = args.pop(0)
        if a == "type":
            o["type"] = next_arg(args)
            return args
        if a in ("name", "dev"):
            o["name"] = next_arg(args)
        elif a == "link":
            o["link"] = next_arg(args)
        elif a == "address":
            o["address"] = check_mac(next_arg(args))
        elif a == "mtu":
            o["mtu"] = uint(next_arg(args), "mtu")
        elif a == "netns":
            o["netns"] = _netns(proc, next_arg(args))
        elif a in ("txqueuelen", "qlen", "numtxqueues", "numrxqueues"):
            next_arg(args)
        elif a in ("up", "down"):
            o["up"] = a == "up"
        else:
            if "name" in o:
                raise duparg2("dev", a)
            o["name"] = a
    return []


def _netns(proc: Proc, name: str) -> str:
    try:
        proc.place.host.kernel.netns(name)
    except KernelError:
        raise invarg('Invalid "netns" value\n', name) from None
    return name


def _free_name(used: set[str], kind: str) -> str:
    """rtnl_create_link() names an unnamed link `KIND%d`."""
    return next(f"{kind}{i}" for i in range(len(used) + 1) if f"{kind}{i}" not in used)


def add(proc: Proc, args: list[str]) -> int:
    ns = proc.ns
    links = ns.links()
    o: dict[str, object] = {}
    rest = _common(proc, args, o)
    if "type" not in o:
        raise ToolError('Not enough information: "type" argument is required', 1)
    parent = str(o["link"]) if "link" in o else None
    if parent is not None:
        find_link(links, parent)
    spec = _spec(proc, str(o["type"]), o.get("name"), parent, rest, links)
    ns.link_add(spec)
    extra = {k: o[k] for k in ("mtu", "address") if k in o}
    if extra:
        ns.link_set(spec.name, **extra)  # type: ignore[arg-type]
    if "netns" in o:
        ns.link_set(spec.name, netns=str(o["netns"]))
    if o.get("up"):
        proc.place.host.kernel.netns(str(o.get("netns", ns.name))).link_set(spec.name, up=True)
    return 0


def _spec(proc: Proc, kind: str, name: object, parent: str | None, rest: list[str],
          links: list[api.LinkInfo]) -> api.LinkKind:
    """The api link spec of `type KIND ARGS`; an unnamed link is called KIND%d."""
    used = {li.name for li in links}
    if kind == "veth":
        return _veth(proc, name, rest, used)
    name = str(name or _free_name(used, kind))
    if kind == "bridge":
        return _bridge(name, rest)
    if kind == "dummy":
        return api.Dummy(name)
    if kind == "vxlan":
        return _vxlan(name, rest, links)
    if kind == "macvlan":
        return _macvlan(name, parent, rest)
    if kind == "vlan":
        return _vlan(name, parent, rest)
    raise KernelError("Error: Unknown device type.", "EOPNOTSUPP")


def _macvlan(name: str, parent: str | None, rest: list[str]) -> api.Macvlan:
    mode = "vepa"  # the kernel's default
    while rest:
        a = rest.pop(0)
        if a != "mode":
            raise ToolError(f'macvlan: unknown option "{a}"?', 1)
        mode = next_arg(rest)
        if mode not in MACVLAN_MODES:
            raise ToolError('Error: argument of "mode" must be "private", "vepa", "bridge", '
                            f'"passthru" or "source", not "{mode}"', 1)
    if parent is None:
        raise KernelError("RTNETLINK answers: Invalid argument", "EINVAL")
    return api.Macvlan(name, parent, mode)


def _veth(proc: Proc, name: object, rest: list[str], used: set[str]) -> api.Veth:
    """The peer registers first, so an unnamed peer takes the first free vethN, then an unnamed
    device the next one."""
    peer: dict[str, object] = {}
    if rest:
        if rest.pop(0) != "peer":
            raise duparg2("dev", rest[0] if rest else "peer")
        _common(proc, rest, peer)
    if "name" not in peer:
        peer["name"] = _free_name(used | ({str(name)} if name else set()), "veth")
    if not name:
        name = _free_name(used | {str(peer["name"])}, "veth")
    return api.Veth(str(name), str(peer["name"]), str(peer["netns"]) if "netns" in peer else None)


def _bridge(name: str, rest: list[str]) -> api.Bridge:
    ageing, vf = 300.0, False
    while rest:
        a = rest.pop(0)
        if a == "ageing_time":
            ageing = uint(next_arg(rest), "ageing_time") / 100
        elif a == "vlan_filtering":
            vf = uint(next_arg(rest), "vlan_filtering") != 0
        else:
            raise ToolError(f'bridge: unknown command "{a}"?', 1)
    return api.Bridge(name, ageing_time=ageing, vlan_filtering=vf)


def _vxlan(name: str, rest: list[str], links: list[api.LinkInfo]) -> api.Vxlan:
    o: dict[str, object] = {}
    while rest:
        a = rest.pop(0)
        if a in ("id", "vni"):
            v = next_arg(rest)
            if not v.isdigit() or int(v) > 16777215:
                raise invarg("invalid id", v)
            o["vni"] = int(v)
        elif a == "local":
            o["local"] = ipv4(next_arg(rest))
        elif a == "dev":
            o["dev"] = find_link(links, next_arg(rest)).name
        elif a in ("dstport", "port"):
            o["dstport"] = uint(next_arg(rest), "dstport", 65535)
        elif a in ("learning", "nolearning"):
            o["learning"] = a == "learning"
        elif a in ("proxy", "l2miss", "l3miss"):
            o[a] = True
        elif a in ("noproxy", "nol2miss", "nol3miss"):
            o[a[2:]] = False
        elif a in ("ttl", "tos", "ageing", "df", "flowlabel", "maxaddress"):
            next_arg(rest)
        elif a in ("udpcsum", "noudpcsum", "udp6zerocsumtx", "noudp6zerocsumtx",
                   "udp6zerocsumrx", "noudp6zerocsumrx"):
            pass
        else:
            raise ToolError(f'vxlan: unknown command "{a}"?\n{VXLAN_USAGE}', 1)
    if "vni" not in o:
        raise KernelError("Error: Required attributes not provided to perform the operation.", "EINVAL")
    return api.Vxlan(name, **o)  # type: ignore[arg-type]


def _vlan(name: str, parent: str | None, rest: list[str]) -> api.Vlan:
    vid = None
    while rest:
        a = rest.pop(0)
        if a == "id":
            v = next_arg(rest)
            if not v.isdigit() or int(v) > 65535:
                raise invarg("id is invalid", v)
            vid = int(v)
        elif a == "protocol":
            p = next_arg(rest)
            if p.lower() not in ("802.1q", "802.1ad"):
                raise ToolError(f'Error: argument "{p}" is wrong: protocol is invalid', 255)
        else:
            raise ToolError(f'vlan: unknown command "{a}"?', 1)
    # vlan_newlink()/vlan_validate() refusals, with the module's extack prefix
    if vid is None:
        raise KernelError("Error: 8021q: VLAN id not specified.", "EINVAL")
    if parent is None:
        raise KernelError("Error: 8021q: link not specified.", "EINVAL")
    if vid >= 4095:
        raise KernelError("Error: 8021q: Invalid VLAN id.", "ERANGE")
    return api.Vlan(name, parent, vid)


# ---------------------------------------------------------------- set / delete
def set_link(proc: Proc, args: list[str]) -> int:
    if not args:
        raise ToolError('Not enough information: "dev" argument is required.', 255)
    links = proc.ns.links()
    kw: dict[str, object] = {}
    dev: str | None = None
    while args:
        a = args.pop(0)
        if a in ("up", "down"):
            kw["up"] = a == "up"
        elif a == "master":
            m = next_arg(args)
            if not any(li.name == m for li in links):
                raise invarg("Device does not exist\n", m)
            kw["master"] = m
        elif a == "nomaster":
            kw["nomaster"] = True
        elif a == "netns":
            kw["netns"] = _netns(proc, next_arg(args))
        elif a == "mtu":
            kw["mtu"] = uint(next_arg(args), "mtu")
        elif a == "address":
            kw["address"] = check_mac(next_arg(args))
        elif a == "name":
            kw["rename"] = next_arg(args)
        elif a == "promisc":
            kw["promisc"] = on_off("promisc", next_arg(args))
        elif a in ("txqueuelen", "qlen", "alias"):
            next_arg(args)
        elif a in ("arp", "multicast", "allmulticast", "dynamic", "trailers", "carrier"):
            on_off(a, next_arg(args))
        elif a == "type" and args[:1] == ["bridge_slave"]:
            args.pop(0)
            while args:
                k = args.pop(0)
                if k != "hairpin":
                    raise ToolError(f'bridge_slave: unknown option "{k}"?', 1)
                kw["hairpin"] = on_off("hairpin", next_arg(args))
        else:
            if a == "dev":
                a = next_arg(args)
            if dev is not None:
                raise duparg2("dev", a)
            dev = a
    if dev is None:
        raise ToolError('Not enough information: "dev" argument is required.', 255)
    find_link(links, dev)
    if kw:
        proc.ns.link_set(dev, **kw)  # type: ignore[arg-type]
    return 0


def delete(proc: Proc, args: list[str]) -> int:
    dev = None
    while args:
        a = args.pop(0)
        if a == "type":
            next_arg(args)
            continue
        if a == "dev":
            a = next_arg(args)
        if dev is not None:
            raise duparg2("dev", a)
        dev = a
    if dev is None:
        raise ToolError('Not enough information: "dev" argument is required.', 255)
    find_link(proc.ns.links(), dev)
    proc.ns.link_del(dev)
    return 0
