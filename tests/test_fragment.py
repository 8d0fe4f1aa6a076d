"""IPv4 fragmentation and reassembly, local PMTU decisions, and frag-needed from a router."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.packet import Raw

from cnmsim.kernel.sim.fragment import Reassembly, fragment
from cnmsim.lab import Lab
from cnmsim.packet.frame import Frame
from cnmsim.packet.sizes import wire_len
from tests._realnet import ping_lines, real_netns


def two_hosts(seed: int = 0) -> Lab:
    lab = Lab(seed=seed)
    lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    lab.add_host("host-B", address="192.168.0.3/24", docker=False)
    return lab


def echo(size: int, ident: int = 7) -> IP:
    return IP(src="10.0.0.1", dst="10.0.0.2", id=ident, ttl=64) / ICMP(id=1, seq=1) / Raw(bytes(range(256)) * (size // 256) + b"x" * (size % 256))


def test_fragment_layout() -> None:
    lab = two_hosts()
    ns = lab["host-A"].root
    ip = echo(3000)
    whole = bytes(ip)
    frags = fragment(ns, Frame(ip, 1), ip, 1500)
    assert [wire_len(f.pkt) for f in frags] == [1500, 1500, 68]  # 3008 bytes of ICMP: 1480 + 1480 + 48
    assert [f.pkt.frag for f in frags] == [0, 185, 370]
    assert [int(f.pkt.flags) for f in frags] == [1, 1, 0]
    assert {f.pkt.id for f in frags} == {7} and {f.id for f in frags} == {1}
    assert all(f.pkt.payload.load for f in frags)
    assert b"".join(f.pkt.payload.load for f in frags) == whole[20:]
    frags = fragment(ns, Frame(echo(1000), 2), echo(1000), 577)  # 557 bytes of room -> 552 (8-aligned)
    assert [len(f.pkt.payload.load) for f in frags] == [552, 456]


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0], [1, 2, 0]])
def test_reassembly_in_any_order(order: list[int]) -> None:
    lab = two_hosts()
    ns = lab["host-B"].root
    ip = echo(3000)
    want = bytes(ip)
    frags = fragment(lab["host-A"].root, Frame(ip, 1), ip, 1500)
    re = Reassembly(ns)
    got = [re.add(frags[i], frags[i].pkt) for i in order]
    assert got[:2] == [None, None] and got[2] is not None
    whole = got[2].ip
    assert isinstance(whole.payload, ICMP)
    assert bytes(whole) == want
    assert not re.queues


def test_duplicates_are_ignored_and_overlaps_discard_the_datagram() -> None:
    lab = two_hosts()
    ns = lab["host-B"].root
    ip = echo(3000)
    frags = fragment(lab["host-A"].root, Frame(ip, 1), ip, 1500)
    re = Reassembly(ns)
    assert re.add(frags[0], frags[0].pkt) is None
    assert re.add(frags[0], frags[0].pkt) is None and len(re.queues) == 1  # duplicate
    bad = IP(src=ip.src, dst=ip.dst, id=ip.id, proto=1, flags=1, frag=100) / Raw(b"y" * 800)
    assert re.add(Frame(bad, 9), bad) is None
    assert not re.queues  # the overlap killed the whole datagram


def test_incomplete_datagram_expires_with_icmp_time_exceeded() -> None:
    lab = two_hosts()
    b = lab["host-B"].root
    ip = echo(3000)
    ip.src, ip.dst = "192.168.0.2", "192.168.0.3"
    first = fragment(lab["host-A"].root, Frame(ip, 1), ip, 1500)[0]
    assert b.reassembly.add(first, first.pkt) is None
    r = lab.wait(31)
    assert r.trace.filter("ip:reassemble", "expire", host="host-B")
    err = r.trace.filter("icmp:error", "send", host="host-B")
    assert err and "type 11 code 1" in err[0].reason
    assert not b.reassembly.queues


def test_ping_2000_fragments_locally_and_is_reassembled() -> None:
    lab = two_hosts(seed=1)
    r = lab.run("host-A", "ping -c 2 -s 2000 192.168.0.3")
    assert r.exit_code == 0
    assert "2008 bytes from 192.168.0.3: icmp_seq=2" in r.stdout
    assert r.trace.filter("ip:fragment", "fragment", host="host-A")
    assert r.trace.filter("ip:reassemble", "done", host="host-B")
    assert r.trace.filter("ip:reassemble", "done", host="host-A")  # the reply came in pieces too


def test_ping_do_refuses_to_fragment() -> None:
    lab = two_hosts(seed=1)
    r = lab.run("host-A", "ping -c 1 -M do -s 2000 192.168.0.3")
    assert r.exit_code == 1
    assert r.stderr == "ping: local error: message too long, mtu=1500\n"
    assert "1 packets transmitted, 0 received, +1 errors, 100% packet loss" in r.stdout


def routed(seed: int = 2) -> Lab:
    """A (10.0.0.2, lan) -- r1 -- B (10.0.1.2, wan with MTU 1400)."""
    lab = Lab(seed=seed)
    lab.segment("wan", mtu=1400)
    lab.add_router("r1", {"lan": "10.0.0.1/24", "wan": "10.0.1.1/24"})
    lab.add_host("host-A", address="10.0.0.2/24", gateway="10.0.0.1", docker=False)
    lab.add_host("host-B", address="10.0.1.2/24", segment="wan", gateway="10.0.1.1", docker=False)
    return lab


def test_forwarded_df_packet_gets_frag_needed_then_pmtu_is_used() -> None:
    lab = routed()
    r = lab.run("host-A", "ping -c 3 -i 0.3 -W 1 -M do -s 1400 10.0.1.2")
    assert r.exit_code == 1
    assert r.stdout.splitlines()[1] == "From 10.0.0.1 icmp_seq=1 Frag needed and DF set (mtu = 1400)"
    assert r.stderr == "ping: local error: message too long, mtu=1400\n" * 2
    assert r.trace.filter("ip:mtu", "drop", host="r1")
    # -M want now fragments at the source, to the learned path MTU
    w = lab.run("host-A", "ping -c 1 -s 1400 10.0.1.2")
    assert w.exit_code == 0
    assert w.trace.filter("ip:fragment", host="host-A")


def test_router_fragments_packets_without_df() -> None:
    lab = routed(seed=3)
    r = lab.run("host-A", "ping -c 1 -M dont -s 1400 10.0.1.2")
    assert r.exit_code == 0
    assert r.trace.filter("ip:fragment", "fragment", host="r1")
    assert r.trace.filter("ip:reassemble", "done", host="host-B")


@pytest.mark.real
def test_local_fragmentation_matches_the_real_kernel() -> None:
    cmds = ["ping -c 2 -i 0.2 -s 2000 192.168.0.3", "ping -c 1 -M do -s 2000 192.168.0.3"]
    with real_netns() as net:
        a, b = net.ns("fA"), net.ns("fB")
        net.sh(f"""
            ip -n {a} link add e0 type veth peer name e0 netns {b}
            ip -n {a} addr add 192.168.0.2/24 dev e0
            ip -n {b} addr add 192.168.0.3/24 dev e0
            ip -n {a} link set e0 up
            ip -n {b} link set e0 up
        """)
        real = [net.run(a, c) for c in cmds]
    lab = two_hosts()
    for c, (rc, out, err) in zip(cmds, real, strict=True):
        sim = lab.run("host-A", c)
        assert (sim.exit_code, ping_lines(sim.stdout), sim.stderr) == (rc, ping_lines(out), err)


@pytest.mark.real
def test_router_frag_needed_matches_the_real_kernel() -> None:
    cmd = "ping -c 3 -i 0.3 -W 1 -M do -s 1400 10.0.1.2"
    with real_netns() as net:
        a, r, b = net.ns("rA"), net.ns("rR"), net.ns("rB")
        net.sh(f"""
            ip -n {a} link add e0 type veth peer name e0 netns {r}
            ip -n {r} link add e1 type veth peer name e0 netns {b}
            ip -n {r} link set e1 mtu 1400
            ip -n {b} link set e0 mtu 1400
            ip -n {a} addr add 10.0.0.2/24 dev e0
            ip -n {r} addr add 10.0.0.1/24 dev e0
            ip -n {r} addr add 10.0.1.1/24 dev e1
            ip -n {b} addr add 10.0.1.2/24 dev e0
            ip -n {a} link set e0 up
            ip -n {r} link set e0 up
            ip -n {r} link set e1 up
            ip -n {b} link set e0 up
            ip -n {a} route add default via 10.0.0.1
            ip -n {b} route add default via 10.0.1.1
            ip netns exec {r} sysctl -qw net.ipv4.ip_forward=1
        """)
        rc, out, err = net.run(a, cmd)
    sim = routed().run("host-A", cmd)
    assert (sim.exit_code, ping_lines(sim.stdout), sim.stderr) == (rc, ping_lines(out), err)
