"""Targets and extension matches on a routing host: LOG, TRACE, REJECT, REDIRECT, DNAT in OUTPUT,
ipsets (and the `ipset` command), statistic, physdev with br_netfilter, ipvs."""

from __future__ import annotations

import re

from cnmsim import Lab
from cnmsim.kernel import api
from cnmsim.netfilter.model import Ruleset
from tests.test_conntrack import router
from tests.test_nf_engine import Pkt, frame_of, host_ns


def routed(rules: str, seed: int = 0) -> Lab:
    """Host h routes between a/c (br0, 10.0.0.0/24) and b (vb, 10.1.0.0/24) with `rules` loaded."""
    return router(seed=seed, rules=rules)


def test_log_writes_the_kernel_log_line() -> None:
    lab = routed('*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p icmp -j LOG --log-prefix "ping: "\nCOMMIT\n')
    r = lab.run("h", "ip netns exec a ping -c 1 10.1.0.2")
    assert r.ok
    # ip_forward() decreases the TTL before the FORWARD hook, so LOG in FORWARD prints 63 (net/ipv4/ip_forward.c)
    logs = [e.reason for e in r.trace if e.stage == "nf:log"]
    assert re.fullmatch(r"ping: IN=br0 OUT=vb MAC=([0-9a-f]{2}:){12}08:00 SRC=10\.0\.0\.2 DST=10\.1\.0\.2 LEN=84 "
                        r"TOS=0x00 PREC=0x00 TTL=63 ID=\d+ DF PROTO=ICMP TYPE=8 CODE=0 ID=\d+ SEQ=1", logs[0])
    assert "SRC=10.1.0.2 DST=10.0.0.2" in logs[1] and "TYPE=0 CODE=0" in logs[1]


def test_trace_target_reports_every_rule_the_packet_meets() -> None:
    lab = routed("*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p icmp --icmp-type 8 -j TRACE\nCOMMIT\n"
                 "*filter\n:FORWARD ACCEPT [0:0]\n:CHK - [0:0]\n-A FORWARD -j CHK\n-A CHK -s 10.9.0.0/16 -j DROP\n"
                 "COMMIT\n")
    r = lab.run("h", "ip netns exec a ping -c 1 10.1.0.2")
    lines = [e.reason.split(" IN=")[0] for e in r.trace if e.stage == "nf:trace"]
    assert lines == ["TRACE: raw:PREROUTING:rule:1", "TRACE: raw:PREROUTING:policy:2",
                     "TRACE: filter:FORWARD:rule:1", "TRACE: filter:CHK:return:2",
                     "TRACE: filter:FORWARD:policy:2"]  # the echo request only: the reply is not traced


def test_reject_answers_with_the_chosen_icmp_error() -> None:
    lab = routed("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -d 10.1.0.2/32 -p icmp -j REJECT\n"
                 "-A FORWARD -p udp -j REJECT --reject-with icmp-host-unreachable\nCOMMIT\n")
    r = lab.run("h", "ip netns exec a ping -c 1 -W 1 10.1.0.2")
    assert r.exit_code == 1 and "From 10.0.0.1 icmp_seq=1 Destination Port Unreachable" in r.stdout
    r = lab.run("h", "ip netns exec a nc -u -z -v -w 1 10.1.0.2 53")
    assert any(e.verdict == "reject" and "icmp-host-unreachable" in e.reason for e in r.trace)
    assert any(e.stage == "icmp:error" and e.verdict == "deliver" and e.reason.startswith("EHOSTUNREACH from 10.0.0.1")
               for e in r.trace)


def test_redirect_sends_the_connection_to_the_router_itself() -> None:
    lab = routed("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -i br0 -p tcp --dport 80 -j REDIRECT --to-ports 3128\n"
                 "COMMIT\n")
    lab.run("h", "nc -l -v -p 3128 &")
    assert lab.run("h", "echo GET | ip netns exec a nc -N 10.1.0.2 80").ok
    lab.wait(1)
    assert lab.jobs[0].stdout == "GET\n" and "Connection received on 10.0.0.2 " in lab.jobs[0].stderr
    assert "dst=10.1.0.2 sport=" in lab.run("h", "conntrack -L").stdout  # orig tuple keeps the old address
    assert "src=10.0.0.1 dst=10.0.0.2 sport=3128" in lab.run("h", "conntrack -L").stdout


def test_dnat_in_output_reroutes_the_local_packet() -> None:
    lab = routed("*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -d 10.9.9.9/32 -p tcp --dport 80 -j DNAT "
                 "--to-destination 10.1.0.2:8000\nCOMMIT\n")
    h = lab["h"].root
    h.route_add(api.Route(dst="10.9.0.0/16", via="10.0.0.2"))  # without the reroute it would go to a
    lab.run("h", "ip netns exec b nc -l -p 8000 &")
    r = lab.run("h", "echo x | nc -N 10.9.9.9 80")
    assert r.ok, r.stderr
    lab.wait(1)
    assert lab.jobs[0].stdout == "x\n"


def test_set_match_follows_the_ipset_without_a_new_ruleset() -> None:
    lab = routed("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m set --match-set blocked src -j DROP\nCOMMIT\n")
    assert lab.run("h", "ipset create blocked hash:net").ok
    assert lab.run("h", "ipset add blocked 10.0.0.3").ok
    assert lab.run("h", "ip netns exec a ping -c 1 -W 1 10.1.0.2").ok
    assert not lab.run("h", "ip netns exec c ping -c 1 -W 1 10.1.0.2").ok
    r = lab.run("h", "ipset destroy blocked")
    assert (r.exit_code, r.stderr) == (1, "ipset v7.17: Set cannot be destroyed: it is in use by a kernel component\n")
    assert "References: 1" in lab.run("h", "ipset list blocked").stdout
    assert lab.run("h", "ipset del blocked 10.0.0.3").ok
    assert lab.run("h", "ip netns exec c ping -c 1 -W 1 10.1.0.2").ok


def test_statistic_nth_drops_every_second_packet() -> None:
    lab = routed("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p icmp --icmp-type 8 -m statistic --mode nth "
                 "--every 2 --packet 0 -j DROP\nCOMMIT\n")
    r = lab.run("h", "ip netns exec a ping -c 4 -i 0.2 -W 1 10.1.0.2")
    assert "4 packets transmitted, 2 received, 50% packet loss" in r.stdout
    assert re.findall(r"icmp_seq=(\d)", r.stdout) == ["1", "3"]


def test_physdev_sees_the_bridge_ports_with_br_netfilter() -> None:
    lab = routed("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p icmp --icmp-type 8 -m physdev "
                 "--physdev-in va --physdev-is-bridged -j DROP\nCOMMIT\n")
    assert lab.run("h", "ip netns exec a ping -c 1 -W 1 10.0.0.3").ok  # bridged: no iptables yet
    lab["h"].root.sysctl_set("net.bridge.bridge-nf-call-iptables", "1")
    assert not lab.run("h", "ip netns exec a ping -c 1 -W 1 10.0.0.3").ok
    assert lab.run("h", "ip netns exec c ping -c 1 -W 1 10.0.0.2").ok
    assert lab.run("h", "ip netns exec a ping -c 1 -W 1 10.1.0.2").ok  # routed: not bridged


def test_ipvs_match_reads_what_ipvs_marked_on_the_frame() -> None:
    from cnmsim.netfilter.restore import restore

    lab, ns = host_ns()
    ns.ruleset = restore(Ruleset(), "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m ipvs --ipvs --vport 80 "
                                    "-j ACCEPT\nCOMMIT\n")

    class IpvsConn:
        vport, vaddr, proto, fwd, control = 80, "10.0.0.2", "TCP", "Masq", None
    p = Pkt("10.0.0.1", "10.0.0.2", "tcp", 41000, 80, -1, -1, "eth0", "eth1", 0)
    plain = frame_of(p)
    marked = frame_of(p)
    marked.set_meta("ipvs", True)
    marked.set_meta("ipvs_conn", IpvsConn())
    assert not ns.nf.hook("FORWARD", plain, ns.devices["eth0"], ns.devices["eth1"])
    assert ns.nf.hook("FORWARD", marked, ns.devices["eth0"], ns.devices["eth1"])


def test_ipset_command_prints_as_ipset_7_17() -> None:
    lab = Lab(seed=0)
    lab.add_host("h", docker=False)

    def sh(line: str):  # noqa: ANN202
        return lab.run("h", line)
    assert sh("ipset create myset hash:net").ok
    r = sh("ipset create myset hash:net")
    assert (r.exit_code, r.stderr) == (1, "ipset v7.17: Set cannot be created: set with the same name already exists\n")
    assert sh("ipset add myset 10.0.0.0/24").ok and sh("ipset add myset 192.168.1.5").ok
    r = sh("ipset add myset 10.0.0.0/24")
    assert (r.exit_code, r.stderr) == (1, "ipset v7.17: Element cannot be added to the set: it's already added\n")
    assert sh("ipset add -exist myset 10.0.0.0/24").ok
    r = sh("ipset test myset 10.0.0.7")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "Warning: 10.0.0.7 is in set myset.\n")
    r = sh("ipset test myset 10.0.1.7")
    assert (r.exit_code, r.stderr) == (1, "10.0.1.7 is NOT in set myset.\n")
    listing = sh("ipset list myset").stdout
    assert re.fullmatch(r"Name: myset\nType: hash:net\nRevision: 7\nHeader: family inet hashsize 1024 maxelem 65536 "
                        r"bucketsize 12 initval 0x[0-9a-f]{8}\nSize in memory: 552\nReferences: 0\n"
                        r"Number of entries: 2\nMembers:\n10\.0\.0\.0/24\n192\.168\.1\.5\n", listing)
    init = re.search(r"initval (0x[0-9a-f]{8})", listing).group(1)
    assert sh("ipset save").stdout == (f"create myset hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 "
                                       f"initval {init}\nadd myset 10.0.0.0/24\nadd myset 192.168.1.5\n")
    assert sh("ipset create ips hash:ip").ok and sh("ipset add ips 1.1.0.0/30").ok
    assert "Size in memory: 376\n" in sh("ipset list ips").stdout  # 216 + 4 x 40, as the kernel counts
    assert sh("ipset list -n").stdout == "myset\nips\n"
    r = sh("ipset del myset 172.16.0.0/12")
    assert (r.exit_code, r.stderr) == (1, "ipset v7.17: Element cannot be deleted from the set: it's not added\n")
    r = sh("ipset list nosuch")
    assert (r.exit_code, r.stderr) == (1, "ipset v7.17: The set with the given name does not exist\n")
    r = sh("ipset add myset 10.0.0.0/33")
    assert r.stderr == "ipset v7.17: Syntax error: '33' is out of range 0-32\n"
    r = sh("ipset bogus")
    assert (r.exit_code, r.stderr) == (2, "ipset v7.17: No command specified: unknown argument bogus\n"
                                          "Try `ipset help' for more information.\n")
    assert sh("ipset flush myset").ok and "Number of entries: 0\nMembers:\n" in sh("ipset list myset").stdout
    assert sh("ipset destroy").ok and sh("ipset list").stdout == ""


def test_redirect_in_output_goes_to_the_loopback_address() -> None:
    lab = routed("*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp --dport 80 -j REDIRECT --to-ports 3128\nCOMMIT\n")
    lab.run("h", "nc -l -v -p 3128 &")
    assert lab.run("h", "echo x | nc -N 10.1.0.2 80").ok
    lab.wait(1)
    assert lab.jobs[0].stdout == "x\n"  # the source stays the one routing chose before the NAT
    assert "Connection received on 10.1.0.1 " in lab.jobs[0].stderr
    assert "dst=10.1.0.2 sport=" in lab.run("h", "conntrack -L").stdout
    assert "src=127.0.0.1 dst=10.1.0.1 sport=3128 " in lab.run("h", "conntrack -L").stdout


def test_statistic_random_draws_from_the_lab_rng() -> None:
    from cnmsim.netfilter.restore import restore

    def accepted(seed: int) -> list[bool]:
        lab, ns = Lab(seed=seed), None
        ns = lab.add_host("h", docker=False).root
        for d in ("eth0", "eth1"):
            ns.link_add(api.Dummy(d))
        ns.ruleset = restore(Ruleset(), "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m statistic --mode random "
                                        "--probability 0.25 -j DROP\nCOMMIT\n")
        ns.nf_attach()
        p = Pkt("10.0.0.1", "10.0.0.2", "udp", 5000, 53, -1, -1, "eth0", "eth1", 0)
        return [ns.nf.hook("FORWARD", frame_of(p), ns.devices["eth0"], ns.devices["eth1"]) for _ in range(400)]
    first = accepted(7)
    assert first == accepted(7) and first != accepted(8)
    assert 260 <= sum(first) <= 340  # about three in four pass


def test_addrtype_tells_local_unicast_and_broadcast_addresses() -> None:
    from cnmsim.netfilter.restore import restore

    lab, ns = host_ns()
    ns.addr_add("eth0", "10.0.0.1/24") if "10.0.0.1" not in ns.local_addrs else None
    ns.ruleset = restore(Ruleset(), "*filter\n:FORWARD DROP [0:0]\n"
                                    "-A FORWARD -m addrtype --dst-type LOCAL -j MARK --set-xmark 0x1/0xff\n"
                                    "-A FORWARD -m addrtype --dst-type BROADCAST -j MARK --set-xmark 0x2/0xff\n"
                                    "-A FORWARD -m addrtype --dst-type UNICAST -j MARK --set-xmark 0x3/0xff\n"
                                    "-A FORWARD -j ACCEPT\nCOMMIT\n")
    marks = {}
    for dst in ("10.0.0.1", "127.0.0.5", "10.0.0.255", "255.255.255.255", "8.8.8.8"):
        f = frame_of(Pkt("10.0.0.9", dst, "udp", 5000, 53, -1, -1, "eth0", "eth1", 0))
        ns.nf.hook("FORWARD", f, ns.devices["eth0"], ns.devices["eth1"])
        marks[dst] = f.mark
    assert marks == {"10.0.0.1": 1, "127.0.0.5": 1, "10.0.0.255": 2, "255.255.255.255": 2, "8.8.8.8": 3}


def test_reject_of_a_dnated_packet_answers_from_the_address_the_client_used() -> None:
    """As checked on the real kernel: the error and the reset carry the rejected packet's
    (unconfirmed) connection, so NAT is undone on them and the client's socket sees them."""
    lab = routed("*nat\n:PREROUTING ACCEPT [0:0]\n"
                 "-A PREROUTING -d 10.0.0.1/32 -p tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80\n"
                 "-A PREROUTING -d 10.0.0.1/32 -p udp --dport 8080 -j DNAT --to-destination 10.1.0.2:80\nCOMMIT\n"
                 "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp --dport 80 -j REJECT --reject-with tcp-reset\n"
                 "-A FORWARD -p udp --dport 80 -j REJECT\nCOMMIT\n")
    r = lab.run("h", "ip netns exec a nc -z -v -w 2 10.0.0.1 8080")
    assert (r.exit_code, r.stderr) == (1, "nc: connect to 10.0.0.1 port 8080 (tcp) failed: Connection refused\n")
    r = lab.run("h", "ip netns exec a nc -u -z -v -w 2 10.0.0.1 8080")
    assert (r.exit_code, r.stderr) == (1, "")
    back = [e for e in r.trace if e.stage == "nat:dnat" and e.verdict == "reverse"]
    assert back and "the ICMP error and the header it quotes" in back[0].reason
    assert lab.run("h", "conntrack -L").stdout == ""  # nothing rejected was ever confirmed


def test_a_packet_off_the_wire_carries_none_of_the_senders_state() -> None:
    lab = Lab(seed=0)
    lab.add_host("p1", address="192.168.0.11/24", docker=False)
    lab.add_host("p2", address="192.168.0.12/24", docker=False)
    lab["p1"].root.iptables_restore("*mangle\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j MARK --set-xmark 0x5/0xffffffff\n"
                                    "COMMIT\n*raw\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j NOTRACK\nCOMMIT\n")
    lab["p2"].root.iptables_restore("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m mark --mark 0x5 -j DROP\n"
                                    "-A INPUT -m conntrack --ctstate UNTRACKED -j DROP\nCOMMIT\n")
    assert lab.run("p1", "ping -c 1 -W 1 192.168.0.12").ok  # mark and NOTRACK stay on p1
    assert lab.run("p2", "conntrack -L").stdout.startswith("icmp     1 29 src=192.168.0.11 ")
