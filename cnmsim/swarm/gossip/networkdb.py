"""libnetwork's NetworkDB on a simulated memberlist cluster: network-scoped tables of key → value.

`NetworkDB(cluster)` holds one agent per node (`networkdb_agent.py`) and runs what
`networkdb/cluster.go` runs on every node (libnetwork ≤ 28.x, facts gossip.md §2, §2.9):

- table gossip every GossipInterval (200 ms): per network, one batch from that network's queue
  (`networkdb_queue.py`, limit 4·ceil(log10(N_net+1)) hand-outs, one per tick) as one compound
  UDP packet to ≤ 3 random participants (`SendBestEffort`);
- bulk sync every PushPullInterval (30 s, not scaled) with 1 of 2 random participants, and
  with every participant on `join_network`, over TCP; the initiator waits ≤ 30 s for the reply;
- network join/leave events piggybacked on memberlist gossip (`cluster.broadcast`); memberlist
  push/pull's NetworkPushPull and `reconnectNode` (every 1 s, Join a failed node then bulk
  sync) are modelled here as TCP exchanges (`networkdb_sync.py`);
- reaping every 5 s (tombstones after 30 min, left networks after 30 min 25 s), failed/left
  nodes forgotten after 24 h; a node memberlist declares dead or left loses its attachments
  and entries at once, as ≤ 28.x does (newer moby suspends them, §2.5);
- gossip encryption in sizes (AES-GCM, `networkdb_wire.py`) and a keyring of 3 rotated every
  12 h, each rotation an `Event("key-rotation")`.

Watchers get `WatchEvent`s when a received event changes a table (the overlay driver programs
FDB/neighbour entries from them); local writes do not notify, as in NetworkDB.  Build it after
`cluster.start()`; nodes then know the members the cluster's views show.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

from cnmsim.swarm.gossip.api import ALIVE, DEAD, LEFT, SUSPECT, Event, Message, Subscriber
from cnmsim.swarm.gossip.networkdb_agent import Agent, Notice
from cnmsim.swarm.gossip.networkdb_config import (
    ENDPOINT_TABLE,
    EVENT_KINDS,
    OVERLAY_PEER_TABLE,
    NetworkDBConfig,
    Watcher,
    WatchEvent,
)
from cnmsim.swarm.gossip.networkdb_metrics import Convergence, Tracker
from cnmsim.swarm.gossip.networkdb_sync import Sync
from cnmsim.swarm.gossip.networkdb_wire import (
    COMPOUND_HEADER_OVERHEAD,
    COMPOUND_OVERHEAD,
    CREATE,
    DELETE,
    UPDATE,
    Keyring,
    NetMsg,
    TableMsg,
    compound_size,
    packet_size,
)

__all__ = ["ENDPOINT_TABLE", "OVERLAY_PEER_TABLE", "NetworkDB", "NetworkDBConfig", "WatchEvent"]


class NetworkDB:
    """One NetworkDB agent per node of `cluster` (see the module docstring)."""

    def __init__(self, cluster: Any, config: NetworkDBConfig | None = None) -> None:
        self.cluster, self.env, self.rng = cluster, cluster.env, cluster.rng
        self.cfg = config or NetworkDBConfig.from_memberlist(getattr(cluster, "config", None))
        self.n = cluster.n
        self.agents = [self._new_agent(i) for i in range(self.n)]
        for a in self.agents:  # a running process has joined; one starting later will
            a.joined = bool(cluster.alive(a.node))
        self.keyring = Keyring(self.cfg.keyring_size)
        self.watchers: list[tuple[str | None, int | None, Watcher]] = []
        self.subscribers: list[Subscriber] = []
        self.metrics = Tracker(self)
        self._net_bcast: dict[int, NetMsg] = {}
        self.sync = Sync(self)
        try:  # only the kinds used: a memberlist cluster builds "send"/"probe" events lazily
            cluster.subscribe(self._on_event, kinds=EVENT_KINDS)
        except TypeError:
            cluster.subscribe(self._on_event)
        _attach_receiver(cluster, self._on_message)
        cfg = self.cfg
        self._phases: dict[float, float] = {}  # period -> shared phase ("aligned")
        self.gossip_phase = [0.0] * self.n
        self._gossiping = [False] * self.n
        for i in range(self.n):
            self.gossip_phase[i] = self.env.now + self._phase(cfg.gossip_interval)
            self._every(i, cfg.bulk_sync_interval, self.sync.periodic)
            self._every(i, cfg.reap_period, lambda a: a.reap(cfg.reap_period))
            self._every(i, cfg.retry_interval, self.sync.reconnect)
            self._every(i, cfg.node_reap_period, lambda a: a.reap_nodes(cfg.node_reap_period))
            self.env.process(self.sync.push_pull_loop(i))
        self.env.process(self._rotate_keys())

    def _new_agent(self, i: int, old: Agent | None = None) -> Agent:
        a = Agent(i, self.cfg, self._member)
        if old is not None:  # a restarted daemon: new state; clocks kept monotonic
            a.table_clock.t, a.network_clock.t = old.table_clock.t, old.network_clock.t
        return a

    def _member(self, o: int, s: int) -> bool:
        return self.cluster.view(o, s)[0] in (ALIVE, SUSPECT)

    # -- public API ---------------------------------------------------------------------------

    def join_network(self, node: int, nid: str) -> Any:
        """JoinNetwork: attach, announce, then bulk sync with every known participant.
        Returns the simpy process; the network is `in_sync` when it ends."""
        a = self._agent(node)
        ev = a.join(nid)
        nodes = list(a.network_nodes[nid])
        self._announce(a, ev)
        return self.env.process(self.sync.join_sync(a, nid, nodes))

    def leave_network(self, node: int, nid: str) -> None:
        a = self._agent(node)
        ev, notes = a.leave(nid)
        self._announce(a, ev)
        self._notify(node, notes)

    def create_entry(self, node: int, table: str, nid: str, key: str, value: Any) -> None:
        self._write(node, CREATE, table, nid, key, value)

    def update_entry(self, node: int, table: str, nid: str, key: str, value: Any) -> None:
        self._write(node, UPDATE, table, nid, key, value)

    def delete_entry(self, node: int, table: str, nid: str, key: str) -> None:
        """Tombstone the entry; every node reaps it reap_entry_interval after learning it."""
        self._write(node, DELETE, table, nid, key, None)

    def get_entry(self, node: int, table: str, nid: str, key: str) -> Any:
        """The value, or None if missing, deleted (a tombstone) or the node is down."""
        a = self.agents[node]
        e = a.get(table, nid, key) if a.running else None
        return None if e is None or e.deleting else e.value

    def walk(self, node: int, table: str, nid: str) -> dict[str, Any]:
        """GetTableByNetwork: live key → value of one table of one network on `node`."""
        a = self.agents[node]
        t = a.entries.get(nid, {}) if a.running else {}
        return {k: e.value for (tb, k), e in sorted(t.items()) if tb == table and not e.deleting}

    def participants(self, nid: str) -> list[int]:
        """Ground truth: running nodes attached to nid (not leaving)."""
        return [a.node for a in self.agents if a.running and a.on_network(nid)]

    def watch(self, table: str | None, callback: Watcher, node: int | None = None) -> None:
        """Call `callback(WatchEvent)` for changes of `table` (None: all) seen by `node`
        (None: every node)."""
        self.watchers.append((table, node, callback))

    def subscribe(self, fn: Subscriber) -> None:
        """NetworkDB's own `Event`s: "send" (kind "networkdb"), "key-rotation"."""
        self.subscribers.append(fn)

    def convergence(self, table: str, nid: str, key: str) -> Convergence | None:
        """The latest write of the key: who had it how many seconds after (`.last`: all)."""
        return self.metrics.convergence(table, nid, key)

    def stats(self) -> dict[str, float]:
        """networkdb messages and bytes sent, in total and per operation."""
        return self.metrics.stats()

    # -- internals: writes, gossip, events ----------------------------------------------------

    def _agent(self, node: int) -> Agent:
        a = self.agents[node]
        if not a.running or not self.cluster.alive(node):
            raise RuntimeError(f"node {node} is not running")
        return a

    def _write(self, node: int, type_: str, table: str, nid: str, key: str, value: Any) -> None:
        msg = self._agent(node).write(type_, table, nid, key, value)
        self.metrics.written(msg, self.participants(nid))
        self._wake(node)

    def _announce(self, a: Agent, ev: NetMsg) -> None:
        """sendNetworkEvent: queue into memberlist's gossip (networkBroadcasts)."""
        bid = self.cluster.broadcast(a.node, b"", ev.size)
        self._net_bcast[bid] = ev

    def _gossip(self, a: Agent) -> None:
        cfg = self.cfg
        for nid, net in list(a.mine().items()):
            q = net.queue
            if q is None or not len(q):
                continue
            nodes = a.network_nodes.get(nid, [])
            targets = self.random_nodes(a.node, cfg.gossip_nodes, nodes)
            msgs = q.get_broadcasts(COMPOUND_OVERHEAD,
                                    cfg.packet_buffer_size - COMPOUND_HEADER_OVERHEAD, len(nodes))
            if not msgs:
                continue
            size = packet_size(compound_size([m.size for m in msgs]), cfg.encrypted,
                               cfg.compression)
            for t in targets:
                if not a.active(t):
                    break  # ≤ 28.x: `if mnode == nil { break }` (newer: continue)
                self.send(a.node, t, size, {"op": "gossip", "events": msgs}, False, "gossip")

    def random_nodes(self, me: int, m: int, nodes: list[int]) -> list[int]:
        """mRandomNodes: up to m distinct random nodes but me, in at most 3·len probes."""
        out: list[int] = []
        n = len(nodes)
        for _ in range(3 * n):
            if len(out) >= m:
                break
            x = nodes[self.rng.randrange(n)]
            if x != me and x not in out:
                out.append(x)
        return out

    def send(self, src: int, dst: int, size: int, body: dict[str, Any], reliable: bool,
             what: str) -> None:
        self.metrics.sent_msg(src, size, what)
        if self.subscribers:
            self._emit(Event(self.env.now, "send", src, dst,
                             {"kind": "networkdb", "op": what, "size": size, "to": dst}))
        self.cluster.transport.send(Message("networkdb", src, dst, size, body, reliable=reliable))

    def _on_message(self, msg: Message) -> None:
        a = self.agents[msg.dst]
        if not a.running or not self.cluster.alive(msg.dst):
            return
        self.metrics.received(msg.dst, msg.size)
        op = msg.body["op"]
        if op == "gossip":
            for ev in msg.body["events"]:
                self.apply(a, ev, False)
        else:
            self.sync.receive(a, msg)

    def apply(self, a: Agent, ev: TableMsg, bulk: bool) -> None:
        applied, notice = a.handle_table(ev, bulk)
        if applied:
            self.metrics.learned(a.node, ev)
            self._wake(a.node)
        if notice is not None:
            self._notify(a.node, [notice])

    def _notify(self, node: int, notes: list[Notice]) -> None:
        if not self.watchers:
            return
        for kind, table, nid, key, value in notes:
            we = WatchEvent(self.env.now, node, table, nid, key, value, kind)
            for tb, nd, fn in list(self.watchers):
                if (tb is None or tb == table) and (nd is None or nd == node):
                    fn(we)

    def _emit(self, ev: Event) -> None:
        for fn in list(self.subscribers):
            fn(ev)

    def _on_event(self, ev: Event) -> None:
        k = ev.kind
        if k == "member":
            o, s, state = ev.observer, ev.subject, ev.data["state"]
            a = self.agents[o]
            if o == s or not a.running:
                return
            if state == ALIVE:
                if not a.joined:  # a (re)started daemon's first member: its Join's push/pull
                    a.joined = True
                    self.env.process(self.sync.join_cluster(a.node, s))
                a.notify_join(s)
                self.sync.wake((o, "member", s))
            elif state in (DEAD, LEFT):
                self._notify(o, a.notify_leave(s, state == LEFT))
        elif k == "broadcast":
            nev = self._net_bcast.get(ev.data.get("id", -1))
            a = self.agents[ev.observer]
            if nev is not None and a.running:
                self._notify(a.node, a.handle_network(nev)[1])
        elif k in ("crash", "leave") and ev.subject >= 0:
            self.agents[ev.subject].running = False
        elif k == "restart" and ev.subject >= 0:  # a new daemon, knowing no one yet
            self.agents[ev.subject] = self._new_agent(ev.subject, self.agents[ev.subject])

    # -- timers ---------------------------------------------------------------------------------

    def _phase(self, period: float) -> float:
        if self.cfg.tick_phase != "aligned":
            return self.rng.random() * period
        if period not in self._phases:
            self._phases[period] = self.rng.random() * period
        return self._phases[period]

    def _every(self, i: int, period: float, body: Callable[[Agent], Any]) -> None:
        self.env.process(self._ticker(i, period, self._phase(period), body))

    def _wake(self, i: int) -> None:
        """Run i's gossip ticker from its next tick while its queues hold events (an idle
        tick sends nothing, so skipping idle ticks changes nothing but the cost)."""
        if not self._gossiping[i]:
            self._gossiping[i] = True
            self.env.process(self._gossip_ticker(i))

    def _gossip_ticker(self, i: int) -> Generator[Any, Any, None]:
        gi, ph = self.cfg.gossip_interval, self.gossip_phase[i]
        while True:
            now = self.env.now
            yield self.env.timeout(ph + (math.floor((now - ph) / gi + 1e-9) + 1) * gi - now)
            a = self.agents[i]
            if a.running:
                self._gossip(a)
            if not a.running or not any(n.queue for n in a.mine().values()):
                self._gossiping[i] = False
                return

    def _ticker(self, i: int, period: float, phase: float, body: Callable[[Agent], Any]
                ) -> Generator[Any, Any, None]:
        """A Go time.Ticker: ticks on a fixed grid; a body that overruns gets one buffered
        tick at once and loses the others."""
        t = self.env.now + phase
        while True:
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            a = self.agents[i]
            if a.running:
                r = body(a)
                if isinstance(r, Generator):
                    yield from r
            k = int((self.env.now - t) // period)
            t += k * period if k >= 1 else period

    def _rotate_keys(self) -> Generator[Any, Any, None]:
        while True:
            yield self.env.timeout(self.cfg.key_rotation_interval)
            added, removed = self.keyring.rotate()
            self._emit(Event(self.env.now, "key-rotation", -1, -1, {
                "subsystem": "networking:gossip", "added": added, "removed": removed,
                "primary": self.keyring.primary, "keys": list(self.keyring.tags)}))


def _attach_receiver(cluster: Any, fn: Callable[[Message], None]) -> None:
    """Receive the transport's "networkdb" messages: through the cluster's `on_message` hook
    if it has one, else by wrapping the `deliver` the cluster bound on its transport."""
    hook = getattr(cluster, "on_message", None)
    if callable(hook):
        hook("networkdb", fn)
        return
    tr = cluster.transport
    prev = getattr(tr, "deliver", None)

    def deliver(msg: Message) -> None:
        if msg.kind == "networkdb":
            fn(msg)
        elif prev is not None:
            prev(msg)

    if prev is not None:  # FastTransport / LabTransport: bind once (Lab sockets), swap after
        tr.deliver = deliver
    else:
        tr.bind(deliver)
