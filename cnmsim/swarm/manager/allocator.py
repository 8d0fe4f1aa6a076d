"""The manager's address allocator as other swarm parts call it (the load balancer's endpoint
address per node and network): the swarm's serial IPAM (ipam.py), owner recorded in
SwarmNetwork.allocated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmsim.swarm.manager import networks

if TYPE_CHECKING:
    from cnmsim.swarm.model import SwarmNetwork, SwarmState


def allocate_ip(swarm: SwarmState, snet: SwarmNetwork, owner: str) -> str:
    """The address `owner` holds on the network, allocated now if it has none (plain IP)."""
    ipam = networks.ipam_of(swarm)
    have = ipam.owned(snet, owner)
    return have if have is not None else str(ipam.request_address(snet, owner).ip)


def release_ip(swarm: SwarmState, snet: SwarmNetwork, ip: str) -> None:
    networks.ipam_of(swarm).release_address(snet, ip)
