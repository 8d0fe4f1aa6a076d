"""Run Python code inside a named network namespace, without touching the caller's.

setns(2) changes the namespace of the calling *thread* only, so each call here runs on a short
worker thread that enters the namespace first. A socket created there stays bound to that
namespace after the thread ends (a socket belongs to the netns it was created in), which is how
libnetwork's embedded DNS and docker-proxy listen inside a sandbox from the daemon's process.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

NETNS_RUN_DIR = "/var/run/netns"
CLONE_NEWNET = 0x40000000
T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(name: str) -> str:
    """Where `ip netns add NAME` bind-mounts the namespace."""
    return os.path.join(NETNS_RUN_DIR, name)


def setns(name: str) -> None:
    """Move the calling thread into namespace `name` (root needed)."""
    fd = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def in_netns(name: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """Call fn(*args, **kw) on a thread inside namespace `name` and return its result."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            setns(name)
            box["value"] = fn(*args, **kw)
        except BaseException as e:  # handed back to the caller's thread
            box["error"] = e

    t = threading.Thread(target=work, name=f"netns:{name}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def socket_in(name: str, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> socket.socket:
    """A new socket that lives in namespace `name`."""
    return in_netns(name, socket.socket, family, type)


_worker: ThreadPoolExecutor | None = None


def off_loop(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """Call fn here, or on a worker thread when this thread runs an asyncio loop (Jupyter does).

    pyroute2's synchronous API drives its own asyncio loop with run_until_complete, which fails
    ("This event loop is already running") on a thread whose loop is running, as a notebook
    kernel's is. Netlink work then goes to one worker thread, in order.
    """
    global _worker
    if asyncio._get_running_loop() is None:
        return fn(*args, **kw)
    if _worker is None:
        _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netlink")
    return _worker.submit(fn, *args, **kw).result()
