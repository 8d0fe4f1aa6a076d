"""ARP and Linux bridge behaviour, checked against what the kernel does (net/bridge, net/ipv4/arp.c)."""

from __future__ import annotations

from cnmsim import Lab
from cnmsim.kernel import api
from tests.conftest import bridge_with_namespaces


def ns_ping(lab: Lab, ns: str, dst: str, extra: str = "-c 1") -> object:
    return lab.run("host-A", f"ip netns exec {ns} ping {extra} {dst}")


def test_first_ping_resolves_with_arp_then_echo(bridged: Lab) -> None:
    r = ns_ping(bridged, "ns1", "10.0.0.3")
    assert r.exit_code == 0, r.output
    assert "1 packets transmitted, 1 received, 0% packet loss" in r.stdout
    stages = r.trace.stages()
    # the echo request waits for ARP: request broadcast, reply, then the queued request goes out
    assert stages.index("neigh:resolve") < stages.index("arp:request") < stages.index("arp:reply")
    req = r.trace.filter("arp:request", verdict="send")[0]
    assert "who-has 10.0.0.3 tell 10.0.0.2" in req.reason
    # the broadcast ARP request is flooded by the bridge
    assert r.trace.filter("bridge:flood")
    ns1 = bridged["host-A"].ns("ns1")
    neigh = {n.ip: n for n in ns1.neighs()}
    assert neigh["10.0.0.3"].state == "REACHABLE"
    ns2_mac = next(link.mac for link in bridged["host-A"].ns("ns2").links() if link.name == "eth0")
    assert neigh["10.0.0.3"].lladdr == ns2_mac


def test_second_ping_needs_no_arp(bridged: Lab) -> None:
    ns_ping(bridged, "ns1", "10.0.0.3")
    r = ns_ping(bridged, "ns1", "10.0.0.3")
    assert r.ok
    assert not r.trace.filter("arp:")
    assert r.trace.filter("neigh:resolve", verdict="hit")


def test_neighbour_goes_stale_after_reachable_time(bridged: Lab) -> None:
    ns_ping(bridged, "ns1", "10.0.0.3")
    bridged.wait(46)  # reachable_time is random in [15, 45] s (base_reachable_time 30 s)
    states = {n.ip: n.state for n in bridged["host-A"].ns("ns1").neighs()}
    assert states["10.0.0.3"] == "STALE"
    r = ns_ping(bridged, "ns1", "10.0.0.3")  # a stale entry is still used (DELAY), no broadcast
    assert r.ok and not r.trace.filter("arp:request")


def test_arp_for_absent_host_fails_and_ping_reports_unreachable(bridged: Lab) -> None:
    r = ns_ping(bridged, "ns1", "10.0.0.99", "-c 1 -W 5")
    assert r.exit_code == 1
    # three broadcast solicitations one second apart, then FAILED and EHOSTUNREACH
    reqs = r.trace.filter("arp:request", verdict="send")
    assert len(reqs) == 3
    assert [round(e.t - reqs[0].t, 3) for e in reqs] == [0.0, 1.0, 2.0]
    assert "From 10.0.0.2 icmp_seq=1 Destination Host Unreachable" in r.stdout
    assert "+1 errors" in r.stdout
    states = {n.ip: n.state for n in bridged["host-A"].ns("ns1").neighs()}
    assert states["10.0.0.99"] == "FAILED"


def test_bridge_learns_source_macs(bridged: Lab) -> None:
    ns_ping(bridged, "ns1", "10.0.0.3")
    fdb = bridged["host-A"].root.fdbs()
    learned = {(f.mac, f.dev) for f in fdb if f.state == ""}
    macs = {n: next(x.mac for x in bridged["host-A"].ns(n).links() if x.name == "eth0")
            for n in ("ns1", "ns2")}
    assert (macs["ns1"], "veth-ns1") in learned
    assert (macs["ns2"], "veth-ns2") in learned
    # each port's own address is a permanent local entry, as `bridge fdb show` lists it
    perm = {f.dev for f in fdb if f.state == "permanent"}
    assert {"veth-ns1", "veth-ns2", "br0"} <= perm


def test_answering_side_learns_stale_then_probes_after_delay(bridged: Lab) -> None:
    """arp_process: a request only creates a STALE entry at the target; using it (the echo
    reply) moves it to DELAY, and 5 s later (delay_first_probe_time) a unicast probe confirms it."""
    ns_ping(bridged, "ns1", "10.0.0.3")
    states = {n.ip: n.state for n in bridged["host-A"].ns("ns2").neighs()}
    assert states["10.0.0.2"] == "DELAY"
    w = bridged.wait(6)
    probes = w.trace.filter("arp:request", verdict="send")
    assert len(probes) == 1 and probes[0].host == "host-A" and probes[0].ns == "ns2"
    assert abs(probes[0].t - 5.0) < 0.01
    assert w.trace.filter("bridge:forward")  # unicast to ns1's MAC: no flood
    states = {n.ip: n.state for n in bridged["host-A"].ns("ns2").neighs()}
    assert states["10.0.0.2"] == "REACHABLE"


def test_fdb_entries_age_out_after_300s(bridged: Lab) -> None:
    ns_ping(bridged, "ns1", "10.0.0.3")
    bridged.wait(6)  # the DELAY probe at t=5 s refreshes both entries
    bridged.wait(298)
    assert [f for f in bridged["host-A"].root.fdbs() if f.state == ""]
    bridged.wait(2)
    assert not [f for f in bridged["host-A"].root.fdbs() if f.state == ""]


def test_unknown_unicast_is_flooded(bridged: Lab) -> None:
    ns_ping(bridged, "ns1", "10.0.0.3")
    bridged.wait(310)  # the bridge forgets, the neighbour tables still know the MACs (STALE)
    r = ns_ping(bridged, "ns1", "10.0.0.3")
    assert r.ok
    floods = r.trace.filter("bridge:flood")
    assert any("unknown unicast" in e.reason for e in floods)


def test_bridge_never_sends_back_out_of_ingress_port_without_hairpin(lab: Lab) -> None:
    lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    bridge_with_namespaces(lab, names=("ns1",))
    h = lab["host-A"]
    br = h.root.devices["br0"]
    port = h.root.devices["veth-ns1"]
    ns1_mac = h.ns("ns1").devices["eth0"].mac
    from scapy.layers.l2 import Ether

    from cnmsim.packet.frame import Frame

    br.learn(ns1_mac, port, Frame(Ether(), 0))
    sent = []
    port.taps.append(lambda d, f, direction: sent.append(direction))
    frame = Frame(Ether(src="02:00:00:00:00:99", dst=ns1_mac), lab.ctx.next_id())
    br.handle_frame(port, frame)
    assert "out" not in sent
    h.root.link_set("veth-ns1", hairpin=True)
    br.handle_frame(port, Frame(Ether(src="02:00:00:00:00:99", dst=ns1_mac), lab.ctx.next_id()))
    assert "out" in sent


def test_forwarding_namespace_routes_between_subnets(lab: Lab) -> None:
    """Two bridges joined by the host's routing table: ip_forward decides, TTL drops by one."""
    lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    bridge_with_namespaces(lab, names=("ns1",), subnet="10.0.0", bridge="br0")
    bridge_with_namespaces(lab, names=("ns2",), subnet="10.0.1", bridge="br1")
    r = ns_ping(lab, "ns1", "10.0.1.2", "-c 1 -W 1")
    assert r.exit_code == 1
    assert r.trace.filter("ip:forward", verdict="drop")
    assert "ip_forward=0" in r.trace.filter("ip:forward", verdict="drop")[0].reason
    lab["host-A"].root.sysctl_set("net.ipv4.ip_forward", "1")
    r = ns_ping(lab, "ns1", "10.0.1.2")
    assert r.ok, r.output
    assert "ttl=63" in r.stdout


def test_two_hosts_on_the_lan(lab: Lab) -> None:
    lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    lab.add_host("host-B", address="192.168.0.3/24", docker=False)
    r = lab.run("host-A", "ping -c 2 192.168.0.3")
    assert r.ok
    assert r.trace.filter("wire:switch")
    rtts = [float(line.split("time=")[1].split()[0]) for line in r.stdout.splitlines() if "time=" in line]
    # two 50 us cables each way plus serialisation at 1 Gb/s: about 0.2 ms, never zero
    assert all(0.2 <= t < 1.0 for t in rtts)


def test_no_route_is_network_unreachable(bridged: Lab) -> None:
    ns = bridged["host-A"].ns("ns1")
    ns.route_del(api.Route(dst="default"))
    r = ns_ping(bridged, "ns1", "8.8.8.8")
    assert r.exit_code == 2
    assert r.stderr == "ping: connect: Network is unreachable\n"


def test_new_namespace_has_loopback_down(lab: Lab) -> None:
    lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    lab["host-A"].kernel.netns_add("ns1")
    r = lab.run("host-A", "ip netns exec ns1 ping -c 1 127.0.0.1")
    assert r.exit_code == 2 and "Network is unreachable" in r.stderr
    lab["host-A"].ns("ns1").link_set("lo", up=True)
    assert lab.run("host-A", "ip netns exec ns1 ping -c 1 127.0.0.1").ok


def test_same_seed_same_trace() -> None:
    def once(seed: int) -> str:
        lab = Lab(seed=seed)
        lab.add_host("host-A", address="192.168.0.2/24", docker=False)
        bridge_with_namespaces(lab)
        lab.add_host("host-B", address="192.168.0.3/24", docker=False)
        text = ns_ping(lab, "ns1", "10.0.0.3", "-c 3").trace.text()
        return text + lab.run("host-A", "ping -c 2 192.168.0.3").trace.text()

    assert once(7) == once(7)
    assert once(7) != once(8)  # MACs and ids come from the seeded RNG


def test_capture_writes_a_pcap_that_scapy_and_tshark_read(bridged: Lab, tmp_path) -> None:  # noqa: ANN001
    import shutil
    import subprocess

    from scapy.utils import rdpcap

    path = str(tmp_path / "veth.pcap")
    tap = bridged.capture(path, "host-A:veth-ns1", "host-A/ns2:eth0")
    ns_ping(bridged, "ns1", "10.0.0.3")
    tap.close()
    pkts = rdpcap(path)
    # ARP request+reply and echo request+reply, seen on both interfaces
    assert len(pkts) == 8
    assert [p.time for p in pkts] == sorted(p.time for p in pkts)
    if shutil.which("tshark"):
        out = subprocess.run(["tshark", "-r", path], capture_output=True, text=True, check=True).stdout
        assert "Echo (ping) request" in out and "Echo (ping) reply" in out and "Who has 10.0.0.3?" in out


def test_same_seed_same_pcap_bytes(tmp_path) -> None:  # noqa: ANN001
    def once(name: str) -> bytes:
        lab = Lab(seed=3)
        lab.add_host("host-A", address="192.168.0.2/24", docker=False)
        lab.add_host("host-B", address="192.168.0.3/24", docker=False)
        tap = lab.capture(str(tmp_path / name), "host-A:eth0")
        lab.run("host-A", "ping -c 3 192.168.0.3")
        tap.close()
        return (tmp_path / name).read_bytes()

    assert once("a.pcap") == once("b.pcap")
