"""One lab host on the real kernel: a root namespace plus the namespaces created on it.

A namespace is made the way `ip netns add` makes it, but in-process: a short worker thread
unshare(CLONE_NEWNET)s itself, bind-mounts /proc/thread-self/ns/net on /var/run/netns/NAME,
sets the namespace up (IPv6 off: cnmsim models an IPv4-only kernel; bridge-nf-call-* 0, as on
a host where no engine loaded br_netfilter yet) and opens the netlink socket the namespace's
pyroute2 handle will use.  No process is forked, no tool is run.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

from cnmsim.kernel.api import KernelError
from cnmsim.kernel.real.clean import kill_pids, remove_netns, require_root
from cnmsim.kernel.real.netns import RealNetns
from cnmsim.kernel.real.nsenter import NETNS_RUN_DIR, netns_path

CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_SHARED = 4096, 16384, 1 << 20
NETLINK_ROUTE = 0
BOOT_SYSCTLS = {  # written in every new namespace (absent keys are skipped)
    "net/ipv6/conf/all/disable_ipv6": "1",
    "net/ipv6/conf/default/disable_ipv6": "1",
    "net/bridge/bridge-nf-call-iptables": "0",
    "net/bridge/bridge-nf-call-ip6tables": "0",
    "net/bridge/bridge-nf-call-arptables": "0",
}
_libc = ctypes.CDLL(None, use_errno=True)
_rundir_lock = threading.Lock()
_rundir_ready = False


def _oserror(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def _prepare_rundir() -> None:
    """As iproute2 does once: make /var/run/netns a shared mount (bind it on itself first)."""
    global _rundir_ready
    with _rundir_lock:
        if _rundir_ready:
            return
        os.makedirs(NETNS_RUN_DIR, exist_ok=True)
        run = NETNS_RUN_DIR.encode()
        if _libc.mount(b"", run, b"none", MS_SHARED | MS_REC, None) != 0:
            if _libc.mount(run, run, b"none", MS_BIND | MS_REC, None) != 0:
                raise _oserror("mount --bind " + NETNS_RUN_DIR)
            if _libc.mount(b"", run, b"none", MS_SHARED | MS_REC, None) != 0:
                raise _oserror("mount --make-shared " + NETNS_RUN_DIR)
        _rundir_ready = True


def _unshare_and_mount(path: str) -> socket.socket:
    """Runs on a worker thread: new netns, bound to `path`, set up; its netlink socket."""
    if _libc.unshare(CLONE_NEWNET) != 0:
        raise _oserror("unshare(CLONE_NEWNET)")
    if _libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None) != 0:
        raise _oserror(f"mount --bind {path}")
    for key, value in BOOT_SYSCTLS.items():
        try:
            with open(f"/proc/sys/{key}", "w") as f:
                f.write(value)
        except FileNotFoundError:
            pass
    return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)


def create_netns(real_name: str) -> socket.socket:
    """`ip netns add REAL_NAME`; returns a netlink socket living in the new namespace."""
    _prepare_rundir()
    path = netns_path(real_name)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except FileExistsError:
        raise KernelError(f'Cannot create namespace file "{path}": File exists', "EEXIST") from None
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["sock"] = _unshare_and_mount(path)
        except BaseException as e:  # handed back to the caller's thread
            box["error"] = e

    t = threading.Thread(target=work, name=f"netns-add:{real_name}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        remove_netns(real_name)
        raise box["error"]  # type: ignore[misc]
    return box["sock"]  # type: ignore[return-value]


class RealKernel:
    """Implements `cnmsim.kernel.api.Kernel` for one lab host over real namespaces."""

    def __init__(self, prefix: str, hostname: str) -> None:
        require_root()
        self.prefix = prefix
        self.hostname = hostname
        self.namespaces: dict[str, RealNetns] = {}
        self.listed: set[str] = set()  # names `ip netns list` shows (the sim's semantics)
        self.created: list[str] = []  # every real name made, for close()
        self.closed = False
        try:
            self.root = self._make("")
            self.root.link_set("lo", up=True)  # a booted host has lo up
        except BaseException:
            self.close()
            raise

    def real_name(self, name: str) -> str:
        """PREFIX + hostname [+ "." + name] (a "/" in a name, never a file name, becomes "_")."""
        return f"{self.prefix}{self.hostname}" + (f".{name.replace('/', '_')}" if name else "")

    def _make(self, name: str) -> RealNetns:
        real = self.real_name(name)
        sock = create_netns(real)
        self.created.append(real)
        return RealNetns(self, name, real, sock)

    # ------------------------------------------------------------ api.Kernel
    def netns_add(self, name: str, listed: bool = True) -> RealNetns:
        """`ip netns add NAME` (listed) or a sandbox the engine creates (not listed)."""
        if name in self.namespaces or not name or name == "/":
            raise KernelError(f'Cannot create namespace file "/var/run/netns/{name}": File exists', "EEXIST")
        ns = self.namespaces[name] = self._make(name)
        if listed:
            self.listed.add(name)
        return ns

    def netns_del(self, name: str) -> None:
        """Delete the namespace; its devices go first, synchronously, as the sim does (the
        kernel would destroy them asynchronously, a veth peer elsewhere a moment later)."""
        ns = self.netns(name)
        if ns is self.root:
            raise KernelError('Cannot remove namespace file "/var/run/netns/": Device or resource busy', "EBUSY")
        ns.delete_links()
        ns.close()
        remove_netns(ns.real_name)
        self.created.remove(ns.real_name)
        del self.namespaces[name]
        self.listed.discard(name)
        for other in self.all_namespaces():
            other.forget_peer(ns)

    def netns(self, name: str | None) -> RealNetns:
        if name in ("", "/", None):
            return self.root
        try:
            return self.namespaces[name]
        except KeyError:
            raise KernelError(f'Cannot open network namespace "{name}": No such file or directory', "ENOENT") from None

    def netns_list(self) -> list[str]:
        return [n for n in reversed(list(self.namespaces)) if n in self.listed]

    def real_names(self) -> list[str]:
        """The /var/run/netns names of this host's namespaces (root first)."""
        return list(self.created)

    def all_namespaces(self) -> list[RealNetns]:
        return [self.root, *self.namespaces.values()]

    def by_real_name(self, real: str) -> RealNetns | None:
        return next((ns for ns in self.all_namespaces() if ns.real_name == real), None)

    def close(self) -> None:
        """Delete every namespace this kernel created (processes still inside are killed)."""
        if self.closed:
            return
        self.closed = True
        handles = list(self.namespaces.values())
        if "root" in self.__dict__:  # (absent when the constructor failed)
            handles.insert(0, self.root)
        for ns in handles:
            try:
                ns.close()
            except Exception:  # noqa: BLE001  (whatever happens, the namespaces go)
                pass
        try:
            kill_pids(self.created)
        finally:
            for real in reversed(self.created):
                remove_netns(real)
            self.namespaces.clear()
            self.listed.clear()

    def __enter__(self) -> RealKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RealKernel {self.prefix}{self.hostname}>"
