"""The verbs done inside the namespace rather than over rtnetlink: netfilter through Debian's
`iptables-restore`/`iptables-save` and `conntrack`, sysctls through /proc/sys, and IPVS.

Tools run as children of a worker thread that has setns(2)'d into the namespace (a child
inherits its forking thread's namespace), so there is no `ip netns exec`/`nsenter` hop; /proc/sys
is read and written from such a thread too (it shows the thread's namespace).
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
from typing import TYPE_CHECKING

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.kernel.real.nsenter import in_netns
from cnmsim.netfilter.errors import IptablesError

if TYPE_CHECKING:
    from cnmsim.kernel.real.kernel import RealKernel

IPVS_MISSING = ("Can't initialize ipvs: Protocol not available\n"
                "Are you sure that IP Virtual Server is built in the kernel or as module?")
CT_STATUS = ("EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT")
CT_LINE = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(.*)$")
DEV_TREES = ("net/ipv4/conf/", "net/ipv4/neigh/", "net/ipv6/conf/", "net/ipv6/neigh/")


def sysctl_paths(key: str) -> list[str]:
    """/proc/sys paths for a key, as sysctl(8) reads it (dots and slashes swap when the first
    separator is a dot: net.ipv4.conf.eth0/10.proxy_arp), then as the sim stores it (a device
    name keeps its dots: net.ipv4.conf.eth0.10.proxy_arp)."""
    key = key.strip().strip("/")
    seps = [i for i in (key.find("."), key.find("/")) if i >= 0]
    if seps and key[min(seps)] == ".":
        key = key.translate(str.maketrans("./", "/."))
    out = [key]
    parts = key.replace("/", ".").split(".")
    tree = "/".join(parts[:3]) + "/"
    if tree in DEV_TREES and len(parts) > 5:
        out.append(tree + ".".join(parts[3:-1]) + "/" + parts[-1])
    return out


class InNetnsVerbs:
    """Mixin of RealNetns: needs `real_name` and `kernel`."""

    real_name: str
    kernel: RealKernel

    def run(self, argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a tool inside this namespace; (the tool's own errors are the caller's)."""
        return in_netns(self.real_name, subprocess.run, argv, input=stdin, capture_output=True,
                        text=True, timeout=120)

    # ------------------------------------------------------------ netfilter
    def iptables_restore(self, text: str, *, noflush: bool = False, counters: bool = False) -> None:
        argv = ["iptables-restore"] + (["--noflush"] if noflush else []) + (["--counters"] if counters else [])
        r = self.run(argv, text)
        if r.returncode != 0:
            raise IptablesError(r.stderr.rstrip("\n"), r.returncode)

    def iptables_save(self, table: str | None = None, *, counters: bool = False) -> str:
        argv = ["iptables-save"] + (["-t", table] if table else []) + (["-c"] if counters else [])
        r = self.run(argv)
        if r.returncode != 0:
            raise IptablesError(r.stderr.rstrip("\n"), r.returncode)
        return r.stdout

    def conntrack_list(self) -> list[api.Conntrack]:
        """`conntrack -L`, parsed (status: SEEN_REPLY unless [UNREPLIED]; NAT from the tuples)."""
        r = self.run(["conntrack", "-L"])
        if r.returncode != 0:
            raise KernelError(r.stderr.strip(), "EINVAL")
        return [e for line in r.stdout.splitlines() if (e := parse_conntrack(line)) is not None]

    def conntrack_flush(self) -> int:
        """`conntrack -F`; the count is the entries listed just before (the tool prints none)."""
        n = len(self.conntrack_list())
        r = self.run(["conntrack", "-F"])
        if r.returncode != 0:
            raise KernelError(r.stderr.strip(), "EINVAL")
        return n

    # ------------------------------------------------------------ sysctls
    def sysctl_get(self, key: str) -> str:
        paths = sysctl_paths(key)

        def read() -> str | None:
            for p in paths:
                try:
                    with open("/proc/sys/" + p) as f:
                        return f.read().rstrip("\n")
                except FileNotFoundError:
                    continue
            return None

        value = in_netns(self.real_name, read)
        if value is None:
            raise KernelError(f"sysctl: cannot stat /proc/sys/{paths[0]}: No such file or directory", "ENOENT")
        return value

    def sysctl_set(self, key: str, value: str) -> None:
        paths = sysctl_paths(key)
        text = str(value).strip()

        def write() -> OSError | None:
            err: OSError | None = None
            for p in paths:
                try:
                    with open("/proc/sys/" + p, "w") as f:
                        f.write(text)
                    return None
                except FileNotFoundError as e:
                    err = e
                except OSError as e:
                    return e
            return err

        err = in_netns(self.real_name, write)
        if isinstance(err, FileNotFoundError):
            raise KernelError(f"sysctl: cannot stat /proc/sys/{paths[0]}: No such file or directory", "ENOENT")
        if err is not None:
            dotted = paths[0].translate(str.maketrans("./", "/."))
            code = err.errno or errno.EINVAL
            raise KernelError(f'sysctl: setting key "{dotted}": {os.strerror(code)}',
                              errno.errorcode.get(code, "EINVAL"))

    def sysctl_keys(self) -> list[str]:
        """Every key under /proc/sys/net of this namespace, as a /proc/sys path."""

        def walk() -> list[str]:
            out = []
            for root, _dirs, files in os.walk("/proc/sys/net"):
                rel = root[len("/proc/sys/"):]
                out += [f"{rel}/{f}" for f in sorted(files)]
            return out

        return in_netns(self.real_name, walk)

    # ------------------------------------------------------------ IPVS
    def _ipvs(self, *_args: object) -> None:
        from cnmsim.kernel.real.features import probe

        if not probe().ipvs:
            raise KernelError(IPVS_MISSING, "ENOPROTOOPT")
        raise KernelError("IPVS is present, but the real backend does not program it (yet)", "EOPNOTSUPP")

    def ipvs_service_add(self, svc: api.IpvsService) -> None:
        self._ipvs(svc)

    def ipvs_service_edit(self, svc: api.IpvsService) -> None:
        self._ipvs(svc)

    def ipvs_service_del(self, svc: api.IpvsService) -> None:
        self._ipvs(svc)

    def ipvs_dest_add(self, svc: api.IpvsService, dest: api.IpvsDest) -> None:
        self._ipvs(svc, dest)

    def ipvs_dest_edit(self, svc: api.IpvsService, dest: api.IpvsDest) -> None:
        self._ipvs(svc, dest)

    def ipvs_dest_del(self, svc: api.IpvsService, addr: str, port: int) -> None:
        self._ipvs(svc, addr, port)

    def ipvs_services(self) -> list[tuple[api.IpvsService, list[api.IpvsDest]]]:
        self._ipvs()
        return []

    def ipvs_conns(self) -> list[api.IpvsConn]:
        self._ipvs()
        return []

    def ipvs_clear(self) -> None:
        self._ipvs()

    def ipvs_zero(self, svc: api.IpvsService | None = None) -> None:
        self._ipvs(svc)

    def ipvs_timeouts(self) -> tuple[int, int, int]:
        self._ipvs()
        return (0, 0, 0)

    def ipvs_set_timeouts(self, tcp: int, tcpfin: int, udp: int) -> None:
        self._ipvs(tcp, tcpfin, udp)


def _tuple(fields: dict[str, str]) -> api.CtTuple:
    def num(k: str) -> int | None:
        return int(fields[k]) if k in fields else None

    return api.CtTuple(fields.get("src", ""), fields.get("dst", ""), num("sport"), num("dport"),
                       num("type"), num("code"), num("id"))


def parse_conntrack(line: str) -> api.Conntrack | None:
    """One line of `conntrack -L`: `tcp 6 431999 ESTABLISHED src=.. dst=.. sport=.. dport=..
    src=.. dst=.. sport=.. dport=.. [ASSURED] mark=0 use=1`."""
    m = CT_LINE.match(line.strip())
    if m is None:
        return None
    proto, protonum, timeout, rest = m.groups()
    state = None
    dirs: list[dict[str, str]] = []
    flags: set[str] = set()
    mark, use = 0, 1
    for tok in rest.split():
        if tok.startswith("[") and tok.endswith("]"):
            flags.add(tok[1:-1])
        elif "=" in tok:
            k, v = tok.split("=", 1)
            if k == "src":
                dirs.append({})
            if k == "mark":
                mark = int(v)
            elif k == "use":
                use = int(v)
            elif dirs:
                dirs[-1][k] = v
        elif not dirs:
            state = tok
    if len(dirs) < 2:
        return None
    orig, reply = _tuple(dirs[0]), _tuple(dirs[1])
    status = set(flags & {"ASSURED"}) | {"CONFIRMED"}
    if "UNREPLIED" not in flags:
        status.add("SEEN_REPLY")
    if reply.dst != orig.src or (reply.dport is not None and reply.dport != orig.sport):
        status.add("SRC_NAT")
    if reply.src != orig.dst or (reply.sport is not None and reply.sport != orig.dport):
        status.add("DST_NAT")
    return api.Conntrack(proto, int(protonum), int(timeout), orig, reply, state,
                         tuple(s for s in CT_STATUS if s in status), mark, use)
