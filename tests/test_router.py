"""Routers joining underlay segments (cnmsim.underlay.add_router / Lab.add_router)."""

from __future__ import annotations

import pytest

from cnmsim.lab import Lab
from cnmsim.underlay import add_router


def two_segments(seed: int = 0) -> Lab:
    lab = Lab(seed=seed)
    lab.add_router("r1", {"lan": "10.0.0.1/24", "dmz": "10.0.1.1/24"})
    lab.add_host("host-A", address="10.0.0.2/24", gateway="10.0.0.1", docker=False)
    lab.add_host("host-B", address="10.0.1.2/24", segment="dmz", gateway="10.0.1.1", docker=False)
    return lab


def test_router_shape() -> None:
    lab = two_segments()
    r1 = lab["r1"]
    assert not r1.docker
    assert [(n.name, n.port.segment.name) for n in r1.nics] == [("eth0", "lan"), ("eth1", "dmz")]
    assert r1.root.sysctl_get("net.ipv4.ip_forward") == "1"
    with pytest.raises(ValueError):
        add_router(lab, "r2", {})


def test_hosts_on_different_segments_reach_each_other() -> None:
    lab = two_segments(seed=1)
    r = lab.run("host-A", "ping -c 2 10.0.1.2")
    assert r.exit_code == 0
    assert "ttl=63" in r.stdout  # one router on the way back
    fwd = r.trace.filter("route:lookup", "forward", host="r1")
    assert fwd and any("dev eth1" in e.reason for e in fwd) and any("dev eth0" in e.reason for e in fwd)
    assert lab.run("host-B", "ping -c 1 10.0.0.2").exit_code == 0


def test_chained_routers_with_static_routes() -> None:
    lab = Lab(seed=2)
    lab.add_router("r1", {"lan": "10.0.0.1/24", "mid": "10.0.9.1/24"}, routes={"10.0.2.0/24": "10.0.9.2"})
    lab.add_router("r2", {"mid": "10.0.9.2/24", "far": "10.0.2.1/24"}, routes={"10.0.0.0/24": "10.0.9.1"})
    lab.add_host("host-A", address="10.0.0.2/24", gateway="10.0.0.1", docker=False)
    lab.add_host("host-B", address="10.0.2.2/24", segment="far", gateway="10.0.2.1", docker=False)
    r = lab.run("host-A", "ping -c 1 10.0.2.2")
    assert r.exit_code == 0
    assert "ttl=62" in r.stdout
    assert r.trace.filter("route:lookup", "forward", host="r2")


def test_router_without_forwarding_or_route() -> None:
    lab = two_segments(seed=3)
    assert lab.run("host-A", "ping -c 1 10.0.5.5").stdout.splitlines()[1] == \
        "From 10.0.0.1 icmp_seq=1 Destination Net Unreachable"
    lab["r1"].root.sysctl_set("net.ipv4.ip_forward", "0")
    r = lab.run("host-A", "ping -c 1 -W 1 10.0.1.2")
    assert r.exit_code == 1
    drops = r.trace.filter("ip:forward", "drop", host="r1")
    assert drops and "ip_forward=0" in drops[0].reason
