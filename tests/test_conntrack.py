"""Connection tracking: states, timeouts, NAT port choice, and `conntrack -L` as conntrack-tools prints it.

The table is tested directly (a fake clock), then through a router: namespaces a (10.0.0.2) and
c (10.0.0.3) behind bridge br0 of host h, b (10.1.0.2) on vb; h masquerades out of vb, as the
real-kernel check in the report did with the same addresses.
"""

from __future__ import annotations

import re

import pytest
from scapy.layers.inet import IP, TCP

from cnmsim import Lab
from cnmsim.kernel import api
from cnmsim.kernel.sim.nf import conntrack as ctm
from cnmsim.kernel.sim.nf.conntrack import (
    CT_ESTABLISHED,
    CT_ESTABLISHED_REPLY,
    CT_NEW,
    CT_RELATED_REPLY,
    S_ASSURED,
    S_SEEN_REPLY,
    ConnTable,
)
from cnmsim.trace.sinks import MemorySink

SYN, SYNACK, ACK, FIN, RST = 0x02, 0x12, 0x10, 0x11, 0x04
C, S = 0x0A000002, 0x0A010002  # 10.0.0.2, 10.1.0.2
OUT = (6, C, 40000, S, 80)
BACK = (6, S, 80, C, 40000)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def table() -> tuple[ConnTable, Clock]:
    clk = Clock()
    return ConnTable(clk), clk


def left(conn: ctm.Conn, clk: Clock) -> float:
    return conn.expires - clk.t


def test_tcp_states_and_timeouts_through_a_whole_connection() -> None:
    t, clk = table()
    conn, info = t.packet(OUT, SYN)
    assert (info, conn.state_name(), left(conn, clk)) == (CT_NEW, "SYN_SENT", 120)
    assert t.find(OUT) is None  # unconfirmed: nobody else can find it yet
    assert t.confirm(conn) and t.find(OUT) == (conn, 0) and t.find(BACK) == (conn, 1)
    steps = [(BACK, SYNACK, CT_ESTABLISHED_REPLY, "SYN_RECV", 60), (OUT, ACK, CT_ESTABLISHED, "ESTABLISHED", 432000),
             (OUT, FIN, CT_ESTABLISHED, "FIN_WAIT", 120), (BACK, ACK, CT_ESTABLISHED_REPLY, "CLOSE_WAIT", 60),
             (BACK, FIN, CT_ESTABLISHED_REPLY, "LAST_ACK", 30), (OUT, ACK, CT_ESTABLISHED, "TIME_WAIT", 120)]
    for key, flags, info, state, timeout in steps:
        clk.t += 0.01
        got = t.packet(key, flags)
        assert got is not None and got[1] == info and conn.state_name() == state
        assert left(conn, clk) == pytest.approx(timeout)
    assert conn.status & S_ASSURED and conn.status & S_SEEN_REPLY
    clk.t += 119.9
    assert t.find(OUT) is not None
    clk.t += 0.2
    assert t.find(OUT) is None and len(t) == 0  # expired lazily, both tuples gone


def test_a_reset_answering_a_syn_kills_the_entry_and_a_syn_reopens_time_wait() -> None:
    t, clk = table()
    conn, _ = t.packet(OUT, SYN)
    t.confirm(conn)
    got = t.packet(BACK, RST | ACK)
    assert got is not None and got[1] == CT_ESTABLISHED_REPLY  # the RST itself still belongs to it
    assert t.find(OUT) is None
    conn, _ = t.packet(OUT, SYN)
    t.confirm(conn)
    for key, flags in ((BACK, SYNACK), (OUT, ACK), (OUT, FIN), (BACK, FIN | ACK), (OUT, ACK)):
        t.packet(key, flags)
    assert conn.state_name() == "TIME_WAIT"
    again, info = t.packet(OUT, SYN)
    assert info == CT_NEW and again is not conn and again.state_name() == "SYN_SENT"


def test_a_reset_on_an_established_connection_leaves_it_closing_for_ten_seconds() -> None:
    t, clk = table()
    conn, _ = t.packet(OUT, SYN)
    t.confirm(conn)
    t.packet(BACK, SYNACK)
    t.packet(OUT, ACK)
    t.packet(BACK, RST)
    assert conn.state_name() == "CLOSE" and left(conn, clk) == 10
    clk.t = 10.5
    assert t.find(OUT) is None


def test_what_cannot_start_a_connection_is_invalid_and_an_ack_is_picked_up() -> None:
    t, _ = table()
    assert t.packet(OUT, FIN) is None and t.packet(OUT, SYNACK) is None and t.packet(OUT, RST) is None
    assert t.packet((1, C, 7, S, 0 << 8), 0) is None  # an echo reply without a request
    conn, info = t.packet(OUT, ACK)  # nf_conntrack_tcp_loose: mid-stream pick-up
    assert (info, conn.state_name(), conn.status & S_ASSURED) == (CT_NEW, "ESTABLISHED", 0)


def test_udp_becomes_a_stream_only_after_two_seconds_of_two_way_traffic() -> None:
    t, clk = table()
    key, back = (17, C, 5000, S, 53), (17, S, 53, C, 5000)
    conn, _ = t.packet(key)
    t.confirm(conn)
    assert left(conn, clk) == 30
    clk.t = 0.1
    assert t.packet(back)[1] == CT_ESTABLISHED_REPLY
    assert left(conn, clk) == pytest.approx(30) and not conn.status & S_ASSURED
    clk.t = 1.0
    t.packet(key)
    assert left(conn, clk) == pytest.approx(30) and not conn.status & S_ASSURED
    clk.t = 2.5
    t.packet(back)
    assert left(conn, clk) == pytest.approx(120) and conn.status & S_ASSURED
    clk.t = 122.6
    assert t.find(key) is None


def test_icmp_echo_and_a_related_error() -> None:
    t, clk = table()
    req = (1, C, 77, S, 8 << 8)
    conn, info = t.packet(req)
    t.confirm(conn)
    assert info == CT_NEW and left(conn, clk) == 30
    assert t.packet((1, S, 77, C, 0))[1] == CT_ESTABLISHED_REPLY
    udp, _ = t.packet((17, C, 5000, S, 9))
    t.confirm(udp)
    assert t.related((17, C, 5000, S, 9)) == (udp, CT_RELATED_REPLY)  # error about the quoted datagram
    assert t.related((17, C, 5001, S, 9)) is None


# ---------------------------------------------------------------- through a router
RULES = "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o vb -j MASQUERADE\nCOMMIT\n"


def router(seed: int = 0, rules: str = RULES) -> Lab:
    lab = Lab(seed=seed)
    h = lab.add_host("h", docker=False)
    root = h.root
    root.link_add(api.Bridge("br0"))
    root.addr_add("br0", "10.0.0.1/24")
    root.link_set("br0", up=True)
    for n, ip, port, gw in (("a", "10.0.0.2/24", "va", "10.0.0.1"), ("c", "10.0.0.3/24", "vc", "10.0.0.1"),
                            ("b", "10.1.0.2/24", "vb", "10.1.0.1")):
        ns = h.kernel.netns_add(n)
        root.link_add(api.Veth(port, peer="eth0", peer_netns=n))
        if n == "b":
            root.addr_add("vb", "10.1.0.1/24")
            root.link_set("vb", up=True)
        else:
            root.link_set(port, master="br0", up=True)
        ns.addr_add("eth0", ip)
        ns.link_set("eth0", up=True)
        ns.link_set("lo", up=True)
        ns.route_add(api.Route(dst="default", via=gw))
    root.sysctl_set("net.ipv4.ip_forward", "1")
    root.iptables_restore(rules)
    return lab


def run(lab: Lab, ns: str, line: str):  # noqa: ANN201
    return lab.run("h", f"ip netns exec {ns} {line}" if ns else line)


def test_conntrack_lists_entries_in_the_real_format() -> None:
    lab = router()
    run(lab, "b", "nc -l -p 80 &")
    assert lab.run("h", "echo hi | ip netns exec a nc -N -p 40000 10.1.0.2 80").ok
    assert run(lab, "a", "ping -c 1 10.1.0.2").ok
    r = run(lab, "a", "nc -u -z -w 1 -p 40001 10.1.0.2 53")
    assert r.exit_code == 1  # port unreachable came back through the NAT (RELATED)
    r = run(lab, "", "conntrack -L")
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    assert re.fullmatch(r"tcp      6 11\d TIME_WAIT src=10\.0\.0\.2 dst=10\.1\.0\.2 sport=40000 dport=80 "
                        r"src=10\.1\.0\.2 dst=10\.1\.0\.1 sport=80 dport=40000 \[ASSURED\] mark=0 use=1", lines[0])
    assert re.fullmatch(r"icmp     1 2\d src=10\.0\.0\.2 dst=10\.1\.0\.2 type=8 code=0 id=(\d+) "
                        r"src=10\.1\.0\.2 dst=10\.1\.0\.1 type=0 code=0 id=\1 mark=0 use=1", lines[1])
    assert re.fullmatch(r"udp      17 2\d src=10\.0\.0\.2 dst=10\.1\.0\.2 sport=40001 dport=53 \[UNREPLIED\] "
                        r"src=10\.1\.0\.2 dst=10\.1\.0\.1 sport=53 dport=40001 mark=0 use=1", lines[2])
    assert r.stderr == "conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.\n"
    r = run(lab, "", "conntrack -L -p tcp")
    assert r.stdout == lines[0] + "\n"
    assert r.stderr == "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n"
    assert run(lab, "", "conntrack -L -p udp --dport 53").stdout == lines[2] + "\n"
    assert run(lab, "", "conntrack -L -q 10.1.0.1").stdout.count("\n") == 3
    assert run(lab, "", "conntrack -L -o extended").stdout.startswith("ipv4     2 tcp      6 ")
    assert run(lab, "", "conntrack -C").stdout == "3\n"
    r = run(lab, "", "conntrack -L --dport 80")
    assert (r.exit_code, r.stderr) == (2, "conntrack v1.4.7 (conntrack-tools): unknown option `--dport'\n"
                                          "Try `conntrack -h' or 'conntrack --help' for more information.\n")
    r = run(lab, "", "conntrack -F")
    assert r.stderr == "conntrack v1.4.7 (conntrack-tools): connection tracking table has been emptied.\n"
    r = run(lab, "", "conntrack -L")
    assert (r.stdout, r.stderr) == ("", "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n")
    assert run(lab, "a", "conntrack -L").stderr.endswith(" 0 flow entries have been shown.\n")  # per namespace


def test_timeouts_count_down_and_entries_expire() -> None:
    lab = router()
    run(lab, "a", "nc -u -z -w 1 -p 40001 10.1.0.2 53")
    first = run(lab, "", "conntrack -L").stdout
    assert " 29 " in first or " 28 " in first
    lab.wait(20)
    assert re.search(r"udp      17 [78] ", run(lab, "", "conntrack -L").stdout)
    lab.wait(10)
    assert run(lab, "", "conntrack -L").stdout == ""


def test_masquerade_keeps_the_port_unless_the_tuple_is_taken() -> None:
    lab = router(seed=5)
    run(lab, "b", "nc -k -l -p 80 &")
    assert lab.run("h", "echo 1 | ip netns exec a nc -N -p 41000 10.1.0.2 80").ok
    assert lab.run("h", "echo 2 | ip netns exec c nc -N -p 41000 10.1.0.2 80").ok
    ports = {m[0]: int(m[1]) for m in re.findall(r"src=(10\.0\.0\.[23]) .*? dport=(\d+) \[ASSURED\]",
                                                 run(lab, "", "conntrack -L").stdout)}
    assert ports["10.0.0.2"] == 41000
    assert ports["10.0.0.3"] != 41000 and 1024 <= ports["10.0.0.3"] <= 65535
    again = router(seed=5)  # the lab's RNG decides: same seed, same port
    run(again, "b", "nc -k -l -p 80 &")
    again.run("h", "echo 1 | ip netns exec a nc -N -p 41000 10.1.0.2 80")
    again.run("h", "echo 2 | ip netns exec c nc -N -p 41000 10.1.0.2 80")
    assert f"dport={ports['10.0.0.3']} [ASSURED]" in run(again, "", "conntrack -L").stdout


def test_ctstates_new_established_related_invalid_untracked() -> None:
    rules = ("*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp --dport 7 -j NOTRACK\nCOMMIT\n"
             "*filter\n:FORWARD ACCEPT [0:0]\n"
             "-A FORWARD -m conntrack --ctstate NEW\n-A FORWARD -m conntrack --ctstate ESTABLISHED\n"
             "-A FORWARD -m conntrack --ctstate RELATED\n-A FORWARD -m conntrack --ctstate INVALID -j DROP\n"
             "-A FORWARD -m conntrack --ctstate UNTRACKED\nCOMMIT\n")
    lab = router(rules=rules)
    chain = lab["h"].root.ruleset.tables["filter"].chains["FORWARD"].rules
    run(lab, "b", "nc -l -p 80 &")
    assert lab.run("h", "echo hi | ip netns exec a nc -N 10.1.0.2 80").ok
    assert chain[0].packets == 1 and chain[1].packets >= 6  # the SYN is NEW, the rest ESTABLISHED
    run(lab, "a", "nc -u -z -w 1 10.1.0.2 9")
    assert chain[2].packets == 1  # the port unreachable
    sink = lab.bus.subscribe(MemorySink())
    lab["h"].kernel.netns("a").stack.output(IP(dst="10.1.0.2") / TCP(sport=1234, dport=80, flags="F"))
    lab.wait(1)  # a stray FIN: nothing tracked can own it
    lab.bus.unsubscribe(sink)
    assert chain[3].packets == 1 and any(e.stage == "ct:invalid" for e in sink.trace)
    run(lab, "a", "nc -u -z -w 1 10.1.0.2 7")
    assert chain[4].packets >= 1 and "dport=7 " not in run(lab, "", "conntrack -L").stdout


def test_the_entry_of_a_dropped_first_packet_is_never_confirmed() -> None:
    lab = router(rules=RULES + "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp --dport 81 -j DROP\nCOMMIT\n")
    r = run(lab, "a", "nc -z -w 1 10.1.0.2 81")
    assert r.exit_code == 1
    assert any(e.stage == "ct:new" for e in r.trace)
    assert "dport=81" not in run(lab, "", "conntrack -L").stdout


def test_conntrack_is_loaded_only_when_a_rule_needs_it() -> None:
    lab = router(rules="*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j DROP\nCOMMIT\n")
    assert lab.run("h", "ip netns exec a ping -c 1 10.1.0.2").ok
    assert lab.run("h", "conntrack -L").stdout == ""  # filter rules alone: no connection tracking
    lab["h"].root.iptables_restore("*filter\n-A FORWARD -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n",
                                   noflush=True)
    assert lab.run("h", "ip netns exec a ping -c 1 10.1.0.2").ok
    assert lab.run("h", "conntrack -L").stdout.startswith("icmp     1 29 src=10.0.0.2 dst=10.1.0.2 type=8 ")


def test_fragments_share_the_first_fragments_entry_and_its_nat() -> None:
    lab = router(rules=RULES + "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED "
                               "-j ACCEPT\nCOMMIT\n")
    run(lab, "b", "nc -u -l -w 2 -p 9000 &")
    data = "x" * 3000
    r = lab.run("h", f"echo {data} | ip netns exec a nc -u -w 1 10.1.0.2 9000")
    assert r.ok
    assert len([e for e in r.trace if e.stage == "nat:snat" and e.verdict == "rewrite"]) == 3  # every fragment
    lab.wait(3)
    assert lab.jobs[0].stdout == data + "\n"  # b reassembled what h masqueraded
    assert "sport=9000 dport=" in run(lab, "", "conntrack -L").stdout
