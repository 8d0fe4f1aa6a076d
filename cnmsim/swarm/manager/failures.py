"""Failure injection for a swarm node: `crash_node(lab, hostname)` powers a node off.

The host's memberlist process dies (no more gossip), its containers' processes stop (their
servers no longer answer) and its NICs go down (nothing reaches it).  The engine's records stay
as they were, as a powered-off machine's disk would.  The manager learns of it only through the
gossip control plane: the leader's memberlist suspects, then declares the node dead; after the
dispatcher's heartbeat grace the node is Down and its tasks are rescheduled on other nodes
(control.FailureWatcher → orchestrator.node_down).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmsim.engine.errors import EngineError

if TYPE_CHECKING:
    from cnmsim.lab import Lab


def crash_node(lab: Lab, hostname: str) -> None:
    from cnmsim.swarm.manager.swarm import get

    swarm = get(lab)
    node = swarm.node_by_host(hostname) if swarm is not None else None
    if node is None or swarm is None:
        raise EngineError(f"{hostname} is not a node of a swarm")
    swarm.gossip.cluster.crash(node.index)
    host = lab[hostname]
    d = host.engine
    for c in d.containers.values():
        if c.running:
            d.stop_app(c, graceful=False)
    for nic in host.nic_names:
        host.root.link_set(nic, up=False)
    if lab.bus.on:
        lab.bus.emit(hostname, "", "", "swarm:node", "crash", f"{hostname} crashed: its memberlist process, "
                     "its containers' processes and its NICs are down")
    swarm.extra.setdefault("crashed", set()).add(node.id)
