"""memberlist's scaling formulas, bit for bit (facts/gossip.md §1.2, §1.3).

Go computes these on `time.Duration` (int64 nanoseconds) with float64 intermediates; so do we,
then return float seconds.  The truncations matter: `suspicionTimeout(3, 50, 1s)/3` is 1698 ms,
not 1698.97 ms (util_test.go).  Where the code and its comments disagree the code wins: the
suspicion timeout scales with max(1, log10(max(1, n))), not log(n+1) (facts §7.1).
"""

from __future__ import annotations

import math

from cnmsim.swarm.gossip.config import PUSH_PULL_SCALE_THRESHOLD

NS = 1_000_000_000
MS = 1_000_000


def _ns(seconds: float) -> int:
    return round(seconds * NS)


def suspicion_timeout(suspicion_mult: int, n: int, interval: float) -> float:
    """util.go l.70 `suspicionTimeout`: the minimum suspicion time, seconds."""
    node_scale = max(1.0, math.log10(max(1.0, float(n))))
    # time.Duration(suspicionMult) * time.Duration(nodeScale*1000) * interval / 1000
    timeout = suspicion_mult * int(node_scale * 1000) * _ns(interval) // 1000
    return timeout / NS


def retransmit_limit(retransmit_mult: int, n: int) -> int:
    """util.go l.78 `retransmitLimit`: hand-outs of one broadcast before it is dropped."""
    node_scale = math.ceil(math.log10(float(n + 1)))
    return retransmit_mult * int(node_scale)


def push_pull_scale(interval: float, n: int) -> float:
    """util.go l.95 `pushPullScale`: the push/pull period for a cluster of n, seconds."""
    if n <= PUSH_PULL_SCALE_THRESHOLD:
        return interval
    multiplier = math.ceil(math.log2(float(n)) - math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1.0
    return int(multiplier) * _ns(interval) / NS


def remaining_suspicion_time(n: int, k: int, elapsed: float, lo: float, hi: float) -> float:
    """suspicion.go l.89 `remainingSuspicionTime`: what is left of a suspicion timer after n
    of k expected confirmations, `elapsed` seconds after it started (negative: overdue)."""
    if k < 1:  # Go would divide by log(1) = 0; memberlist never confirms with k < 1
        return (_ns(lo) - _ns(elapsed)) / NS
    frac = math.log(float(n) + 1.0) / math.log(float(k) + 1.0)
    lo_s, hi_s = _ns(lo) / NS, _ns(hi) / NS  # Duration.Seconds()
    raw = hi_s - frac * (hi_s - lo_s)
    timeout = math.floor(1000.0 * raw) * MS
    timeout = max(timeout, _ns(lo))
    return (timeout - _ns(elapsed)) / NS


def suspicion_k(suspicion_mult: int, n: int) -> int:
    """state.go l.1210-1216: confirmations expected, K = SuspicionMult - 2, or 0 when the
    cluster (n includes ourselves and the suspect) is too small to give them."""
    k = suspicion_mult - 2
    return 0 if n - 2 < k else k


def suspicion_bounds(suspicion_mult: int, max_mult: int, n: int, interval: float
                     ) -> tuple[float, float]:
    """(min, max) suspicion time of state.go `suspectNode` (max = SuspicionMaxTimeoutMult*min)."""
    lo = suspicion_timeout(suspicion_mult, n, interval)
    return lo, max_mult * _ns(lo) / NS
