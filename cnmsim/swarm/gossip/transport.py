"""The underlay between gossip nodes, modelled abstractly for studies of 10 to 10,000 hosts.

`FastTransport` delivers each `Message` after the path's one-way latency (default 0.5 ms) plus
uniform jitter in [0, jitter), plus its serialisation time at `bandwidth`; UDP messages are lost
with probability `loss` (global, or per link); TCP messages (`reliable`) are never lost but pay
`tcp_setup` extra one-way delays for the connection handshake, and fail only when the path is
cut (partition, or a link with loss 1).  A *slow* host processes every message it receives
`delay` seconds late (Lifeguard's degraded member).  Randomness comes from the cluster's RNG
(`attach`), so a seed fixes every delay and loss.

Deliveries are scheduled as bare simpy events (`Call`): one heap entry and one callback each,
no process, which is what lets 10,000 hosts run in minutes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from simpy.events import NORMAL

from cnmsim.swarm.gossip.api import Message


class Call:
    """A minimal simpy event that runs `fn(self)` when the environment reaches it.

    It is scheduled directly with `env.schedule` (triggered, never failed), and carries one
    argument, so a timer costs one small object and one heap entry."""

    __slots__ = ("callbacks", "arg")
    _ok = True  # simpy's step() checks it
    _value = None

    def __init__(self, fn: Callable[[Call], Any], arg: Any) -> None:
        self.callbacks: list[Callable[[Call], Any]] | None = [fn]
        self.arg = arg


def call_later(env: Any, delay: float, fn: Callable[[Call], Any], arg: Any = None) -> Call:
    """Run fn(call) at env.now + delay (call.arg is `arg`)."""
    ev = Call(fn, arg)
    env.schedule(ev, NORMAL, delay)
    return ev


class _Link:
    __slots__ = ("loss", "latency", "jitter")

    def __init__(self, loss: float | None, latency: float | None, jitter: float | None) -> None:
        self.loss, self.latency, self.jitter = loss, latency, jitter


class FastTransport:
    """Latency, jitter, loss, partitions, slow hosts and TCP reachability between node ids."""

    def __init__(self, latency: float = 0.0005, jitter: float = 0.0, loss: float = 0.0,
                 bandwidth: float | None = 1e9, tcp_setup: int = 2) -> None:
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self.bandwidth = bandwidth
        self.tcp_setup = tcp_setup
        self.env: Any = None
        self.rng: random.Random = random.Random(0)
        self.n = 0
        self.deliver: Callable[[Message], None] | None = None
        self._links: dict[tuple[int, int], _Link] = {}
        self._group: list[int] | None = None
        self._slow: dict[int, float] = {}
        self._byte_time = 8.0 / bandwidth if bandwidth else 0.0
        self.sent = 0
        self.dropped = 0

    # -- wiring ---------------------------------------------------------------------------------

    def attach(self, env: Any, rng: random.Random, n: int) -> None:
        """Use the cluster's environment and RNG (called by `Cluster`)."""
        self.env, self.rng, self.n = env, rng, n

    def bind(self, deliver: Callable[[Message], None]) -> None:
        self.deliver = deliver

    # -- faults ---------------------------------------------------------------------------------

    def partition(self, groups: Iterable[Iterable[int]]) -> None:
        """Cut every path between nodes of different groups (nodes in no group keep theirs)."""
        g = [-1] * self.n
        for k, members in enumerate(groups):
            for x in members:
                g[x] = k
        self._group = g

    def heal(self) -> None:
        """Remove the partition."""
        self._group = None

    def set_link(self, src: int, dst: int, loss: float | None = None,
                 latency: float | None = None, jitter: float | None = None) -> None:
        """Override loss / latency / jitter on src -> dst (None keeps the global value)."""
        old = self._links.get((src, dst))
        if old is not None:
            loss = old.loss if loss is None else loss
            latency = old.latency if latency is None else latency
            jitter = old.jitter if jitter is None else jitter
        self._links[(src, dst)] = _Link(loss, latency, jitter)

    def clear_link(self, src: int, dst: int) -> None:
        self._links.pop((src, dst), None)

    def set_slow(self, node: int, delay: float) -> None:
        """Node processes what it receives `delay` s late (0 makes it healthy again)."""
        if delay > 0:
            self._slow[node] = delay
        else:
            self._slow.pop(node, None)

    def _cut(self, src: int, dst: int) -> bool:
        g = self._group
        if g is not None and g[src] != g[dst] and g[src] >= 0 and g[dst] >= 0:
            return True
        link = self._links.get((src, dst)) if self._links else None
        return link is not None and link.loss is not None and link.loss >= 1.0

    def reachable(self, src: int, dst: int) -> bool:
        """Whether a TCP connection from src to dst can be made (no partition, no dead link)."""
        return not self._cut(src, dst)

    # -- sending --------------------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        src, dst = msg.src, msg.dst
        self.sent += 1
        latency, jitter, loss = self.latency, self.jitter, self.loss
        if self._group is not None or self._links:
            if self._cut(src, dst):
                self.dropped += 1
                return
            link = self._links.get((src, dst)) if self._links else None
            if link is not None:
                loss = loss if link.loss is None else link.loss
                latency = latency if link.latency is None else link.latency
                jitter = jitter if link.jitter is None else link.jitter
        if msg.reliable:
            latency *= 1 + self.tcp_setup
        elif loss and self.rng.random() < loss:
            self.dropped += 1
            return
        if jitter:
            latency += jitter * self.rng.random()
        if self._byte_time:
            latency += msg.size * self._byte_time
        if self._slow:
            latency += self._slow.get(dst, 0.0)
        ev = Call(self._arrive, msg)
        self.env.schedule(ev, NORMAL, latency)

    def _arrive(self, ev: Call) -> None:
        self.deliver(ev.arg)  # type: ignore[misc]
