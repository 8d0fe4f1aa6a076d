"""The swarm's gossip control plane: memberlist + networkdb on UDP/TCP 7946 among the nodes,
started at `docker swarm init` and grown as nodes join.

The cluster is sized once, at init, to every Docker host of the lab that has an address (node
index = lab order; `Node.index`); only the init node boots, and each other host's node boots
when it joins (memberlist Join through the manager it joined) and stops when it leaves.  The
LabGossip is `swarm.gossip` and `lab.gossip`, so `serf members` and the gossip traces work.

Node health as `docker node ls` shows it comes from the leader's memberlist view: a node the
leader holds dead or left is Down.  Tasks of a node are rescheduled after the dispatcher's
heartbeat grace (swarmkit: period 5 s x grace multiplier 3) counted from the leader's first
suspicion, once the view says dead (at once when it says left).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cnmsim.swarm.gossip.api import ALIVE, DEAD, LEFT, SUSPECT, Event
from cnmsim.swarm.gossip.cluster import Cluster
from cnmsim.swarm.gossip.config import lan
from cnmsim.swarm.gossip.lab import LabGossip
from cnmsim.swarm.gossip.labtransport import LabTransport
from cnmsim.swarm.gossip.networkdb import NetworkDB

if TYPE_CHECKING:
    from cnmsim.lab import Lab
    from cnmsim.swarm.model import Node, SwarmState

HEARTBEAT_PERIOD = 5.0  # swarmkit dispatcher DefaultHeartBeatPeriod
GRACE_MULTIPLIER = 3  # dispatcher: a node missing 3 heartbeats is down
NODE_DOWN_GRACE = HEARTBEAT_PERIOD * GRACE_MULTIPLIER


class SwarmCluster(Cluster):
    """A memberlist cluster whose nodes start one by one, as hosts join the swarm."""

    def start_nodes(self, booted: list[int]) -> None:
        """Start only these nodes (each alone); the others stay off until `boot`."""
        if self._started:
            raise RuntimeError("cluster already started")
        self._started = True
        for i in booted:
            self._create(i)
            self._boot(i)

    def boot(self, i: int, via: int) -> None:
        """A daemon's memberlist starts and joins through node `via` (a fresh process: empty
        list, incarnation 1; networkdb gets a fresh agent through the "restart" event)."""
        if self.running[i]:
            if not self.has_left[i]:
                return
            self._stop(i)  # still spending its leave broadcast: stop it now
        self._emit("restart", i, i, {})
        self._create(i)
        self._boot(i)
        self._join(i, via)


def docker_hosts(lab: Lab) -> list[str]:
    """The hosts that can be swarm nodes: Docker hosts with an address, in lab order."""
    return [name for name, h in lab.hosts.items() if h.engine is not None and h.address is not None]


def start_gossip(lab: Lab, first: str) -> LabGossip:
    """The cluster over every Docker host, with only `first` running."""
    hosts = docker_hosts(lab)
    transport = LabTransport(lab, hosts)
    cluster = SwarmCluster(len(hosts), lan(), seed=lab.rng.getrandbits(32), transport=transport, env=lab.env)
    g = LabGossip(lab, list(hosts), cluster, transport)
    cluster.subscribe(g._trace, kinds=["member"])
    cluster.start_nodes([hosts.index(first)])
    g.networkdb = NetworkDB(cluster)
    for a in g.networkdb.agents:
        if not cluster.running[a.node]:
            a.running = False  # no daemon there yet: its networkdb tickers idle
    lab.gossip = g  # type: ignore[attr-defined]
    return g


def stop_gossip(lab: Lab, g: LabGossip) -> None:
    """The swarm is gone: every node stops, the sockets on 7946 close, `serf members` fails."""
    for i in range(g.cluster.n):
        g.cluster.crash(i)
    for sock in g.transport.udp:  # (their receive loops then wait for ever, harmlessly)
        sock.close()
    for h in g.hosts:  # the TCP listeners on 7946 (LabTransport keeps no handle on them)
        tcp = lab[h].root.sockets.tcp
        lsock = tcp.listeners.get(("0.0.0.0", g.transport.port))
        if lsock is not None:
            lsock.close()
    if getattr(lab, "gossip", None) is g:
        lab.gossip = None  # type: ignore[attr-defined]


def view_state(swarm: SwarmState, node: Node) -> str:
    """"ready" or "down": the leader's memberlist view of the node (left nodes are down)."""
    if node.left:
        return "down"
    leader = leader_of(swarm)
    g = swarm.gossip
    if g is None or leader is None or leader is node:
        return "ready"
    if node.id in swarm.extra.get("down", ()):  # declared down (its view entry may be reaped since)
        return "down"
    state, _ = g.cluster.view(leader.index, node.index)
    return "down" if state in (DEAD, LEFT) else "ready"


def ev_state(swarm: SwarmState, node: Node) -> int:
    """The leader's memberlist state of the node (-1: unknown)."""
    leader = leader_of(swarm)
    if swarm.gossip is None or leader is None:
        return ALIVE
    return swarm.gossip.cluster.view(leader.index, node.index)[0]


def leader_of(swarm: SwarmState) -> Node | None:
    return next((n for n in swarm.nodes.values() if n.leader and not n.left), None)


def refresh(swarm: SwarmState) -> None:
    """Node.status from the leader's view (what node ls, the scheduler and service ls read)."""
    for n in swarm.nodes.values():
        n.status = view_state(swarm, n)


class FailureWatcher:
    """Follows the leader's member events and calls `on_down(node)` / `on_up(node)` when a node
    goes down (after the heartbeat grace) or comes back."""

    def __init__(self, lab: Lab, swarm: SwarmState, on_down: Callable[[Node], None],
                 on_up: Callable[[Node], None]) -> None:
        self.lab, self.swarm = lab, swarm
        self.on_down, self.on_up = on_down, on_up
        self.suspected: dict[int, float] = {}
        self.down: set[str] = swarm.extra.setdefault("down", set())  # node ids handled as down
        swarm.gossip.cluster.subscribe(self._event, kinds=["member"])

    def _node(self, index: int) -> Node | None:
        return next((n for n in self.swarm.nodes.values() if n.index == index and not n.left), None)

    def _event(self, ev: Event) -> None:
        leader = leader_of(self.swarm)
        if leader is None or ev.observer != leader.index or ev.subject == leader.index:
            return
        state = ev.data.get("state")
        now = self.lab.env.now
        if state == SUSPECT:
            self.suspected.setdefault(ev.subject, now)
            self._later(NODE_DOWN_GRACE, ev.subject)
        elif state == DEAD:
            since = self.suspected.setdefault(ev.subject, now)
            self._later(max(0.0, since + NODE_DOWN_GRACE - now), ev.subject)
        elif state == LEFT:
            self._later(0.0, ev.subject)
        elif state == ALIVE:
            self.suspected.pop(ev.subject, None)
            node = self._node(ev.subject)
            if node is not None and node.id in self.down:
                self.down.discard(node.id)
                refresh(self.swarm)
                self.on_up(node)

    def _later(self, delay: float, index: int) -> None:
        def check(_: Any) -> None:
            node = self._node(index)
            if node is None or node.id in self.down or view_state(self.swarm, node) != "down":
                return
            if index in self.suspected and self.suspected[index] + NODE_DOWN_GRACE > self.lab.env.now + 1e-9 \
                    and ev_state(self.swarm, node) != LEFT:
                return  # a later check (at the end of the grace) decides
            self.down.add(node.id)
            refresh(self.swarm)
            self.on_down(node)

        ev = self.lab.env.timeout(delay)
        ev.callbacks.append(check)
