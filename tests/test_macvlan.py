"""macvlan (bridge mode): children on a NIC or on a VLAN sub-interface; the isolation pitfall."""

from __future__ import annotations

import pytest

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.lab import Lab
from tests._realnet import real_netns


def macvlan_lab(seed: int = 0) -> Lab:
    """host-A (192.168.0.2) with children mv0 in c1 (.11) and mv1 in c2 (.12); host-B (.3)."""
    lab = Lab(seed=seed)
    a = lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    lab.add_host("host-B", address="192.168.0.3/24", docker=False)
    for i, name in enumerate(("c1", "c2")):
        ns = a.kernel.netns_add(name)
        a.root.link_add(api.Macvlan(f"mv{i}", parent="eth0"))
        a.root.link_set(f"mv{i}", netns=name)
        ns.link_set(f"mv{i}", up=True)
        ns.addr_add(f"mv{i}", f"192.168.0.{11 + i}/24")
    return lab


def test_children_reach_each_other_and_the_lan() -> None:
    lab = macvlan_lab()
    r = lab.run("host-A", "ip netns exec c1 ping -c 1 192.168.0.12")
    assert r.exit_code == 0
    assert r.trace.filter("macvlan:tx", "bridge"), "sibling unicast is short-cut inside the host"
    assert not r.trace.filter("wire:switch"), "no frame between siblings touched the wire"
    r = lab.run("host-A", "ip netns exec c1 ping -c 1 192.168.0.3")
    assert r.exit_code == 0
    assert r.trace.filter("macvlan:rx", "deliver", host="host-A")  # the reply, demultiplexed by MAC
    r = lab.run("host-B", "ping -c 1 192.168.0.12")
    assert r.exit_code == 0
    flood = r.trace.filter("macvlan:rx", "flood", host="host-A")
    assert flood and "mv0, mv1" in flood[0].reason  # the LAN's ARP broadcast reached every child


def test_host_and_children_are_isolated() -> None:
    lab = macvlan_lab(seed=1)
    down = lab.run("host-A", "ping -c 1 -W 1 192.168.0.11")
    assert down.exit_code == 1
    iso = down.trace.filter("macvlan:isolate", host="host-A")
    assert iso and "the host cannot reach its macvlan children" in iso[0].reason
    up = lab.run("host-A", "ip netns exec c1 ping -c 1 -W 1 192.168.0.2")
    assert up.exit_code == 1
    iso = up.trace.filter("macvlan:isolate")
    assert iso and iso[0].ns == "c1" and "never climbs its parent's stack" in iso[0].reason
    # the parent's stack never even saw the child's ARP request, so it never answered
    assert not [e for e in up.trace.filter("arp:reply", host="host-A") if e.ns == ""]
    assert not [e for e in up.trace.filter("arp:request", "ignore", host="host-A") if e.ns == ""]


def test_macvlan_link_details_and_errors() -> None:
    lab = macvlan_lab()
    a = lab["host-A"]
    info = next(x for x in a.ns("c1").links() if x.name == "mv0")
    assert (info.kind, info.link, info.link_netns, info.details["mode"], info.mtu) == (
        "macvlan", "eth0", True, "bridge", 1500)
    with pytest.raises(KernelError, match=r'^Cannot find device "eth9"$'):
        a.root.link_add(api.Macvlan("mv9", parent="eth9"))
    with pytest.raises(KernelError, match="Invalid argument"):
        a.root.link_add(api.Macvlan("mv9", parent="lo"))
    with pytest.raises(KernelError, match='must be "private", "vepa", "bridge", "passthru" or "source", not "foo"'):
        a.root.link_add(api.Macvlan("mv9", parent="eth0", mode="foo"))
    a.root.link_add(api.Bridge("br0"))
    a.root.link_add(api.Veth("va", peer="vb"))
    a.root.link_set("va", master="br0")
    with pytest.raises(KernelError, match="Device or resource busy"):
        a.root.link_add(api.Macvlan("mv9", parent="va"))
    a.root.link_del("eth0")
    assert "mv0" not in a.ns("c1").devices, "children go with their parent"


def test_private_mode_keeps_siblings_apart() -> None:
    lab = Lab()
    a = lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    for i in range(2):
        ns = a.kernel.netns_add(f"p{i}")
        a.root.link_add(api.Macvlan(f"pv{i}", parent="eth0", mode="private"))
        a.root.link_set(f"pv{i}", netns=f"p{i}")
        ns.link_set(f"pv{i}", up=True)
        ns.addr_add(f"pv{i}", f"192.168.0.{21 + i}/24")
    assert lab.run("host-A", "ip netns exec p0 ping -c 1 -W 1 192.168.0.22").exit_code == 1


def trunk_lab() -> Lab:
    """Two hosts; on each, eth0.10 and eth0.20 with a macvlan child in its own namespace.
    All four children share 10.0.0.0/24: only the VLAN keeps them apart."""
    lab = Lab(seed=3)
    for hi, name in enumerate(("host-A", "host-B")):
        h = lab.add_host(name, address=f"192.168.0.{hi + 2}/24", docker=False)
        for vid in (10, 20):
            h.root.link_add(api.Vlan(f"eth0.{vid}", parent="eth0", vid=vid))
            h.root.link_set(f"eth0.{vid}", up=True)
            ns = h.kernel.netns_add(f"v{vid}")
            h.root.link_add(api.Macvlan(f"m{vid}", parent=f"eth0.{vid}"))
            h.root.link_set(f"m{vid}", netns=f"v{vid}")
            ns.link_set(f"m{vid}", up=True)
            ns.addr_add(f"m{vid}", f"10.0.0.{vid + hi}/24")  # A: .10 .20, B: .11 .21
    return lab


def test_vlan_trunking_with_macvlan_children() -> None:
    lab = trunk_lab()
    same = lab.run("host-A", "ip netns exec v10 ping -c 1 10.0.0.11")
    assert same.exit_code == 0
    assert same.trace.filter("vlan:tag", host="host-A") and same.trace.filter("vlan:untag", "untag", host="host-B")
    assert same.trace.filter("macvlan:rx", host="host-B")
    assert lab.run("host-A", "ip netns exec v20 ping -c 1 10.0.0.21").exit_code == 0
    cross = lab.run("host-A", "ip netns exec v10 ping -c 1 -W 1 10.0.0.21")
    assert cross.exit_code == 1
    # the VLAN-10 ARP request only ever reached VLAN-10 devices on host-B
    seen = {e.dev for e in cross.trace.filter(host="host-B") if e.ns}
    assert seen <= {"m10"}
    assert lab.run("host-B", "ip netns exec v20 ping -c 1 -W 1 10.0.0.10").exit_code == 1
    assert lab.run("host-A", "ping -c 1 192.168.0.3").exit_code == 0  # untagged traffic still flows


@pytest.mark.real
def test_isolation_matches_the_real_kernel() -> None:
    cases = [("c1", "192.168.0.12"), ("c1", "192.168.0.3"), ("hP", "192.168.0.11"), ("c1", "192.168.0.2")]
    with real_netns("macvlan") as net:
        n = {k: net.ns(k) for k in ("hP", "hQ", "c1", "c2")}
        net.sh("""
            ip -n {hP} link add vP type veth peer name vQ netns {hQ}
            ip -n {hP} addr add 192.168.0.2/24 dev vP
            ip -n {hQ} addr add 192.168.0.3/24 dev vQ
            ip -n {hP} link set vP up
            ip -n {hQ} link set vQ up
            ip -n {hP} link add mv0 link vP type macvlan mode bridge
            ip -n {hP} link add mv1 link vP type macvlan mode bridge
            ip -n {hP} link set mv0 netns {c1}
            ip -n {hP} link set mv1 netns {c2}
            ip -n {c1} addr add 192.168.0.11/24 dev mv0
            ip -n {c2} addr add 192.168.0.12/24 dev mv1
            ip -n {c1} link set mv0 up
            ip -n {c2} link set mv1 up
        """.format(**n))
        real = [net.run(n[ns], f"ping -c 1 -W 1 {ip}")[0] for ns, ip in cases]
    lab = macvlan_lab()
    sim = [lab.run("host-A", (f"ip netns exec {ns} " if ns != "hP" else "") + f"ping -c 1 -W 1 {ip}").exit_code
           for ns, ip in cases]
    assert sim == real == [0, 0, 1, 1]
