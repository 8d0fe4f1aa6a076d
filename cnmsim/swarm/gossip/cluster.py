"""n memberlist nodes in one simpy environment: SWIM with Lifeguard, as memberlist implements it.

Follows hashicorp/memberlist `state.go` (probe l.232-520, gossip l.590, pushPull), `net.go`
(handlers, indirect pings with nacks) and `memberlist.go` (Create, Join, Leave); the member
state machine is in `suspicion.py`, the queues and gossip in `queue.py`.  Facts: gossip.md §1.

Scale: every node's view of every member lives in two n x n numpy arrays (state int8, -1 for
unknown; incarnation uint32), read and written through per-row memoryviews; dead/left members
keep their StateChange time in a sparse per-node dict.  A node's probe order is a random affine
permutation p -> (a*p + b) mod n of all ids, redrawn at every wrap (memberlist reshuffles
`m.nodes`), skipping itself, unknown and dead ids.  Timers are bare simpy events (`Call`).

Kept as in memberlist: the probe ticker drops ticks while a probe runs (Go's ticker channel
holds one); awareness scales the probe deadline but not ProbeTimeout; the TCP fallback's answer
is looked at only at the deadline; a relay nacks ProbeTimeout after an indirect-ping; the buddy
system sends ping+suspect to a suspect target; push/pull turns remote dead into local suspect.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Any

import numpy as np
import simpy
from simpy.events import NORMAL

from cnmsim.swarm.gossip.api import ALIVE, DEAD, SUSPECT, Event, Message, Subscriber
from cnmsim.swarm.gossip.awareness import Awareness
from cnmsim.swarm.gossip.config import (
    COMPOUND_HEADER_OVERHEAD,
    COMPOUND_OVERHEAD,
    Config,
    lan,
)
from cnmsim.swarm.gossip.formulas import push_pull_scale
from cnmsim.swarm.gossip.messages import CRC_OVERHEAD, Sizes
from cnmsim.swarm.gossip.queue import Dissemination, TransmitLimitedQueue
from cnmsim.swarm.gossip.suspicion import UNKNOWN, Suspicion, SuspicionProtocol
from cnmsim.swarm.gossip.transport import Call, FastTransport

KINDS = ("member", "probe", "broadcast", "send", "crash", "restart", "leave", "join",
         "partition", "heal")
CHO, CO = COMPOUND_HEADER_OVERHEAD, COMPOUND_OVERHEAD


class _Probe:
    """One run of state.go `probeNode`."""

    __slots__ = ("node", "target", "seq", "epoch", "start", "deadline", "inc", "done", "nacks",
                 "expected", "tcp_ok")

    def __init__(self, node: int, target: int, seq: int, epoch: int, start: float,
                 deadline: float, inc: int) -> None:
        self.node, self.target, self.seq, self.epoch = node, target, seq, epoch
        self.start, self.deadline, self.inc = start, deadline, inc
        self.done = self.tcp_ok = False
        self.nacks = self.expected = 0


class _Relay:
    """A relay's pending indirect ping (net.go `handleIndirectPing`)."""

    __slots__ = ("node", "origin", "seq", "epoch", "nack", "done")

    def __init__(self, node: int, origin: int, seq: int, epoch: int, nack: bool) -> None:
        self.node, self.origin, self.seq, self.epoch, self.nack = node, origin, seq, epoch, nack
        self.done = False


class _Exchange:
    """A push/pull in flight (state.go `pushPullNode`)."""

    __slots__ = ("node", "peer", "join", "epoch", "xid", "done")

    def __init__(self, node: int, peer: int, join: bool, epoch: int, xid: int) -> None:
        self.node, self.peer, self.join, self.epoch, self.xid = node, peer, join, epoch, xid
        self.done = False


class Cluster(SuspicionProtocol, Dissemination):
    """n memberlist nodes (ids 0..n-1) sharing one environment and one seeded RNG."""

    def __init__(self, n: int, config: Config | None = None, seed: int = 0,
                 transport: Any = None, env: Any = None) -> None:
        self.n = n
        self.config = cfg = config if config is not None else lan()
        self.seed = seed
        self.rng = random.Random(seed)
        self.transport = transport if transport is not None else FastTransport()
        lab = getattr(self.transport, "lab", None)
        self.env = env or getattr(self.transport, "env", None) or getattr(lab, "env", None) \
            or simpy.Environment()
        if hasattr(self.transport, "attach"):
            self.transport.attach(self.env, self.rng, n)
        self.transport.bind(self._deliver)
        self.sizes = Sizes.of(cfg)
        self._extra = cfg.packet_overhead()  # label + encryption on every packet
        self._udp = cfg.udp_buffer_size - self._extra
        self.lifeguard = cfg.lifeguard
        # views: state[o, s], incarnation[o, s]
        self.state = np.full((n, n), UNKNOWN, dtype=np.int8)
        self.incarnation = np.zeros((n, n), dtype=np.uint32)
        self._st = [memoryview(r) for r in self.state]
        self._inc = [memoryview(r) for r in self.incarnation]
        self.known = [0] * n  # estNumNodes: members in the list, dead ones until reaped
        self._since: list[dict[int, float]] = [{} for _ in range(n)]  # dead/left StateChange
        self._timers: list[dict[int, Suspicion]] = [{} for _ in range(n)]
        self._acks: list[dict[int, _Probe | _Relay]] = [{} for _ in range(n)]
        self.running = [False] * n
        self.has_left = [False] * n
        self.epoch = [0] * n  # bumped when a process stops or starts: stale timers ignore it
        self.awareness = Awareness(n, cfg.awareness_max_multiplier)
        known = self.known
        self.queues = [TransmitLimitedQueue(cfg.retransmit_mult, lambda i=i: known[i])
                       for i in range(n)]
        self.user_queues = [TransmitLimitedQueue(cfg.retransmit_mult, lambda i=i: known[i])
                            for i in range(n)]
        self._seq = [0] * n
        self._pa, self._pb, self._pos = [1] * n, [0] * n, [0] * n  # probe order and index
        self._tphase, self._tk = [0.0] * n, [0] * n  # probe ticker phase, next tick index
        self._gphase = [0.0] * n
        self._gossiping = [False] * n
        self._xid = 0
        self._pending: dict[tuple[int, int], _Exchange] = {}
        self._bknown: dict[int, bytearray] = {}  # user broadcast id -> who has it
        self._bmsg: dict[int, Message] = {}
        self._bounds: dict[int, tuple[float, float]] = {}
        # accounting
        self.msgs = self.bytes = self.lost = 0
        self.sent_msgs, self.sent_bytes = [0] * n, [0] * n
        self._kmsgs: dict[str, int] = {}
        self._kbytes: dict[str, int] = {}
        self._kparts: dict[str, int] = {}
        # subscribers per event kind
        self._all: list[Subscriber] = []
        self._subs: dict[str, list[Subscriber]] = {k: [] for k in KINDS}
        self._sub_send, self._sub_probe = self._subs["send"], self._subs["probe"]
        self._sub_member = self._subs["member"]
        self._handlers = {
            "ping": self._on_ping, "indirect-ping": self._on_indirect, "ack": self._on_ack,
            "nack": self._on_nack, "alive": self._on_alive, "suspect": self._on_suspect,
            "dead": self._on_dead, "user": self._on_user, "push-pull": self._on_push_pull,
        }
        self._started = False

    # -- public API -------------------------------------------------------------------------------

    def subscribe(self, fn: Subscriber, kinds: Iterable[str] | None = None) -> None:
        """Call fn(event) for every event, or only for the given kinds.  Events nobody
        subscribed to are never built ("send" and "probe" are the frequent ones)."""
        if kinds is None:
            self._all.append(fn)
            for lst in self._subs.values():
                lst.append(fn)
            return
        for k in kinds:
            if k not in self._subs:
                self._subs[k] = list(self._all)
            self._subs[k].append(fn)

    def on_message(self, kind: str, fn: Any) -> None:
        """Hand transport messages of another `kind` (e.g. "networkdb") to fn(msg) at a
        running receiver."""
        self._handlers[kind] = lambda o, src, msg: fn(msg)

    def _emit(self, kind: str, observer: int, subject: int, data: dict[str, Any]) -> None:
        subs = self._subs.get(kind, self._all)
        if subs:
            ev = Event(self.env.now, kind, observer, subject, data)
            for fn in subs:
                fn(ev)

    def start(self, join: str = "all") -> None:
        """"all": every node knows every other (alive, incarnation 1) at t=0.  "seed": node 0
        starts alone and each other node starts at a random time in the first ProbeInterval
        and joins through it (push/pull), the way a real cluster forms."""
        if self._started:
            raise RuntimeError("cluster already started")
        self._started = True
        if join == "all":
            self.state[:] = ALIVE
            self.incarnation[:] = 1
            self.known[:] = [self.n] * self.n
            for i in range(self.n):
                self._boot(i)
        elif join == "seed":
            self._create(0)
            self._boot(0)
            for i in range(1, self.n):
                self._later(self.rng.random() * self.config.probe_interval, self._start_join, i)
        else:
            raise ValueError(f"unknown join mode {join!r}: 'all' or 'seed'")

    def run(self, until: float) -> None:
        self.env.run(until=until)

    def view(self, observer: int, subject: int) -> tuple[int, int]:
        """(state, incarnation) of subject in observer's list; state -1: never heard of."""
        return int(self._st[observer][subject]), int(self._inc[observer][subject])

    def alive(self, node: int) -> bool:
        return self.running[node]

    def members(self, observer: int) -> dict[int, tuple[int, int]]:
        """observer's member list: id -> (state, incarnation)."""
        return {j: self.view(observer, j)
                for j in np.flatnonzero(self.state[observer] >= 0).tolist()}

    def crash(self, node: int) -> None:
        """The process dies: no more messages, timers or answers."""
        if self.running[node]:
            self._stop(node)
            self._emit("crash", node, node, {})

    def restart(self, node: int) -> None:
        """A fresh process (empty list, incarnation 1, healthy) rejoins through a random
        running node; refutation gives it an incarnation above the one the others hold."""
        if self.running[node]:
            return
        self._emit("restart", node, node, {})
        self._create(node)
        self._boot(node)
        self._join(node)

    def leave(self, node: int, timeout: float = 5.0) -> None:
        """memberlist `Leave`: broadcast dead(self, From=self) so others mark it LEFT, keep
        running until that broadcast is spent (or `timeout`), then shut down."""
        if not self.running[node] or self.has_left[node]:
            return
        self.has_left[node] = True
        self._emit("leave", node, node, {})
        self._dead(node, node, self._inc[node][node], node)
        row = self.state[node]
        if np.count_nonzero((row == ALIVE) | (row == SUSPECT)):  # memberlist anyAlive
            self._later(timeout, self._shutdown, (node, self.epoch[node]))
        else:
            self._stop(node)

    def partition(self, groups: Iterable[Iterable[int]]) -> None:
        """Cut the transport between groups (Event "partition")."""
        groups = [list(g) for g in groups]
        self.transport.partition(groups)
        self._emit("partition", -1, -1, {"groups": groups})

    def heal(self) -> None:
        self.transport.heal()
        self._emit("heal", -1, -1, {})

    def stats(self) -> dict[str, float]:
        """Packets ("msgs") and bytes sent, in total and per kind ("msgs.ping", ...);
        "parts.<kind>": messages carried in compounds or gossip packets (each broadcast copy
        counts once); "lost": delivered to a stopped process; "dropped": lost on the way."""
        out: dict[str, float] = {"msgs": self.msgs, "bytes": self.bytes, "lost": self.lost,
                                 "dropped": getattr(self.transport, "dropped", 0)}
        for k, v in sorted(self._kmsgs.items()):
            out[f"msgs.{k}"] = v
            out[f"bytes.{k}"] = self._kbytes[k]
        for k, v in sorted(self._kparts.items()):
            out[f"parts.{k}"] = v
        return out

    def sent_per_node(self) -> list[int]:
        """Packets each node sent (counted even without "send" subscribers)."""
        return list(self.sent_msgs)

    # -- lifecycle --------------------------------------------------------------------------------

    def _later(self, delay: float, fn: Any, arg: Any = None) -> None:
        self.env.schedule(Call(fn, arg), NORMAL, delay)

    def _create(self, i: int) -> None:
        """memberlist `Create`: an empty list holding only ourselves (setAlive)."""
        self.state[i] = UNKNOWN
        self.incarnation[i] = 0
        self.known[i] = 0
        self._since[i].clear()
        self._timers[i].clear()
        self._acks[i].clear()
        self.queues[i].reset()
        self.user_queues[i].reset()
        self.awareness.reset(i)
        self.has_left[i] = False
        self._seq[i] = 0
        for known in self._bknown.values():
            known[i] = 0
        self._alive(i, i, 1, bootstrap=True)  # queued; gossiped once _boot starts the tickers

    def _boot(self, i: int) -> None:
        """memberlist `schedule`: probe, push/pull and gossip tickers with random stagger."""
        cfg, rnd = self.config, self.rng.random
        self.running[i] = True
        self.epoch[i] += 1
        self._gossiping[i] = False
        self._new_order(i)
        now = self.env.now
        if cfg.probe_interval > 0:
            self._tphase[i], self._tk[i] = now + rnd() * cfg.probe_interval, 0
            self._later(self._tphase[i] - now, self._probe_tick, (i, self.epoch[i], 1))
        self._gphase[i] = now + rnd() * cfg.gossip_interval
        if cfg.push_pull_interval > 0:
            first = rnd() * cfg.push_pull_interval + push_pull_scale(
                cfg.push_pull_interval, self.known[i])
            self._later(first, self._pp_tick, (i, self.epoch[i]))
        if self.queues[i].num_queued() or self.user_queues[i].num_queued():
            self._wake(i)

    def _start_join(self, ev: Call) -> None:
        i = ev.arg
        self._create(i)
        self._boot(i)
        self._join(i, 0)

    def _join(self, i: int, seed: int | None = None) -> None:
        """memberlist `Join`: push/pull (join=True) with a seed; retried after TCPTimeout
        with another running node if it fails (networkdb's agent retries its joins)."""
        if seed is None or seed == i or not self.running[seed]:
            up = [j for j in range(self.n) if self.running[j] and j != i]
            if not up:
                return
            seed = self.rng.choice(up)
        self._push_pull(i, seed, True)

    def _stop(self, i: int) -> None:
        self.running[i] = False
        self.epoch[i] += 1
        self._gossiping[i] = False
        self._acks[i].clear()
        self._timers[i].clear()

    def _shutdown(self, ev: Call) -> None:
        i, epoch = ev.arg
        if self.epoch[i] == epoch and self.running[i]:
            self._stop(i)

    # -- accounting and sending -------------------------------------------------------------------

    def _send(self, msg: Message) -> None:
        """Count a packet and hand it to the transport."""
        size, src, kind = msg.size, msg.src, msg.kind
        self.msgs += 1
        self.bytes += size
        self.sent_msgs[src] += 1
        self.sent_bytes[src] += size
        km, kb = self._kmsgs, self._kbytes
        km[kind] = km.get(kind, 0) + 1
        kb[kind] = kb.get(kind, 0) + size
        if msg.parts:
            kp = self._kparts
            for p in msg.parts:
                kp[p.kind] = kp.get(p.kind, 0) + 1
        if self._sub_send:
            self._emit("send", src, msg.dst, {"kind": kind, "size": size})
        self.transport.send(msg)

    # -- receiving --------------------------------------------------------------------------------

    def _deliver(self, msg: Message) -> None:
        dst = msg.dst
        if not self.running[dst]:
            self.lost += 1
            return
        if msg.parts:  # a compound, or one gossiped broadcast in its envelope
            h = self._handlers
            for p in msg.parts:
                h[p.kind](dst, msg.src, p)
        else:
            self._handlers[msg.kind](dst, msg.src, msg)

    # -- probe cycle (state.go probe / probeNode, net.go ping handlers) -------------------------

    def _new_order(self, i: int) -> None:
        """A fresh shuffle of the probe list (resetNodes): a random affine permutation."""
        n, rng = self.n, self.rng
        a = 1 + int(rng.random() * (n - 1)) if n > 2 else 1
        while math.gcd(a, n) != 1:
            a = 1 + int(rng.random() * (n - 1))
        self._pa[i], self._pb[i], self._pos[i] = a, int(rng.random() * n), 0

    def _reset_nodes(self, i: int) -> None:
        """state.go `resetNodes`: reap dead/left members older than GossipToTheDeadTime,
        reshuffle."""
        since, now, gttd = self._since[i], self.env.now, self.config.gossip_to_the_dead_time
        st, inc = self._st[i], self._inc[i]
        for j in [j for j, t in since.items() if now - t > gttd]:
            del since[j]
            st[j], inc[j] = UNKNOWN, 0
            self.known[i] -= 1
        self._new_order(i)

    def _probe_tick(self, ev: Call) -> None:
        i, epoch, tick = ev.arg  # tick: a fresh tick (else one that waited in the channel)
        if self.epoch[i] == epoch:
            self._tk[i] += tick
            self._probe(i)

    def _probe(self, i: int) -> None:
        """state.go `probe`: the next member round-robin, skipping ourselves and the dead."""
        st, n = self._st[i], self.n
        a, b, pos = self._pa[i], self._pb[i], self._pos[i]
        for _ in range(n + 2):
            if pos >= n:
                self._reset_nodes(i)
                a, b, pos = self._pa[i], self._pb[i], 0
                continue
            j = (a * pos + b) % n
            pos += 1
            s = st[j]
            if j != i and 0 <= s < DEAD:
                self._pos[i] = pos
                self._probe_node(i, j, s)
                return
        self._pos[i] = pos
        self._next_probe(i)

    def _probe_node(self, i: int, j: int, s: int) -> None:
        """state.go `probeNode`, first phase: ping (ping+suspect to a suspect target)."""
        cfg, now = self.config, self.env.now
        interval = cfg.probe_interval
        if self.lifeguard:
            interval = self.awareness.scale_timeout(i, interval)
        seq = self._seq[i] = self._seq[i] + 1
        p = _Probe(i, j, seq, self.epoch[i], now, now + interval, self._inc[i][j])
        self._acks[i][seq] = p
        ping = Message("ping", i, j, self.sizes.ping, {"seq": seq, "node": j})
        if s == ALIVE or not self.lifeguard:
            self._send_msg(ping)
        else:  # buddy system: the suspect learns of it at once (no piggyback)
            sus = Message("suspect", i, -1, self.sizes.suspect, {"inc": p.inc, "node": j,
                                                                  "from": i})
            size = CHO + 2 * CO + ping.size + sus.size + CRC_OVERHEAD + self._extra
            self._send(Message("compound", i, j, size, {"crc": True}, [ping, sus]))
        self._later(cfg.probe_timeout, self._probe_timeout, p)

    def _probe_timeout(self, ev: Call) -> None:
        """No ack within ProbeTimeout: indirect pings through k alive members (asking for
        nacks), a TCP ping, then wait until the deadline."""
        p: _Probe = ev.arg
        if p.done or self.epoch[p.node] != p.epoch:
            return
        cfg, i, j = self.config, p.node, p.target
        peers = self._k_random(i, cfg.indirect_checks, j, False)
        for r in peers:
            self._send_msg(Message("indirect-ping", i, r, self.sizes.indirect_ping,
                                   {"seq": p.seq, "node": j, "nack": self.lifeguard}))
        p.expected = len(peers) if self.lifeguard else 0
        if not cfg.disable_tcp_pings:
            self._send(Message("ping", i, j, self.sizes.ping + self._extra,
                               {"seq": p.seq, "node": j}, reliable=True))
        self._later(max(0.0, p.deadline - self.env.now), self._probe_deadline, p)

    def _probe_deadline(self, ev: Call) -> None:
        p: _Probe = ev.arg
        if p.done or self.epoch[p.node] != p.epoch:
            return
        if p.tcp_ok:
            self._probe_done(p, "tcp-ack", -1)
            return
        if p.expected > 0:
            delta = p.expected - p.nacks if p.nacks < p.expected else 0
        else:
            delta = 1
        self._probe_done(p, "failed", delta)
        self._suspect(p.node, p.target, p.inc, p.node)

    def _probe_done(self, p: _Probe, result: str, delta: int) -> None:
        p.done = True
        i = p.node
        self._acks[i].pop(p.seq, None)
        if self.lifeguard:
            self.awareness.apply_delta(i, delta)
        if self._sub_probe:
            self._emit("probe", i, p.target, {"result": result, "started": p.start})
        self._next_probe(i)

    def _next_probe(self, i: int) -> None:
        """The ticker fires every ProbeInterval and holds one tick while a probe runs: start
        the next probe now if a tick came meanwhile, else at the next tick."""
        now, pi = self.env.now, self.config.probe_interval
        k = self._tk[i]
        t = self._tphase[i] + k * pi
        if t <= now:
            self._tk[i] = k + int((now - t) // pi) + 1
            self._later(0.0, self._probe_tick, (i, self.epoch[i], 0))
        else:
            self._later(t - now, self._probe_tick, (i, self.epoch[i], 1))

    def _on_ping(self, o: int, src: int, msg: Message) -> None:
        """net.go `handlePing` (and the TCP ping of `handleConn`): ack it."""
        seq = msg.body["seq"]
        if msg.reliable:
            self._send(Message("ack", o, src, self.sizes.ack + self._extra, {"seq": seq},
                               reliable=True))
        else:
            self._send_msg(Message("ack", o, src, self.sizes.ack, {"seq": seq}))

    def _on_ack(self, o: int, src: int, msg: Message) -> None:
        seq = msg.body["seq"]
        if msg.reliable:  # the TCP fallback's answer: looked at when the deadline comes
            p = self._acks[o].get(seq)
            if p is not None and p.__class__ is _Probe and not p.done:
                p.tcp_ok = True  # type: ignore[union-attr]
            return
        h = self._acks[o].pop(seq, None)
        if h is None:
            return
        if h.__class__ is _Probe:
            if not h.done:
                self._probe_done(h, "ack" if src == h.target else "indirect-ack", -1)
        elif not h.done:  # a relay: forward the ack to the prober
            h.done = True
            self._send_msg(Message("ack", o, h.origin, self.sizes.ack, {"seq": h.seq}))

    def _on_nack(self, o: int, src: int, msg: Message) -> None:
        h = self._acks[o].get(msg.body["seq"])
        if h is not None and h.__class__ is _Probe and not h.done:
            h.nacks = min(h.nacks + 1, self.config.indirect_checks + 1)  # type: ignore[union-attr]

    def _on_indirect(self, o: int, src: int, msg: Message) -> None:
        """net.go `handleIndirectPing`: ping the target for src; relay its ack, or a nack
        after ProbeTimeout."""
        b = msg.body
        seq = self._seq[o] = self._seq[o] + 1
        rel = _Relay(o, src, b["seq"], self.epoch[o], b["nack"])
        self._acks[o][seq] = rel
        self._send_msg(Message("ping", o, b["node"], self.sizes.ping,
                               {"seq": seq, "node": b["node"]}))
        self._later(self.config.probe_timeout, self._relay_timeout, (rel, seq))

    def _relay_timeout(self, ev: Call) -> None:
        rel, seq = ev.arg
        o = rel.node
        if self.epoch[o] != rel.epoch:
            return
        if self._acks[o].get(seq) is rel:
            del self._acks[o][seq]
        if not rel.done and rel.nack:
            rel.done = True
            self._send_msg(Message("nack", o, rel.origin, self.sizes.nack, {"seq": rel.seq}))

    # -- push/pull (state.go pushPull, net.go sendAndReceiveState) ----------------------------

    def _pp_tick(self, ev: Call) -> None:
        i, epoch = ev.arg
        if self.epoch[i] != epoch:
            return
        peers = self._k_random(i, 1, -1, False)
        if peers:
            self._push_pull(i, peers[0], False)
        else:
            self._pp_next(i)

    def _pp_next(self, i: int) -> None:
        ppi = self.config.push_pull_interval
        self._later(push_pull_scale(ppi, self.known[i]), self._pp_tick, (i, self.epoch[i]))

    def _snapshot(self, i: int, peer: int, join: bool, reply: bool, xid: int) -> Message:
        return Message("push-pull", i, peer,
                       self.sizes.push_pull(self.known[i]) + self._extra,
                       {"join": join, "reply": reply, "xid": xid,
                        "state": self.state[i].copy(), "inc": self.incarnation[i].copy()},
                       reliable=True)

    def _push_pull(self, i: int, peer: int, join: bool) -> None:
        self._xid += 1
        x = _Exchange(i, peer, join, self.epoch[i], self._xid)
        self._pending[(i, x.xid)] = x
        self._send(self._snapshot(i, peer, join, False, x.xid))
        self._later(self.config.tcp_timeout, self._pp_timeout, x)

    def _pp_timeout(self, ev: Call) -> None:
        x: _Exchange = ev.arg
        if x.done or self.epoch[x.node] != x.epoch:
            return
        self._pending.pop((x.node, x.xid), None)
        if x.join:
            self._join(x.node)
        else:
            self._pp_next(x.node)

    def _on_push_pull(self, o: int, src: int, msg: Message) -> None:
        """The remote side answers with its state before merging ours; the initiator merges
        the answer."""
        b = msg.body
        if not b["reply"]:
            self._send(self._snapshot(o, src, b["join"], True, b["xid"]))
            self._merge(o, b["state"], b["inc"])
            return
        x = self._pending.pop((o, b["xid"]), None)
        if x is None or x.epoch != self.epoch[o]:
            return
        x.done = True
        self._merge(o, b["state"], b["inc"])
        if x.join:
            self._emit("join", o, src, {})
        else:
            self._pp_next(o)
