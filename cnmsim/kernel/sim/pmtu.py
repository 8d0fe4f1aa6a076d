"""Learned path MTUs: the FIB next-hop exceptions an ICMP "fragmentation needed" creates.

`ip route get 10.0.0.3` then shows `cache expires 599sec mtu 1350`: for `mtu_expires` (600 s)
every packet to that destination is held to the learned MTU, so `ping -M do` fails locally
("message too long") and `ping -M want` fragments locally (net/ipv4/route.c __ip_rt_update_pmtu).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmsim.trace.explain import register

if TYPE_CHECKING:
    from cnmsim.kernel.sim.netns import SimNetns
    from cnmsim.packet.frame import Frame

MTU_EXPIRES = 600.0  # net.ipv4.route.mtu_expires
MIN_PMTU = 552  # net.ipv4.route.min_pmtu


class PmtuCache:
    """Per-namespace destination -> (mtu, expiry time)."""

    __slots__ = ("ns", "entries")

    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self.entries: dict[str, tuple[int, float]] = {}

    def get(self, dst: str) -> int | None:
        e = self.entries.get(dst)
        if e is None:
            return None
        if self.ns.kernel.ctx.env.now >= e[1]:
            del self.entries[dst]
            return None
        return e[0]

    def learn(self, dst: str, mtu: int, frame: Frame | None = None) -> None:
        """__ip_rt_update_pmtu: lower (never raise) the path MTU to dst, clamped to min_pmtu."""
        if mtu < 68:
            return
        rt = self.ns.stack.fib_lookup(dst)
        if rt is None or rt.dev is None or rt.type != "unicast":
            return
        old = self.get(dst) or rt.mtu or rt.dev.mtu
        mtu = max(mtu, min(old, MIN_PMTU))
        if mtu > old or (mtu == old and dst in self.entries):
            return
        self.entries[dst] = (mtu, self.ns.kernel.ctx.env.now + MTU_EXPIRES)
        self.ns.trace(rt.dev.name, "ip:pmtu", "learn", f"path MTU to {dst} is now {mtu} for {MTU_EXPIRES:.0f} s", frame)


register("ip:pmtu", "learn", "{place} remembers a smaller path MTU: {reason}.")
