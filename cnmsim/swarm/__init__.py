"""Docker swarm mode: the gossip control plane (memberlist + networkdb) and, later, services."""
