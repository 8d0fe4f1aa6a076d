"""NetworkDB measurements: table convergence and traffic per node.

- *Convergence* of a write: the nodes attached to its network (and running) when it was
  written, its owner excluded, and when each first applied that write or a newer one for the
  same key.  `last` is the time until every one had it (None while some have not).
- *Traffic*: messages and bytes each node sent and received for networkdb, by operation
  ("gossip" UDP table packets, "bulk-sync" and "push-pull" TCP).  memberlist's own packets,
  which also carry the network join/leave events, are counted by the cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cnmsim.swarm.gossip.networkdb_wire import TableMsg

if TYPE_CHECKING:
    from cnmsim.swarm.gossip.networkdb import NetworkDB


@dataclass
class Convergence:
    """One write followed until every participant of its network has it."""

    table: str
    nid: str
    key: str
    ltime: int
    owner: int
    t0: float
    targets: set[int]
    learned: dict[int, float] = field(default_factory=dict)  # node -> seconds after t0

    @property
    def missing(self) -> list[int]:
        return sorted(self.targets - set(self.learned))

    @property
    def last(self) -> float | None:
        """Seconds until every target had it; None if one has not (yet)."""
        if self.missing:
            return None
        return max(self.learned.values(), default=0.0)

    def delays(self) -> list[float]:
        """Per-target delays, `inf` for a target that never learned it, sorted."""
        return sorted(self.learned.get(x, math.inf) for x in self.targets)


class Tracker:
    """Counters and convergence records of a `NetworkDB`."""

    def __init__(self, db: NetworkDB) -> None:
        self.db = db
        n = db.n
        self.sent = [0] * n
        self.sent_bytes = [0] * n
        self.recv = [0] * n
        self.recv_bytes = [0] * n
        self.by_op: dict[str, list[int]] = {}  # op -> [messages, bytes]
        self.writes: dict[tuple[str, str, str], Convergence] = {}  # latest write per key
        self.history: list[Convergence] = []

    def sent_msg(self, node: int, size: int, op: str) -> None:
        self.sent[node] += 1
        self.sent_bytes[node] += size
        c = self.by_op.setdefault(op, [0, 0])
        c[0] += 1
        c[1] += size

    def received(self, node: int, size: int) -> None:
        self.recv[node] += 1
        self.recv_bytes[node] += size

    def written(self, msg: TableMsg, participants: list[int]) -> None:
        c = Convergence(msg.table, msg.nid, msg.key, msg.ltime, msg.owner, self.db.env.now,
                        set(participants) - {msg.owner})
        self.writes[(msg.table, msg.nid, msg.key)] = c
        self.history.append(c)

    def learned(self, node: int, ev: TableMsg) -> None:
        c = self.writes.get((ev.table, ev.nid, ev.key))
        if c is not None and ev.ltime >= c.ltime and node in c.targets and node not in c.learned:
            c.learned[node] = self.db.env.now - c.t0

    def convergence(self, table: str, nid: str, key: str) -> Convergence | None:
        """The latest write of (table, nid, key), followed."""
        return self.writes.get((table, nid, key))

    def stats(self) -> dict[str, float]:
        out: dict[str, float] = {"msgs": float(sum(self.sent)),
                                 "bytes": float(sum(self.sent_bytes))}
        for op, (m, b) in sorted(self.by_op.items()):
            out[f"msgs_{op}"] = float(m)
            out[f"bytes_{op}"] = float(b)
        return out

    def per_node(self, duration: float) -> list[dict[str, Any]]:
        """Rates per node over `duration` seconds: one record per node, for a DataFrame."""
        d = duration if duration > 0 else math.nan
        return [{"node": i, "msgs_per_s": self.sent[i] / d, "bytes_per_s": self.sent_bytes[i] / d,
                 "recv_msgs_per_s": self.recv[i] / d, "recv_bytes_per_s": self.recv_bytes[i] / d}
                for i in range(self.db.n)]
