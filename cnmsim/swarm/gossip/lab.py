"""Gossip among a Lab's hosts: memberlist on UDP/TCP 7946 of each host, its view changes in
the lab's traces, and what `serf members` shows.

    g = start_lab_gossip(lab, ["host-A", "host-B", "host-C"])   # every host joins through the first
    lab.wait(3)
    lab.run("host-A", "serf members")

The cluster runs in the lab's simpy environment and is seeded from the lab's RNG, so the same
lab seed gives the same gossip; its packets are real frames (LabTransport), so iptables rules,
link loss and MTU on the hosts act on them.  Each view change is a trace event at the observing
host, stage `gossip:member`, verdict alive/suspect/dead/left.  A NetworkDB runs on top, as in
dockerd: its reconnect loop is what brings a node back after a long partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cnmsim.swarm.gossip.api import STATE_NAMES, Event
from cnmsim.swarm.gossip.cluster import Cluster
from cnmsim.swarm.gossip.config import Config, lan, local, wan
from cnmsim.swarm.gossip.labtransport import PORT, LabTransport
from cnmsim.swarm.gossip.networkdb import NetworkDB

if TYPE_CHECKING:
    from cnmsim.lab import Lab

PRESETS = {"lan": lan, "wan": wan, "local": local}


@dataclass
class LabGossip:
    lab: Lab
    hosts: list[str]
    cluster: Cluster
    transport: LabTransport
    networkdb: Any = None

    def node(self, host: str) -> int:
        return self.hosts.index(host)

    def _trace(self, ev: Event) -> None:
        bus = self.lab.bus
        if not bus.on or ev.observer == ev.subject:
            return
        state = STATE_NAMES[ev.data["state"]] if 0 <= ev.data.get("state", -1) < 4 else "unknown"
        who, whom = self.hosts[ev.observer], self.hosts[ev.subject]
        why = {"alive": f"{who} knows {whom} is alive (incarnation {ev.data['incarnation']})",
               "suspect": f"{who} suspects {whom}: it answered no ping, direct or indirect, or another "
                          "member said so; it will be declared dead unless it refutes in time",
               "dead": f"{who} declares {whom} dead: the suspicion timed out without a refutation",
               "left": f"{who} saw {whom} leave the cluster"}.get(state, f"{who}: {whom} is {state}")
        bus.emit(who, "", "", "gossip:member", state, why)


def start_lab_gossip(lab: Lab, hosts: list[str], config: str | Config = "lan", join: str = "seed") -> LabGossip:
    """Start memberlist on the hosts (node i = hosts[i]); they join through hosts[0]."""
    if getattr(lab, "gossip", None) is not None:
        raise ValueError("this lab already runs a gossip cluster")
    cfg = PRESETS[config]() if isinstance(config, str) else config
    transport = LabTransport(lab, hosts)
    cluster = Cluster(len(hosts), cfg, seed=lab.rng.getrandbits(32), transport=transport, env=lab.env)
    g = LabGossip(lab, list(hosts), cluster, transport)
    cluster.subscribe(g._trace, kinds=["member"])
    cluster.start(join=join)
    g.networkdb = NetworkDB(cluster)  # as dockerd: networkdb owns memberlist and reconnects failed nodes
    lab.gossip = g  # type: ignore[attr-defined]
    return g


def member_rows(g: LabGossip, host: str) -> list[tuple[str, str, str]]:
    """(name, addr:port, serf status) of every member host knows, as `serf members` lists them.
    Serf shows memberlist's suspect members as alive and dead ones as failed."""
    o = g.node(host)
    status = {0: "alive", 1: "alive", 2: "failed", 3: "left"}
    rows = []
    for x, (state, _inc) in sorted(g.cluster.members(o).items()):
        if state in status:
            rows.append((g.hosts[x], f"{g.transport.addrs[x]}:{PORT}", status[state]))
    return rows
