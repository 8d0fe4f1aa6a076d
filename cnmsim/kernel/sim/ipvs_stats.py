"""IPVS counters and the rate estimator of ip_vs_est.c, ticked lazily.

The kernel samples every counter each 2 seconds and keeps an exponentially weighted average
of the rates (a quarter of the new sample each tick), in fixed point: packet and connection
rates scaled by 2^10, byte rates by 2^5.  Ticks are replayed when the counters are next
touched or read, which gives the same numbers as a timer, without a process.
"""

from __future__ import annotations

from cnmsim.kernel import api

TICK = 2.0
FIELDS = ("conns", "inpkts", "outpkts", "inbytes", "outbytes")


class Stats:
    """struct ip_vs_stats with its estimator."""

    __slots__ = ("count", "zero0", "last", "rate", "next_tick")

    def __init__(self, now: float) -> None:
        self.count = dict.fromkeys(FIELDS, 0)
        self.zero0 = dict.fromkeys(FIELDS, 0)  # ustats0: the point `ipvsadm -Z` zeroed at
        self.last = dict.fromkeys(FIELDS, 0)
        self.rate = dict.fromkeys(FIELDS, 0)  # cps, inpps, outpps (<<10), inbps, outbps (<<5)
        self.next_tick = now + TICK

    def advance(self, now: float) -> None:
        """Run the estimator ticks that are due; stop early once everything is at rest."""
        while self.next_tick <= now:
            for f in FIELDS:
                shift = 9 if f in ("conns", "inpkts", "outpkts") else 4  # scaled, divided by 2 s
                sample = (self.count[f] - self.last[f]) << shift
                self.last[f] = self.count[f]
                self.rate[f] += (sample - self.rate[f]) >> 2
            self.next_tick += TICK
            if not any(self.rate.values()):
                skip = int((now - self.next_tick) // TICK) + 1
                if skip > 0:
                    self.next_tick += skip * TICK
                break

    def conn(self, now: float) -> None:
        self.advance(now)
        self.count["conns"] += 1

    def packet(self, now: float, direction: str, nbytes: int) -> None:
        self.advance(now)
        self.count[direction + "pkts"] += 1
        self.count[direction + "bytes"] += nbytes

    def zero(self, now: float) -> None:
        """ip_vs_zero_stats: the current counters become the zero point; rates restart."""
        self.advance(now)
        self.zero0 = dict(self.count)
        self.last = dict(self.count)
        self.rate = dict.fromkeys(FIELDS, 0)

    def record(self, now: float) -> api.IpvsStats:
        self.advance(now)
        c, z, r = self.count, self.zero0, self.rate
        return api.IpvsStats(
            *(c[f] - z[f] for f in FIELDS),
            (r["conns"] + 0x1FF) >> 10, (r["inpkts"] + 0x1FF) >> 10, (r["outpkts"] + 0x1FF) >> 10,
            (r["inbytes"] + 0xF) >> 5, (r["outbytes"] + 0xF) >> 5)
