"""802.1Q sub-interfaces: tagging, untagging, trunks, and what happens to unclaimed VLANs."""

from __future__ import annotations

import pytest
from scapy.layers.l2 import Dot1Q

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.lab import Lab
from tests._realnet import real_netns


def vlan_lab(vids: dict[str, tuple[int, ...]]) -> Lab:
    """Hosts on one (VLAN-unaware) segment; host i gets eth0.VID with 10.VID.0.(i+2)/24."""
    lab = Lab(seed=5)
    for i, (name, tags) in enumerate(vids.items()):
        h = lab.add_host(name, address=f"192.168.0.{i + 2}/24", docker=False)
        for vid in tags:
            h.root.link_add(api.Vlan(f"eth0.{vid}", parent="eth0", vid=vid))
            h.root.addr_add(f"eth0.{vid}", f"10.{vid}.0.{i + 2}/24")
            h.root.link_set(f"eth0.{vid}", up=True)
    return lab


def test_tagged_ping_across_a_trunk() -> None:
    lab = vlan_lab({"host-A": (10,), "host-B": (10,)})
    wire = []
    lab["host-A"].nics[0].taps.append(lambda d, f, way: wire.append(f.pkt.copy()) if way == "out" else None)
    r = lab.run("host-A", "ping -c 1 10.10.0.3")
    assert r.exit_code == 0
    assert r.trace.filter("vlan:tag", host="host-A") and r.trace.filter("vlan:untag", "untag", host="host-B")
    tagged = [p for p in wire if p.haslayer(Dot1Q)]
    assert tagged and all(p[Dot1Q].vlan == 10 and p.type == 0x8100 for p in tagged)
    assert lab.run("host-A", "ping -c 1 192.168.0.3").exit_code == 0  # the parent stays untagged


def test_full_size_tagged_frame_fits_the_mtu() -> None:
    lab = vlan_lab({"host-A": (10,), "host-B": (10,)})
    r = lab.run("host-A", "ping -c 1 -M do -s 1472 10.10.0.3")  # 1500-byte IP packet + 4-byte tag
    assert r.exit_code == 0, r.trace.text()


def test_other_vlans_do_not_reach_each_other() -> None:
    lab = vlan_lab({"host-A": (10, 20), "host-B": (10,), "host-C": (20,)})
    assert lab.run("host-A", "ping -c 1 10.20.0.4").exit_code == 0
    # host-B has no eth0.20: the VLAN-20 broadcast the switch floods to it is dropped, traced
    r = lab.run("host-A", "ping -c 1 -W 1 10.20.0.3")
    assert r.exit_code == 1
    drops = r.trace.filter("vlan:untag", "drop", host="host-B")
    assert drops and "VLAN 20" in drops[0].reason and "eth0.10" in drops[0].reason


def test_tagged_frame_on_a_parent_without_sub_interfaces_is_not_for_the_stack() -> None:
    lab = vlan_lab({"host-A": (30,), "host-B": ()})
    r = lab.run("host-A", "ping -c 1 -W 1 10.30.0.3")
    assert r.exit_code == 1
    assert r.trace.filter("l2:rx", "drop", host="host-B")


def test_vlan_link_details_and_errors() -> None:
    lab = vlan_lab({"host-A": (10,)})
    root = lab["host-A"].root
    eth0 = root.devices["eth0"]
    info = next(x for x in root.links() if x.name == "eth0.10")
    assert (info.kind, info.link, info.mac, info.mtu, info.details["id"]) == ("vlan", "eth0", eth0.mac, 1500, 10)
    with pytest.raises(KernelError, match=r"^Error: 8021q: VLAN device already exists\.$"):
        root.link_add(api.Vlan("v10", parent="eth0", vid=10))
    with pytest.raises(KernelError, match=r"^Error: 8021q: Invalid VLAN id\.$"):
        root.link_add(api.Vlan("v4095", parent="eth0", vid=4095))
    with pytest.raises(KernelError, match=r'^Cannot find device "eth9"$'):
        root.link_add(api.Vlan("eth9.10", parent="eth9", vid=10))
    with pytest.raises(KernelError, match="VLANs not supported on device"):
        root.link_add(api.Vlan("lo.10", parent="lo", vid=10))
    root.link_del("eth0.10")
    assert eth0.vlan_rx is None and not eth0.uppers
    root.link_add(api.Vlan("eth0.10", parent="eth0", vid=10))
    root.link_del("eth0")
    assert "eth0.10" not in root.devices


@pytest.mark.real
def test_vlan_reach_matches_the_real_kernel() -> None:
    with real_netns("vlan") as net:
        a, b = net.ns("vA"), net.ns("vB")
        net.sh(f"""
            ip -n {a} link add e0 type veth peer name e0 netns {b}
            ip -n {a} link set e0 up
            ip -n {b} link set e0 up
            ip -n {a} link add link e0 name e0.10 type vlan id 10
            ip -n {b} link add link e0 name e0.20 type vlan id 20
            ip -n {a} addr add 10.0.0.2/24 dev e0.10
            ip -n {b} addr add 10.0.0.3/24 dev e0.20
            ip -n {a} link set e0.10 up
            ip -n {b} link set e0.20 up
        """)
        cross = net.run(a, "ping -c 1 -W 1 10.0.0.3")[0]
        net.sh(f"""
            ip -n {b} link add link e0 name e0.10 type vlan id 10
            ip -n {b} addr add 10.0.0.4/24 dev e0.10
            ip -n {b} link set e0.10 up
        """)
        same = net.run(a, "ping -c 1 -W 1 10.0.0.4")[0]
    lab = Lab()
    for i, (name, vid) in enumerate((("A", 10), ("B", 20))):
        h = lab.add_host(name, address=f"192.168.0.{i + 2}/24", docker=False)
        h.root.link_add(api.Vlan(f"eth0.{vid}", parent="eth0", vid=vid))
        h.root.addr_add(f"eth0.{vid}", f"10.0.0.{i + 2}/24")
        h.root.link_set(f"eth0.{vid}", up=True)
    sim_cross = lab.run("A", "ping -c 1 -W 1 10.0.0.3").exit_code
    b = lab["B"].root
    b.link_add(api.Vlan("eth0.10", parent="eth0", vid=10))
    b.addr_add("eth0.10", "10.0.0.4/24")
    b.link_set("eth0.10", up=True)
    sim_same = lab.run("A", "ping -c 1 -W 1 10.0.0.4").exit_code
    assert (sim_cross, sim_same) == (cross, same) == (1, 0)
