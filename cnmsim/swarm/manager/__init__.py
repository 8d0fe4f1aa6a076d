"""Swarm mode's manager side: `docker swarm|node|service`, the global IPAM, the scheduler and
orchestrators, and each node's agent (swarmkit's roles, on the lab's single SwarmState).

    swarm.py        init / join / leave / join tokens, the 2377 listener, observers
    control.py      the gossip control plane among the nodes, node health from the leader's view
    ipam.py         subnets from the default pools, VNIs, addresses, published ports
    networks.py     swarm networks in the store (ingress, overlays)
    services.py     create / update / remove of services (ports, VIPs, image pinning)
    orchestrator.py replicated and global orchestration, restarts, node failures, history
    scheduler.py    filters and spread
    agent.py        a node realises its tasks; what the engine asks of swarm mode
    allocator.py    addresses for other swarm parts (load-balancer endpoints)
    failures.py     crash_node(lab, hostname)
"""

from cnmsim.swarm.manager.failures import crash_node
from cnmsim.swarm.manager.swarm import observe

__all__ = ["crash_node", "observe"]
