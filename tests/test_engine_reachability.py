"""Who reaches whom on a Docker host built with docker commands: bridges, isolation, egress NAT,
published ports, internal and ICC-off networks, none/host, macvlan, and the gateway endpoint.

Facts (/work/shared/facts/engine.md): §0 gateway endpoint selection (non-internal before
internal, then network name; ports are programmed on the gateway endpoint only), §1.8 two-stage
isolation, §1.4 ICC off, §1.5 internal networks, §6 macvlan; the seed's driver sections (host
driver shares the host's stack; none has only lo; macvlan children reach each other and the LAN).
"""

from __future__ import annotations

import re

import pytest

from cnmsim import Lab
from cnmsim.result import Result

TOOLS = "nicolaka/netshoot"  # curl, iputils ping, iproute2


# ---------------------------------------------------------------- helpers
def docker_lab(lan_docker: bool = False, **daemon: object) -> Lab:
    """host-A (Docker, 192.168.0.2) and a LAN machine "lan" (192.168.0.3) on one segment."""
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24", daemon=dict(daemon) or None)
    lab.add_host("lan", address="192.168.0.3/24", docker=lan_docker)
    return lab


def sh(lab: Lab, line: str, where: str = "host-A") -> str:
    r = lab.run(where, line)
    assert r.exit_code == 0, f"{where}$ {line} failed ({r.exit_code}): {r.stdout}{r.stderr}"
    return r.stdout


def run(lab: Lab, name: str, *args: str, image: str = "busybox", cmd: str = "sleep 1000") -> None:
    sh(lab, f"docker run -d --name {name} {' '.join(args)} {image} {cmd}")


def reaches(lab: Lab, src: str, dst: str) -> Result:
    return lab.run(src, f"ping -c 1 -W 1 {dst}")


def ip_of(lab: Lab, name: str, net: str) -> str:
    return sh(lab, f"docker inspect -f '{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}' {name}").strip()


def drop_reasons(r: Result) -> str:
    return "\n".join(e.reason for e in r.trace.drops())


def two_bridges(lab: Lab) -> None:
    """net1: c1, c2; net2: c3."""
    sh(lab, "docker network create net1")
    sh(lab, "docker network create net2")
    for name, net in (("c1", "net1"), ("c2", "net1"), ("c3", "net2")):
        run(lab, name, f"--network {net}")


# ---------------------------------------------------------------- user-defined bridges
def test_same_bridge_reach_each_other_by_ip_and_name() -> None:
    lab = docker_lab()
    two_bridges(lab)
    assert reaches(lab, "c1", "172.18.0.3").exit_code == 0
    r = reaches(lab, "c1", "c2")
    assert r.exit_code == 0 and "PING c2 (172.18.0.3)" in r.stdout
    assert reaches(lab, "c2", "c1").exit_code == 0


def test_different_bridges_are_isolated_by_stage_2() -> None:
    lab = docker_lab()
    two_bridges(lab)
    for src, dst in (("c1", ip_of(lab, "c3", "net2")), ("c3", ip_of(lab, "c1", "net1"))):
        r = reaches(lab, src, dst)
        assert r.exit_code == 1 and "0 packets received" in r.stdout
        assert "DOCKER-ISOLATION-STAGE-2" in drop_reasons(r)
        assert "DOCKER-ISOLATION-STAGE-2" in r.trace.explain()
    assert reaches(lab, "c1", "c3").exit_code != 0  # no name across networks either


def test_default_bridge_and_user_bridge_are_isolated() -> None:
    lab = docker_lab()
    two_bridges(lab)
    run(lab, "c0")
    r = reaches(lab, "c0", "172.18.0.2")
    assert r.exit_code == 1 and "DOCKER-ISOLATION-STAGE-2" in drop_reasons(r)


def test_containers_reach_the_lan_masqueraded_as_the_host() -> None:
    lab = docker_lab()
    two_bridges(lab)
    run(lab, "c0")
    for src in ("c0", "c1", "c3"):
        r = reaches(lab, src, "192.168.0.3")
        assert r.exit_code == 0, src
        seen = [e.summary for e in r.trace.filter("icmp:echo", host="lan")]
        assert seen and all(s.startswith("IP 192.168.0.2 > 192.168.0.3") for s in seen), seen


def test_egress_seen_in_a_remote_servers_log() -> None:
    lab = docker_lab(lan_docker=True)
    sh(lab, "docker run -d -p 8080:80 --name web nginx", where="lan")
    sh(lab, "docker network create net1")
    run(lab, "t1", "--network net1", image=TOOLS)
    assert "<title>Welcome to nginx!</title>" in sh(lab, "curl -s http://192.168.0.3:8080/", where="t1")
    log = sh(lab, "docker logs web", where="lan")
    assert re.search(r'^192\.168\.0\.2 - - \[.*\] "GET / HTTP/1\.1" 200 ', log, re.M), log
    assert "172.18.0.2" not in log


# ---------------------------------------------------------------- published ports
def test_lan_reaches_a_published_port_but_not_an_unpublished_one() -> None:
    lab = docker_lab()
    sh(lab, "docker run -d -p 8080:80 --name web nginx")
    run(lab, "srv", "-p 8081:80", cmd="nc -lk -p 9000")
    sh(lab, "ip route add 172.17.0.0/16 via 192.168.0.2", where="lan")
    assert "Welcome to nginx!" in sh(lab, "curl -s -m 2 http://192.168.0.2:8080/", where="lan")
    assert '192.168.0.3 - - ' in sh(lab, "docker logs web")  # DNAT keeps the client's address
    refused = lab.run("lan", "curl -sS -m 2 http://192.168.0.2:9000/")
    assert refused.exit_code == 7  # nothing on the host's port 9000
    direct = lab.run("lan", "curl -sS -m 2 http://172.17.0.3:9000/")
    assert direct.exit_code == 28  # routed straight at the container: the FORWARD policy drops it
    assert "FORWARD policy (DROP)" in drop_reasons(direct)


# ---------------------------------------------------------------- internal networks (§1.5)
def test_internal_network_no_egress_but_peers_and_gateway() -> None:
    lab = docker_lab()
    sh(lab, "docker network create --internal secret")
    run(lab, "i1", "--network secret")
    run(lab, "i2", "--network secret")
    assert "default" not in sh(lab, "ip route", where="i1")
    for dst in ("8.8.8.8", "192.168.0.3"):
        r = reaches(lab, "i1", dst)
        assert r.exit_code != 0 and "Network is unreachable" in r.output, dst
    assert reaches(lab, "i1", "i2").exit_code == 0
    assert reaches(lab, "i1", "172.18.0.1").exit_code == 0  # the bridge keeps the gateway address


# ---------------------------------------------------------------- ICC off (§1.4)
def test_icc_off_network_blocks_container_to_container() -> None:
    lab = docker_lab()
    sh(lab, "docker network create -o com.docker.network.bridge.enable_icc=false noicc")
    run(lab, "n1", "--network noicc")
    run(lab, "n2", "--network noicc")
    r = reaches(lab, "n1", "n2")
    assert r.exit_code == 1 and "0 packets received" in r.stdout
    assert re.search(r"-A FORWARD -i br-[0-9a-f]{12} -o br-[0-9a-f]{12} -j DROP", drop_reasons(r))
    assert reaches(lab, "n1", "192.168.0.3").exit_code == 0  # egress is still allowed


def test_daemon_icc_false_blocks_the_default_bridge() -> None:
    lab = docker_lab(icc=False)
    run(lab, "b1")
    run(lab, "b2")
    r = reaches(lab, "b1", "172.17.0.3")
    assert r.exit_code == 1 and "-A FORWARD -i docker0 -o docker0 -j DROP" in drop_reasons(r)


# ---------------------------------------------------------------- none and host
def test_none_has_only_loopback() -> None:
    lab = docker_lab()
    run(lab, "none1", "--network none")
    links = re.findall(r"^\d+: (\S+):", sh(lab, "ip link", where="none1"), re.M)
    assert links == ["lo"]
    assert sh(lab, "ip route", where="none1") == ""
    r = reaches(lab, "none1", "172.17.0.1")
    assert r.exit_code != 0 and "Network is unreachable" in r.output


def test_host_network_shares_the_hosts_stack() -> None:
    lab = docker_lab()
    sh(lab, "docker network create net1")
    run(lab, "h1", "--network host", image=TOOLS)
    for line in ("ip addr", "ip route"):
        assert sh(lab, line, where="h1") == sh(lab, line)
    assert sh(lab, "hostname", where="h1").strip() == "host-A"
    sh(lab, "docker run -d --network host --name hn nginx")
    assert "Welcome to nginx!" in sh(lab, "curl -s http://localhost/", where="h1")  # seed: curl localhost
    assert "Welcome to nginx!" in sh(lab, "curl -s -m 2 http://192.168.0.2/", where="lan")


# ---------------------------------------------------------------- macvlan (§6)
def macvlan_lab() -> Lab:
    lab = docker_lab()
    sh(lab, "docker network create -d macvlan --subnet 192.168.0.0/24 --gateway 192.168.0.1 "
            "-o parent=eth0 mvnet")
    run(lab, "m1", "--network mvnet --ip 192.168.0.11")
    run(lab, "m2", "--network mvnet --ip 192.168.0.12")
    return lab


def test_macvlan_lan_reaches_containers_directly() -> None:
    lab = macvlan_lab()
    assert reaches(lab, "lan", "192.168.0.11").exit_code == 0
    r = reaches(lab, "m2", "192.168.0.3")
    assert r.exit_code == 0
    assert [e.summary for e in r.trace.filter("icmp:echo", host="lan")][0].startswith(
        "IP 192.168.0.12 > 192.168.0.3")  # no NAT: the container's own address is on the LAN


def test_macvlan_host_cannot_reach_its_children() -> None:
    lab = macvlan_lab()
    r = reaches(lab, "host-A", "192.168.0.11")
    assert r.exit_code == 1
    assert r.trace.filter("macvlan:isolate", host="host-A")
    assert reaches(lab, "m1", "192.168.0.2").exit_code == 1


def test_macvlan_containers_reach_each_other() -> None:
    lab = macvlan_lab()
    r = reaches(lab, "m1", "m2")
    assert r.exit_code == 0 and "192.168.0.12" in r.stdout


# ---------------------------------------------------------------- gateway endpoint (§0)
def gw_lab() -> Lab:
    lab = docker_lab()
    for line in ("docker network create zeta", "docker network create alpha",
                 "docker network create --internal aaa"):
        sh(lab, line)
    sh(lab, "docker run -d --name web --network zeta -p 8080:80 nginx")
    return lab


def default_route(lab: Lab, name: str) -> str:
    return next(ln for ln in sh(lab, "ip route", where=name).splitlines() if ln.startswith("default"))


def dnat_target(lab: Lab) -> str:
    return re.findall(r"--to-destination (\S+)", sh(lab, "iptables -t nat -S DOCKER"))[0]


def test_internal_network_never_takes_the_gateway() -> None:
    lab = gw_lab()
    sh(lab, "docker network connect aaa web")  # "aaa" sorts first, but it is internal
    assert default_route(lab, "web").startswith("default via 172.18.0.1 ")
    assert dnat_target(lab) == "172.18.0.2:80"


def test_gateway_and_ports_follow_the_network_name_order() -> None:
    lab = gw_lab()
    sh(lab, "docker network connect aaa web")
    sh(lab, "docker network connect alpha web")  # alpha < zeta
    assert default_route(lab, "web").startswith("default via 172.19.0.1 ")
    assert dnat_target(lab) == "172.19.0.2:80"
    assert "-A DOCKER -d 172.19.0.2/32 " in sh(lab, "iptables -S DOCKER")
    assert "172.18.0.2" not in sh(lab, "iptables -S DOCKER")
    assert "Welcome to nginx!" in sh(lab, "curl -s -m 2 http://192.168.0.2:8080/", where="lan")
    sh(lab, "docker network disconnect alpha web")
    assert default_route(lab, "web").startswith("default via 172.18.0.1 ")
    assert dnat_target(lab) == "172.18.0.2:80"


@pytest.mark.parametrize("first", ["aaa", "zeta"])
def test_non_internal_gateway_whatever_the_join_order(first: str) -> None:
    lab = docker_lab()
    sh(lab, "docker network create zeta")
    sh(lab, "docker network create --internal aaa")
    run(lab, "c1", f"--network {first}")
    sh(lab, f"docker network connect {'zeta' if first == 'aaa' else 'aaa'} c1")
    assert default_route(lab, "c1") == f"default via 172.18.0.1 dev {'eth1' if first == 'aaa' else 'eth0'} "
    assert reaches(lab, "c1", "192.168.0.3").exit_code == 0
