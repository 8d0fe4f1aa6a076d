"""Underlay building blocks beyond one LAN: routers joining segments.

    lab.segment("wan", mtu=1400)
    add_router(lab, "r1", {"lan": "192.168.0.1/24", "wan": "10.0.0.1/24"})
    lab.add_host("far", address="10.0.0.2/24", segment="wan", gateway="10.0.0.1")

A router is a plain Linux machine (docker=False) with one NIC per segment and
net.ipv4.ip_forward=1; each NIC takes its segment's MTU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmsim.kernel import api

if TYPE_CHECKING:
    from cnmsim.host import Host
    from cnmsim.lab import Lab


def add_router(lab: Lab, name: str, interfaces: dict[str, str],
               routes: dict[str, str] | None = None, latency: float = 50e-6,
               bandwidth: float | None = 1e9, loss: float = 0.0) -> Host:
    """Add host `name` with eth0, eth1 ... on the given segments (segment name -> CIDR).

    `routes` adds static routes (destination prefix -> gateway) for networks that are more
    than one router away.
    """
    if not interfaces:
        raise ValueError(f"router {name!r} needs at least one interface")
    host = lab.add_host(name, docker=False)
    for seg, cidr in interfaces.items():
        host.add_nic(lab.segment(seg), cidr, latency=latency, bandwidth=bandwidth, loss=loss)
    host.root.sysctl_set("net.ipv4.ip_forward", "1")
    for dst, via in (routes or {}).items():
        host.root.route_add(api.Route(dst=dst, via=via))
    return host
