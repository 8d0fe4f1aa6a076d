"""`nsenter` (util-linux 2.38): run a program in another process's or a bind-mounted namespace.

    nsenter --net=/var/run/docker/netns/ingress_sbox ipvsadm -Ln
    nsenter -n/var/run/docker/netns/lb_ftcp8wy4q iptables -t mangle -S
    nsenter -t 4242 -n ip addr           # the network namespace of PID 4242 (a container)
    nsenter -t 4242 -m -n cat /etc/hosts  # ... and its mount namespace (its files)

Only the network and mount namespaces are modelled; -u -i -p -U -C -T are accepted and change
nothing.  Namespace files: /var/run/docker/netns/<key> (Docker's sandboxes, `default` the host),
/var/run/netns/<name> (`ip netns add`), /proc/<pid>/ns/net.  As util-linux, a long option's
file follows `=` and a short one's is attached (`-nFILE`); a separate word is accepted too when
it is clearly a namespace path (under /var/run, /run or /proc), as tutorials often write it.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

from cnmsim.kernel.api import KernelError
from cnmsim.shell.registry import Proc, command

OTHER = {"m": "mount", "u": "uts", "i": "ipc", "p": "pid", "U": "user", "C": "cgroup", "T": "time"}
NS_PATH = re.compile(r"^/(var/)?run/|^/proc/")
USAGE = """
Usage:
 nsenter [options] [<program> [<argument>...]]

Run a program with namespaces of other processes.

Options:
 -a, --all              enter all namespaces
 -t, --target <pid>     target process to get namespaces from
 -m, --mount[=<file>]   enter mount namespace
 -u, --uts[=<file>]     enter UTS namespace (hostname etc)
 -i, --ipc[=<file>]     enter System V IPC namespace
 -n, --net[=<file>]     enter network namespace
 -p, --pid[=<file>]     enter pid namespace
 -C, --cgroup[=<file>]  enter cgroup namespace
 -U, --user[=<file>]    enter user namespace
 -T, --time[=<file>]    enter time namespace

 -h, --help             display this help
 -V, --version          display version

For more details see nsenter(1)."""


class _Opts:
    def __init__(self) -> None:
        self.target: int | None = None
        self.net: str | None = None  # "" = the target's
        self.mount = False
        self.others: set[str] = set()


def _parse(args: list[str]) -> _Opts | str:
    o = _Opts()
    while args and args[0].startswith("-") and args[0] != "-":
        a = args.pop(0)
        if a == "--":
            break
        if a.startswith("--"):
            name, eq, val = a[2:].partition("=")
            if name == "target":
                if not eq:
                    if not args:
                        return "nsenter: option '--target' requires an argument"
                    val = args.pop(0)
                a = f"-t{val}"
            elif name == "net":
                a = "-n" + (val if eq else (args.pop(0) if args and NS_PATH.match(args[0]) else ""))
            elif name in ("mount", "all") or name in OTHER.values():
                a = {"mount": "-m", "all": "-a"}.get(name, "-" + next(k for k, v in OTHER.items() if v == name))
            elif name in ("help", "version"):
                return name
            else:
                return f"nsenter: unrecognized option '--{name}'"
        flag, rest = a[1], a[2:]
        if flag == "t":
            val = rest or (args.pop(0) if args else "")
            if not val.isdigit():
                return f"nsenter: failed to parse pid: '{val}'" if val else "nsenter: option requires an argument -- 't'"
            o.target = int(val)
        elif flag == "n":
            o.net = rest or (args.pop(0) if args and NS_PATH.match(args[0]) else "")
        elif flag in ("m", "a"):
            o.mount = True
            if flag == "a":
                o.net = o.net if o.net is not None else ""
        elif flag in OTHER:
            o.others.add(flag)
        elif flag in ("h", "V"):
            return "help" if flag == "h" else "version"
        else:
            return f"nsenter: invalid option -- '{flag}'"
    return o


def _container_by_pid(proc: Proc, pid: int) -> Any:
    engine = proc.place.host.engine
    for c in (engine.containers.values() if engine is not None else ()):
        if c.running and c.pid == pid:
            return c
    return None


def _net_file(proc: Proc, path: str) -> tuple[Any, Any] | str:
    """(namespace, container or None) for a namespace file, or the error text."""
    kernel = proc.place.host.kernel
    m = re.fullmatch(r"/proc/(\d+)/ns/net", path)
    if m:
        return _pid_ns(proc, int(m.group(1)))
    m = re.fullmatch(r"/(?:var/)?run/(docker/)?netns/([^/]+)", path)
    if m:
        docker, key = bool(m.group(1)), m.group(2)
        if docker and key == "default":
            return kernel.root, None
        listed = key in kernel.netns_list()  # `ip netns add` names live in /var/run/netns
        if listed != docker:
            try:
                return kernel.netns(key), None
            except KernelError:
                pass
    return f"nsenter: cannot open {path}: No such file or directory"


def _pid_ns(proc: Proc, pid: int) -> tuple[Any, Any] | str:
    c = _container_by_pid(proc, pid)
    if c is not None and c.sandbox is not None:
        return c.sandbox.ns, c
    if pid == 1 or pid == proc.pid:
        return proc.place.host.root, None
    return f"nsenter: cannot open /proc/{pid}/ns/net: No such file or directory"


@command("nsenter")
def run(proc: Proc) -> Generator[Any, Any, int]:
    args = list(proc.args)
    o = _parse(args)
    if o == "help":
        proc.out(USAGE.lstrip("\n"))
        return 0
    if o == "version":
        proc.out("nsenter from util-linux 2.38.1")
        return 0
    if isinstance(o, str):
        proc.err(o)
        proc.err("Try 'nsenter --help' for more information.")
        return 1
    place = proc.place
    if o.net is not None:
        if o.net:
            got = _net_file(proc, o.net)
        elif o.target is not None:
            got = _pid_ns(proc, o.target)
        else:
            return proc.fail("nsenter: neither filename nor target pid supplied for ns/net")
        if isinstance(got, str):
            return proc.fail(got)
        ns, _ = got
        place = place.in_ns(ns)
    elif o.target is None and not o.mount and not o.others:
        return proc.fail("nsenter: no namespace specified")
    if o.mount:
        c = _container_by_pid(proc, o.target) if o.target is not None else None
        if o.target is None:
            return proc.fail("nsenter: neither filename nor target pid supplied for ns/mnt")
        if c is not None and c.place is not None:
            p = c.place
            place = type(place)(place.name, place.host, place.ns, p.files, p.flavour, c, "/")
    argv = args or ["sh"]
    code = yield from proc.run(argv, place, proc.stdin)
    if code == 127 and proc.stderr and proc.stderr[-1].startswith(f"sh: {argv[0]}: not found"):
        proc.stderr[-1] = f"nsenter: failed to execute {argv[0]}: No such file or directory\n"
    return code
