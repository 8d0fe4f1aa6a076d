"""Shared fixtures: small topologies built through the kernel api (cnmsim.kernel.api)."""

from __future__ import annotations

import pytest

from cnmsim import Lab
from cnmsim.kernel import api


def bridge_with_namespaces(lab: Lab, host: str = "host-A", names: tuple[str, ...] = ("ns1", "ns2"),
                           subnet: str = "10.0.0", bridge: str = "br0") -> None:
    """The classic building block: namespaces on a Linux bridge whose address is the gateway."""
    h = lab[host]
    root = h.root
    root.link_add(api.Bridge(bridge))
    root.addr_add(bridge, f"{subnet}.1/24")
    root.link_set(bridge, up=True)
    for i, n in enumerate(names, 2):
        ns = h.kernel.netns_add(n)
        root.link_add(api.Veth(f"veth-{n}", peer="eth0", peer_netns=n))
        root.link_set(f"veth-{n}", master=bridge, up=True)
        ns.addr_add("eth0", f"{subnet}.{i}/24")
        ns.link_set("lo", up=True)
        ns.link_set("eth0", up=True)
        ns.route_add(api.Route(dst="default", via=f"{subnet}.1"))


@pytest.fixture
def lab() -> Lab:
    return Lab(seed=0)


@pytest.fixture
def bridged(lab: Lab) -> Lab:
    lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    bridge_with_namespaces(lab)
    return lab
