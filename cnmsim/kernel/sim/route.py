"""A routing table with longest-prefix match, as `ip route` shows and the FIB looks up."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice


@dataclass(slots=True)
class RouteEntry:
    net: IPv4Network
    dev: NetDevice | None
    via: str | None = None
    src: str | None = None
    scope: str = "global"  # "link" for directly connected, "host" for local
    proto: str | None = None  # "kernel" for connected routes
    metric: int | None = None
    type: str = "unicast"
    mtu: int | None = None

    @property
    def dst_text(self) -> str:
        if self.net.prefixlen == 0:
            return "default"
        if self.net.prefixlen == 32:
            return str(self.net.network_address)
        return str(self.net)

    def describe(self) -> str:
        """The route as `ip route` prints it (used in trace reasons)."""
        s = self.dst_text if self.type == "unicast" else f"{self.type} {self.dst_text}"
        if self.via:
            s += f" via {self.via}"
        if self.dev is not None:
            s += f" dev {self.dev.name}"
        if self.proto:
            s += f" proto {self.proto}"
        if self.scope != "global":
            s += f" scope {self.scope}"
        if self.src:
            s += f" src {self.src}"
        if self.metric is not None:
            s += f" metric {self.metric}"
        return s


class RoutingTable:
    """Routes sorted for longest-prefix match; lookups cached per destination until a change."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: list[RouteEntry] = []
        self._cache: dict[str, RouteEntry | None] = {}

    def add(self, e: RouteEntry, replace: bool = False) -> bool:
        """Insert; False when an equal (dst, metric) route exists and replace is not asked."""
        for i, old in enumerate(self.entries):
            if old.net == e.net and (old.metric or 0) == (e.metric or 0) and old.type == e.type:
                if not replace:
                    return False
                self.entries[i] = e
                self._cache.clear()
                return True
        self.entries.append(e)
        # kernel dump order: by prefix, longest first is the lookup order; keep insertion for display
        self._cache.clear()
        return True

    def remove(self, pred) -> list[RouteEntry]:  # noqa: ANN001
        gone = [e for e in self.entries if pred(e)]
        if gone:
            self.entries = [e for e in self.entries if not pred(e)]
            self._cache.clear()
        return gone

    def lookup(self, dst: str) -> RouteEntry | None:
        """Longest prefix, then lowest metric; routes through a down device are skipped."""
        try:
            return self._cache[dst]
        except KeyError:
            pass
        addr = IPv4Address(dst)
        best: RouteEntry | None = None
        for e in self.entries:
            if addr in e.net and (e.dev is None or e.dev.admin_up):
                if best is None or e.net.prefixlen > best.net.prefixlen or (
                    e.net.prefixlen == best.net.prefixlen and (e.metric or 0) < (best.metric or 0)
                ):
                    best = e
        self._cache[dst] = best
        return best

    def invalidate(self) -> None:
        self._cache.clear()

    def sorted(self) -> list[RouteEntry]:
        """Display order of `ip route show` (the fib trie walk): by address, then longest prefix
        first, then lowest metric; so default (0.0.0.0/0) comes first."""
        return sorted(self.entries, key=lambda e: (int(e.net.network_address), -e.net.prefixlen,
                                                   e.metric or 0))
