"""Lab namespace names, and removing what a lab (or a crashed one) left in /var/run/netns.

Every namespace a RealKernel creates is named `PREFIX + hostname[.name]`, where PREFIX is
`cnm` + 5 hex digits + `-` (see `new_prefix()`); `leftovers()` finds them by that pattern and
`clean()` removes them: processes still inside are SIGKILLed first (as `ip netns pids NAME |
xargs kill -9`), then the bind mount goes (`ip netns del NAME`) and /etc/netns/NAME with it.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import shutil
import signal

from cnmsim.kernel.real.nsenter import NETNS_RUN_DIR, netns_path

MNT_DETACH = 2
ETC_NETNS = "/etc/netns"
_libc = ctypes.CDLL(None, use_errno=True)


def require_root() -> None:
    """Refuse early, with a clear message, when namespaces cannot be made."""
    if os.geteuid() != 0:
        raise PermissionError("the real backend needs root: it creates network namespaces "
                              "(/var/run/netns) and runs iptables in them; run as root or use backend='sim'")


def pattern(prefix_base: str = "cnm") -> re.Pattern[str]:
    """`cnm` + 5 hex digits + `-`: the start of every lab namespace's name."""
    return re.compile(re.escape(prefix_base) + r"[0-9a-f]{5}-")


def existing() -> list[str]:
    """The names in /var/run/netns (`ip netns list`, unsorted)."""
    try:
        return os.listdir(NETNS_RUN_DIR)
    except FileNotFoundError:
        return []


def new_prefix(prefix_base: str = "cnm") -> str:
    """A fresh lab prefix (`cnm1a2b3-`) that no existing namespace starts with."""
    names = existing()
    while True:
        prefix = f"{prefix_base}{secrets.token_hex(3)[:5]}-"
        if not any(n.startswith(prefix) for n in names):
            return prefix


def leftovers(prefix_base: str = "cnm") -> list[str]:
    """Namespaces in /var/run/netns that look like a lab's (sorted)."""
    pat = pattern(prefix_base)
    return sorted(n for n in existing() if pat.match(n))


def _inode(name: str) -> int | None:
    try:
        return os.stat(netns_path(name)).st_ino
    except OSError:
        return None


def pids_in(names: list[str]) -> dict[str, list[int]]:
    """`ip netns pids NAME` for several names at once (one walk of /proc)."""
    by_ino = {ino: n for n in names if (ino := _inode(n)) is not None}
    out: dict[str, list[int]] = {n: [] for n in names}
    if not by_ino:
        return out
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            ino = os.stat(f"/proc/{entry}/ns/net").st_ino
        except OSError:
            continue
        if ino in by_ino:
            out[by_ino[ino]].append(int(entry))
    return out


def kill_pids(names: list[str]) -> int:
    """SIGKILL every process inside these namespaces; how many were signalled."""
    n = 0
    for pids in pids_in(names).values():
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                n += 1
            except ProcessLookupError:
                pass
    return n


def remove_netns(name: str) -> bool:
    """`ip netns del NAME`: detach the bind mount, remove the file (and /etc/netns/NAME)."""
    path = netns_path(name)
    _libc.umount2(path.encode(), MNT_DETACH)  # EINVAL when it is not mounted: removed anyway
    try:
        os.unlink(path)
        gone = True
    except FileNotFoundError:
        gone = False
    shutil.rmtree(os.path.join(ETC_NETNS, name), ignore_errors=True)
    return gone


def clean(prefix: str | None = None, prefix_base: str = "cnm") -> list[str]:
    """Delete the namespaces of one lab (names starting with `prefix`), or of every lab.

    Returns the names removed. Processes still inside are killed first."""
    require_root()
    names = sorted(n for n in existing() if n.startswith(prefix)) if prefix else leftovers(prefix_base)
    kill_pids(names)
    return [n for n in names if remove_netns(n)]
