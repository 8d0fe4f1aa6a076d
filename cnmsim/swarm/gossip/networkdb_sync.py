"""NetworkDB's TCP exchanges: table bulk sync, and the attachment state memberlist carries.

Follows libnetwork ≤ 28.x `networkdb/cluster.go`:
- `bulkSyncTables` (every 30 s): for each of my networks not leaving, try 1 of 2 random
  participants (the second only if the first fails); a success covers every network the two
  share.  `bulkSync(nodes, all=True)` on JoinNetwork (and after reconnecting a failed node)
  syncs with each node in turn.
- `bulkSyncNode`: every entry of the common networks, tombstones with their residual reap
  time, in one `BulkSyncMessage` over TCP (`SendReliable`); unsolicited ones wait ≤ 30 s for
  the peer's reply sync.  A node not in my active list is skipped (returns nil).
- `reconnectNode` (every 1 s): memberlist `Join` to one random failed node (a push/pull that
  merges the member lists, then carries `NetworkPushPull`, my attachments bumped to a fresh
  network time), then bulk sync.  This is what heals memberlist itself after a partition
  long enough for both sides to declare the other dead.
- memberlist's periodic push/pull (`pushPullScale(30 s, n)`, one random alive member) carries
  `NetworkPushPull` both ways; modelled here as its own TCP exchange, since the memberlist
  cluster exposes no delegate state.
A TCP connect to an unreachable peer fails after TCPTimeout (10 s); to a crashed process, at once.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from cnmsim.swarm.gossip.api import Message
from cnmsim.swarm.gossip.formulas import push_pull_scale
from cnmsim.swarm.gossip.networkdb_agent import Agent
from cnmsim.swarm.gossip.networkdb_wire import bulk_sync_size, push_pull_size

if TYPE_CHECKING:
    from cnmsim.swarm.gossip.networkdb import NetworkDB

Gen = Generator[Any, Any, Any]


class Sync:
    """The bulk-sync and push/pull side of a `NetworkDB`."""

    def __init__(self, db: NetworkDB) -> None:
        self.db = db
        self.env = db.env
        self.waiting: dict[tuple[int, str, int], Any] = {}  # (node, what, peer) -> event

    # -- connecting -----------------------------------------------------------------------------

    def _connect(self, src: int, dst: int) -> Gen:
        """Generator → True if a TCP connection to dst opens (after the failure delay if not)."""
        tr = self.db.cluster.transport
        if not tr.reachable(src, dst):
            yield self.env.timeout(self.db.cfg.tcp_timeout)
            return False
        return self.db.cluster.alive(dst)  # a dead daemon's host refuses at once

    # -- bulk sync ------------------------------------------------------------------------------

    def periodic(self, a: Agent) -> Gen:
        """bulkSyncTables."""
        nets = [nid for nid, n in a.mine().items() if not n.leaving]
        self.db.rng.shuffle(nets)  # Go map order
        while nets and a.running:
            nid = nets.pop(0)
            nodes = list(a.network_nodes.get(nid, []))
            if not nodes:
                continue
            completed, ok = yield from self.bulk_sync(a, nodes, False)
            if ok and completed:
                nets = [x for x in nets if x not in completed]

    def join_sync(self, a: Agent, nid: str, nodes: list[int]) -> Gen:
        """The synchronous part of JoinNetwork: bulk sync with all, then inSync (best effort)."""
        yield from self.bulk_sync(a, nodes, True)
        n = a.mine().get(nid)
        if n is not None and a.running:
            n.in_sync = True

    def bulk_sync(self, a: Agent, nodes: list[int], all_: bool) -> Gen:
        """bulkSync → (networks of the last sync, ok)."""
        if not all_:
            nodes = self.db.random_nodes(a.node, self.db.cfg.bulk_sync_candidates, nodes)
        if not nodes:
            return None, True
        success = failed = False
        networks: list[str] = []
        for b in nodes:
            if b == a.node:
                continue
            networks = a.common_networks(b)
            if (yield from self.bulk_sync_node(a, networks, b, True)):
                success = True
                if not all_:
                    break
            else:
                failed = True
        if success:
            return networks, True
        return None, not failed

    def bulk_sync_node(self, a: Agent, networks: list[str], b: int, unsolicited: bool) -> Gen:
        """bulkSyncNode → True unless the TCP send failed."""
        if not a.active(b):
            return True
        if not (yield from self._connect(a.node, b)):
            return False
        if not a.running:
            return False
        entries = a.bulk_entries(networks)
        cfg = self.db.cfg
        size = bulk_sync_size(networks, [e.size for e in entries], a.table_clock.t,
                              cfg.encrypted, cfg.compression)
        ack = None
        if unsolicited:
            ack = a.bulk_ack[b] = self.env.event()
        body = {"op": "bulk", "ltime": a.table_clock.t, "unsolicited": unsolicited,
                "networks": networks, "entries": entries}
        self.db.send(a.node, b, size, body, True, "bulk-sync")
        if ack is not None:
            yield ack | self.env.timeout(cfg.bulk_sync_timeout)
            if a.bulk_ack.get(b) is ack:
                del a.bulk_ack[b]
        return True

    def _handle_bulk(self, a: Agent, msg: Message) -> None:
        """handleBulkSync: apply every entry as a bulk-synced event, then ack or reply."""
        body = msg.body
        if body["ltime"] > 0:
            a.table_clock.witness(body["ltime"])
        for ev in body["entries"]:
            self.db.apply(a, ev, True)
        if not body["unsolicited"]:
            ack = a.bulk_ack.pop(msg.src, None)
            if ack is not None and not ack.triggered:
                ack.succeed()
            return
        self.env.process(self.bulk_sync_node(a, list(body["networks"]), msg.src, False))

    # -- attachments: reconnectNode and memberlist push/pull -------------------------------------

    def reconnect(self, a: Agent) -> Gen | None:
        """reconnectNode: Join one random failed node, then bulk sync with it."""
        if not a.failed:
            return None
        peers = sorted(a.failed)
        return self._reconnect(a, peers[self.db.rng.randrange(len(peers))])

    def _reconnect(self, a: Agent, peer: int) -> Gen:
        """memberlist.Join(peer) is synchronous: its push/pull merges the member lists
        (NotifyJoin) before the delegate merges NetworkPushPull; then the bulk sync."""
        if not (yield from self._connect(a.node, peer)) or not a.running:
            return
        ml_join(self.db.cluster, a.node, peer)
        if not a.active(peer):
            yield from self._wait((a.node, "member", peer))
        if not a.running:
            return
        self._push(a, peer, join=True, reply=True)
        yield from self._wait((a.node, "push-pull", peer))
        if a.running:
            yield from self.bulk_sync(a, [peer], True)

    def _wait(self, key: tuple[int, str, int]) -> Gen:
        """Until `wake(key)` or TCPTimeout."""
        ev = self.waiting[key] = self.env.event()
        yield ev | self.env.timeout(self.db.cfg.tcp_timeout)
        if self.waiting.get(key) is ev:
            del self.waiting[key]

    def wake(self, key: tuple[int, str, int]) -> None:
        ev = self.waiting.pop(key, None)
        if ev is not None and not ev.triggered:
            ev.succeed()

    def join_cluster(self, i: int, peer: int) -> Gen:
        """A (re)started daemon's memberlist Join: its push/pull carries NetworkPushPull too."""
        a = self.db.agents[i]
        if (yield from self._connect(i, peer)) and a.running:
            self._push(a, peer, join=True, reply=True)

    def push_pull_loop(self, i: int) -> Gen:
        """memberlist pushPullTrigger: every pushPullScale(interval, n), one random member."""
        cfg = self.db.cfg
        yield self.env.timeout(self.db.rng.random() * cfg.push_pull_interval)
        while True:
            a = self.db.agents[i]
            peer = self._random_member(a) if a.running else None
            if peer is not None and (yield from self._connect(i, peer)) and a.running:
                self._push(a, peer, join=False, reply=True)
            # memberlist scales by estNumNodes; the cluster size stands for it here
            yield self.env.timeout(push_pull_scale(cfg.push_pull_interval, self.db.n))

    def _random_member(self, a: Agent) -> int | None:
        """One random active member (kRandomNodes(1, alive)), by rejection, then by scan."""
        n, rnd = self.db.n, self.db.rng.randrange
        for _ in range(32):
            x = rnd(n)
            if a.active(x):
                return x
        peers = [x for x in range(n) if a.active(x)]
        return peers[rnd(len(peers))] if peers else None

    def _push(self, a: Agent, peer: int, join: bool, reply: bool) -> None:
        ltime, nets = a.local_state(join)
        body = {"op": "pushpull", "ltime": ltime, "nets": nets, "reply": reply}
        self.db.send(a.node, peer, push_pull_size(len(nets)), body, True, "push-pull")

    def _handle_push(self, a: Agent, msg: Message) -> None:
        """MergeRemoteState; the receiving side of a push/pull answers with its own state."""
        a.network_clock.witness(msg.body["ltime"])
        self.db._notify(a.node, a.merge_remote_state(msg.body["nets"]))
        if msg.body["reply"]:
            self._push(a, msg.src, join=False, reply=False)
        else:
            self.wake((a.node, "push-pull", msg.src))

    def receive(self, a: Agent, msg: Message) -> None:
        """A networkdb TCP message arrived at `a`."""
        if msg.body["op"] == "bulk":
            self._handle_bulk(a, msg)
        elif msg.body["op"] == "pushpull":
            self._handle_push(a, msg)


def ml_join(cluster: Any, node: int, peer: int) -> None:
    """memberlist `Join(peer)` from node, if the cluster can do it (`join(node, peer)`, or the
    cnmsim Cluster's own `_join`); a cluster without it only gets the networkdb side."""
    for name in ("join", "_join"):
        fn = getattr(cluster, name, None)
        if callable(fn):
            fn(node, peer)
            return
