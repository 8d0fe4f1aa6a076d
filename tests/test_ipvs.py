"""IPVS in the simulated kernel: scheduling, persistence, weights, NAT/DR forwarding, ICMP, fwmarks.

The topology is tests/ipvs_lab.py: a director with VIP 192.168.0.100 and three real servers.
"""

from __future__ import annotations

import re
from typing import Any

from cnmsim.trace.explain import explain
from tests.ipvs_lab import (
    RS,
    VIP,
    Session,
    balanced,
    connect_from,
    dir_ns,
    director_lab,
    ipvsadm,
    lb_sandbox,
    sh,
    udp_name_server,
    who,
)

# ---------------------------------------------------------------- scheduling


def test_rr_takes_servers_in_kernel_order_and_replies_come_from_the_vip() -> None:
    lab = director_lab()
    balanced(lab)
    r = sh(lab, "client", f"curl -s http://{VIP}/")
    assert r.stdout == "hello from rs3\n"  # list_add_rcu: the server added last is first in the list
    sched = r.trace.filter("ipvs:schedule", "select")
    assert [e.reason for e in sched] == [
        f"TCP {VIP}:80 rr picks real server 10.0.0.4:80 for 192.168.0.2:{_port(sched[0].summary)} "
        "(rr: first in the list)"]
    # the client only ever sees the VIP; the real server sees the client's own address
    got = [e.summary for e in r.trace if e.ns == "client" and e.stage == "tcp:rcv"]
    assert got and all(s.startswith(f"IP {VIP}.80 > 192.168.0.2.") for s in got)
    seen = [e.summary for e in r.trace if e.ns == "rs3" and e.stage == "tcp:rcv"]
    assert seen and all(s.startswith("IP 192.168.0.2.") and " > 10.0.0.4.80:" in s for s in seen)
    r = sh(lab, "client", f"curl -s http://{VIP}/")
    assert r.trace.filter("ipvs:schedule")[0].reason.endswith("(rr: next after 10.0.0.4:80)")
    text = explain(r.trace)
    assert "IPVS on h[dir] sees a new connection for a virtual service: TCP 192.168.0.100:80 rr picks" in text
    assert "IPVS on h[dir] gives the real server's reply the virtual address back" in text
    order = [who(lab) for _ in range(5)]
    assert order == ["rs1", "rs3", "rs2", "rs1", "rs3"]
    table = {d.addr: d for _, dests in dir_ns(lab).ipvs_services() for d in dests}
    assert {a: (d.active_conns, d.inactive_conns) for a, d in table.items()} == {a: (0, 2) for a in RS} | {
        "10.0.0.4": (0, 3)}


def _port(summary: str) -> str:
    return re.search(r"192\.168\.0\.2\.(\d+) >", summary).group(1)  # type: ignore[union-attr]


def test_wrr_follows_the_weights_pass_by_pass() -> None:
    lab = director_lab()
    balanced(lab, "wrr", (3, 2, 1))
    order = [who(lab) for _ in range(15)]
    # the current weight was left at 1 when the weight-3 server came in alone (gcd 3): the first
    # pass over the list rs3(1), rs2(2), rs1(3) takes every server
    assert order[:3] == ["rs3", "rs2", "rs1"]
    cycle = ["rs1", "rs2", "rs1", "rs3", "rs2", "rs1"]  # then passes at current weight 3, 2, 1
    assert order[3:] == cycle * 2
    assert {n: cycle.count(n) for n in ("rs1", "rs2", "rs3")} == {"rs1": 3, "rs2": 2, "rs3": 1}


def test_lc_sends_new_connections_to_the_least_loaded_server() -> None:
    lab = director_lab()
    balanced(lab, "lc")
    a, b = Session(lab), Session(lab)  # two connections stay open (active)
    assert (a.ask(), b.ask()) == ("rs3", "rs2")
    assert who(lab) == "rs1"  # the only server without an active connection
    assert who(lab) == "rs1"  # one inactive (TIME_WAIT) entry weighs less than an active one
    out = ipvsadm(lab, "-Ln")
    assert "  -> 10.0.0.2:80                  Masq    1      0          2         \n" in out
    assert "  -> 10.0.0.4:80                  Masq    1      1          0         \n" in out


def test_wlc_is_the_default_scheduler_and_weighs_load_by_weight() -> None:
    lab = director_lab()
    ipvsadm(lab, f"-A -t {VIP}:80")
    for addr, w in zip(RS, (1, 1, 4), strict=True):
        ipvsadm(lab, f"-a -t {VIP}:80 -r {addr}:80 -m -w {w}")
    assert f"TCP  {VIP}:80 wlc\n" in ipvsadm(lab, "-Ln")
    sessions = [Session(lab) for _ in range(5)]
    got = [s.ask() for s in sessions]
    # rs3 (weight 4) takes connections until its load per weight exceeds the others'
    assert got == ["rs3", "rs2", "rs1", "rs3", "rs3"]


# ---------------------------------------------------------------- persistence and weight changes


def test_persistence_pins_each_client_to_one_server() -> None:
    lab = director_lab()
    balanced(lab, extra=" -p 300")
    first = [connect_from(lab, "192.168.0.2") for _ in range(4)]
    second = [connect_from(lab, "192.168.0.3") for _ in range(4)]
    assert first == ["rs3"] * 4 and second == ["rs2"] * 4
    conns = dir_ns(lab).ipvs_conns()
    tpl = [c for c in conns if c.template]
    assert [(c.caddr, c.cport, c.vport, c.daddr, c.dport, c.state) for c in tpl] == [
        ("192.168.0.2", 0, 80, "10.0.0.4", 80, "ASSURED"), ("192.168.0.3", 0, 80, "10.0.0.3", 80, "ASSURED")]
    assert all(295 <= c.expires <= 300 for c in tpl)
    assert "-> 10.0.0.4:80                  Masq    1      0          4" in ipvsadm(lab, "-Ln")
    assert f"TCP  {VIP}:80 rr persistent 300\n" in ipvsadm(lab, "-Ln")
    lab.wait(301)  # the template outlives its connections' TIME_WAIT, then expires
    assert dir_ns(lab).ipvs_conns() == []
    assert connect_from(lab, "192.168.0.2") == "rs1"


def test_an_established_connection_keeps_its_server_when_weights_change() -> None:
    lab = director_lab()
    balanced(lab)
    s = Session(lab)
    assert s.ask() == "rs3"
    ipvsadm(lab, f"-e -t {VIP}:80 -r 10.0.0.4:80 -m -w 5")
    ipvsadm(lab, f"-e -t {VIP}:80 -r 10.0.0.3:80 -m -w 0")
    assert [s.ask() for _ in range(3)] == ["rs3"] * 3  # still on the same connection
    assert ipvsadm(lab, "-Ln").count("Masq    5      1          0") == 1


def test_weight_zero_drains_a_server() -> None:
    lab = director_lab()
    balanced(lab)
    s = Session(lab)
    assert s.ask() == "rs3"
    r = sh(lab, "dir", f"ipvsadm -e -t {VIP}:80 -r 10.0.0.4:80 -m -w 0")
    assert r.exit_code == 0 and r.trace.filter("ipvs:dest")[0].reason.endswith("(quiescent: no new connections)")
    assert [who(lab) for _ in range(4)] == ["rs2", "rs1", "rs2", "rs1"]
    assert s.ask() == "rs3"  # the existing connection goes on
    assert "  -> 10.0.0.4:80                  Masq    0      1          0" in ipvsadm(lab, "-Ln")


def test_quiescent_server_keeps_persistent_clients_unless_templates_expire() -> None:
    lab = director_lab()
    balanced(lab, extra=" -p 600")
    assert who(lab) == "rs3"
    ipvsadm(lab, f"-e -t {VIP}:80 -r 10.0.0.4:80 -m -w 0")
    assert who(lab) == "rs3"  # the template still binds the client (expire_quiescent_template=0)
    sh(lab, "dir", "sysctl -w net.ipv4.vs.expire_quiescent_template=1")
    assert who(lab) == "rs2"
    ports = {(c.cport, c.vport, c.dport) for c in dir_ns(lab).ipvs_conns() if c.template and c.daddr == "10.0.0.4"}
    assert ports == {(0, 65535, 65535)}  # invalidated, waiting for its timer


def test_deleting_a_server_drops_its_connections_packets() -> None:
    lab = director_lab()
    balanced(lab)
    s = Session(lab)
    assert s.ask() == "rs3"
    ipvsadm(lab, f"-d -t {VIP}:80 -r 10.0.0.4:80")
    assert "10.0.0.4" not in ipvsadm(lab, "-Ln")
    assert [who(lab) for _ in range(2)] == ["rs2", "rs1"]
    assert s.ask(timeout=2) == "timeout"  # dropped: the entry still points at the removed server
    assert any(c.daddr == "10.0.0.4" and c.state == "ESTABLISHED" for c in dir_ns(lab).ipvs_conns())


def test_expire_nodest_conn_expires_the_deleted_servers_connections() -> None:
    lab = director_lab()
    balanced(lab)
    sh(lab, "dir", "sysctl -w net.ipv4.vs.expire_nodest_conn=1")
    s = Session(lab)
    assert s.ask() == "rs3"
    r = sh(lab, "dir", f"ipvsadm -d -t {VIP}:80 -r 10.0.0.4:80")
    lab.wait(0.01)
    assert not any(c.daddr == "10.0.0.4" for c in dir_ns(lab).ipvs_conns())
    # the next segment matches no IPVS entry and is not a SYN: the director's own stack resets it
    assert s.ask() == "ECONNRESET"
    assert r.exit_code == 0


# ---------------------------------------------------------------- firewall marks, UDP, ICMP


def test_fwmark_service_balances_marked_packets() -> None:
    lab = director_lab()
    d = dir_ns(lab)

    def mangle(hook: str, frame: Any, indev: Any, outdev: Any) -> bool:  # -t mangle -d VIP -j MARK 0x100
        if frame.ip is not None and frame.ip.dst == VIP:
            frame.mark = 0x100
        return True

    ipvsadm(lab, "-A -f 256 -s rr")
    for addr in RS:
        ipvsadm(lab, f"-a -f 256 -r {addr}:0 -m")
    r = sh(lab, "client", f"curl -s -m 2 http://{VIP}/")
    assert r.exit_code == 7  # unmarked: no service; the director itself refuses port 80
    d.nf.register("PREROUTING", -150, mangle, "test-mangle")
    assert [who(lab) for _ in range(3)] == ["rs3", "rs2", "rs1"]
    assert ipvsadm(lab, "-Ln").endswith("FWM  256 rr\n  -> 10.0.0.2:0                   Masq    1      0          1         \n"
                                        "  -> 10.0.0.3:0                   Masq    1      0          1         \n"
                                        "  -> 10.0.0.4:0                   Masq    1      0          1         \n")
    assert {(c.vaddr, c.vport, c.dport) for c in d.ipvs_conns()} == {(VIP, 80, 80)}  # port 0: keep the VIP's
    assert ipvsadm(lab, "-S -n") == ("-A -f 256 -s rr\n-a -f 256 -r 10.0.0.2:0 -m -w 1\n"
                                     "-a -f 256 -r 10.0.0.3:0 -m -w 1\n-a -f 256 -r 10.0.0.4:0 -m -w 1\n")


def test_udp_service_and_related_icmp_errors() -> None:
    lab = director_lab()
    ipvsadm(lab, f"-A -u {VIP}:9000 -s rr")
    ipvsadm(lab, f"-A -u {VIP}:9001 -s rr")
    for addr in RS:
        ipvsadm(lab, f"-a -u {VIP}:9000 -r {addr} -m")
        ipvsadm(lab, f"-a -u {VIP}:9001 -r {addr} -m")
    names = [lab.run("h", f"echo hi | ip netns exec client nc -u -w 1 {VIP} 9000").stdout for _ in range(3)]
    assert names == ["rs3\n", "rs2\n", "rs1\n"]
    udp = [c for c in dir_ns(lab).ipvs_conns() if c.proto == "UDP"]
    assert {c.state for c in udp} == {"UDP"}
    assert [c.expires for c in udp] == [296, 297, 298]  # 300 s from each one's last datagram (nc -w 1)
    assert "  -> 10.0.0.2:9000                Masq    1      0          1" in ipvsadm(lab, "-Ln")  # UDP is inactive
    # nobody listens on 9001 behind the VIP: the real server's port unreachable comes back from the VIP
    r = sh(lab, "client", f"nc -u -z -v -w 1 {VIP} 9001")
    assert r.exit_code == 1 and "succeeded" not in r.stderr
    assert r.trace.filter("ipvs:icmp", "snat")
    errs = [e.reason for e in r.trace.filter("icmp:error", "deliver") if e.ns == "client"]
    assert errs and all(x == f"ECONNREFUSED from {VIP} to the sending socket" for x in errs)


def test_an_icmp_error_about_a_reply_goes_on_to_the_real_server() -> None:
    lab = director_lab()
    udp_name_server(lab, lab["h"].kernel.netns("rs1"), "late", port=9002, delay=2.0)
    ipvsadm(lab, f"-A -u {VIP}:9002 -s rr")
    ipvsadm(lab, f"-a -u {VIP}:9002 -r 10.0.0.2 -m")
    assert lab.run("h", f"echo hi | ip netns exec client nc -u -w 1 {VIP} 9002").stdout == ""
    later = lab.wait(2).trace  # the answer comes after nc left: the client says port unreachable
    assert [e.ns for e in later.filter("icmp:error", "send")] == ["client"]
    fwd = later.filter("ipvs:icmp", "forward")
    assert [e.summary.split(":")[0] for e in fwd] == ["IP 192.168.0.2 > 10.0.0.2"]
    assert [e.reason for e in later.filter("icmp:error", "deliver") if e.ns == "rs1"] == [
        "ECONNREFUSED from 192.168.0.2 to the sending socket"]


def test_no_real_server_available_answers_port_unreachable() -> None:
    lab = director_lab()
    ipvsadm(lab, f"-A -t {VIP}:80 -s rr")
    ipvsadm(lab, f"-a -t {VIP}:80 -r 10.0.0.2:80 -m -w 0")
    r = sh(lab, "client", f"curl -s -m 2 http://{VIP}/")
    assert r.exit_code == 7
    assert [e.reason for e in r.trace.filter("ipvs:schedule", "drop")] == [
        f"TCP {VIP}:80: rr: no destination available"]
    assert any(e.ns == "dir" and e.reason == "ICMP port unreachable to 192.168.0.2" for e in r.trace.filter("icmp:error"))
    assert sh(lab, "client", f"ping -c 1 -W 1 {VIP}").exit_code == 0  # echo is the director's own business


def test_local_client_on_the_director_reaches_the_service() -> None:
    lab = director_lab()
    balanced(lab)
    r = sh(lab, "dir", f"curl -s http://{VIP}/")
    assert r.stdout == "hello from rs3\n"
    assert [e.reason.split(" (")[0] for e in r.trace.filter("ipvs:reply")][:1] == [
        f"reply of real server 10.0.0.4:80 leaves as {VIP}:80"]


def test_direct_routing_delivers_the_packet_unchanged_to_the_servers_mac() -> None:
    lab = director_lab()
    k = lab["h"].kernel
    for i in (1, 2, 3):
        k.netns(f"rs{i}").addr_add("lo", f"{VIP}/32")  # the real servers own the VIP too (LVS-DR)
    ipvsadm(lab, f"-A -t {VIP}:80 -s rr")
    for addr in RS:
        ipvsadm(lab, f"-a -t {VIP}:80 -r {addr}")  # -g, ipvsadm's default
    r = sh(lab, "client", f"curl -s http://{VIP}/")
    assert r.stdout == "hello from rs3\n"
    assert "  -> 10.0.0.4:80                  Route   1      " in ipvsadm(lab, "-Ln")
    seen = [e.summary for e in r.trace if e.ns == "rs3" and e.stage == "tcp:rcv"]
    assert seen and all(f" > {VIP}.80:" in s for s in seen)
    assert not r.trace.filter("ipvs:reply")  # replies leave the real server from the VIP itself


def test_conn_reuse_mode_decides_whether_a_reused_port_is_rescheduled() -> None:
    for mode, second in (("1", "rs2"), ("0", "rs3")):
        lab = director_lab()
        balanced(lab)
        sh(lab, "dir", f"sysctl -w net.ipv4.vs.conn_reuse_mode={mode}")
        assert sh(lab, "client", f"nc -z -p 40000 {VIP} 80").exit_code == 0
        lab.wait(61)  # the client's TIME_WAIT is over; IPVS keeps its entry for 120 s
        r = sh(lab, "client", f"nc -z -p 40000 {VIP} 80")
        assert r.exit_code == 0
        conns = [c for c in dir_ns(lab).ipvs_conns() if c.cport == 40000]
        assert [f"rs{RS.index(c.daddr) + 1}" for c in conns] == [second], mode


def test_docker_style_load_balancer_needs_the_ipvs_snat_rule() -> None:
    lab, _ = lb_sandbox(snat=False)
    r = sh(lab, "c2", "curl -s -m 1 http://10.0.0.100/")
    assert r.exit_code == 28  # the server answers the client directly, from its own address
    assert any(e.ns == "c2" and e.summary.startswith("IP 10.0.0.4.80 > 10.0.0.9.") for e in r.trace)


def test_docker_style_load_balancer_with_a_mangle_mark_and_ipvs_snat() -> None:
    lab, d = lb_sandbox(snat=True)
    got = []
    for _ in range(3):
        r = sh(lab, "c2", "curl -s http://10.0.0.100/")
        got.append(r.stdout)
        seen = [e.summary for e in r.trace if e.ns.startswith("rs") and e.stage == "tcp:rcv"]
        assert seen and all(s.startswith("IP 10.0.0.1.") for s in seen)  # the director's address
        back = [e.summary for e in r.trace if e.ns == "c2" and e.stage == "tcp:rcv"]
        assert back and all(s.startswith("IP 10.0.0.100.80 > 10.0.0.9.") for s in back)
    assert got == ["hello from rs3\n", "hello from rs2\n", "hello from rs1\n"]
    ct = [c for c in d.conntrack_list() if c.orig.dst == "10.0.0.100"]
    assert len(ct) == 3 and all(c.reply.src in RS and c.reply.dst == "10.0.0.1" for c in ct)
    saved = d.iptables_save("nat", counters=True)
    m = re.search(r"\[(\d+):\d+\] -A POSTROUTING -d 10.0.0.0/24 -m ipvs --ipvs -j SNAT", saved)
    assert m and m.group(1) == "3", saved  # the nat table sees each connection's first packet
