"""Lifeguard's local health awareness (memberlist `awareness.go`; facts/gossip.md §1.4).

Each node keeps a score in [0, AwarenessMaxMultiplier - 1]: +1 per failed probe without
nack-capable peers, +(expected - received) nacks after a failed probe with them, +1 per
refutation of an accusation against itself, -1 per successful probe.  `scale_timeout(t)` =
t * (score + 1) stretches the probe interval (the probe's ack-wait deadline), not the direct
ping's ProbeTimeout.  One object holds the scores of every node of a cluster.
"""

from __future__ import annotations


class Awareness:
    """awareness.go `awareness` for nodes 0..n-1."""

    __slots__ = ("max", "score")

    def __init__(self, n: int, max_multiplier: int) -> None:
        self.max = max_multiplier
        self.score = [0] * n

    def apply_delta(self, node: int, delta: int) -> None:
        """awareness.go l.44 `ApplyDelta`: add and clamp to [0, max - 1]."""
        s = self.score[node] + delta
        self.score[node] = 0 if s < 0 else (self.max - 1 if s > self.max - 1 else s)

    def health_score(self, node: int) -> int:
        """awareness.go `GetHealthScore`."""
        return self.score[node]

    def scale_timeout(self, node: int, timeout: float) -> float:
        """awareness.go l.71 `ScaleTimeout`: timeout * (score + 1)."""
        return timeout * (self.score[node] + 1)

    def reset(self, node: int) -> None:
        """A restarted process starts healthy."""
        self.score[node] = 0
