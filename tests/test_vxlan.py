"""VXLAN: Docker-overlay-shaped topologies (netns + bridge + vxlan per host) over one segment."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.vxlan import VXLAN

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.lab import Lab
from cnmsim.trace.sinks import PcapTap
from tests._realnet import ping_lines, real_netns

MACS = ["02:42:0a:00:00:02", "02:42:0a:00:00:03", "02:42:0a:00:00:04"]


def overlay(lab: Lab, n: int = 2, static: bool = True, mtu: int = 1500, vni: int = 42,
            learning: bool = True) -> list:
    """Per host: vxlan0 created in the root namespace and moved into `ov` (as Docker does),
    bridged with a veth to a container namespace `c` (10.0.0.2, .3 ...)."""
    lab.segment("lan", mtu=mtu)
    hosts = [lab.add_host(f"host-{'ABC'[i]}", address=f"192.168.0.{i + 2}/24", docker=False)
             for i in range(n)]
    for i, h in enumerate(hosts):
        ov, c = h.kernel.netns_add("ov"), h.kernel.netns_add("c")
        h.root.link_add(api.Vxlan("vxlan0", vni=vni, proxy=static, learning=learning))
        h.root.link_set("vxlan0", mtu=1450)
        h.root.link_set("vxlan0", netns="ov")
        ov.link_add(api.Bridge("br0"))
        ov.addr_add("br0", "10.0.0.1/24")
        ov.link_set("vxlan0", master="br0")
        ov.link_add(api.Veth("veth0", peer="eth0", peer_netns="c"))
        ov.link_set("veth0", master="br0", mtu=1450, up=True)
        ov.link_set("vxlan0", up=True)
        ov.link_set("br0", up=True)
        c.link_set("eth0", mtu=1450, address=MACS[i], up=True)
        c.link_set("lo", up=True)
        c.addr_add("eth0", f"10.0.0.{i + 2}/24")
        for j in range(n):
            if j == i:
                continue
            if static:  # what Docker's overlay driver programs for each peer
                ov.neigh_add(api.Neigh(f"10.0.0.{j + 2}", "vxlan0", lladdr=MACS[j], state="PERMANENT"))
                ov.fdb_add(api.Fdb(MACS[j], "vxlan0", dst=f"192.168.0.{j + 2}", self_=True))
            else:
                ov.fdb_add(api.Fdb("00:00:00:00:00:00", "vxlan0", dst=f"192.168.0.{j + 2}", self_=True),
                           append=True)
    return hosts


def test_static_overlay_ping_and_proxy_arp() -> None:
    lab = Lab(seed=1)
    overlay(lab)
    r = lab.run("host-A", "ip netns exec c ping -c 2 10.0.0.3")
    assert r.exit_code == 0, r.stdout
    assert "2 received" in r.stdout
    assert r.trace.filter("vxlan:encap", host="host-A")
    assert r.trace.filter("vxlan:decap", "decap", host="host-B")
    assert r.trace.filter("vxlan:arp", "reply", host="host-A")
    # proxy mode: the ARP request was answered locally, never sent over the underlay
    assert not any("who-has 10.0.0.3" in e.reason for e in r.trace.filter(host="host-B"))
    encaps = r.trace.filter("vxlan:encap")
    assert all(e.ns == "" for e in encaps), "outer packets are routed in the creating (root) namespace"


def test_default_entry_floods_then_learns() -> None:
    lab = Lab(seed=2)
    hosts = overlay(lab, static=False)
    r = lab.run("host-A", "ip netns exec c ping -c 2 10.0.0.3")
    assert r.exit_code == 0, r.stdout
    assert r.trace.filter("vxlan:fdb", "default", host="host-A")  # the broadcast ARP used 00:00:00:00:00:00
    learned = [f for f in hosts[1].ns("ov").fdbs() if f.self_ and f.mac == MACS[0]]
    assert learned == [api.Fdb(MACS[0], "vxlan0", dst="192.168.0.2", state="", self_=True)]
    # the second echo request goes straight to the learned VTEP, not through the default entry
    seq2 = [e for e in r.trace.filter("vxlan:fdb", host="host-A") if "seq 2" in e.summary]
    assert seq2 and all(e.verdict == "hit" for e in seq2)


def test_default_entry_with_several_remotes_sends_one_copy_each() -> None:
    lab = Lab(seed=3)
    overlay(lab, n=3, static=False)
    r = lab.run("host-A", "ip netns exec c ping -c 1 10.0.0.4")
    assert r.exit_code == 0, r.stdout
    arp = [e for e in r.trace.filter("vxlan:encap", host="host-A") if "ARP" in e.summary]
    assert {e.reason.split(" > ")[1].split(":")[0] for e in arp} == {"192.168.0.3", "192.168.0.4"}


def test_learning_off_does_not_learn() -> None:
    lab = Lab(seed=2)
    hosts = overlay(lab, static=False, learning=False)
    r = lab.run("host-A", "ip netns exec c ping -c 1 10.0.0.3")
    assert r.exit_code == 0
    assert [f.mac for f in hosts[1].ns("ov").fdbs() if f.self_ and f.dev == "vxlan0"] == ["00:00:00:00:00:00"]


def test_wrong_vni_is_dropped_at_the_receiving_socket() -> None:
    lab = Lab(seed=4)
    hosts = overlay(lab)
    ov = hosts[1].ns("ov")
    ov.link_del("vxlan0")
    hosts[1].root.link_add(api.Vxlan("vxlan0", vni=43))
    hosts[1].root.link_set("vxlan0", up=True)  # opens the socket on 4789: VNI 42 finds no device
    r = lab.run("host-A", "ip netns exec c ping -c 1 -W 1 10.0.0.3")
    assert r.exit_code == 1
    drops = r.trace.filter("vxlan:decap", "drop", host="host-B")
    assert drops and "no vxlan device with VNI 42" in drops[0].reason


def test_socket_lives_in_the_creating_namespace() -> None:
    lab = Lab()
    (a, _) = overlay(lab)
    assert ("0.0.0.0", 4789) in a.root.sockets.udp
    assert ("0.0.0.0", 4789) not in a.ns("ov").sockets.udp
    a.ns("ov").link_set("vxlan0", up=False)  # vxlan_stop releases the socket
    assert ("0.0.0.0", 4789) not in a.root.sockets.udp
    a.ns("ov").link_set("vxlan0", up=True)
    assert ("0.0.0.0", 4789) in a.root.sockets.udp
    info = next(x for x in a.ns("ov").links() if x.name == "vxlan0")
    assert info.kind == "vxlan" and info.link_netns and info.details["id"] == 42
    a.ns("ov").link_del("vxlan0")
    assert ("0.0.0.0", 4789) not in a.root.sockets.udp


def test_outer_headers() -> None:
    lab = Lab(seed=5)
    (a, _) = overlay(lab)
    seen = []
    a.nics[0].taps.append(lambda dev, f, d: seen.append(f.pkt.copy()) if d == "out" else None)
    assert lab.run("host-A", "ip netns exec c ping -c 2 10.0.0.3").exit_code == 0
    outer = [p for p in seen if p.haslayer(VXLAN)]
    assert len(outer) == 2
    sports = set()
    for p in outer:
        ip, udp, vx = p[IP], p[UDP], p[VXLAN]
        assert (ip.src, ip.dst, ip.ttl, int(ip.flags)) == ("192.168.0.2", "192.168.0.3", 64, 0)  # df unset
        assert udp.dport == 4789 and 32768 <= udp.sport <= 60999
        assert int(vx.flags) == 0x08 and vx.vni == 42
        assert len(p) == len(vx.payload) + 50
        sports.add(udp.sport)
    assert len(sports) == 1, "one inner flow hashes to one source port"


def test_fdb_semantics_match_bridge_fdb() -> None:
    lab = Lab()
    h = lab.add_host("h", address="192.168.0.2/24", docker=False)
    h.root.link_add(api.Vxlan("vxlan0", vni=7))
    add = h.root.fdb_add
    add(api.Fdb("00:00:00:00:00:00", "vxlan0", dst="192.168.0.9", self_=True), append=True)
    add(api.Fdb("00:00:00:00:00:00", "vxlan0", dst="192.168.0.8", self_=True), append=True)
    add(api.Fdb("00:00:00:00:00:00", "vxlan0", dst="192.168.0.8", self_=True), append=True)  # no error, no dup
    add(api.Fdb("02:42:0a:00:00:03", "vxlan0", dst="192.168.0.3", self_=True))
    with pytest.raises(KernelError, match="File exists"):
        add(api.Fdb("02:42:0a:00:00:03", "vxlan0", dst="192.168.0.7", self_=True))
    add(api.Fdb("02:42:0a:00:00:03", "vxlan0", dst="192.168.0.7", self_=True), append=True)  # ignored
    rows = [(f.mac, f.dst, f.state) for f in h.root.fdbs() if f.dev == "vxlan0"]
    assert rows == [("00:00:00:00:00:00", "192.168.0.9", "permanent"),
                    ("00:00:00:00:00:00", "192.168.0.8", "permanent"),
                    ("02:42:0a:00:00:03", "192.168.0.3", "permanent")]
    with pytest.raises(KernelError, match="No such file or directory"):
        h.root.fdb_del(api.Fdb("02:42:0a:00:00:44", "vxlan0"))
    h.root.fdb_del(api.Fdb("00:00:00:00:00:00", "vxlan0", dst="192.168.0.9"))
    assert [f.dst for f in h.root.fdbs() if f.mac == "00:00:00:00:00:00"] == ["192.168.0.8"]


def test_mtu_and_creation_errors() -> None:
    lab = Lab()
    h = lab.add_host("h", address="192.168.0.2/24", docker=False, mtu=9000)
    h.root.link_add(api.Vxlan("vx1", vni=1, dev="eth0"))
    h.root.link_add(api.Vxlan("vx2", vni=2))
    mtus = {x.name: x.mtu for x in h.root.links()}
    assert (mtus["vx1"], mtus["vx2"]) == (8950, 1500)
    with pytest.raises(KernelError):
        h.root.link_set("vx1", mtu=8951)
    with pytest.raises(KernelError, match=r'^Cannot find device "eth9"$'):
        h.root.link_add(api.Vxlan("vx3", vni=3, dev="eth9"))
    ns = h.kernel.netns_add("ov")
    h.root.link_set("vx2", netns="ov")
    with pytest.raises(KernelError, match=r"^Error: A VXLAN device with the specified VNI already exists\.$"):
        h.root.link_add(api.Vxlan("vx4", vni=2))  # vx2 moved away, but was created here
    ns.link_add(api.Vxlan("vx4", vni=2))  # another namespace has its own VNI space
    h.root.link_add(api.Vxlan("vx5", vni=2, dstport=8472))  # so has another port
    h.root.link_del("eth0")
    assert "vx1" not in h.root.devices, "deleting the lower device deletes the vxlan on it"


def test_overlay_mtu_pitfall() -> None:
    lab = Lab(seed=6)
    overlay(lab, mtu=1400)
    small = lab.run("host-A", "ip netns exec c ping -c 1 10.0.0.3")
    assert small.exit_code == 0
    big = lab.run("host-A", "ip netns exec c ping -c 3 -i 0.3 -W 1 -M do -s 1400 10.0.0.3")
    assert big.exit_code == 1
    assert big.stdout.splitlines()[1] == "From 10.0.0.3 icmp_seq=1 Frag needed and DF set (mtu = 1350)"
    assert big.stderr == "ping: local error: message too long, mtu=1350\n" * 2
    drop = big.trace.filter("vxlan:pmtu", "drop")
    assert drop and "1428-byte packet" in drop[0].reason and "underlay MTU 1400" in drop[0].reason
    assert "overlay MTU pitfall" in big.trace.explain()
    fits = lab.run("host-A", "ip netns exec c ping -c 1 -M do -s 1322 10.0.0.3")  # 1350 bytes
    assert fits.exit_code == 0
    want = lab.run("host-A", "ip netns exec c ping -c 1 -s 1400 10.0.0.3")  # path MTU known: fragments
    assert want.exit_code == 0
    assert want.trace.filter("ip:fragment", host="host-A")


def routed_vxlan(lab: Lab) -> None:
    """h0/h1 with vxlan0 (VNI 7) in their root namespaces, addressed 10.9.0.2/.3: no bridge."""
    hosts = [lab.add_host(f"h{i}", address=f"192.168.0.{i + 2}/24", docker=False) for i in range(2)]
    for i, h in enumerate(hosts):
        h.root.link_add(api.Vxlan("vxlan0", vni=7))
        h.root.fdb_add(api.Fdb("00:00:00:00:00:00", "vxlan0", dst=f"192.168.0.{3 - i}"), append=True)
        h.root.addr_add("vxlan0", f"10.9.0.{i + 2}/24")
        h.root.link_set("vxlan0", up=True)


def test_routed_vxlan_learns_pmtu_and_fragments_the_outer_packet() -> None:
    """Not a bridge port: no ICMP; the oversized packet still goes (outer DF clear, fragmented)
    and the sender's route learns mtu 1450, as `ip route get` shows on Linux."""
    lab = Lab(seed=7)
    routed_vxlan(lab)
    r = lab.run("h0", "ping -c 3 -i 0.3 -W 1 -M do -s 1460 10.9.0.3")
    assert r.exit_code == 0
    assert ping_lines(r.stdout)[1] == "1468 bytes from 10.9.0.3: icmp_seq=1 ttl=64"
    assert r.stderr == "ping: local error: message too long, mtu=1450\n" * 2
    assert r.trace.filter("vxlan:pmtu", "pass") and r.trace.filter("ip:fragment", host="h0")


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_pcap_opens_in_tshark(tmp_path) -> None:  # noqa: ANN001
    lab = Lab(seed=8)
    (a, _) = overlay(lab, vni=4242)
    path = str(tmp_path / "underlay.pcap")
    tap = PcapTap(path, [a.nics[0]], lambda: lab.env.now)
    assert lab.run("host-A", "ip netns exec c ping -c 1 10.0.0.3").exit_code == 0
    tap.close()
    out = subprocess.run(["tshark", "-r", path, "-V"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Virtual eXtensible Local Area Network" in text
    assert "VXLAN Network Identifier (VNI): 4242" in text
    assert "Echo (ping) request" in text and "Echo (ping) reply" in text
    assert "eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:icmp" in text
    assert "Source Address: 10.0.0.2" in text and "Destination Port: 4789" in text


REAL_OVERLAY = """
ip -n {hA} link add u0 type veth peer name u0 netns {hB}
ip -n {hA} link set u0 mtu 1400 up
ip -n {hB} link set u0 mtu 1400 up
ip -n {hA} addr add 192.168.0.2/24 dev u0
ip -n {hB} addr add 192.168.0.3/24 dev u0
"""
REAL_SIDE = """
ip -n {h} link add vxlan0 type vxlan id 42 dstport 4789 proxy learning
ip -n {h} link set vxlan0 mtu 1450
ip -n {h} link set vxlan0 netns {o}
ip -n {o} link add br0 type bridge
ip -n {o} addr add 10.0.0.1/24 dev br0
ip -n {o} link set vxlan0 master br0
ip -n {o} link add veth0 type veth peer name eth0 netns {c}
ip -n {o} link set veth0 master br0 mtu 1450 up
ip -n {o} link set vxlan0 up
ip -n {o} link set br0 up
ip -n {c} link set eth0 mtu 1450 address {mac} up
ip -n {c} link set lo up
ip -n {c} addr add {ip}/24 dev eth0
ip -n {o} neigh add {pip} lladdr {pmac} dev vxlan0 nud permanent
bridge -n {o} fdb add {pmac} dev vxlan0 dst {pvtep} self permanent
"""


@pytest.mark.real
def test_overlay_mtu_pitfall_matches_the_real_kernel() -> None:
    cmd = "ping -c 3 -i 0.3 -W 1 -M do -s 1400 10.0.0.3"
    with real_netns("vxlan") as net:
        n = {k: net.ns(k) for k in ("hA", "hB", "oA", "oB", "cA", "cB")}
        net.sh(REAL_OVERLAY.format(**n))
        for s, i in (("A", 0), ("B", 1)):
            net.sh(REAL_SIDE.format(h=n["h" + s], o=n["o" + s], c=n["c" + s], mac=MACS[i],
                                    ip=f"10.0.0.{i + 2}", pip=f"10.0.0.{3 - i}", pmac=MACS[1 - i],
                                    pvtep=f"192.168.0.{3 - i}"))
        assert net.run(n["cA"], "ping -c 1 -W 1 10.0.0.3")[0] == 0
        real_rc, real_out, real_err = net.run(n["cA"], cmd)
    lab = Lab(seed=9)
    overlay(lab, mtu=1400)
    lab.run("host-A", "ip netns exec c ping -c 1 10.0.0.3")
    sim = lab.run("host-A", f"ip netns exec c {cmd}")
    assert sim.exit_code == real_rc
    assert ping_lines(sim.stdout) == ping_lines(real_out)
    assert sim.stderr == real_err


@pytest.mark.real
def test_routed_vxlan_matches_the_real_kernel() -> None:
    cmd = "ping -c 3 -i 0.3 -W 1 -M do -s 1460 10.9.0.3"
    with real_netns("vxlan") as net:
        a, b = net.ns("xA"), net.ns("xB")
        net.sh(f"""
            ip -n {a} link add u0 type veth peer name u0 netns {b}
            ip -n {a} addr add 192.168.0.2/24 dev u0
            ip -n {b} addr add 192.168.0.3/24 dev u0
            ip -n {a} link set u0 up
            ip -n {b} link set u0 up
        """)
        for ns, me, peer in ((a, 2, 3), (b, 3, 2)):
            net.sh(f"""
                ip -n {ns} link add vxlan0 type vxlan id 7 dstport 4789
                bridge -n {ns} fdb append 00:00:00:00:00:00 dev vxlan0 dst 192.168.0.{peer}
                ip -n {ns} addr add 10.9.0.{me}/24 dev vxlan0
                ip -n {ns} link set vxlan0 up
            """)
        rc, out, err = net.run(a, cmd)
    lab = Lab(seed=7)
    routed_vxlan(lab)
    sim = lab.run("h0", cmd)
    assert (sim.exit_code, sim.stderr) == (rc, err)
    # iputils prints a fractional loss ("66.6667%"); compare the lines before the summary
    assert ping_lines(sim.stdout)[:2] == ping_lines(out)[:2]
