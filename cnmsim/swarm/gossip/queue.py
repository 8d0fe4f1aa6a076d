"""memberlist's `TransmitLimitedQueue` (queue.go): broadcasts waiting to be piggybacked.

Order (`limitedBroadcast.Less`): fewest transmits first; within a transmit tier, larger messages
first; then newest first.  `get_broadcasts` walks the tiers from the lowest, repeatedly taking
the first message of the tier that still fits, bumps each taken message one tier up (after the
walk, as queue.go does), and drops it once `transmits + 1 >= limit`, the limit being
`retransmit_limit(RetransmitMult, NumNodes())` recomputed on every call (queue.go l.286, l.344).
A *named* broadcast (memberlist's alive/suspect/dead messages are named by their node) replaces
any queued broadcast of the same name.

Tiers are lists kept sorted by (size desc, id desc); invalidated entries are removed lazily.

`Dissemination` (mixed into `Cluster`) is how broadcasts leave the queues: broadcast.go
`getBroadcasts` (memberlist's own messages first, the delegate's user broadcasts in what space
is left), net.go `sendMsg` (piggybacking on every packet within UDPBufferSize) and state.go
`gossip` (every GossipInterval to GossipNodes random live, suspect or recently dead members,
one getBroadcasts, hence one transmit, per recipient; no packet when the queues are empty, so
a node's gossip ticker only runs, at its own random phase, while its queues hold something).
User broadcasts go through a delegate queue like Serf's and networkdb's: a node re-broadcasts
one the first time it learns it.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, insort
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from cnmsim.swarm.gossip.api import ALIVE, DEAD, SUSPECT, Message
from cnmsim.swarm.gossip.config import (
    COMPOUND_HEADER_OVERHEAD,
    COMPOUND_OVERHEAD,
    USER_MSG_OVERHEAD,
    Config,
)
from cnmsim.swarm.gossip.formulas import retransmit_limit
from cnmsim.swarm.gossip.messages import CRC_OVERHEAD, MAX_COMPOUND_PARTS
from cnmsim.swarm.gossip.transport import Call

CHO, CO = COMPOUND_HEADER_OVERHEAD, COMPOUND_OVERHEAD

_BIG = 1 << 62


class _Item:
    __slots__ = ("entry", "size", "transmits", "name", "msg", "live", "finished")

    def __init__(self, size: int, name: Hashable | None, msg: Any,
                 finished: Callable[[], None] | None) -> None:
        self.entry: tuple[int, int, _Item] | None = None
        self.size = size
        self.transmits = 0
        self.name = name
        self.msg = msg
        self.live = True
        self.finished = finished


class TransmitLimitedQueue:
    """queue.go `TransmitLimitedQueue`; `num_nodes()` is memberlist's `estNumNodes`.

    Each tier is a list of (-size, -id, item) tuples in ascending order, i.e. memberlist's
    order within a tier, compared natively by bisect."""

    __slots__ = ("retransmit_mult", "num_nodes", "_tiers", "_named", "_n", "_dead", "_id",
                 "used", "_limit_for")

    def __init__(self, retransmit_mult: int, num_nodes: Callable[[], int]) -> None:
        self.retransmit_mult = retransmit_mult
        self.num_nodes = num_nodes
        self._tiers: dict[int, list[tuple[int, int, _Item]]] = {}
        self._named: dict[Hashable, _Item] = {}
        self._n = 0  # live items
        self._dead = 0  # invalidated items still sitting in a tier list
        self._id = 0
        self.used = 0  # bytes (with overheads) the last get_broadcasts handed out
        self._limit_for = (-1, 0)  # (num_nodes, retransmit limit) last computed

    def __len__(self) -> int:
        return self._n

    def num_queued(self) -> int:
        """queue.go `NumQueued`."""
        return self._n

    def queue_broadcast(self, msg: Any, size: int, name: Hashable | None = None,
                        finished: Callable[[], None] | None = None, transmits: int = 0) -> None:
        """queue.go `queueBroadcast`: enqueue `msg` of `size` bytes in tier `transmits`; a
        named one invalidates the queued broadcast with the same name (its `finished` runs)."""
        self._id += 1
        it = _Item(size, name, msg, finished)
        it.transmits = transmits
        it.entry = entry = (-size, -self._id, it)
        if name is not None:
            old = self._named.pop(name, None)
            if old is not None:
                self._drop(old)
            self._named[name] = it
        tier = self._tiers.get(transmits)
        if tier is None:
            self._tiers[transmits] = [entry]
        else:
            insort(tier, entry)
        self._n += 1

    def _drop(self, it: _Item) -> None:
        """Invalidate a queued item (lazy removal from its tier)."""
        it.live = False
        self._n -= 1
        self._dead += 1
        if it.name is not None and self._named.get(it.name) is it:
            del self._named[it.name]
        if it.finished is not None:
            it.finished()
        if self._dead > 64 and self._dead > self._n:
            self._compact()

    def _compact(self) -> None:
        for t in list(self._tiers):
            lst = [e for e in self._tiers[t] if e[2].live]
            if lst:
                self._tiers[t] = lst
            else:
                del self._tiers[t]
        self._dead = 0

    def get_broadcasts(self, overhead: int, limit: int) -> list[Any]:
        """queue.go `GetBroadcasts`: messages filling at most `limit` bytes, each costing
        `overhead` more; every one handed out is charged one transmit."""
        self.used = 0
        if not self._n:
            return []
        nodes = self.num_nodes()
        if self._limit_for[0] != nodes:
            self._limit_for = (nodes, retransmit_limit(self.retransmit_mult, nodes))
        tl = self._limit_for[1]
        used = 0
        out: list[Any] = []
        bumped: list[_Item] = []
        tiers = self._tiers
        for t in sorted(tiers) if len(tiers) > 1 else list(tiers):
            lst = tiers[t]
            i = 0
            while i < len(lst):
                free = limit - used - overhead
                if free <= 0:
                    break
                it = lst[i][2]
                if not it.live:
                    del lst[i]
                    self._dead -= 1
                    continue
                size = it.size
                if size > free:  # skip to the first (largest) one that fits
                    i = bisect_left(lst, (-free, -_BIG), i + 1)
                    continue
                block, m = [it], 1
                if len(lst) - i > 8:  # a long tier: take the run of same-size ones that fits
                    m = min(bisect_left(lst, (-size, 0), i + 1) - i,
                            (limit - used) // (overhead + size))
                    block = [e[2] for e in lst[i:i + m]]
                    if not all(x.live for x in block):
                        block, m = [it], 1
                del lst[i:i + m]
                used += m * (overhead + size)
                for x in block:
                    out.append(x.msg)
                    if t + 1 >= tl:
                        self._finish(x)
                    else:
                        x.transmits = t + 1
                        bumped.append(x)
            if not lst:
                del self._tiers[t]
            if limit - used - overhead <= 0:
                break
        for it in bumped:  # reinserted after the walk, as queue.go does
            tier = self._tiers.get(it.transmits)
            if tier is None:
                self._tiers[it.transmits] = [it.entry]  # type: ignore[list-item]
            else:
                insort(tier, it.entry)  # type: ignore[type-var]
        if not self._n:
            self._id = 0  # queue.go deleteItem: an idle queue restarts its ids
        self.used = used
        return out

    def _finish(self, it: _Item) -> None:
        self._n -= 1
        if it.name is not None and self._named.get(it.name) is it:
            del self._named[it.name]
        if it.finished is not None:
            it.finished()

    def reset(self) -> None:
        """queue.go `Reset`: drop everything (each `finished` runs)."""
        live = [e[2] for lst in self._tiers.values() for e in lst if e[2].live]
        self._tiers.clear()
        self._named.clear()
        self._n = self._dead = self._id = 0
        for it in live:
            if it.finished is not None:
                it.finished()

    def prune(self, max_retain: int) -> None:
        """queue.go `Prune`: keep the `max_retain` first messages in queue order."""
        for it in self._ordered()[max_retain:]:
            self._drop(it)

    def _ordered(self) -> list[_Item]:
        return [e[2] for t in sorted(self._tiers) for e in self._tiers[t] if e[2].live]

    def messages(self) -> list[tuple[Any, int]]:
        """(message, transmits so far) in queue order: fewest transmits, largest, newest."""
        return [(it.msg, it.transmits) for it in self._ordered()]


class Dissemination:
    """Broadcast queues of every node and how they drain (mixed into `Cluster`, which
    provides the attributes below and `_send`, `_emit`, `_later`)."""

    n: int
    config: Config
    env: Any
    rng: random.Random
    state: np.ndarray
    queues: list[TransmitLimitedQueue]
    user_queues: list[TransmitLimitedQueue]
    running: list[bool]
    epoch: list[int]
    _st: list[memoryview]
    _since: list[dict[int, float]]
    _gossiping: list[bool]
    _gphase: list[float]
    _udp: int
    _extra: int
    _bknown: dict[int, bytearray]
    _bmsg: dict[int, Message]
    _subs: dict[str, list[Any]]
    _send: Callable[[Message], None]
    _emit: Callable[..., None]
    _later: Callable[..., None]

    def broadcast(self, node: int, payload: bytes = b"", size: int = 64) -> int:
        """A user (delegate) broadcast of `size` payload bytes from node; returns its id.  Each
        node re-broadcasts it once when it first learns it (Event "broadcast")."""
        bid = len(self._bmsg)
        msg = Message("user", node, -1, USER_MSG_OVERHEAD + size,
                      {"id": bid, "origin": node, "payload": payload})
        self._bmsg[bid] = msg
        self._bknown[bid] = bytearray(self.n)
        if self.running[node]:
            self._on_user(node, node, msg)
        return bid

    def _on_user(self, o: int, src: int, msg: Message) -> None:
        """Delegate `NotifyMsg`: learn a user broadcast once, then re-broadcast it."""
        bid = msg.body["id"]
        known = self._bknown.get(bid)
        if known is None or known[o]:
            return
        known[o] = 1
        if self._subs["broadcast"]:
            self._emit("broadcast", o, o, {"id": bid, "origin": msg.body["origin"]})
        self.user_queues[o].queue_broadcast(msg, msg.size - USER_MSG_OVERHEAD)
        if not self._gossiping[o]:
            self._wake(o)

    def _broadcasts(self, i: int, overhead: int, limit: int) -> list[Message]:
        """broadcast.go `getBroadcasts`: memberlist's messages, then the delegate's."""
        q, uq = self.queues[i], self.user_queues[i]
        msgs = q.get_broadcasts(overhead, limit) if q._n else []
        if uq._n:
            avail = limit - (q.used if msgs else 0)
            if avail > overhead + USER_MSG_OVERHEAD:
                msgs += uq.get_broadcasts(overhead + USER_MSG_OVERHEAD, avail)
        return msgs

    def _send_msg(self, msg: Message) -> None:
        """net.go `sendMsg`: piggyback pending broadcasts within the UDP buffer."""
        i = msg.src
        if self.queues[i]._n or self.user_queues[i]._n:
            extra = self._broadcasts(i, CO, self._udp - msg.size - CHO)
            if extra:
                parts = [msg, *extra]
                size = CHO + sum(CO + p.size for p in parts)
                msg = Message("compound", i, msg.dst, size, {}, parts)
        if self._extra:
            msg.size += self._extra
        self._send(msg)

    def _queue(self, i: int, msg: Message, name: int) -> None:
        self.queues[i].queue_broadcast(msg, msg.size, name)
        if not self._gossiping[i]:
            self._wake(i)

    def _wake(self, i: int) -> None:
        """Start i's gossip ticker at its next tick (it runs while there is something to send)."""
        cfg = self.config
        if self._gossiping[i] or not self.running[i] or cfg.gossip_interval <= 0 \
                or cfg.gossip_nodes <= 0:
            return
        self._gossiping[i] = True
        now, gi, ph = self.env.now, cfg.gossip_interval, self._gphase[i]
        t = ph + (math.floor((now - ph) / gi) + 1) * gi
        self._later(max(0.0, t - now), self._gossip_tick, (i, self.epoch[i]))

    def _gossip_tick(self, ev: Call) -> None:
        """state.go `gossip`: to GossipNodes random live, suspect or recently dead nodes, one
        getBroadcasts per recipient; nothing is sent once the queues run dry."""
        i, epoch = ev.arg
        if self.epoch[i] != epoch:
            return
        cfg = self.config
        q, uq = self.queues[i], self.user_queues[i]
        if not (q._n or uq._n):
            self._gossiping[i] = False
            return
        limit = self._udp - CHO
        for t in self._k_random(i, cfg.gossip_nodes, -1, True):
            msgs = self._broadcasts(i, CO, limit)
            if not msgs:
                break
            if len(msgs) == 1:
                m = msgs[0]
                self._send(Message(m.kind, i, t, m.size + CRC_OVERHEAD + self._extra,
                                   {"crc": True}, msgs))
                continue
            for k in range(0, len(msgs), MAX_COMPOUND_PARTS):
                chunk = msgs[k:k + MAX_COMPOUND_PARTS]
                size = CHO + sum(CO + p.size for p in chunk) + CRC_OVERHEAD + self._extra
                self._send(Message("compound", i, t, size, {"crc": True}, chunk))
        if q._n or uq._n:
            self._later(cfg.gossip_interval, self._gossip_tick, ev.arg)
        else:
            self._gossiping[i] = False

    def _k_random(self, i: int, k: int, exclude: int, gossip: bool) -> list[int]:
        """util.go `kRandomNodes`: k distinct random members, alive ones (or, for gossip,
        alive, suspect or dead for at most GossipToTheDeadTime), not i nor `exclude`."""
        st, n, rnd = self._st[i], self.n, self.rng.random
        out: list[int] = []
        if k <= 0:
            return out
        since, now, gttd = self._since[i], self.env.now, self.config.gossip_to_the_dead_time
        tries = 0
        while len(out) < k:
            tries += 1
            if tries > 4 * k + 16:
                return self._k_random_slow(i, k, exclude, gossip, out)
            j = int(rnd() * n)
            if j == i or j == exclude or j in out:
                continue
            s = st[j]
            if s == ALIVE or (gossip and (s == SUSPECT or (s == DEAD and now - since[j] <= gttd))):
                out.append(j)
        return out

    def _k_random_slow(self, i: int, k: int, exclude: int, gossip: bool,
                       out: list[int]) -> list[int]:
        row = self.state[i]
        mask = (row == ALIVE) | (row == SUSPECT) if gossip else row == ALIVE
        cand = set(np.flatnonzero(mask).tolist())
        if gossip:
            now, gttd = self.env.now, self.config.gossip_to_the_dead_time
            cand.update(j for j, t in self._since[i].items()
                        if self._st[i][j] == DEAD and now - t <= gttd)
        cand -= {i, exclude, *out}
        pool = sorted(cand)
        return out + self.rng.sample(pool, min(k - len(out), len(pool)))
