"""One node's NetworkDB state and the rules that change it (no timers, no sends).

Follows libnetwork ≤ 28.x (`moby/libnetwork` 3797618, facts gossip.md §2.9): `networkdb.go`
(Create/Update/DeleteEntry, JoinNetwork/LeaveNetwork, deleteNodeNetworkEntries,
deleteNodeTableEntries), `delegate.go` (handleTableEvent, handleNetworkEvent, LocalState /
MergeRemoteState), `nodemgmt.go` + `event_delegate.go` (node active/failed/left; a failed or
left node's attachments and entries are deleted at once) and `cluster.go` (reaping).
Methods return the watch notifications they cause as `(kind, table, nid, key, value)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cnmsim.swarm.gossip.networkdb_queue import TransmitLimitedQueue
from cnmsim.swarm.gossip.networkdb_wire import CREATE, DELETE, UPDATE, NetMsg, TableMsg

Notice = tuple[str, str, str, str, Any]  # (kind, table, nid, key, value)


class Lamport:
    """serf's LamportClock: `incr` returns the new time; `witness(v)` moves past v."""

    __slots__ = ("t",)

    def __init__(self, t: int = 0) -> None:
        self.t = t

    def incr(self) -> int:
        self.t += 1
        return self.t

    def witness(self, v: int) -> None:
        if v >= self.t:
            self.t = v + 1


@dataclass(slots=True)
class Entry:
    ltime: int
    owner: int
    value: Any
    deleting: bool = False
    reap_time: float = 0.0  # seconds left before a tombstone is reaped


@dataclass(slots=True)
class NetRec:
    """A node's attachment to a network (`network` in networkdb.go)."""

    ltime: int
    leaving: bool = False
    reap_time: float = 0.0
    in_sync: bool = False
    queue: TransmitLimitedQueue | None = None  # only on the node's own attachments


@dataclass(slots=True)
class NodeRec:
    """A failed or left node, remembered for node_reap_interval."""

    reap_time: float = 0.0


def _everyone(observer: int, subject: int) -> bool:
    return True


@dataclass
class Agent:
    """NetworkDB of node `node`.  `cfg` is a `NetworkDBConfig`."""

    node: int
    cfg: Any
    member: Callable[[int, int], bool] = _everyone  # memberlist lists subject (alive/suspect)
    table_clock: Lamport = field(default_factory=Lamport)
    network_clock: Lamport = field(default_factory=Lamport)
    running: bool = True
    joined: bool = False  # has done its memberlist Join push/pull (see NetworkDB._on_event)
    failed: dict[int, NodeRec] = field(default_factory=dict)
    left: dict[int, NodeRec] = field(default_factory=dict)
    networks: dict[int, dict[str, NetRec]] = field(default_factory=dict)
    network_nodes: dict[str, list[int]] = field(default_factory=dict)
    entries: dict[str, dict[tuple[str, str], Entry]] = field(default_factory=dict)  # nid ->
    bulk_ack: dict[int, Any] = field(default_factory=dict)  # peer -> simpy event

    # -- lookups ----------------------------------------------------------------------------

    def active(self, peer: int) -> bool:
        """In nDB.nodes: memberlist lists it and it is not failed or left.  Read from the
        cluster's view rather than copied, so n agents do not hold n² records."""
        return (peer != self.node and peer not in self.failed and peer not in self.left
                and self.member(self.node, peer))

    def mine(self) -> dict[str, NetRec]:
        return self.networks.setdefault(self.node, {})

    def on_network(self, nid: str) -> bool:
        n = self.mine().get(nid)
        return n is not None and not n.leaving

    def get(self, table: str, nid: str, key: str) -> Entry | None:
        return self.entries.get(nid, {}).get((table, key))

    def _put(self, table: str, nid: str, key: str, e: Entry) -> None:
        self.entries.setdefault(nid, {})[(table, key)] = e

    def _drop(self, table: str, nid: str, key: str) -> None:
        t = self.entries.get(nid)
        if t is not None:
            t.pop((table, key), None)
            if not t:
                del self.entries[nid]

    def common_networks(self, peer: int) -> list[str]:
        """findCommonNetworks: my networks the peer is on and not leaving."""
        theirs = self.networks.get(peer, {})
        return sorted(nid for nid in self.mine() if nid in theirs and not theirs[nid].leaving)

    # -- local writes (CreateEntry / UpdateEntry / DeleteEntry + sendTableEvent) -------------

    def write(self, type_: str, table: str, nid: str, key: str, value: Any) -> TableMsg:
        """Bump the table clock, store, queue the event on the network (KeyError if refused)."""
        old = self.get(table, nid, key)
        if type_ == CREATE and old is not None:  # `err == nil || …`: a tombstone too, until
            raise KeyError(f"entry {table}/{nid}/{key} already exists")  # reaped (not its doc)
        if type_ == UPDATE and old is None:
            raise KeyError(f"cannot update {table}/{nid}/{key}: it does not exist")
        if type_ == DELETE:
            if old is None or old.deleting:
                raise KeyError(f"cannot delete {table}/{nid}/{key}: missing or being deleted")
            value = old.value
        e = Entry(self.table_clock.incr(), self.node, value, type_ == DELETE,
                  self.cfg.reap_entry_interval if type_ == DELETE else 0.0)
        self._put(table, nid, key, e)
        msg = TableMsg.make(type_, e.ltime, self.node, nid, table, key, value, int(e.reap_time))
        n = self.mine().get(nid)
        if n is not None and n.queue is not None:  # not on the network: kept, never sent
            n.queue.queue(msg)
        return msg

    # -- received table events (handleTableMessage / handleTableEvent) ----------------------

    def handle_table(self, ev: TableMsg, bulk: bool) -> tuple[bool, Notice | None]:
        """Apply a received event; requeue it for rebroadcast when the rules say so.
        Returns (applied, the watch notice if any)."""
        if ev.owner == self.node:
            return False, None
        self.table_clock.witness(ev.ltime)
        net = self.mine().get(ev.nid)
        if net is None or net.leaving or ev.owner not in self.network_nodes.get(ev.nid, ()):
            return False, None  # not on it, or the owner's attachment is unknown here (§7.8)
        old = self.get(ev.table, ev.nid, ev.key)
        if old is not None and old.ltime >= ev.ltime:
            return False, None  # stale: Lamport order decides
        if old is None and ev.type == DELETE and not bulk:
            return False, None  # unknown entry deleted by gossip: ignored
        deleting = ev.type == DELETE
        reap = float(ev.residual) if deleting and ev.residual else (
            self.cfg.reap_entry_interval if deleting else 0.0)
        self._put(ev.table, ev.nid, ev.key, Entry(ev.ltime, ev.owner, ev.value, deleting, reap))
        if old is None and deleting:  # learnt by bulk sync: rebroadcast only if young enough
            rebroadcast = net.in_sync and reap > self.cfg.reap_entry_interval / 6
            notice = None
        else:
            rebroadcast = net.in_sync
            notice = (ev.type, ev.table, ev.nid, ev.key, ev.value)
        if rebroadcast and net.queue is not None and not (
                bulk and len(net.queue) > self.cfg.max_queue_len_broadcast_on_sync):
            net.queue.queue(ev)
        return True, notice

    # -- network attachments (JoinNetwork / LeaveNetwork / handleNetworkEvent) --------------

    def _add_network_node(self, nid: str, node: int) -> None:
        nodes = self.network_nodes.setdefault(nid, [])
        if node not in nodes:
            nodes.append(node)

    def _del_network_node(self, nid: str, node: int) -> None:
        nodes = self.network_nodes.get(nid)
        if nodes and node in nodes:
            nodes.remove(node)

    def join(self, nid: str) -> NetMsg:
        ltime = self.network_clock.incr()
        q = TransmitLimitedQueue(self.cfg.retransmit_mult)
        self.mine()[nid] = NetRec(ltime, queue=q)
        self._add_network_node(nid, self.node)
        return NetMsg(self.node, nid, False, ltime)

    def leave(self, nid: str) -> tuple[NetMsg, list[Notice]]:
        n = self.mine().get(nid)
        if n is None:
            raise KeyError(f"node {self.node} is not on network {nid}")
        ltime = self.network_clock.incr()
        self._del_network_node(nid, self.node)
        notes = self.delete_node_network_entries(nid, self.node)
        n.ltime, n.reap_time, n.leaving = ltime, self.cfg.reap_network_interval, True
        return NetMsg(self.node, nid, True, ltime), notes

    def handle_network(self, ev: NetMsg) -> tuple[bool, list[Notice]]:
        """Returns (applied, notices)."""
        self.network_clock.witness(ev.ltime)
        if ev.owner == self.node:
            return False, []
        theirs = self.networks.get(ev.owner)
        if theirs is None:
            if ev.leave:
                return False, []
            theirs = self.networks[ev.owner] = {}
        n = theirs.get(ev.nid)
        notes: list[Notice] = []
        if n is not None:
            if n.ltime >= ev.ltime:
                return False, []
            n.ltime, n.leaving = ev.ltime, ev.leave
            if ev.leave:
                n.reap_time = self.cfg.reap_network_interval
                notes = self.delete_node_network_entries(ev.nid, ev.owner)
                self._del_network_node(ev.nid, ev.owner)
            else:
                self._add_network_node(ev.nid, ev.owner)
            return True, notes
        if ev.leave or not self.active(ev.owner):  # memberlist must know the node
            return False, []
        theirs[ev.nid] = NetRec(ev.ltime)
        self._add_network_node(ev.nid, ev.owner)
        return True, []

    def delete_node_network_entries(self, nid: str, node: int) -> list[Notice]:
        """A node left nid: tombstone its entries (or, if it is me, mine; drop the others)."""
        local = node == self.node
        notes: list[Notice] = []
        for (table, key), old in sorted(self.entries.get(nid, {}).items()):
            if not local and (old.owner != node or old.deleting):
                continue
            if old.owner == node:
                if not old.deleting:
                    self._put(table, nid, key, Entry(old.ltime + (1 if local else 0), old.owner,
                                                     old.value, True,
                                                     self.cfg.reap_entry_interval))
            else:
                self._drop(table, nid, key)
            if not old.deleting:
                notes.append((DELETE, table, nid, key, old.value))
        return notes

    # -- cluster nodes (event_delegate.go / nodemgmt.go, older logic) ------------------------

    def notify_join(self, peer: int) -> None:
        """memberlist NotifyJoin: a failed or left node is active again."""
        self.failed.pop(peer, None)
        self.left.pop(peer, None)

    def notify_leave(self, peer: int, left: bool) -> list[Notice]:
        """memberlist NotifyLeave: an active node becomes failed (or left); ≤ 28.x deletes
        its attachments and entries at once (deleteNodeFromNetworks + deleteNodeTableEntries)."""
        if peer == self.node or peer in self.failed or peer in self.left:
            return []  # already failed or left: nothing more to do
        (self.left if left else self.failed)[peer] = NodeRec(self.cfg.node_reap_interval)
        for nodes in self.network_nodes.values():
            if peer in nodes:
                nodes.remove(peer)
        self.networks.pop(peer, None)
        notes: list[Notice] = []
        for nid in sorted(self.entries):
            for (table, key), e in sorted(self.entries[nid].items()):
                if e.owner == peer:
                    self._drop(table, nid, key)
                    if not e.deleting:
                        notes.append((DELETE, table, nid, key, e.value))
        return notes

    # -- push/pull of attachments (delegate LocalState / MergeRemoteState) -----------------

    def local_state(self, join: bool) -> tuple[int, list[NetMsg]]:
        if join:  # updateLocalNetworkTime: force the peer to take my attachments
            t = self.network_clock.incr()
            for n in self.mine().values():
                n.ltime = t
        nets = [NetMsg(owner, nid, n.leaving, n.ltime)
                for owner in sorted(self.networks) for nid, n in sorted(self.networks[owner].items())]
        return self.network_clock.t, nets

    def merge_remote_state(self, nets: list[NetMsg]) -> list[Notice]:
        notes: list[Notice] = []
        for ev in nets:
            notes.extend(self.handle_network(ev)[1])
        return notes

    # -- bulk sync payload (bulkSyncNode) ----------------------------------------------------

    def bulk_entries(self, networks: list[str]) -> list[TableMsg]:
        out = []
        for nid in networks:
            for (table, key), e in sorted(self.entries.get(nid, {}).items()):
                out.append(TableMsg.make(DELETE if e.deleting else CREATE, e.ltime, e.owner, nid,
                                         table, key, e.value, int(e.reap_time)))
        return out

    # -- reaping (reapState every reapPeriod; reapDeadNode every nodeReapPeriod) ------------

    def reap(self, period: float) -> None:
        for nid in list(self.mine()):
            for (table, key), e in sorted(self.entries.get(nid, {}).items()):
                if not e.deleting:
                    continue
                if e.reap_time > period + 1.0:
                    e.reap_time -= period
                else:
                    self._drop(table, nid, key)
        for owner in list(self.networks):
            nets = self.networks[owner]
            for nid in list(nets):
                n = nets[nid]
                if n.leaving:
                    if n.reap_time <= 0:
                        del nets[nid]
                    else:
                        n.reap_time -= period

    def reap_nodes(self, period: float) -> None:
        for m in (self.failed, self.left):
            for peer in list(m):
                if m[peer].reap_time > period:
                    m[peer].reap_time -= period
                else:
                    del m[peer]
