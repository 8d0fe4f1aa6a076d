"""Netfilter hook points (PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING).

The stack and the bridge call `hook()` exactly where Linux's NF_HOOK calls are.  Consumers
register a function per hook with a priority, as Linux's nf_hook_entries are ordered by
priority (raw -300, conntrack -200, mangle -150, DNAT -100, filter 0, SNAT 100, IPVS around
them ...); `hook()` calls them in that order and stops at the first that does not accept.
With nothing registered every hook accepts at the cost of one dict lookup.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import TYPE_CHECKING

from cnmsim.packet.frame import Frame

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.netns import SimNetns

HOOKS = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")
# Linux's NF_IP_PRI_* values (include/uapi/linux/netfilter_ipv4.h)
PRI_RAW = -300
PRI_CONNTRACK = -200
PRI_MANGLE = -150
PRI_NAT_DST = -100
PRI_FILTER = 0
PRI_SECURITY = 50
PRI_NAT_SRC = 100
PRI_CONNTRACK_CONFIRM = 2**31 - 1

HookFn = Callable[[str, Frame, "NetDevice | None", "NetDevice | None"], bool]


class Netfilter:
    """Per-namespace hook dispatcher: registered functions, called in priority order."""

    __slots__ = ("ns", "_entries", "_fns")

    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self._entries: dict[str, list[tuple[int, int, str, HookFn]]] = {}
        self._fns: dict[str, tuple[HookFn, ...]] = {}

    def register(self, hook: str, priority: int, fn: HookFn, name: str) -> None:
        """Add fn at `priority` on `hook` (equal priorities keep registration order)."""
        if hook not in HOOKS:
            raise ValueError(f"unknown netfilter hook {hook!r}")
        entries = self._entries.setdefault(hook, [])
        bisect.insort(entries, (priority, len(entries), name, fn), key=lambda e: (e[0], e[1]))
        self._fns[hook] = tuple(e[3] for e in entries)

    def unregister(self, name: str) -> None:
        """Remove every function registered under `name`."""
        for hook, entries in self._entries.items():
            entries[:] = [e for e in entries if e[2] != name]
            self._fns[hook] = tuple(e[3] for e in entries)

    def registered(self, hook: str) -> list[tuple[int, str]]:
        return [(p, n) for p, _, n, _ in self._entries.get(hook, [])]

    def hook(self, name: str, frame: Frame, indev: NetDevice | None,
             outdev: NetDevice | None) -> bool:
        """True to let the packet continue (NF_ACCEPT), False when it was dropped or stolen."""
        fns = self._fns.get(name)
        if not fns:
            return True
        for fn in fns:
            if not fn(name, frame, indev, outdev):
                return False
        return True
