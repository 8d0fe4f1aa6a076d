"""`ip` (iproute2): global options, then one object module per subcommand.

    ip [-br] [-d] [-s] [-4] [-o] [-c] [-n NETNS] OBJECT COMMAND ...

OBJECT is matched by prefix as iproute2 does (`ip a`, `ip addr`, `ip r`, `ip n`, `ip l`).
Each object module (ip_link, ip_addr, ip_route, ip_neigh, ip_netns, ip_xfrm) has `run(proc, opts, args)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from cnmsim.kernel.api import KernelError
from cnmsim.shell.registry import Proc, command

# iproute2 matches objects by prefix in this order (ip.c `cmds[]`)
OBJECTS = [
    ("address", "ip_addr"), ("link", "ip_link"), ("neighbour", "ip_neigh"), ("neighbor", "ip_neigh"),
    ("route", "ip_route"), ("netns", "ip_netns"), ("xfrm", "ip_xfrm"),
]


@dataclass
class IpOpts:
    brief: bool = False
    details: int = 0
    stats: int = 0
    oneline: bool = False
    family: str | None = None
    color: bool = False
    netns: str | None = None
    json: bool = False


USAGE = """Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }
       ip [ -force ] -batch filename
where  OBJECT := { address | addrlabel | amt | fou | help | ila | ioam | l2tp |
                   link | macsec | maddress | monitor | mptcp | mroute | mrule |
                   neighbor | neighbour | netconf | netns | nexthop | ntable |
                   ntbl | route | rule | sr | stats | tap | tcpmetrics |
                   token | tunnel | tuntap | vrf | xfrm }
       OPTIONS := { -V[ersion] | -s[tatistics] | -d[etails] | -r[esolve] |
                    -h[uman-readable] | -iec | -j[son] | -p[retty] |
                    -f[amily] { inet | inet6 | mpls | bridge | link } |
                    -4 | -6 | -M | -B | -0 |
                    -l[oops] { maximum-addr-flush-attempts } | -br[ief] |
                    -o[neline] | -t[imestamp] | -ts[hort] | -b[atch] [filename] |
                    -rc[vbuf] [size] | -n[etns] name | -N[umeric] | -a[ll] |
                    -c[olor]}"""


def parse_globals(args: list[str]) -> tuple[IpOpts, list[str]] | str:
    o = IpOpts()
    while args and args[0].startswith("-") and args[0] != "-":
        a = args.pop(0).lstrip("-")
        if a == "":
            break
        if "brief".startswith(a) and a.startswith("br"):
            o.brief = True
        elif "details".startswith(a):
            o.details += 1
        elif "statistics".startswith(a) or a == "s":
            o.stats += 1
        elif a == "ss":
            o.stats += 2
        elif "oneline".startswith(a):
            o.oneline = True
        elif a == "4":
            o.family = "inet"
        elif a == "6":
            o.family = "inet6"
        elif "color".startswith(a) or a.startswith("color="):
            o.color = False  # no terminal colours in a transcript
        elif "json".startswith(a):
            o.json = True
        elif "netns".startswith(a) and a.startswith("n"):
            if not args:
                return "No netns name specified"
            o.netns = args.pop(0)
        elif "family".startswith(a):
            if not args:
                return 'Option "-f" requires an argument'
            o.family = args.pop(0)
        elif a in ("N", "Numeric", "r", "resolve", "h", "human", "human-readable", "a", "all", "p", "pretty"):
            pass
        elif a in ("V", "Version"):
            return "__version__"
        else:
            return f'Option "-{a}" is unknown, try "ip -help".'
    return o, args


@command("ip")
def ip(proc: Proc) -> Generator[Any, Any, int] | int:
    parsed = parse_globals(list(proc.args))
    if parsed == "__version__":
        proc.out("ip utility, iproute2-6.1.0, libbpf 1.1.0")
        return 0
    if isinstance(parsed, str):
        return proc.fail(parsed, 255)
    opts, args = parsed
    if not args or args[0] == "help":
        proc.err(USAGE)
        return 255
    obj = args.pop(0)
    module = next((m for full, m in OBJECTS if full.startswith(obj)), None)
    if module is None:
        return proc.fail(f'Object "{obj}" is unknown, try "ip help".', 255)
    if opts.netns is not None and module != "ip_netns":
        try:
            ns = proc.place.host.kernel.netns(opts.netns)
        except KernelError as e:
            return proc.fail(str(e), 255)
        proc.place = proc.place.in_ns(ns)
    mod = importlib.import_module(f"cnmsim.apps.{module}")
    try:
        r = mod.run(proc, opts, args)
        if hasattr(r, "send"):
            r = yield from r
        return int(r or 0)
    except KernelError as e:
        return proc.fail(str(e), 2)
