"""SWIM's suspicion subprotocol with Lifeguard's dynamic timer, as memberlist implements them.

`SuspicionProtocol` (mixed into `Cluster`) is state.go's `aliveNode`, `suspectNode`,
`deadNode`, `refute` and `mergeState` (facts/gossip.md §1.3, §3.2): alive(inc) overrides
suspect/dead of a lower incarnation, suspect(inc) overrides alive(inc' <= inc), dead overrides
both, a node accused of being suspect or dead refutes with a higher incarnation, a dead message
sent by the node itself means it left, and a push/pull's remote dead becomes a local suspect.

`Suspicion` is Lifeguard's timer (memberlist `suspicion.go`; facts §1.3).

A member that suspects another starts a timer at `max` (or at `min` when no confirmations are
expected, k < 1).  Every *independent* confirmation, a suspect message from a member not yet
counted (the original accuser never counts), shortens it to
`max(min, max - (max - min) * ln(C + 1) / ln(K + 1))` measured from the start, until K
confirmations have arrived.  simpy cannot cancel a timeout, so the owner reschedules at the
new `deadline` and ignores firings whose `token` is stale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from cnmsim.swarm.gossip.api import ALIVE, DEAD, LEFT, SUSPECT, Message
from cnmsim.swarm.gossip.awareness import Awareness
from cnmsim.swarm.gossip.config import Config
from cnmsim.swarm.gossip.formulas import (
    remaining_suspicion_time,
    suspicion_bounds,
    suspicion_k,
)
from cnmsim.swarm.gossip.messages import Sizes
from cnmsim.swarm.gossip.transport import Call

UNKNOWN = -1


class Suspicion:
    """suspicion.go `suspicion`: one observer's timer on one suspect member."""

    __slots__ = ("k", "min", "max", "start", "n", "confirmations", "deadline", "token")

    def __init__(self, accuser: Hashable, k: int, lo: float, hi: float, now: float) -> None:
        self.k = k
        self.min = lo
        self.max = hi
        self.start = now
        self.n = 0
        self.confirmations: set[Hashable] = {accuser}  # the accuser is excluded (newSuspicion)
        self.deadline = now + (hi if k >= 1 else lo)
        self.token = 0

    def confirm(self, node: Hashable, now: float) -> bool:
        """suspicion.go `Confirm`: count `node`'s accusation once; True if it was new (then
        the caller re-gossips it and reschedules at `deadline`, which may be `now`)."""
        if self.n >= self.k or node in self.confirmations:
            return False
        self.confirmations.add(node)
        self.n += 1
        remaining = remaining_suspicion_time(self.n, self.k, now - self.start, self.min, self.max)
        self.deadline = now + max(0.0, remaining)
        self.token += 1
        return True

    def timeout(self) -> float:
        """The total suspicion time as it stands, from the start."""
        return self.deadline - self.start


class SuspicionProtocol:
    """Member state transitions of every node (mixed into `Cluster`, which provides the
    attributes below and `_queue`, `_emit`, `_later`)."""

    config: Config
    env: Any
    lifeguard: bool
    sizes: Sizes
    awareness: Awareness
    state: np.ndarray
    incarnation: np.ndarray
    known: list[int]
    has_left: list[bool]
    epoch: list[int]
    queues: list[Any]
    _st: list[memoryview]
    _inc: list[memoryview]
    _since: list[dict[int, float]]
    _timers: list[dict[int, Suspicion]]
    _bounds: dict[int, tuple[float, float]]
    _sub_member: list[Any]
    _queue: Callable[[int, Message, int], None]
    _wake: Callable[[int], None]
    _emit: Callable[..., None]
    _later: Callable[..., None]
    _shutdown: Callable[[Call], None]

    def _changed(self, o: int, x: int) -> None:
        if self._sub_member:
            self._emit("member", o, x, {"state": int(self._st[o][x]),
                                        "incarnation": int(self._inc[o][x])})

    def _on_alive(self, o: int, src: int, msg: Message) -> None:
        b = msg.body
        x, inc = b["node"], b["inc"]
        if inc <= self._inc[o][x] and x != o and self._st[o][x] >= 0:
            return  # old news: aliveNode would bail out (the common case while joining)
        self._alive(o, x, inc, msg)

    def _on_suspect(self, o: int, src: int, msg: Message) -> None:
        b = msg.body
        self._suspect(o, b["node"], b["inc"], b["from"], msg)

    def _on_dead(self, o: int, src: int, msg: Message) -> None:
        b = msg.body
        self._dead(o, b["node"], b["inc"], b["from"], msg)

    def _alive(self, o: int, x: int, inc: int, msg: Message | None = None,
               bootstrap: bool = False) -> None:
        """state.go `aliveNode`: o hears that x is alive at incarnation inc."""
        local = x == o
        if local and self.has_left[o]:
            return
        st, incs = self._st[o], self._inc[o]
        s = st[x]
        if s == UNKNOWN:  # a new member: added as dead at incarnation 0, then updated
            st[x], incs[x], s = DEAD, 0, DEAD
            self._since[o][x] = -math.inf  # Go's zero StateChange: dead "for ever"
            self.known[o] += 1
        cur = incs[x]
        if inc < cur or (inc == cur and not local):
            return
        self._timers[o].pop(x, None)
        if local and not bootstrap:
            if inc != cur:  # someone speaks of us with a newer incarnation: refute
                self._refute(o, inc)
            return
        if msg is None:
            msg = Message("alive", x, -1, self.sizes.alive, {"inc": inc, "node": x})
        self._queue(o, msg, x)
        incs[x] = inc
        if s != ALIVE:
            st[x] = ALIVE
            self._since[o].pop(x, None)
        self._changed(o, x)

    def _refute(self, o: int, accused: int) -> None:
        """state.go `refute`: a higher incarnation, one awareness point, broadcast alive."""
        incs = self._inc[o]
        inc = incs[o] + 1
        if accused >= inc:
            inc = accused + 1
        incs[o] = inc
        if self.lifeguard:
            self.awareness.apply_delta(o, 1)
        self._queue(o, Message("alive", o, -1, self.sizes.alive, {"inc": inc, "node": o}), o)
        self._changed(o, o)

    def _suspect(self, o: int, x: int, inc: int, frm: int, msg: Message | None = None) -> None:
        """state.go `suspectNode`: o hears `frm` suspects x at incarnation inc."""
        st, incs = self._st[o], self._inc[o]
        s = st[x]
        if s == UNKNOWN or inc < incs[x]:
            return
        now = self.env.now
        t = self._timers[o].get(x)
        if t is not None:  # a confirmation: new information is gossiped again
            if t.confirm(frm, now):
                self._queue(o, msg or self._suspect_msg(x, inc, frm), x)
                self._later(t.deadline - now, self._suspicion_fired, (o, x, t, t.token))
            return
        if s != ALIVE:
            return
        if x == o:
            self._refute(o, inc)
            return
        self._queue(o, msg or self._suspect_msg(x, inc, frm), x)
        incs[x], st[x] = inc, SUSPECT
        self._changed(o, x)
        n = self.known[o]
        b = self._bounds.get(n)
        if b is None:
            cfg = self.config
            b = self._bounds[n] = suspicion_bounds(cfg.suspicion_mult,
                                                   cfg.suspicion_max_timeout_mult, n,
                                                   cfg.probe_interval)
        k = suspicion_k(self.config.suspicion_mult, n) if self.lifeguard else 0
        t = self._timers[o][x] = Suspicion(frm, k, b[0], b[1], now)
        self._later(t.deadline - now, self._suspicion_fired, (o, x, t, t.token))

    def _suspect_msg(self, x: int, inc: int, frm: int) -> Message:
        return Message("suspect", frm, -1, self.sizes.suspect, {"inc": inc, "node": x, "from": frm})

    def _suspicion_fired(self, ev: Call) -> None:
        """The suspicion timer ran out: still suspect, same suspicion → dead."""
        o, x, t, token = ev.arg
        if t.token == token and self._timers[o].get(x) is t and self._st[o][x] == SUSPECT:
            self._dead(o, x, self._inc[o][x], o)

    def _dead(self, o: int, x: int, inc: int, frm: int, msg: Message | None = None) -> None:
        """state.go `deadNode`: o hears `frm` declares x dead (left, if frm is x itself)."""
        st, incs = self._st[o], self._inc[o]
        s = st[x]
        if s == UNKNOWN or inc < incs[x]:
            return
        self._timers[o].pop(x, None)
        if s == DEAD or s == LEFT:
            return
        if msg is None:
            msg = Message("dead", frm, -1, self.sizes.dead, {"inc": inc, "node": x, "from": frm})
        if x == o:
            if not self.has_left[o]:
                self._refute(o, inc)
                return
            # leaving: shut down once this broadcast is spent (memberlist leaveBroadcast)
            done = (o, self.epoch[o])
            self.queues[o].queue_broadcast(msg, msg.size, o,
                                           lambda: self._later(0.0, self._shutdown, done))
            self._wake(o)
        else:
            self._queue(o, msg, x)
        incs[x] = inc
        st[x] = LEFT if x == frm else DEAD
        self._since[o][x] = self.env.now
        self._changed(o, x)

    def _merge(self, o: int, rs: np.ndarray, ri: np.ndarray) -> None:
        """state.go `mergeState` of a push/pull: alive → aliveNode, left → deadNode(From =
        the node), suspect or dead → suspectNode(From = ourselves).  numpy picks the entries
        that can change anything; they go through the handlers one by one."""
        ls, li = self.state[o], self.incarnation[o]
        newer = ri > li
        ge = (ri >= li) & (ls >= 0)
        cand = (rs == ALIVE) & ((ls < 0) | newer)
        cand |= (rs == LEFT) & ge & (ls < DEAD)
        cand |= ((rs == SUSPECT) | (rs == DEAD)) & ge & (ls < DEAD)
        for j in np.flatnonzero(cand).tolist():
            r, inc = int(rs[j]), int(ri[j])
            if r == ALIVE:
                self._alive(o, j, inc)
            elif r == LEFT:
                self._dead(o, j, inc, j)
            else:
                self._suspect(o, j, inc, o)
