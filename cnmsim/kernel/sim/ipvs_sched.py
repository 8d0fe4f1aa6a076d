"""IPVS schedulers: which real server gets a new connection (net/netfilter/ipvs/ip_vs_*.c).

Each scheduler walks the service's destination list in the kernel's order: `list_add_rcu`
puts a new real server at the head, so the list is newest first and `rr` starts with the
server added last.  A destination with weight 0 (quiescent) or over its upper threshold
(overloaded) gets no new connections.  `schedule()` returns the chosen destination (or None,
"no destination available") and, when asked, a short reason for the trace.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from math import gcd
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnmsim.kernel.sim.ipvs import Dest, Service

NAMES = ("rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "sh", "dh")


def _name(d: Dest) -> str:
    return f"{d.addr}:{d.port}"


def _overhead(d: Dest) -> int:
    """ip_vs_dest_conn_overhead: an active connection weighs 256 inactive ones."""
    return (d.active << 8) + d.inactive


class Scheduler:
    """The interface of `struct ip_vs_scheduler`; the list is svc.dests (newest first)."""

    name = ""

    def __init__(self, svc: Service) -> None:
        self.svc = svc

    def dests_changed(self, removed: Dest | None = None, index: int = 0) -> None:
        """add_dest / del_dest / upd_dest (removed: the unlinked dest and its old index)."""

    def schedule(self, caddr: str, vaddr: str, why: bool) -> tuple[Dest | None, str]:
        raise NotImplementedError


class RoundRobin(Scheduler):
    """ip_vs_rr: the next server after the last one chosen that has weight > 0."""

    name = "rr"

    def __init__(self, svc: Service) -> None:
        super().__init__(svc)
        self.last: Dest | None = None  # None: the list head (sched_data = &svc->destinations)

    def dests_changed(self, removed: Dest | None = None, index: int = 0) -> None:
        if removed is not None and removed is self.last:  # ip_vs_rr_del_dest: step back one
            self.last = self.svc.dests[index - 1] if index > 0 else None

    def schedule(self, caddr: str, vaddr: str, why: bool) -> tuple[Dest | None, str]:
        dests = self.svc.dests
        start = dests.index(self.last) + 1 if self.last is not None else 0
        order = dests[start:] + dests[:start] if self.last is not None else dests
        for d in order:
            if not d.overload and d.weight > 0:
                prev = self.last
                self.last = d
                return d, (f"rr: next after {_name(prev)}" if prev is not None else
                           "rr: first in the list") if why else ""
        return None, "rr: no destination available"


class WeightedRoundRobin(Scheduler):
    """ip_vs_wrr: passes with a decreasing current weight cw, from max weight to 1 by gcd."""

    name = "wrr"

    def __init__(self, svc: Service) -> None:
        super().__init__(svc)
        self.cl: Dest | None = None
        self.di = self._gcd()
        self.mw = self._max() - (self.di - 1)
        self.cw = self.mw

    def _gcd(self) -> int:
        g = 0
        for d in self.svc.dests:
            if d.weight > 0:
                g = gcd(d.weight, g) if g else d.weight
        return g or 1

    def _max(self) -> int:
        return max((d.weight for d in self.svc.dests), default=0)

    def dests_changed(self, removed: Dest | None = None, index: int = 0) -> None:
        self.cl = None
        self.di = self._gcd()
        self.mw = self._max() - (self.di - 1)
        if self.cw > self.mw or not self.cw:
            self.cw = self.mw
        elif self.di > 1:
            self.cw = (self.cw // self.di) * self.di + 1

    def schedule(self, caddr: str, vaddr: str, why: bool) -> tuple[Dest | None, str]:
        dests = self.svc.dests
        if self.mw == 0:
            return None, "wrr: no destination available"
        last = self.cl
        pos = dests.index(last) + 1 if last is not None else 0
        stop: Dest | None = None
        last_pass = restarted = False
        while True:
            for d in dests[pos:]:
                if not d.overload and d.weight >= self.cw:
                    self.cl = d
                    return d, f"wrr: weight {d.weight} >= current weight {self.cw}" if why else ""
                if d is stop:
                    self.cl = d
                    return None, "wrr: all destinations are overloaded"
            pos = 0
            self.cw -= self.di
            if self.cw <= 0:
                self.cw = self.mw
                if last_pass or last is None:
                    self.cl = None
                    return None, "wrr: all destinations are overloaded"
                restarted = True
            last_pass = self.cw <= self.di
            if last_pass and restarted and last is not None:
                stop = last


class LeastConnection(Scheduler):
    """ip_vs_lc: the least (active << 8) + inactive, skipping weight 0."""

    name = "lc"

    def schedule(self, caddr: str, vaddr: str, why: bool) -> tuple[Dest | None, str]:
        least, loh = None, 0
        for d in self.svc.dests:
            if d.overload or d.weight == 0:
                continue
            doh = _overhead(d)
            if least is None or doh < loh:
                least, loh = d, doh
        if least is None:
            return None, "lc: no destination available"
        return least, (f"lc: fewest connections ({least.active} active, {least.inactive} inactive)"
                       if why else "")


class WeightedLeastConnection(Scheduler):
    """ip_vs_wlc (and sed, nq): the least overhead per unit of weight."""

    name = "wlc"

    def overhead(self, d: Dest) -> int:
        return _overhead(d)

    def schedule(self, caddr: str, vaddr: str, why: bool) -> tuple[Dest | None, str]:
        dests = self.svc.dests
        first = next((i for i, d in enumerate(dests) if not d.overload and d.weight > 0), None)
        if first is None:
            return None, f"{self.name}: no destination available"
        least = dests[first]
        loh = self.overhead(least)
        for d in dests[first + 1:]:
            if d.overload:
                continue
            doh = self.overhead(d)
            if loh * d.weight > doh * least.weight:
                least, loh = d, doh
        return least, (f"{self.name}: least load per weight ({loh}/{least.weight})" if why else "")


class ShortestExpectedDelay(WeightedLeastConnection):
    """ip_vs_sed: overhead is active + 1."""

    name = "sed"

    def overhead(self, d: Dest) -> int:
        return d.active + 1


class NeverQueue(Scheduler):
    """ip_vs_nq: the first idle server, else the shortest expected delay."""

    name = "nq"

    def schedule(self, caddr: str, vaddr: str, why: bool) -> tuple[Dest | None, str]:
        least, loh = None, 0
        for d in self.svc.dests:
            if d.overload or not d.weight:
                continue
            doh = d.active + 1
            if d.active == 0:
                return d, f"nq: {_name(d)} is idle" if why else ""
            if least is None or loh * d.weight > doh * least.weight:
                least, loh = d, doh
        if least is None:
            return None, "nq: no destination available"
        return least, f"nq: least load per weight ({loh}/{least.weight})" if why else ""


class WeightedFailover(Scheduler):
    """ip_vs_fo: the available server with the highest weight."""

    name = "fo"

    def schedule(self, caddr: str, vaddr: str, why: bool) -> tuple[Dest | None, str]:
        best, hw = None, 0
        for d in self.svc.dests:
            if not d.overload and d.weight > hw:
                best, hw = d, d.weight
        return best, (f"fo: highest weight {hw}" if best and why else
                      "" if best else "fo: no destination available")


class WeightedOverflow(Scheduler):
    """ip_vs_ovf: the highest weight whose active connections do not exceed its weight."""

    name = "ovf"

    def schedule(self, caddr: str, vaddr: str, why: bool) -> tuple[Dest | None, str]:
        h = None
        for d in self.svc.dests:
            if d.overload or d.active > d.weight or d.weight == 0:
                continue
            if h is None or d.weight > h.weight:
                h = d
        return h, (f"ovf: weight {h.weight}, {h.active} active" if h and why else
                   "" if h else "ovf: no destination available")


class SourceHashing(Scheduler):
    """ip_vs_sh: 256 buckets filled round the list by weight; the client address picks one."""

    name = "sh"
    BITS = 8

    def __init__(self, svc: Service) -> None:
        super().__init__(svc)
        self.buckets: list[Dest | None] = [None] * (1 << self.BITS)

    def dests_changed(self, removed: Dest | None = None, index: int = 0) -> None:
        dests = self.svc.dests
        i = count = 0
        for b in range(len(self.buckets)):
            if not dests:
                self.buckets[b] = None
                continue
            d = dests[i % len(dests)]
            self.buckets[b] = d
            count += 1
            if count >= d.weight:  # don't move to the next dest until filling its weight
                i += 1
                count = 0

    def hashkey(self, addr: str) -> int:
        """hash_32(ntohl(addr) + port, 8) with the golden ratio 0x61C88647 (port 0: no sh-port)."""
        return ((int(IPv4Address(addr)) * 0x61C88647) & 0xFFFFFFFF) >> (32 - self.BITS)

    def schedule(self, caddr: str, vaddr: str, why: bool) -> tuple[Dest | None, str]:
        key = self.hashkey(caddr if self.name == "sh" else vaddr)
        d = self.buckets[key]
        if d is None or d.weight <= 0 or d.overload:
            return None, f"{self.name}: bucket {key} has no available destination"
        return d, f"{self.name}: bucket {key} of {caddr if self.name == 'sh' else vaddr}" if why else ""


class DestinationHashing(SourceHashing):
    """ip_vs_dh: buckets hashed by the destination address, one per server in turn."""

    name = "dh"

    def dests_changed(self, removed: Dest | None = None, index: int = 0) -> None:
        dests = self.svc.dests
        for b in range(len(self.buckets)):
            self.buckets[b] = dests[b % len(dests)] if dests else None

    def hashkey(self, addr: str) -> int:
        return (int(IPv4Address(addr)) * 2654435761) & ((1 << self.BITS) - 1)


CLASSES: dict[str, type[Scheduler]] = {c.name: c for c in (
    RoundRobin, WeightedRoundRobin, LeastConnection, WeightedLeastConnection, ShortestExpectedDelay,
    NeverQueue, WeightedFailover, WeightedOverflow, SourceHashing, DestinationHashing)}


def make(name: str, svc: Service) -> Scheduler | None:
    """ip_vs_scheduler_get + init_service; "none" binds no scheduler; KeyError when unknown."""
    if name == "none":
        return None
    sched = CLASSES[name](svc)
    sched.dests_changed()
    return sched
