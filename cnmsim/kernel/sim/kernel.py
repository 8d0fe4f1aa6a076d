"""One simulated host's kernel: the root namespace plus the namespaces created on it."""

from __future__ import annotations

from cnmsim.kernel.api import KernelError
from cnmsim.kernel.sim.context import SimContext
from cnmsim.kernel.sim.netns import SimNetns


class SimKernel:
    """Implements `cnmsim.kernel.api.Kernel` for one host of a lab."""

    def __init__(self, ctx: SimContext, hostname: str) -> None:
        self.ctx = ctx
        self.hostname = hostname
        self.root = SimNetns(self, "")
        self.namespaces: dict[str, SimNetns] = {}
        self.listed: set[str] = set()  # names `ip netns list` shows (/var/run/netns)

    def netns_add(self, name: str, listed: bool = True) -> SimNetns:
        """`ip netns add NAME` (listed) or a sandbox the engine creates (not listed)."""
        if name in self.namespaces:
            raise KernelError(f'Cannot create namespace file "/var/run/netns/{name}": File exists', "EEXIST")
        ns = self.namespaces[name] = SimNetns(self, name)
        if listed:
            self.listed.add(name)
        ns.trace("", "netns:add", "add", f"network namespace {name} created")
        return ns

    def netns_del(self, name: str) -> None:
        ns = self.netns(name)
        for dev in sorted(ns.devices.values(), key=lambda d: -d.ifindex):
            if dev.kind != "loopback" and dev.name in ns.devices:
                ns.link_del(dev.name)
        del self.namespaces[name]
        self.listed.discard(name)

    def netns(self, name: str) -> SimNetns:
        if name in ("", "/"):
            return self.root
        try:
            return self.namespaces[name]
        except KeyError:
            raise KernelError(f'Cannot open network namespace "{name}": No such file or directory', "ENOENT") from None

    def netns_list(self) -> list[str]:
        return [n for n in reversed(list(self.namespaces)) if n in self.listed]

    def all_namespaces(self) -> list[SimNetns]:
        return [self.root, *self.namespaces.values()]
