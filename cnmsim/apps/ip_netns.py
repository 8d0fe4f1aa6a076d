"""`ip netns add|del|list|exec|identify` on the place's host."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from cnmsim.kernel.api import KernelError
from cnmsim.shell.registry import Proc


def run(proc: Proc, opts, args: list[str]) -> Generator[Any, Any, int]:  # noqa: ANN001
    kernel = proc.place.host.kernel
    cmd = args.pop(0) if args else "list"
    if cmd in ("list", "show", "ls", "l"):
        for name in kernel.netns_list():
            proc.out(name)
        return 0
    if cmd == "add":
        if not args:
            return proc.fail("No netns name specified", 255)
        try:
            kernel.netns_add(args[0])
        except KernelError as e:
            return proc.fail(str(e), 1)
        return 0
    if cmd in ("delete", "del"):
        if not args:
            return proc.fail("No netns name specified", 255)
        try:
            kernel.netns_del(args[0])
        except KernelError as e:
            return proc.fail(str(e).replace("Cannot open network namespace", "Cannot remove namespace file")
                             .replace('"', '"/var/run/netns/', 1), 1)
        return 0
    if cmd == "exec":
        if len(args) < 2:
            return proc.fail("No netns name specified" if not args else "No command specified", 255)
        try:
            ns = kernel.netns(args[0])
        except KernelError as e:
            return proc.fail(str(e), 255)
        place = proc.place.in_ns(ns)
        code = yield from proc.run(args[1:], place, proc.stdin)
        if code == 127:
            proc.stderr[-1:] = [f'exec of "{args[1]}" failed: No such file or directory\n']
            return 255
        return code
    if cmd == "identify":
        proc.out(proc.ns.name)
        return 0
    return proc.fail(f'Command "{cmd}" is unknown, try "ip netns help".', 255)
