"""The overlay driver's peer database (libnetwork drivers/overlay peerdb.go, joinleave.go
EventNotify): remote endpoints (IP, MAC, VTEP) learned only through NetworkDB gossip.

- A local endpoint's join attaches this node to the network in NetworkDB and writes an
  `overlay_peer_table` entry, key = endpoint id, value = {"ip": "10.0.1.3/24",
  "mac": "02:42:0a:00:01:03", "vtep": "<this node's advertise address>"}; its leave deletes it.
- A watch on `overlay_peer_table` for this node receives the other nodes' entries.  Each remote
  peer is programmed into the network's namespace as a permanent neighbour
  (`ip neigh replace IP lladdr MAC dev vxlan0 nud permanent`) and a VXLAN FDB entry
  (`bridge fdb add MAC dev vxlan0 dst VTEP self permanent`), and removed when its entry goes.
- Entries that arrive before the namespace exists are kept and programmed when it is created
  (peerDbUpdateSandbox).  Trace stage `overlay:peer`: add / del / learn / forget.
- Encrypted networks: the first/last peer behind a remote VTEP calls the encryption hook.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from ipaddress import IPv4Interface
from typing import TYPE_CHECKING, Any

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.swarm.gossip.networkdb_config import OVERLAY_PEER_TABLE, WatchEvent
from cnmsim.trace.explain import register

if TYPE_CHECKING:
    from cnmsim.engine.drivers.overlay.driver import OverlayDriver
    from cnmsim.engine.drivers.overlay.ovnet import OvEndpoint, OvNetwork

STAGE = "overlay:peer"


@dataclass(frozen=True)
class Peer:
    eid: str
    ip: IPv4Interface
    mac: str
    vtep: str

    @classmethod
    def from_value(cls, eid: str, value: dict[str, str]) -> Peer:
        return cls(eid, IPv4Interface(value["ip"]), value["mac"].lower(), value["vtep"])

    def text(self) -> str:
        return f"{self.ip.ip} ({self.mac}) behind VTEP {self.vtep}"


class PeerDB:
    """Remote peers per network, and which of them are programmed in the namespace."""

    def __init__(self, driver: OverlayDriver) -> None:
        self.d = driver
        self.cluster = driver.cluster
        self.peers: dict[str, dict[str, Peer]] = {}  # nid -> eid -> remote peer
        self.programmed: dict[str, dict[str, Peer]] = {}  # nid -> eid -> in the kernel
        self.vteps: dict[str, Counter[str]] = {}  # nid -> VTEP -> programmed peers behind it
        self.joined: set[str] = set()  # networks this node is attached to in NetworkDB
        self._watching: Any = None  # the NetworkDB our watch is registered on

    # ------------------------------------------------------------ local endpoints
    def _db(self) -> tuple[Any, int | None]:
        db = self.cluster.networkdb()
        node = self.cluster.node_index()
        if db is None or node is None:
            return None, None
        if self._watching is not db:
            db.watch(OVERLAY_PEER_TABLE, self.on_event, node=node)
            self._watching = db
        return db, node

    def local_join(self, net: OvNetwork, ep: OvEndpoint) -> None:
        """Join: attach to the network in NetworkDB (first time) and publish the endpoint."""
        db, node = self._db()
        if db is None or node is None:
            return
        value = {"ip": str(ep.address), "mac": ep.mac, "vtep": self.cluster.advertise() or ""}
        try:
            if net.nid not in self.joined:
                db.join_network(node, net.nid)
                self.joined.add(net.nid)
            db.create_entry(node, OVERLAY_PEER_TABLE, net.nid, ep.eid, value)
        except (RuntimeError, KeyError) as e:  # this node's gossip agent is down: nothing is sent
            self.cluster.emit(net.key, "", STAGE, "drop", f"endpoint {ep.address.ip} not published "
                              f"in networkdb: {e}")

    def local_leave(self, net: OvNetwork, ep: OvEndpoint) -> None:
        db, node = self._db()
        if db is None or node is None:
            return
        try:
            db.delete_entry(node, OVERLAY_PEER_TABLE, net.nid, ep.eid)
        except (RuntimeError, KeyError):
            pass

    def network_left(self, net: OvNetwork) -> None:
        """The last local endpoint left: detach from the network in NetworkDB."""
        if net.nid not in self.joined:
            return
        self.joined.discard(net.nid)
        db, node = self._db()
        if db is None or node is None:
            return
        try:
            db.leave_network(node, net.nid)
        except (RuntimeError, KeyError):
            pass

    # ------------------------------------------------------------ remote peers (EventNotify)
    def on_event(self, we: WatchEvent) -> None:
        if we.table != OVERLAY_PEER_TABLE or not isinstance(we.value, dict):
            return
        try:
            peer = Peer.from_value(we.key, we.value)
        except (KeyError, ValueError):
            return
        if peer.vtep == self.cluster.advertise():
            return  # our own endpoints are never programmed into the VXLAN FDB
        if we.kind == "delete":
            self.delete(we.nid, peer.eid)
        else:
            self.add(we.nid, peer)

    def add(self, nid: str, peer: Peer) -> None:
        table = self.peers.setdefault(nid, {})
        old = table.get(peer.eid)
        if old == peer:
            return
        if old is not None:
            self._unprogram(nid, old)
        table[peer.eid] = peer
        net = self.d.networks.get(nid)
        if net is not None and net.ns is not None:
            self._program(net, peer)
        else:
            self.cluster.emit(net.key if net else "", "", STAGE, "learn",
                              f"{peer.text()} received through networkdb gossip (overlay_peer_table); "
                              "kept in the peer database until the network's namespace exists here")

    def delete(self, nid: str, eid: str) -> None:
        peer = self.peers.get(nid, {}).pop(eid, None)
        if peer is None:
            return
        if eid in self.programmed.get(nid, {}):
            self._unprogram(nid, peer)
        else:
            net = self.d.networks.get(nid)
            self.cluster.emit(net.key if net else "", "", STAGE, "forget",
                              f"{peer.text()} deleted through networkdb gossip")

    # ------------------------------------------------------------ the namespace comes and goes
    def sandbox_ready(self, net: OvNetwork) -> None:
        """peerDbUpdateSandbox: program what arrived before the namespace existed."""
        for peer in list(self.peers.get(net.nid, {}).values()):
            self._program(net, peer)

    def sandbox_gone(self, net: OvNetwork) -> None:
        """Before the namespace is deleted: every programmed peer goes (the peers stay known)."""
        for peer in list(self.programmed.get(net.nid, {}).values()):
            self._unprogram(net.nid, peer)

    # ------------------------------------------------------------ kernel programming
    def _program(self, net: OvNetwork, peer: Peer) -> None:
        s = net.subnet_for(peer.ip.ip)
        if s is None or net.ns is None:
            return
        ns = net.ns
        try:
            ns.neigh_add(api.Neigh(str(peer.ip.ip), s.vx, lladdr=peer.mac, state="PERMANENT"), replace=True)
            fdb = api.Fdb(peer.mac, s.vx, dst=peer.vtep, self_=True)
            try:
                ns.fdb_add(fdb)
            except KernelError:  # a learned entry is in the way: NeighSet replaces it
                ns.fdb_del(api.Fdb(peer.mac, s.vx, self_=True))
                ns.fdb_add(fdb)
        except KernelError as e:
            self.cluster.emit(net.key, s.vx, STAGE, "drop", f"could not program {peer.text()}: {e}")
            return
        self.programmed.setdefault(net.nid, {})[peer.eid] = peer
        vteps = self.vteps.setdefault(net.nid, Counter())
        vteps[peer.vtep] += 1
        self.cluster.emit(net.key, s.vx, STAGE, "add",
                          f"{peer.text()} learned through networkdb gossip (overlay_peer_table): "
                          f"permanent neighbour {peer.ip.ip} lladdr {peer.mac} and FDB entry "
                          f"{peer.mac} dst {peer.vtep} on {s.vx}")
        if vteps[peer.vtep] == 1 and net.secure:
            self.cluster.on_peer(net.nid, peer.vtep, True)

    def _unprogram(self, nid: str, peer: Peer) -> None:
        if self.programmed.get(nid, {}).pop(peer.eid, None) is None:
            return
        net = self.d.networks.get(nid)
        s = net.subnet_for(peer.ip.ip) if net is not None else None
        if net is not None and s is not None and net.ns is not None:
            for undo in (lambda: net.ns.neigh_del(str(peer.ip.ip), s.vx),
                         lambda: net.ns.fdb_del(api.Fdb(peer.mac, s.vx, dst=peer.vtep, self_=True))):
                try:
                    undo()
                except KernelError:
                    pass
            self.cluster.emit(net.key, s.vx, STAGE, "del",
                              f"{peer.text()} removed: its networkdb entry was deleted or the "
                              "network's namespace goes")
        vteps = self.vteps.get(nid)
        if vteps is not None:
            vteps[peer.vtep] -= 1
            if vteps[peer.vtep] <= 0:
                del vteps[peer.vtep]
                if net is not None and net.secure:
                    self.cluster.on_peer(nid, peer.vtep, False)


register(STAGE, "add", "{place} programs a remote overlay peer on {dev}: {reason}.")
register(STAGE, "del", "{place} removes a remote overlay peer from {dev}: {reason}.")
register(STAGE, "learn", "{place} learns a remote overlay peer: {reason}.")
register(STAGE, "forget", "{place} forgets a remote overlay peer: {reason}.")
register(STAGE, "drop", "{place} cannot use an overlay peer: {reason}.")
