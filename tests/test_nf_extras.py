"""limit, iprange, length, pkttype, mac, connmark, ttl and the CONNMARK and TTL targets.

The text side: each case of iptables_cases.EXTENSIONS (checked against the real iptables 1.8.9
by test_iptables_real.py) must parse to the same `-S` line and `-L` text here, and survive
save -> restore -> save.  The packet side: each extension decides real traffic in a lab.
"""

from __future__ import annotations

import re
import shlex

import pytest

from cnmsim import Lab
from cnmsim.kernel import api
from cnmsim.netfilter.commands import apply
from cnmsim.netfilter.format import list_rules, save
from cnmsim.netfilter.listing import ListFormat, rule_line
from cnmsim.netfilter.model import Ruleset
from cnmsim.netfilter.parse import parse_command
from cnmsim.netfilter.restore import restore
from tests.iptables_cases import EXTENSIONS
from tests.test_conntrack import router


# ------------------------------------------------------------------ text
@pytest.mark.parametrize(("table", "typed", "saved", "listed"), EXTENSIONS)
def test_extension_rules_print_as_the_real_tool(table: str, typed: str, saved: str, listed: str) -> None:
    rs = Ruleset()
    apply(rs, parse_command(["-t", table, *shlex.split(typed)]))
    chain = typed.split()[1]
    assert list_rules(rs, table, chain, 1) == saved + "\n"
    line = rule_line(rs.tables[table].chains[chain].rules[0], 1, ListFormat(numeric=True))
    assert line.endswith(" " + listed)


def test_extension_rules_survive_save_restore_save() -> None:
    rs = Ruleset()
    for table, typed, _, _ in EXTENSIONS:
        apply(rs, parse_command(["-t", table, *shlex.split(typed)]))
    text = save(rs)
    assert save(restore(Ruleset(), text)) == text
    for table, _, saved, _ in EXTENSIONS:
        assert saved in list_rules(rs, table)


# ------------------------------------------------------------------ packets
def routed(rules: str) -> Lab:
    """Host h routes between a (10.0.0.2) / c (10.0.0.3) on br0 and b (10.1.0.2) on vb."""
    return router(rules=rules)


def ping(lab: Lab, ns: str, dst: str, args: str = "-c 1 -W 1"):  # noqa: ANN201
    return lab.run("h", f"ip netns exec {ns} ping {args} {dst}")


def test_limit_with_burst_2_lets_two_pings_of_a_burst_through() -> None:
    lab = routed("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p icmp --icmp-type 8 -m limit --limit 1/min "
                 "--limit-burst 2 -j ACCEPT\n-A FORWARD -p icmp --icmp-type 8 -j DROP\nCOMMIT\n")
    r = ping(lab, "a", "10.1.0.2", "-c 5 -i 0.2 -W 1")
    assert "5 packets transmitted, 2 received, 60% packet loss" in r.stdout  # as the real kernel does
    assert re.findall(r"icmp_seq=(\d)", r.stdout) == ["1", "2"]
    lab.wait(61)  # one token back after a minute
    assert ping(lab, "a", "10.1.0.2").ok and not ping(lab, "a", "10.1.0.2").ok


def test_mac_matches_the_sender_of_the_received_frame() -> None:
    lab = routed("")
    a_mac = lab["h"].kernel.netns("a").devices["eth0"].mac
    assert lab.run("h", f"iptables -A FORWARD -m mac --mac-source {a_mac.upper()} -j DROP").ok
    assert not ping(lab, "a", "10.1.0.2").ok
    assert ping(lab, "c", "10.1.0.2").ok
    assert lab.run("h", "iptables -R FORWARD 1 -i br0 -m mac ! --mac-source " + a_mac + " -j DROP").ok
    assert ping(lab, "a", "10.1.0.2").ok and not ping(lab, "c", "10.1.0.2").ok


def test_iprange_matches_inclusive_address_ranges() -> None:
    lab = routed("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m iprange --src-range 10.0.0.3-10.0.0.9 "
                 "-j DROP\n-A FORWARD -m iprange ! --dst-range 10.0.0.1-10.1.0.2 -j DROP\nCOMMIT\n")
    assert ping(lab, "a", "10.1.0.2").ok
    assert not ping(lab, "c", "10.1.0.2").ok
    r = lab.run("h", "iptables -L FORWARD -v -n")
    assert re.search(r"^\s+1\s+84 DROP .* source IP range 10\.0\.0\.3-10\.0\.0\.9$", r.stdout, re.M)


def test_length_and_ttl_matches_read_the_ip_header() -> None:
    lab = routed("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p icmp -m length --length 100:65535 -j DROP\n"
                 "-A FORWARD -s 10.0.0.3 -m ttl --ttl-eq 63 -j DROP\nCOMMIT\n")
    assert ping(lab, "a", "10.1.0.2").ok  # 84 bytes
    assert not ping(lab, "a", "10.1.0.2", "-c 1 -W 1 -s 100").ok  # 128 bytes
    assert not ping(lab, "c", "10.1.0.2").ok  # FORWARD sees the TTL already decreased: 63
    assert ping(lab, "c", "10.1.0.2", "-c 1 -W 1 -t 10").ok


def test_pkttype_tells_broadcast_from_unicast_frames() -> None:
    lab = routed("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p icmp -m pkttype --pkt-type broadcast\n"
                 "-A INPUT -p icmp -m pkttype --pkt-type unicast\nCOMMIT\n")
    ping(lab, "a", "255.255.255.255", "-b -c 1 -W 1")
    ping(lab, "a", "10.0.0.1")
    counts = [r.packets for r in lab["h"].root.ruleset.tables["filter"].chains["INPUT"].rules]
    assert counts == [1, 1]


def test_connmark_saved_from_the_request_matches_the_reply() -> None:
    lab = routed("*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j CONNMARK --restore-mark\n"
                 "-A PREROUTING -s 10.0.0.2 -m mark --mark 0 -j MARK --set-mark 0x7\n"
                 "-A PREROUTING -j CONNMARK --save-mark\nCOMMIT\n"
                 "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -i vb -m connmark --mark 0x7 -m mark --mark 0x7 "
                 "-j ACCEPT\n-A FORWARD -i vb -j DROP\nCOMMIT\n")
    assert ping(lab, "a", "10.1.0.2").ok  # the reply: its entry carries 7, restored onto the packet
    assert not ping(lab, "c", "10.1.0.2").ok
    listed = lab.run("h", "conntrack -L").stdout
    assert re.search(r"src=10\.0\.0\.2 dst=10\.1\.0\.2 .* mark=7 ", listed)
    assert re.search(r"src=10\.0\.0\.3 dst=10\.1\.0\.2 .* mark=0 ", listed)


def test_connmark_set_ops_masks_and_shift() -> None:
    lab = routed("*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -s 10.0.0.2 -j CONNMARK --set-mark 0xf0\n"
                 "-A PREROUTING -s 10.0.0.2 -j CONNMARK --and-mark 0x30\n"
                 "-A PREROUTING -s 10.0.0.3 -j MARK --set-mark 0x1234\n"
                 "-A PREROUTING -s 10.0.0.3 -j CONNMARK --save-mark --nfmask 0xff00 --ctmask 0xff "
                 "--right-shift-mark 8\nCOMMIT\n")
    assert ping(lab, "a", "10.1.0.2").ok and ping(lab, "c", "10.1.0.2").ok
    listed = lab.run("h", "conntrack -L").stdout
    assert re.search(r"src=10\.0\.0\.2 .* mark=48 ", listed)  # 0xf0 & 0x30
    assert re.search(r"src=10\.0\.0\.3 .* mark=18 ", listed)  # (0x1234 & 0xff00) >> 8


def three_hops(rules: str) -> Lab:
    """a (10.0.0.2) -- r (10.0.0.1 | 10.0.1.1) -- s (10.0.1.2 | 10.0.2.1) -- b (10.0.2.3); `rules` on r."""
    lab = Lab(seed=0)
    k = lab.add_host("h", docker=False).kernel
    a, r, s, b = (k.netns_add(n) for n in ("a", "r", "s", "b"))
    a.link_add(api.Veth("eth0", peer="eth0", peer_netns="r"))
    r.link_add(api.Veth("eth1", peer="eth0", peer_netns="s"))
    s.link_add(api.Veth("eth1", peer="eth0", peer_netns="b"))
    for ns, dev, ip in ((a, "eth0", "10.0.0.2/24"), (r, "eth0", "10.0.0.1/24"), (r, "eth1", "10.0.1.1/24"),
                        (s, "eth0", "10.0.1.2/24"), (s, "eth1", "10.0.2.1/24"), (b, "eth0", "10.0.2.3/24")):
        ns.addr_add(dev, ip)
        ns.link_set(dev, up=True)
    a.route_add(api.Route(dst="default", via="10.0.0.1"))
    r.route_add(api.Route(dst="10.0.2.0/24", via="10.0.1.2"))
    s.route_add(api.Route(dst="10.0.0.0/24", via="10.0.1.1"))
    b.route_add(api.Route(dst="default", via="10.0.2.1"))
    for ns in (r, s):
        ns.sysctl_set("net.ipv4.ip_forward", "1")
    if rules:
        r.iptables_restore(rules)
    return lab


def test_ttl_set_1_makes_a_forwarded_ping_die_at_the_next_hop() -> None:
    lab = three_hops("")
    assert lab.run("h", "ip netns exec a ping -c 1 -W 1 10.0.2.3").ok
    assert lab.run("h", "ip netns exec r iptables -t mangle -A FORWARD -d 10.0.2.3 -j TTL --ttl-set 1").ok
    r = lab.run("h", "ip netns exec a ping -c 1 -W 1 10.0.2.3")
    assert r.exit_code == 1 and "From 10.0.1.2 icmp_seq=1 Time to live exceeded" in r.stdout
    out = lab.run("h", "ip netns exec r iptables -t mangle -L FORWARD -v -n").stdout
    assert re.search(r"^\s+1\s+84 TTL .* TTL set to 1$", out, re.M)


def test_ttl_inc_and_dec_change_what_later_hops_see() -> None:
    lab = three_hops("*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -i eth0 -j TTL --ttl-inc 5\n"
                     "-A PREROUTING -i eth0 -m ttl --ttl-eq 7 -j MARK --set-mark 0x1\n"
                     "-A PREROUTING -i eth1 -p icmp --icmp-type 8 -j TTL --ttl-dec 200\nCOMMIT\n")
    assert lab.run("h", "ip netns exec a ping -c 1 -W 1 -t 1 10.0.2.3").ok  # 1 + 5 is enough for 2 hops
    assert lab.run("h", "ip netns exec a ping -c 1 -W 1 -t 2 10.0.2.3").ok  # 2 + 5: the ttl rule sees 7
    r = lab.run("h", "ip netns exec b ping -c 1 -W 1 10.0.0.2")  # 63 at r, minus 200: 0, it dies at r
    assert r.exit_code == 1 and "From 10.0.1.1 icmp_seq=1 Time to live exceeded" in r.stdout
    rules = lab["h"].kernel.netns("r").ruleset.tables["mangle"].chains["PREROUTING"].rules
    assert [x.packets for x in rules] == [2, 1, 1]
