"""Real mode's programs: transcript commands that open sockets run as the machine's own binaries.

In a real lab, `ping`, `curl`, `nc`, `tcpdump`, `traceroute`, `dig` and `nslookup` are Debian's
programs started inside the place's namespace (`ip netns exec`, so they read the place's own
/etc/hosts and /etc/resolv.conf); in a container of a busybox or alpine image they are Debian's
`busybox` applets instead (`ping`, `wget`, `nc`, `nslookup`, `traceroute`), as in the image.  Everything else keeps running as cnmsim's implementation:
`ip`, `bridge`, `iptables`, `sysctl` and `docker` only program or read the kernel through the
`cnmsim.kernel.api` verbs, which the real backend realises with netlink and iptables-restore.
A socket tool with no binary installed here is "not found", as in a shell.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Generator
from typing import IO, TYPE_CHECKING, Any

import simpy

from cnmsim.kernel.real.exec import netns_argv, write_etc

if TYPE_CHECKING:
    from cnmsim.shell.registry import CommandFn, Proc

REAL_PROGRAMS = ("ping", "curl", "nc", "tcpdump", "traceroute", "dig", "nslookup")
BUSYBOX_APPLETS = ("ping", "wget", "nc", "nslookup", "traceroute")
# cnmsim tools that talk through simulated sockets: no real counterpart means no such command
SOCKET_TOOLS = {"wget", "serf", "nginx", "httpd", "dnsd"}
POLL = 0.02  # seconds between looks at a running program (wall clock: the lab's env is real-time)
# Programs that take a moment to be ready, and the stderr line that says they are: a capture
# started with `&` must be capturing before the transcript's next line sends the packet.
READY_LINE = {"tcpdump": "listening on"}
READY_WAIT = 3.0


def lookup(name: str, flavour: str = "iputils") -> CommandFn | None | bool:
    """The real program for `name`, False when it cannot run in real mode, None: cnmsim's own tool."""
    base = name.rsplit("/", 1)[-1]
    if flavour == "busybox" and base in BUSYBOX_APPLETS and shutil.which("busybox"):
        return real_program
    if base in REAL_PROGRAMS:
        return real_program if shutil.which(base) else False
    if base in SOCKET_TOOLS:
        return False
    return None


def real_program(proc: Proc) -> Generator[Any, Any, int]:
    """Run argv inside the place's namespace; poll it in the lab's real-time clock so background
    jobs and the engine's timers go on meanwhile; Ctrl-C (SIGINT) when the lab interrupts it."""
    ns = proc.place.ns
    write_etc(ns.real_name, proc.place.files)
    argv = [proc.argv[0].rsplit("/", 1)[-1], *proc.argv[1:]]
    if proc.place.flavour == "busybox" and argv[0] in BUSYBOX_APPLETS and shutil.which("busybox"):
        argv.insert(0, "busybox")
    # files, not pipes: a chatty program (tcpdump) must never block on a full pipe while polled
    files = [tempfile.TemporaryFile("w+") for _ in range(3)]
    fin, fout, ferr = files
    fin.write(proc.stdin)
    fin.seek(0)
    p = subprocess.Popen(netns_argv(ns.real_name, argv), stdin=fin, stdout=fout, stderr=ferr,
                         text=True, start_new_session=True)
    _await_ready(p, argv, ferr)
    try:
        while p.poll() is None:
            yield proc.lab.env.timeout(POLL)
            proc.lab.drain()
    except simpy.Interrupt:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGINT)  # what Ctrl-C does: ping prints its statistics
        try:
            p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            p.kill()
    p.wait()
    for f, buf in ((fout, proc.stdout), (ferr, proc.stderr)):
        f.seek(0)
        buf.append(f.read())
    for f in files:
        f.close()
    return p.returncode if p.returncode >= 0 else 128 - p.returncode


def _await_ready(p: subprocess.Popen[str], argv: list[str], ferr: IO[str]) -> None:
    """Block (briefly) until a program with a readiness line has printed it, or has ended."""
    line = READY_LINE.get(argv[0])
    if line is None:
        return
    deadline = time.monotonic() + READY_WAIT
    while p.poll() is None and time.monotonic() < deadline:
        with open(f"/proc/self/fd/{ferr.fileno()}") as f:
            if line in f.read():
                return
        time.sleep(POLL / 4)
