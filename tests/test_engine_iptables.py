"""The engine's iptables rules on a Docker host, compared with the classic (<= 27.x) layout.

Expected texts come from /work/shared/facts/engine.md: §1.8 (the classic `iptables -S` shape and
the insertion order of ProgramChain / setupIPTablesInternal), §1.4 (ICC off: `-i br -o br -j
DROP` appended to FORWARD in <= 27.x), §1.5 (internal networks: two DROPs in
DOCKER-ISOLATION-STAGE-1 in <= 28.x, no MASQUERADE, no outgoing ACCEPT), §1.6 (userland-proxy
off) and §1.7 (FORWARD policy DROP when the daemon enabled ip_forward).
"""

from __future__ import annotations

from typing import Any

import pytest

from cnmsim import Lab

FRESH_FILTER = """\
-P INPUT ACCEPT
-P FORWARD DROP
-P OUTPUT ACCEPT
-N DOCKER
-N DOCKER-ISOLATION-STAGE-1
-N DOCKER-ISOLATION-STAGE-2
-N DOCKER-USER
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
"""

FRESH_NAT = """\
-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N DOCKER
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
"""

# facts §1.8 exactly, after `docker run -d -p 8080:80 --name web nginx`
WEB_FILTER = FRESH_FILTER.replace(
    "-A DOCKER-ISOLATION-STAGE-1 -i docker0",
    "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT\n"
    "-A DOCKER-ISOLATION-STAGE-1 -i docker0")
WEB_NAT = FRESH_NAT.replace(
    "-A DOCKER -i docker0 -j RETURN\n",
    "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE\n"
    "-A DOCKER -i docker0 -j RETURN\n"
    "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\n")

# a user-defined bridge created after docker0: its rules are inserted, so they come first
NET1_FILTER = """\
-P INPUT ACCEPT
-P FORWARD DROP
-P OUTPUT ACCEPT
-N DOCKER
-N DOCKER-ISOLATION-STAGE-1
-N DOCKER-ISOLATION-STAGE-2
-N DOCKER-USER
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o {br} -j DOCKER
-A FORWARD -i {br} ! -o {br} -j ACCEPT
-A FORWARD -i {br} -o {br} -j ACCEPT
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i {br} ! -o {br} -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o {br} -j DROP
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
"""

NET1_NAT = """\
-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N DOCKER
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.18.0.0/16 ! -o {br} -j MASQUERADE
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i {br} -j RETURN
-A DOCKER -i docker0 -j RETURN
"""

DOCKER0_RULES = [
    "-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A FORWARD -o docker0 -j DOCKER",
    "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT",
]


# ---------------------------------------------------------------- helpers
def docker_host(**daemon: Any) -> Lab:
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24", daemon=daemon or None)
    return lab


def sh(lab: Lab, line: str, where: str = "host-A") -> str:
    """Run a line that must succeed; its stdout."""
    r = lab.run(where, line)
    assert r.exit_code == 0, f"{line!r} failed ({r.exit_code}): {r.stderr}"
    return r.stdout


def rules(lab: Lab, table: str = "filter", chain: str = "") -> str:
    return sh(lab, f"iptables -t {table} -S {chain}".rstrip())


def new_network(lab: Lab, *opts: str, name: str = "net1") -> str:
    """`docker network create`; returns the bridge device name br-<12 hex of the id>."""
    nid = sh(lab, f"docker network create {' '.join(opts)} {name}".replace("  ", " ")).strip()
    return f"br-{nid[:12]}"


def lines_with(text: str, word: str) -> list[str]:
    return [ln for ln in text.splitlines() if word in ln.split()]


# ---------------------------------------------------------------- the default bridge
def test_fresh_host_has_the_classic_layout() -> None:
    lab = docker_host()
    assert rules(lab) == FRESH_FILTER
    assert rules(lab, "nat") == FRESH_NAT


def test_published_port_gives_section_1_8_exactly() -> None:
    lab = docker_host()
    sh(lab, "docker run -d -p 8080:80 --name web nginx")
    assert rules(lab) == WEB_FILTER
    assert rules(lab, "nat") == WEB_NAT


def test_removing_the_container_removes_exactly_its_rules() -> None:
    lab = docker_host()
    sh(lab, "docker run -d -p 8080:80 --name web nginx")
    sh(lab, "docker run -d -p 8081:80 --name web2 nginx")
    sh(lab, "docker rm -f web2")
    assert (rules(lab), rules(lab, "nat")) == (WEB_FILTER, WEB_NAT)
    sh(lab, "docker stop web")
    assert (rules(lab), rules(lab, "nat")) == (FRESH_FILTER, FRESH_NAT)


# ---------------------------------------------------------------- user-defined bridges
def test_second_network_is_inserted_above_docker0() -> None:
    lab = docker_host()
    br = new_network(lab)
    assert rules(lab) == NET1_FILTER.format(br=br)
    assert rules(lab, "nat") == NET1_NAT.format(br=br)


def test_port_on_a_user_network_names_its_bridge() -> None:
    lab = docker_host()
    br = new_network(lab)
    sh(lab, "docker run -d --network net1 -p 8080:80 --name web nginx")
    assert rules(lab, "filter", "DOCKER").splitlines()[1:] == [
        f"-A DOCKER -d 172.18.0.2/32 ! -i {br} -o {br} -p tcp -m tcp --dport 80 -j ACCEPT"]
    nat = rules(lab, "nat").splitlines()
    assert nat[-1] == f"-A DOCKER ! -i {br} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:80"
    assert "-A POSTROUTING -s 172.18.0.2/32 -d 172.18.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE" in nat


def test_third_network_goes_above_the_second() -> None:
    lab = docker_host()
    br1 = new_network(lab)
    br2 = new_network(lab, name="net2")
    forward = rules(lab, "filter", "FORWARD").splitlines()
    assert forward[3:7] == NET1_FILTER.format(br=br2).splitlines()[9:13]
    assert forward[7:11] == NET1_FILTER.format(br=br1).splitlines()[9:13]
    masq = lines_with(rules(lab, "nat", "POSTROUTING"), "MASQUERADE")
    assert masq == [f"-A POSTROUTING -s 172.19.0.0/16 ! -o {br2} -j MASQUERADE",
                    f"-A POSTROUTING -s 172.18.0.0/16 ! -o {br1} -j MASQUERADE",
                    "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"]


# ---------------------------------------------------------------- ICC off (§1.4, <= 27.x)
def test_icc_off_on_a_user_network_appends_a_drop() -> None:
    lab = docker_host()
    br = new_network(lab, "-o com.docker.network.bridge.enable_icc=false")
    assert rules(lab, "filter", "FORWARD").splitlines() == [
        "-P FORWARD DROP",
        "-A FORWARD -j DOCKER-USER",
        "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
        f"-A FORWARD -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"-A FORWARD -o {br} -j DOCKER",
        f"-A FORWARD -i {br} ! -o {br} -j ACCEPT",
        *DOCKER0_RULES,
        "-A FORWARD -i docker0 -o docker0 -j ACCEPT",
        f"-A FORWARD -i {br} -o {br} -j DROP",
    ]
    assert sh(lab, "sysctl -n net.bridge.bridge-nf-call-iptables").strip() == "1"


def test_icc_off_daemon_wide_drops_on_docker0() -> None:
    lab = docker_host(icc=False)
    assert rules(lab) == FRESH_FILTER.replace("-A FORWARD -i docker0 -o docker0 -j ACCEPT",
                                              "-A FORWARD -i docker0 -o docker0 -j DROP")
    opts = sh(lab, "docker network inspect -f '{{json .Options}}' bridge")
    assert '"com.docker.network.bridge.enable_icc":"false"' in opts
    assert sh(lab, "sysctl -n net.bridge.bridge-nf-call-iptables").strip() == "1"


# ---------------------------------------------------------------- internal networks (§1.5, <= 28.x)
def test_internal_network_drops_in_isolation_stage_1() -> None:
    lab = docker_host()
    br = new_network(lab, "--internal")
    expected = FRESH_FILTER.replace(
        "-A FORWARD -o docker0 -m conntrack",
        f"-A FORWARD -i {br} -o {br} -j ACCEPT\n-A FORWARD -o docker0 -m conntrack").replace(
        "-A DOCKER-ISOLATION-STAGE-1 -i docker0",
        f"-A DOCKER-ISOLATION-STAGE-1 ! -s 172.18.0.0/16 -o {br} -j DROP\n"
        f"-A DOCKER-ISOLATION-STAGE-1 ! -d 172.18.0.0/16 -i {br} -j DROP\n"
        "-A DOCKER-ISOLATION-STAGE-1 -i docker0")
    assert rules(lab) == expected
    assert rules(lab, "nat") == FRESH_NAT  # no MASQUERADE, no skip-DNAT for it


def test_internal_network_publishes_nothing() -> None:
    lab = docker_host()
    new_network(lab, "--internal")
    before = (rules(lab), rules(lab, "nat"))
    sh(lab, "docker run -d --network net1 -p 8080:80 --name web nginx")
    assert (rules(lab), rules(lab, "nat")) == before


# ---------------------------------------------------------------- userland proxy off (§1.6)
def test_userland_proxy_off_is_hairpin_mode() -> None:
    lab = docker_host(**{"userland-proxy": False})
    sh(lab, "docker run -d -p 8080:80 --name web nginx")
    nat = rules(lab, "nat").splitlines()
    assert "-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER" in nat
    assert not [ln for ln in nat if "127.0.0.0/8" in ln]
    local = "-A POSTROUTING -o docker0 -m addrtype --src-type LOCAL -j MASQUERADE"
    assert nat.index(local) < nat.index("-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE")
    assert "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE" in nat
    assert nat[-1] == "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"
    assert rules(lab) == WEB_FILTER  # the filter table is the same in both modes
    assert sh(lab, "sysctl -n net.ipv4.conf.docker0.route_localnet").strip() == "1"
    assert "hairpin on" in sh(lab, "ip -d link show master docker0")


# ---------------------------------------------------------------- iptables=false
def test_iptables_false_programs_nothing() -> None:
    lab = docker_host(iptables=False)
    sh(lab, "docker network create net1")
    sh(lab, "docker run -d -p 8080:80 --name web nginx")
    sh(lab, "docker run -d --network net1 -p 8081:80 --name web1 nginx")
    assert rules(lab) == "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n"
    assert rules(lab, "nat") == "-P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n-P POSTROUTING ACCEPT\n"
    assert sh(lab, "sysctl -n net.ipv4.ip_forward").strip() == "1"  # forwarding is still on


# ---------------------------------------------------------------- removal restores the text
@pytest.mark.parametrize("opts", [(), ("-o com.docker.network.bridge.enable_icc=false",), ("--internal",)],
                         ids=["plain", "icc-off", "internal"])
def test_removing_a_network_restores_the_previous_rules(opts: tuple[str, ...]) -> None:
    lab = docker_host()
    sh(lab, "docker run -d -p 8080:80 --name web nginx")
    new_network(lab, name="older")
    before = sh(lab, "iptables-save")
    new_network(lab, *opts)
    created = sh(lab, "iptables-save")
    sh(lab, "docker run -d --network net1 -p 9090:80 --name web1 nginx")
    sh(lab, "docker rm -f web1")
    assert sh(lab, "iptables-save") == created
    sh(lab, "docker network rm net1")
    assert sh(lab, "iptables-save") == before


def test_removing_networks_in_any_order_gets_back_to_fresh() -> None:
    lab = docker_host()
    for name in ("n1", "n2", "n3"):
        new_network(lab, name=name)
    for name in ("n2", "n1", "n3"):
        sh(lab, f"docker network rm {name}")
    assert (rules(lab), rules(lab, "nat")) == (FRESH_FILTER, FRESH_NAT)
