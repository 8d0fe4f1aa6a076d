"""`sysctl` (procps-ng 4.0): read, write and list the namespace's kernel parameters.

Keys are given dotted (`net.ipv4.conf.eth0/10.proxy_arp`) or as paths
(`net/ipv4/conf/eth0.10/proxy_arp`); procps swaps '.' and '/' to go from one to the other, so a
dot inside a device name is written '/' in the dotted form.  The namespace is asked in path form
(`api.Netns.sysctl_get/sysctl_set/sysctl_keys`), which is unambiguous.
"""

from __future__ import annotations

import re

from cnmsim.kernel.api import KernelError
from cnmsim.shell.registry import Proc, command

USAGE = """
Usage:
 sysctl [options] [variable[=value] ...]

Options:
  -a, --all            display all variables
  -A                   alias of -a
  -X                   alias of -a
      --deprecated     include deprecated parameters to listing
      --dry-run        Print the key and values but do not write
  -b, --binary         print value without new line
  -e, --ignore         ignore unknown variables errors
  -N, --names          print variable names without values
  -n, --values         print only values of the given variable(s)
  -p, --load[=<file>]  read values from file
  -f                   alias of -p
      --system         read values from all system directories
  -r, --pattern <expression>
                       select setting that match expression
  -q, --quiet          do not echo variable set
  -w, --write          enable writing a value to variable
  -o                   does nothing
  -x                   does nothing
  -d                   alias of -h

 -h, --help     display this help and exit
 -V, --version  output version information and exit

For more details see sysctl(8)."""
NO_VARS = "sysctl: no variables specified\nTry `sysctl --help' for more information."
LONG = {"all": "a", "values": "n", "names": "N", "ignore": "e", "quiet": "q", "write": "w",
        "binary": "b", "help": "h", "version": "V"}


def slashdot(key: str, old: str, new: str) -> str:
    """procps slashdot(): unless the first separator already is `new`, swap '.' and '/'."""
    m = re.search(r"[./]", key)
    if m is None or m.group() == new:
        return key
    return key.translate(str.maketrans({old: new, new: old}))


class Opts:
    def __init__(self) -> None:
        self.flags: set[str] = set()
        self.pattern: re.Pattern[str] | None = None


def _options(proc: Proc, args: list[str]) -> tuple[Opts, list[str]] | int:
    o, rest = Opts(), []
    while args:
        a = args.pop(0)
        if a.startswith("--"):
            name = a[2:]
            if name == "pattern":
                o.pattern = re.compile(args.pop(0) if args else "")
            elif name in LONG:
                o.flags.add(LONG[name])
            elif name in ("deprecated", "dry-run", "system"):
                o.flags.add(name)
            else:
                proc.err(f"sysctl: unrecognized option '{a}'")
                proc.err(USAGE)
                return 1
        elif a.startswith("-") and len(a) > 1:
            for i, c in enumerate(a[1:]):
                if c == "r":
                    o.pattern = re.compile(a[i + 2:] or (args.pop(0) if args else ""))
                    break
                o.flags.add({"A": "a", "X": "a", "d": "h", "f": "p"}.get(c, c))
        else:
            rest.append(a)
    return o, rest


@command("sysctl")
def sysctl(proc: Proc) -> int:
    parsed = _options(proc, list(proc.args))
    if isinstance(parsed, int):
        return parsed
    o, keys = parsed
    if "h" in o.flags:
        proc.out(USAGE)
        return 0
    if "V" in o.flags:
        proc.out("sysctl from procps-ng 4.0.2")
        return 0
    if "a" in o.flags:
        return show_tree(proc, o, "")
    if not keys:
        return proc.fail(NO_VARS if proc.args else USAGE, 1)
    status = 0
    for key in keys:
        if "=" in key:
            status |= write(proc, o, key)
        elif "w" in o.flags:
            proc.err("sysctl: command line(0): invalid syntax, continuing...")
            status = 1
        else:
            status |= read(proc, o, key)
    return status


def _path(key: str) -> str:
    return slashdot(key.strip(), ".", "/").strip("/")


def _out(o: Opts, proc: Proc, name: str, value: str) -> None:
    if "N" in o.flags:
        proc.out(name)
    elif "n" in o.flags:
        proc.out(value, end="" if "b" in o.flags else "\n")
    else:
        proc.out(f"{name} = {value}")


def _missing(proc: Proc, o: Opts, path: str) -> int:
    if "e" in o.flags:
        return 0
    return proc.fail(f"sysctl: cannot stat /proc/sys/{path}: No such file or directory", 1)


def read(proc: Proc, o: Opts, key: str) -> int:
    path = _path(key)
    keys = proc.ns.sysctl_keys()
    if path not in keys:
        if any(k.startswith(path + "/") for k in keys):
            return show_tree(proc, o, path)  # a directory: everything below it
        return _missing(proc, o, path)
    _out(o, proc, slashdot(path, "/", "."), proc.ns.sysctl_get(path))
    return 0


def write(proc: Proc, o: Opts, arg: str) -> int:
    key, value = arg.split("=", 1)
    path = _path(key)
    if path not in proc.ns.sysctl_keys():
        return _missing(proc, o, path)
    if not value.strip():
        return proc.fail(f'sysctl: setting key "{slashdot(path, "/", ".")}": Invalid argument', 1)
    if "dry-run" not in o.flags:
        try:
            proc.ns.sysctl_set(path, value.strip())
        except KernelError as e:
            return proc.fail(f'sysctl: setting key "{slashdot(path, "/", ".")}": {e}', 1)
    if "q" not in o.flags:
        _out(o, proc, slashdot(path, "/", "."), value.strip())
    return 0


def show_tree(proc: Proc, o: Opts, prefix: str) -> int:
    """`sysctl -a` (or a directory): every key below prefix, each directory read in name order."""
    keys = [k for k in proc.ns.sysctl_keys() if not prefix or k.startswith(prefix + "/")]
    for path in sorted(keys, key=lambda k: k.split("/")):
        name = slashdot(path, "/", ".")
        if o.pattern is not None and not o.pattern.search(name):
            continue
        _out(o, proc, name, proc.ns.sysctl_get(path))
    return 0
