"""Docker's classic (<= 27.x) iptables layout on a simulated host: the fates of packets.

host-A (192.168.0.2 on the LAN, gateway 192.168.0.1 to the simulated internet) has two user
bridge networks built with the kernel api: br-a 172.18.0.0/16 with container c1 (172.18.0.2,
port 80 published as 8080) and br-b 172.19.0.0/16 with c2 (172.19.0.2).  The ruleset is the
shape of engine.md section 1.8 for those two networks, loaded with iptables-restore.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import pytest

from cnmsim import Lab
from cnmsim.kernel import api

RULES = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o br-b -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o br-b -j DOCKER
-A FORWARD -i br-b ! -o br-b -j ACCEPT
-A FORWARD -i br-b -o br-b -j ACCEPT
-A FORWARD -o br-a -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o br-a -j DOCKER
-A FORWARD -i br-a ! -o br-a -j ACCEPT
-A FORWARD -i br-a -o br-a -j ACCEPT
-A DOCKER -d 172.18.0.2/32 ! -i br-a -o br-a -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i br-b ! -o br-b -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -i br-a ! -o br-a -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o br-b -j DROP
-A DOCKER-ISOLATION-STAGE-2 -o br-a -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.19.0.0/16 ! -o br-b -j MASQUERADE
-A POSTROUTING -s 172.18.0.0/16 ! -o br-a -j MASQUERADE
-A POSTROUTING -s 172.18.0.2/32 -d 172.18.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i br-b -j RETURN
-A DOCKER -i br-a -j RETURN
-A DOCKER ! -i br-a -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:80
COMMIT
"""
EXAMPLE = "198.51.100.10"  # example.com on the simulated internet


def docker_host(lab: Lab) -> Any:
    """host-A with br-a/c1 and br-b/c2, forwarding on, Docker's rules loaded; and a laptop."""
    lab.add_internet()
    host = lab.add_host("host-A", address="192.168.0.2/24", gateway="192.168.0.1", docker=False)
    lab.add_host("laptop", address="192.168.0.50/24", gateway="192.168.0.1", docker=False)
    root = host.root
    for br, net, c in (("br-a", "172.18", "c1"), ("br-b", "172.19", "c2")):
        root.link_add(api.Bridge(br))
        root.addr_add(br, f"{net}.0.1/16")
        root.link_set(br, up=True)
        ns = host.kernel.netns_add(c)
        root.link_add(api.Veth(f"veth-{c}", peer="eth0", peer_netns=c))
        root.link_set(f"veth-{c}", master=br, up=True)
        ns.addr_add("eth0", f"{net}.0.2/16")
        ns.link_set("eth0", up=True)
        ns.link_set("lo", up=True)
        ns.route_add(api.Route(dst="default", via=f"{net}.0.1"))
    root.sysctl_set("net.ipv4.ip_forward", "1")
    root.iptables_restore(RULES)
    return root


@pytest.fixture
def lab() -> Lab:
    lab = Lab(seed=3)
    docker_host(lab)
    return lab


def in_c(lab: Lab, c: str, line: str):  # noqa: ANN201
    return lab.run("host-A", f"ip netns exec {c} {line}")


def rule(root: Any, table: str, chain: str, num: int) -> Any:
    return root.ruleset.tables[table].chains[chain].rules[num - 1]


def drops(trace: Any) -> list[Any]:
    return [e for e in trace if e.stage.startswith("nf:") and e.verdict in ("drop", "reject")]


def test_a_container_reaches_the_outside_masqueraded_with_its_port_kept(lab: Lab) -> None:
    r = in_c(lab, "c1", f"curl -s http://{EXAMPLE}/")
    assert r.exit_code == 0 and "Example Domain" in r.stdout
    lab.run("example.com", "nc -l -v -p 9000 &")
    r = lab.run("host-A", f"echo hello | ip netns exec c1 nc -N -p 41234 {EXAMPLE} 9000")
    assert r.exit_code == 0
    lab.wait(1)
    assert lab.jobs[0].stdout == "hello\n"
    assert lab.jobs[0].stderr.splitlines()[1] == "Connection received on 192.168.0.2 41234"
    snat = [e for e in r.trace if e.stage == "nat:snat"]
    assert snat[0].verdict == "rewrite" and snat[0].reason.startswith("now 192.168.0.2:41234 -> 198.51.100.10:9000")
    assert any(e.verdict == "reverse" and "-> 172.18.0.2:41234" in e.reason for e in snat)  # replies un-NATed
    conn = lab.run("host-A", "conntrack -L -p tcp")
    lines = [ln for ln in conn.stdout.splitlines() if "dport=9000" in ln]
    assert re.fullmatch(r"tcp      6 1[01]\d TIME_WAIT src=172\.18\.0\.2 dst=198\.51\.100\.10 sport=41234 dport=9000 "
                        r"src=198\.51\.100\.10 dst=192\.168\.0\.2 sport=9000 dport=41234 \[ASSURED\] mark=0 use=1",
                        lines[0])
    assert conn.stderr.endswith("flow entries have been shown.\n")


def test_traffic_between_bridge_networks_is_dropped_by_the_isolation_chains(lab: Lab) -> None:
    r = in_c(lab, "c1", "ping -c 1 -W 1 172.19.0.2")
    assert r.exit_code == 1
    d = drops(r.trace)
    assert [(e.extra["chain"], e.extra["rule"]) for e in d] == [("DOCKER-ISOLATION-STAGE-2", 1)]
    jumps = [(e.extra["chain"], e.extra["rule"], e.verdict) for e in r.trace if e.stage == "nf:filter:FORWARD"]
    assert jumps == [("FORWARD", 1, "jump"), ("DOCKER-USER", 1, "return"), ("FORWARD", 2, "jump"),
                     ("DOCKER-ISOLATION-STAGE-1", 2, "jump"), ("DOCKER-ISOLATION-STAGE-2", 1, "drop")]
    text = r.trace.explain()
    assert ("=> dropped at host-A: dropped by rule 1 of DOCKER-ISOLATION-STAGE-2: containers on different "
            "bridge networks are isolated (-A DOCKER-ISOLATION-STAGE-2 -o br-b -j DROP)") in text
    assert rule(lab["host-A"].root, "filter", "DOCKER-ISOLATION-STAGE-2", 1).packets == 1


def test_a_published_port_reaches_the_container_which_sees_the_client(lab: Lab) -> None:
    in_c(lab, "c1", "nc -l -v -p 80 &")
    r = lab.run("laptop", "echo hi | nc -N -p 50123 192.168.0.2 8080")
    assert r.exit_code == 0, r.stderr
    lab.wait(1)
    job = lab.jobs[0]
    assert job.stdout == "hi\n"
    assert "Connection received on 192.168.0.50 50123" in job.stderr
    dnat = [e for e in r.trace if e.stage == "nf:nat:PREROUTING" and e.verdict == "dnat"]
    assert len(dnat) == 1 and dnat[0].extra["chain"] == "DOCKER" and "172.18.0.2:80" in dnat[0].reason
    accept = [e for e in r.trace if e.stage == "nf:filter:FORWARD" and e.verdict == "accept"]
    assert accept[0].extra["chain"] == "DOCKER" and "a published port" in accept[0].reason
    entries = lab.run("host-A", "conntrack -L").stdout
    assert ("src=192.168.0.50 dst=192.168.0.2 sport=50123 dport=8080 "
            "src=172.18.0.2 dst=192.168.0.50 sport=80 dport=50123 [ASSURED]") in entries


def test_docker_user_drop_blocks_the_published_port(lab: Lab) -> None:
    root = lab["host-A"].root
    root.iptables_restore("*filter\n-I DOCKER-USER -s 192.168.0.50/32 -j DROP\nCOMMIT\n", noflush=True)
    in_c(lab, "c1", "nc -l -p 80 &")
    r = lab.run("laptop", "nc -z -v -w 2 192.168.0.2 8080")
    assert r.exit_code == 1
    d = drops(r.trace)
    assert d and all((e.extra["chain"], e.extra["rule"]) == ("DOCKER-USER", 1) for e in d)
    assert "a rule of DOCKER-USER blocks it" in d[0].reason
    assert rule(root, "filter", "DOCKER-USER", 1).packets == len(d)


def test_the_forward_policy_drops_what_nothing_accepted(lab: Lab) -> None:
    lab["laptop"].root.route_add(api.Route(dst="172.18.0.0/16", via="192.168.0.2"))
    in_c(lab, "c1", "nc -l -p 81 &")
    r = lab.run("laptop", "nc -z -v -w 1 172.18.0.2 81")  # routed straight to an unpublished port
    assert r.exit_code == 1
    d = drops(r.trace)
    assert d[0].extra["chain"] == "FORWARD" and d[0].extra["rule"] == 0
    assert ("=> dropped at host-A: dropped by the FORWARD policy (DROP): nothing accepted this "
            "forwarded packet") in r.trace.explain()
    assert lab["host-A"].root.ruleset.tables["filter"].chains["FORWARD"].packets == len(d)


def test_an_input_drop_firewall_does_not_protect_a_published_port(lab: Lab) -> None:
    """users.md pitfall 1: the DNATed packet is forwarded, so ufw-style INPUT rules never see it."""
    root = lab["host-A"].root
    root.iptables_restore("*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\n"
                          "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n",
                          noflush=True)
    lab.run("host-A", "nc -l -p 22 &")
    r = lab.run("laptop", "nc -z -v -w 1 192.168.0.2 22")
    assert r.exit_code == 1  # the host's own service is protected ...
    assert "dropped by the INPUT policy (DROP): nothing accepted this packet addressed to the host itself" \
        in r.trace.explain()
    in_c(lab, "c1", "nc -l -p 80 &")
    r = lab.run("laptop", "nc -z -v -w 1 192.168.0.2 8080")
    assert r.exit_code == 0, r.stderr  # ... the published port is not
    assert not [e for e in r.trace if e.stage == "nf:filter:INPUT" and ".8080:" in e.summary]
    assert any(e.stage == "nf:filter:FORWARD" and e.verdict == "accept" for e in r.trace)


def test_nat_is_decided_by_the_first_packet_while_filter_sees_every_packet(lab: Lab) -> None:
    root = lab["host-A"].root
    in_c(lab, "c1", "nc -l -p 80 &")
    in_c(lab, "c2", "nc -l -p 80 &")
    laptop = lab["laptop"].root
    got: list[Any] = []

    def client() -> Generator[Any, Any, None]:
        sock = laptop.sockets.tcp.socket()
        yield from sock.connect("192.168.0.2", 8080)
        sock.send(b"one\n")
        yield lab.env.timeout(0.5)
        # a later DNAT of the same port to c2 must not move the established connection
        root.iptables_restore("*nat\n-I DOCKER 1 -p tcp -m tcp --dport 8080 -j DNAT "
                              "--to-destination 172.19.0.2:80\nCOMMIT\n", noflush=True)
        sock.send(b"two\n")
        yield lab.env.timeout(0.5)
        sock.close()
        got.append(True)
    lab.env.process(client())
    r = lab.wait(3)
    assert got
    assert lab.jobs[0].stdout == "one\ntwo\n" and lab.jobs[1].stdout == ""
    assert rule(root, "nat", "DOCKER", 1).packets == 0  # the new rule never saw a first packet
    assert rule(root, "nat", "DOCKER", 4).packets == 1  # the original DNAT: the SYN only
    forwarded = [e for e in r.trace if e.stage == "nf:filter:FORWARD" and e.extra["rule"] == 1
                 and e.extra["chain"] == "FORWARD"]
    assert rule(root, "filter", "FORWARD", 1).packets == len(forwarded) >= 8  # every segment, both ways
    assert rule(root, "filter", "DOCKER", 1).packets == 1  # the published-port ACCEPT: the SYN only
    towards_c1 = rule(root, "filter", "FORWARD", 7).packets  # -o br-a ... RELATED,ESTABLISHED
    from_c1 = rule(root, "filter", "FORWARD", 9).packets  # -i br-a ! -o br-a -j ACCEPT
    assert towards_c1 >= 4 and from_c1 >= 4 and towards_c1 + from_c1 == len(forwarded) - 1


def test_reject_with_tcp_reset_is_connection_refused(lab: Lab) -> None:
    root = lab["host-A"].root
    root.iptables_restore("*filter\n-I DOCKER-USER -p tcp -m tcp --dport 80 -j REJECT "
                          "--reject-with tcp-reset\nCOMMIT\n", noflush=True)
    in_c(lab, "c1", "nc -l -p 80 &")
    r = lab.run("laptop", "nc -z -v 192.168.0.2 8080")
    assert (r.exit_code, r.stderr) == (1, "nc: connect to 192.168.0.2 port 8080 (tcp) failed: Connection refused\n")
    rej = [e for e in r.trace if e.verdict == "reject"]
    assert rej[0].extra["chain"] == "DOCKER-USER" and rej[0].stage == "nf:filter:FORWARD"
    rst = [e for e in r.trace if e.stage == "nat:dnat" and e.verdict == "reverse"]
    assert rst and rst[0].reason.startswith("now 192.168.0.2:8080 -> 192.168.0.50:")  # the RST comes from the host
    r = lab.run("laptop", "curl http://192.168.0.2:8080/")
    assert r.exit_code == 7
    assert r.stderr == "curl: (7) Failed to connect to 192.168.0.2 port 8080 after 0 ms: Couldn't connect to server\n"
    assert "dport=8080" not in lab.run("host-A", "conntrack -L").stdout  # the rejected SYN's entry never got confirmed


def test_an_icmp_error_is_related_and_translated_back_to_the_container(lab: Lab) -> None:
    r = in_c(lab, "c1", f"nc -u -z -v -w 1 {EXAMPLE} 5555")
    assert r.exit_code == 1 and "succeeded" not in r.stderr  # port unreachable made it back
    related = [e for e in r.trace if e.stage == "ct:related"]
    assert related and "UDP 172.18.0.2:" in related[0].reason
    back = [e for e in r.trace if e.stage == "nat:snat" and e.verdict == "reverse" and e.pkt == related[0].pkt]
    assert back and "the ICMP error and the header it quotes" in back[0].reason
    fwd = [e for e in r.trace if e.pkt == related[0].pkt and e.stage == "nf:filter:FORWARD" and e.verdict == "accept"]
    assert fwd[0].extra["rule"] == 7  # -o br-a -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT


def test_newer_layouts_explain_the_unpublished_port_and_internal_network_drops(lab: Lab) -> None:
    """The 28.x per-network DROP in DOCKER and the 29.x DOCKER-INTERNAL chain, added to this host."""
    root = lab["host-A"].root
    root.iptables_restore("*filter\n:DOCKER-INTERNAL - [0:0]\n-I FORWARD 2 -j DOCKER-INTERNAL\n"
                          "-A DOCKER ! -i br-a -o br-a -j DROP\n"
                          "-A DOCKER-INTERNAL ! -d 172.19.0.0/16 -i br-b -j DROP\nCOMMIT\n", noflush=True)
    lab["laptop"].root.route_add(api.Route(dst="172.18.0.0/16", via="192.168.0.2"))
    r = lab.run("laptop", "nc -z -w 1 172.18.0.2 81")
    assert r.exit_code == 1
    assert ("dropped by rule 2 of DOCKER: not a published port: Docker drops traffic into a bridge network "
            "unless a container port is published (-A DOCKER ! -i br-a -o br-a -j DROP)") in r.trace.explain()
    r = in_c(lab, "c2", f"ping -c 1 -W 1 {EXAMPLE}")
    assert r.exit_code == 1
    assert ("dropped by rule 1 of DOCKER-INTERNAL: the network is internal (--internal): no traffic may enter "
            "or leave it") in r.trace.explain()


def test_docker_user_matches_the_original_destination_with_conntrack(lab: Lab) -> None:
    """DOCKER-USER sees packets after DNAT: --ctorigdstport 8080 still names the published port."""
    root = lab["host-A"].root
    root.iptables_restore("*filter\n-I DOCKER-USER -p tcp -m tcp --dport 8080 -j DROP\n"
                          "-I DOCKER-USER -p tcp -m conntrack --ctorigdst 192.168.0.2 --ctorigdstport 8080 "
                          "--ctstate NEW -j DROP\nCOMMIT\n", noflush=True)
    in_c(lab, "c1", "nc -l -p 80 &")
    r = lab.run("laptop", "nc -z -w 1 192.168.0.2 8080")
    assert r.exit_code == 1
    assert rule(root, "filter", "DOCKER-USER", 1).packets >= 1  # the conntrack rule caught it ...
    assert rule(root, "filter", "DOCKER-USER", 2).packets == 0  # ... the --dport 8080 rule never can
