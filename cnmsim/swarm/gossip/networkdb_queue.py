"""A network's table-event broadcast queue: memberlist's `TransmitLimitedQueue` as vendored by
libnetwork ≤ 28.x (memberlist `3d8438da`, `queue.go` before the 2019 btree rewrite).

- `queue(msg)` drops any queued event for the same (network, table, key) (NetworkDB's
  `tableEventMessage.Invalidates`), then appends the new one with 0 transmits.
- `get_broadcasts(overhead, limit, num_nodes)` walks from the fewest-transmitted end, takes
  every message that still fits in `limit` bytes (`overhead` per message), counts one transmit
  for each and drops it once `transmits >= mult * ceil(log10(num_nodes + 1))`.  NetworkDB
  calls this once per gossip tick however many peers get the packet, which is its transmit
  accounting (facts gossip.md §2.4, §7.2).

memberlist's newer order (a btree: fewest transmits, then larger, then newer; `queue.py`) is
not used here: this is the older sorted slice, re-sorted by transmits after each hand-out.
"""

from __future__ import annotations

from cnmsim.swarm.gossip.formulas import retransmit_limit
from cnmsim.swarm.gossip.networkdb_wire import TableMsg


class TransmitLimitedQueue:
    """Table events waiting to be gossiped for one network."""

    __slots__ = ("mult", "items")

    def __init__(self, mult: int = 4) -> None:
        self.mult = mult
        self.items: list[list] = []  # [transmits, TableMsg], sorted most-transmitted first

    def __len__(self) -> int:
        return len(self.items)

    def queue(self, msg: TableMsg) -> None:
        k = (msg.nid, msg.table, msg.key)
        self.items = [it for it in self.items
                      if (it[1].nid, it[1].table, it[1].key) != k]
        self.items.append([0, msg])

    def get_broadcasts(self, overhead: int, limit: int, num_nodes: int) -> list[TableMsg]:
        if not self.items:
            return []
        tlimit = retransmit_limit(self.mult, num_nodes)
        used = 0
        out: list[TableMsg] = []
        q = self.items
        i = len(q) - 1
        while i >= 0:
            it = q[i]
            size = it[1].size
            if used + overhead + size <= limit:
                used += overhead + size
                out.append(it[1])
                it[0] += 1
                if it[0] >= tlimit:  # swap-remove, as queue.go does
                    q[i] = q[-1]
                    q.pop()
            i -= 1
        if out:
            q.sort(key=lambda it: -it[0])  # Sort(): sort.Reverse by transmits
        return out
