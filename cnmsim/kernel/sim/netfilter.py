"""Netfilter hook points (PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING).

The stack and the bridge call `hook()` exactly where Linux's NF_HOOK calls are; with no
tables loaded every hook accepts.  The iptables/conntrack/IPVS layer plugs in here by setting
`Netfilter.engine` to an object with the same `hook` signature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from cnmsim.packet.frame import Frame

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.netns import SimNetns

HOOKS = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")


class HookEngine(Protocol):
    def hook(self, name: str, frame: Frame, indev: NetDevice | None,
             outdev: NetDevice | None) -> bool: ...


class Netfilter:
    """Per-namespace hook dispatcher: accept all until an engine is plugged in."""

    __slots__ = ("ns", "engine")

    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self.engine: HookEngine | None = None

    def hook(self, name: str, frame: Frame, indev: NetDevice | None,
             outdev: NetDevice | None) -> bool:
        """True to let the packet continue (NF_ACCEPT), False when it was dropped or stolen."""
        engine = self.engine
        if engine is None:
            return True
        return engine.hook(name, frame, indev, outdev)
