"""`bridge fdb|link` (iproute2 6.1) and `brctl` (bridge-utils 1.7.1), formatted from records.

`bridge` exits 255 on every error, including the kernel's (`RTNETLINK answers: ...`); brctl
exits 1 and prints its usage on stdout.

`bridge link show` takes `dev DEV` and skips any other word; in 6.1 that includes `master BR`,
so every port is listed (checked against the real 6.1 binary).  iproute2 6.5 added the `master`
filter (commit "bridge: link: allow filtering on bridge name"): set IPROUTE2 = (6, 5) for it.
"""

from __future__ import annotations

from collections.abc import Callable

from cnmsim.apps import ip_linkfmt as fmt
from cnmsim.apps.iputil import ToolError, check_mac, ipv4, matches, next_arg, on_off
from cnmsim.kernel import api
from cnmsim.kernel.api import Fdb, KernelError
from cnmsim.shell.registry import Proc, command

USAGE = """Usage: bridge [ OPTIONS ] OBJECT { COMMAND | help }
       bridge [ -force ] -batch filename
where  OBJECT := { link | fdb | mdb | vlan | monitor }
       OPTIONS := { -V[ersion] | -s[tatistics] | -d[etails] |
                    -o[neline] | -t[imestamp] | -n[etns] name |
                    -c[ompressvlans] -color -p[retty] -j[son] }"""
IPROUTE2 = (6, 1)  # the version whose behaviour `bridge` follows (Debian 12's)
PORT_DETAILS = ("    hairpin {hairpin} guard off root_block off fastleave off learning on flood on "
                "mcast_flood on bcast_flood on mcast_router 1 mcast_to_unicast off neigh_suppress off "
                "vlan_tunnel off isolated off locked off ")


@command("bridge")
def bridge(proc: Proc) -> int:
    args = list(proc.args)
    details = stats = 0
    while args and args[0].startswith("-"):
        a = args.pop(0).lstrip("-")
        if "details".startswith(a):
            details += 1
        elif "statistics".startswith(a):
            stats += 1
        elif "netns".startswith(a) and a:
            try:
                proc.place = proc.place.in_ns(proc.place.host.kernel.netns(next_arg(args)))
            except (KernelError, ToolError) as e:
                return proc.fail(str(e), 255)
        elif a in ("j", "json", "p", "pretty", "c", "color", "compressvlans", "o", "oneline"):
            pass
        else:
            return proc.fail(f'Option "-{a}" is unknown, try "bridge help".', 255)
    if not args:
        return proc.fail(USAGE, 255)
    obj = args.pop(0)
    run: Callable[[], int]
    if matches(obj, "fdb"):
        run = lambda: fdb(proc, args, stats)  # noqa: E731
    elif matches(obj, "link"):
        run = lambda: link(proc, args, details)  # noqa: E731
    else:
        return proc.fail(f'Object "{obj}" is unknown, try "bridge help".', 255)
    try:
        return run()
    except (ToolError, KernelError) as e:
        return proc.fail(str(e), 255)


# ---------------------------------------------------------------- bridge fdb
def fdb_line(f: Fdb, show_dev: bool) -> str:
    """print_fdb(): fields each followed by a space, the state last."""
    s = f"{f.mac} "
    if show_dev:
        s += f"dev {f.dev} "
    if f.dst:
        s += f"dst {f.dst} "
    if f.vlan is not None:
        s += f"vlan {f.vlan} "
    if f.vni is not None:
        s += f"vni {f.vni} "
    if f.self_:
        s += "self "
    if f.master:
        s += f"master {f.master} "
    return s + f.state


def fdb(proc: Proc, args: list[str], stats: int) -> int:
    cmd = args.pop(0) if args else "show"
    if matches(cmd, "show") or matches(cmd, "list") or matches(cmd, "lst"):
        return fdb_show(proc, args)
    for verb in ("add", "append", "delete", "replace"):
        if matches(cmd, verb):
            return fdb_modify(proc, args, verb)
    raise ToolError(f'Command "{cmd}" is unknown, try "bridge fdb help".', 255)


def fdb_show(proc: Proc, args: list[str]) -> int:
    links = {li.name: li for li in proc.ns.links()}
    br = dev = None
    while args:
        a = args.pop(0)
        if a == "br":
            br = next_arg(args)
            if br not in links:
                raise ToolError(f'Cannot find bridge device "{br}"', 255)
        elif a in ("dev", "brport"):
            dev = next_arg(args)
            if dev not in links:
                raise ToolError(f'Cannot find device "{dev}"', 255)
        elif a in ("vlan", "state"):
            next_arg(args)
    for f in proc.ns.fdbs():
        if dev is not None and f.dev != dev:
            continue
        if br is not None and f.dev != br and links[f.dev].master != br:
            continue
        proc.out(fdb_line(f, dev is None))
    return 0


def fdb_modify(proc: Proc, args: list[str], verb: str) -> int:
    mac = dev = dst = None
    kw: dict[str, object] = {"state": "permanent"}
    master = self_ = False
    while args:
        a = args.pop(0)
        if a == "dev":
            dev = next_arg(args)
        elif a == "dst":
            dst = ipv4(next_arg(args))
        elif a == "vlan":
            kw["vlan"] = int(next_arg(args))
        elif a == "vni":
            kw["vni"] = int(next_arg(args))
        elif a == "master":
            master = True
        elif a == "self":
            self_ = True
        elif a in ("local", "permanent"):
            kw["state"] = "permanent"
        elif a in ("static", "temp"):
            kw["state"] = "static"
        elif a == "dynamic":
            kw["state"] = ""
        elif a in ("router", "use", "extern_learn", "sticky"):
            pass
        elif a in ("port", "via", "src_vni", "nhid"):
            next_arg(args)
        else:
            if mac is not None:
                raise ToolError(f'Error: either "dev" is duplicate, or "{a}" is a garbage.', 255)
            mac = a
    if mac is None or dev is None:
        raise ToolError("Device and address are required arguments.", 255)
    try:
        mac = check_mac(mac)
    except ToolError:
        raise ToolError(f"Invalid mac address {mac}", 255) from None
    links = proc.ns.links()
    li = next((x for x in links if x.name == dev), None)
    if li is None:
        raise ToolError(f'Cannot find device "{dev}"', 255)
    if not master and not self_:
        self_ = True  # iproute2: "Assume self"
    entry = api.Fdb(mac, dev, master=li.master if master else None, dst=dst, self_=self_,
                    **kw)  # type: ignore[arg-type]
    if verb == "delete":
        proc.ns.fdb_del(entry)
        return 0
    if verb == "replace":
        try:
            proc.ns.fdb_del(entry)
        except KernelError:
            pass
    proc.ns.fdb_add(entry, append=verb == "append")
    return 0


# ---------------------------------------------------------------- bridge link
def link(proc: Proc, args: list[str], details: int) -> int:
    cmd = args.pop(0) if args else "show"
    links = proc.ns.links()
    if matches(cmd, "set") or matches(cmd, "change"):
        dev, kw = None, {}
        while args:
            a = args.pop(0)
            if a == "dev":
                dev = next_arg(args)
            elif a == "hairpin":
                kw["hairpin"] = on_off("hairpin", next_arg(args))
            else:
                next_arg(args)
        if dev is None or not any(li.name == dev for li in links):
            raise ToolError(f'Cannot find device "{dev}"', 255)
        if not any(li.name == dev and li.master for li in links):
            raise KernelError("RTNETLINK answers: Operation not supported", "EOPNOTSUPP")
        proc.ns.link_set(dev, **kw)
        return 0
    if not (matches(cmd, "show") or matches(cmd, "list") or matches(cmd, "lst")):
        raise ToolError(f'Command "{cmd}" is unknown, try "bridge link help".', 255)
    dev, master = link_show_filters(args)
    for name in (dev, master):
        if name is not None and not any(li.name == name for li in links):
            raise ToolError(f'Cannot find device "{name}"', 255)
    ctx = fmt.Links(links)
    for li in links:
        if li.master is None or dev is not None and li.name != dev:
            continue
        if master is not None and li.master != master:
            continue
        # bridge/link.c resolves IFLA_LINK in this namespace, even for a peer elsewhere
        at = ""
        if li.link_ifindex is not None:
            other = ctx.by_index.get(li.link_ifindex)
            at = "@" + (other.name if other else f"if{li.link_ifindex}")
        flags = fmt.flag_names(li)
        if li.up and fmt.operstate(li, ctx) not in ("UP", "UNKNOWN"):
            flags.insert(0, "NO-CARRIER")
        other = ctx.by_index.get(li.link_ifindex) if li.link_ifindex is not None else None
        if other is not None and not other.up:
            flags.append("M-DOWN")
        proc.out(f"{li.ifindex}: {li.name}{at}: <{','.join(flags)}> mtu {li.mtu} master {li.master} "
                 f"state {fmt.port_state(li, ctx)} priority 32 cost {li.details.get('cost', 100)} ")
        if details:
            proc.out(PORT_DETAILS.format(hairpin=fmt._onoff(li.details.get("hairpin"))))
    return 0


def link_show_filters(args: list[str]) -> tuple[str | None, str | None]:
    """brlink_show()'s loop: `dev DEV` (and from 6.5 `master DEV`), each once; other words skipped."""
    found: dict[str, str] = {}
    keys = ("dev", "master") if IPROUTE2 >= (6, 5) else ("dev",)
    while args:
        a = args.pop(0)
        if a in keys:
            value = next_arg(args)
            if a in found:
                raise ToolError(f'Error: duplicate "{a}": "{value}" is the second value.', 255)
            found[a] = value
    return found.get("dev"), found.get("master")


# ---------------------------------------------------------------- brctl
BRCTL_CMDS = [
    ("addbr", "<bridge>\t\tadd bridge", 1), ("delbr", "<bridge>\t\tdelete bridge", 1),
    ("addif", "<bridge> <device>\tadd interface to bridge", 2),
    ("delif", "<bridge> <device>\tdelete interface from bridge", 2),
    ("hairpin", "<bridge> <port> {on|off}\tturn hairpin on/off", 3),
    ("setageing", "<bridge> <time>\t\tset ageing time", 2),
    ("setbridgeprio", "<bridge> <prio>\t\tset bridge priority", 2),
    ("setfd", "<bridge> <time>\t\tset bridge forward delay", 2),
    ("sethello", "<bridge> <time>\t\tset hello time", 2),
    ("setmaxage", "<bridge> <time>\t\tset max message age", 2),
    ("setpathcost", "<bridge> <port> <cost>\tset path cost", 3),
    ("setportprio", "<bridge> <port> <prio>\tset port priority", 3),
    ("show", "[ <bridge> ]\t\tshow a list of bridges", 0),
    ("showmacs", "<bridge>\t\tshow a list of mac addrs", 1),
    ("showstp", "<bridge>\t\tshow bridge stp info", 1),
    ("stp", "<bridge> {on|off}\tturn stp on/off", 2),
]


def brctl_usage() -> str:
    return "Usage: brctl [commands]\ncommands:\n" + "\n".join(
        f"\t{name:<10}\t{help_}" for name, help_, _ in BRCTL_CMDS)


@command("brctl")
def brctl(proc: Proc) -> int:
    args = list(proc.args)
    if not args:
        proc.out(brctl_usage())
        return 1
    cmd = args.pop(0)
    spec = next((c for c in BRCTL_CMDS if c[0] == cmd), None)
    if spec is None:
        proc.err(f"never heard of command [{cmd}]")
        proc.out(brctl_usage())
        return 1
    if len(args) < spec[2]:
        proc.out(f"Incorrect number of arguments for command\nUsage: brctl {cmd} {spec[1]}")
        return 1
    links = {li.name: li for li in proc.ns.links()}
    bridges = sorted(n for n, li in links.items() if li.kind == "bridge")
    ns = proc.ns
    if cmd == "show":
        return brctl_show(proc, args or bridges, links)
    br = args[0]
    if cmd == "showmacs":
        if br not in bridges:
            return proc.fail("read of forward table failed: No such device")
        return showmacs(proc, br, links)
    if cmd == "addbr":
        if br in links:
            return proc.fail(f"device {br} already exists; can't create bridge with the same name")
        ns.link_add(api.Bridge(br))
        return 0
    if cmd == "delbr":
        if br not in bridges:
            return proc.fail(f"bridge {br} doesn't exist; can't delete it")
        if links[br].up:
            return proc.fail(f"bridge {br} is still up; can't delete it")
        ns.link_del(br)
        return 0
    if cmd in ("addif", "delif", "hairpin"):
        port = args[1]
        if br not in bridges:
            return proc.fail(f"bridge {br} does not exist!")
        if port not in links:
            return proc.fail(f"interface {port} does not exist!")
        if cmd == "addif":
            if links[port].kind == "bridge":
                return proc.fail(f"device {port} is a bridge device itself; can't enslave a bridge "
                                 "device to a bridge device.")
            if links[port].master is not None:
                return proc.fail(f"device {port} is already a member of a bridge; "
                                 f"can't add it to bridge {br}.")
            ns.link_set(port, master=br)
        elif links[port].master != br:
            return proc.fail(f"device {port} is not a port of {br}")
        elif cmd == "delif":
            ns.link_set(port, nomaster=True)
        else:
            ns.link_set(port, hairpin=args[2] == "on")
        return 0
    return proc.fail(f"{cmd}: not supported by the simulator")


def brctl_show(proc: Proc, names: list[str], links: dict[str, api.LinkInfo]) -> int:
    status, header = 0, False
    for name in names:
        li = links.get(name)
        if li is None or li.kind != "bridge":
            proc.err(f"bridge {name} does not exist!")
            status = 1
            continue
        if not header:
            proc.out("bridge name\tbridge id\t\tSTP enabled\tinterfaces")
            header = True
        bid = str(li.details.get("bridge_id", li.mac)).replace(":", "")
        ports = sorted(p.name for p in links.values() if p.master == name)
        proc.out(f"{name}\t\t8000.{bid}\tno\t\t" + "\n\t\t\t\t\t\t\t".join(ports))
    if not names:
        proc.out("bridge name\tbridge id\t\tSTP enabled\tinterfaces")
    return status


def showmacs(proc: Proc, br: str, links: dict[str, api.LinkInfo]) -> int:
    """br_fdb_fillbuf(): every entry that has a port, sorted by MAC; local and static ones age 0."""
    proc.out("port no\tmac addr\t\tis local?\tageing timer")
    rows = [f for f in proc.ns.fdbs() if f.master == br and f.dev != br and not f.self_]
    for f in sorted(rows, key=lambda f: f.mac):
        no = int(links[f.dev].details.get("port_no", 1))  # type: ignore[call-overload]
        local = "yes" if f.state == "permanent" else "no"
        proc.out(f"{no:3d}\t{f.mac}\t{local}\t\t{fmt.timer(f.age or 0.0)}")
    return 0
