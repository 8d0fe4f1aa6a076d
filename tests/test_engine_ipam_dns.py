"""IPAM and embedded DNS at engine level, driven only through docker commands.

Facts (/work/shared/facts/engine.md): §2.1 default pools, §2.2 next free pool (host on-link
routes reserved, released subnets reused lowest first, the pools example of
TestDaemonDefaultNetworkPools), §2.3 docker0 (bip/fixed-cidr example of
TestDaemonBridgeFixedCidr2, random bridge MAC), §2.4 addresses (gateway .1, lowest free,
--ip only on user networks), §2.6 MAC 02:42 + IPv4 (<= 27.x), §3 embedded DNS; seed (bridge
driver sections: 02:42:ac:11:00:02, br-<network id>).
"""

from __future__ import annotations

import json
import re

import pytest

from cnmsim import Lab

TOOLS = "nicolaka/netshoot"  # dig, curl


# ---------------------------------------------------------------- helpers
def docker_host(internet: bool = False, **daemon: object) -> Lab:
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24", gateway="192.168.0.1" if internet else None,
                 daemon=dict(daemon) or None)
    if internet:
        lab.add_internet()  # resolver 198.51.100.53 (host-A's resolv.conf), example.com 198.51.100.10
    return lab


def sh(lab: Lab, line: str, where: str = "host-A") -> str:
    r = lab.run(where, line)
    assert r.exit_code == 0, f"{where}$ {line} failed ({r.exit_code}): {r.stdout}{r.stderr}"
    return r.stdout


def run(lab: Lab, name: str, *args: str, image: str = "busybox", cmd: str = "sleep 1000") -> None:
    sh(lab, f"docker run -d --name {name} {' '.join(args)} {image} {cmd}")


def ipam(lab: Lab, net: str) -> list[str]:
    """[subnet, gateway] (and the ip range when there is one) of a network's first IPAM config."""
    conf = json.loads(sh(lab, f"docker network inspect -f '{{{{json .IPAM.Config}}}}' {net}"))[0]
    return [conf[k] for k in ("Subnet", "Gateway", "IPRange") if conf.get(k)]


def addr(lab: Lab, name: str, net: str = "bridge") -> str:
    return sh(lab, f"docker inspect -f '{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}' {name}").strip()


def dig(lab: Lab, where: str, query: str) -> str:
    return sh(lab, f"dig {query}", where=where)


def status(lab: Lab, where: str, name: str) -> str:
    return re.search(r"status: (\w+)", dig(lab, where, name)).group(1)


def short(lab: Lab, where: str, name: str) -> list[str]:
    return dig(lab, where, f"+short {name}").split()


# ---------------------------------------------------------------- pools and subnets
def test_docker0_and_the_next_networks() -> None:
    lab = docker_host()
    assert ipam(lab, "bridge") == ["172.17.0.0/16", "172.17.0.1"]
    assert "inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0" in sh(lab, "ip addr show docker0")
    run(lab, "c1")
    assert addr(lab, "c1") == "172.17.0.2"
    for i, net in enumerate(("n1", "n2", "n3"), 18):
        nid = sh(lab, f"docker network create {net}").strip()
        assert ipam(lab, net) == [f"172.{i}.0.0/16", f"172.{i}.0.1"]
        assert f"inet 172.{i}.0.1/16" in sh(lab, f"ip addr show br-{nid[:12]}")


def test_released_subnets_are_reused_lowest_first() -> None:
    lab = docker_host()
    for net in ("n1", "n2", "n3"):
        sh(lab, f"docker network create {net}")
    sh(lab, "docker network rm n2")
    sh(lab, "docker network rm n1")
    sh(lab, "docker network create n4")
    assert ipam(lab, "n4")[0] == "172.18.0.0/16"


@pytest.mark.parametrize("how", ["route", "nic"])
def test_host_on_link_routes_are_skipped(how: str) -> None:
    lab = docker_host()
    if how == "route":
        sh(lab, "ip route add 172.18.0.0/16 dev eth0")
    else:
        lab["host-A"].add_nic(lab.segment("corp"), "172.18.0.5/16")
    sh(lab, "docker network create n1")
    assert ipam(lab, "n1") == ["172.19.0.0/16", "172.19.0.1"]


def test_default_address_pools() -> None:
    pools = [{"base": "175.30.0.0/16", "size": 16}, {"base": "175.33.0.0/16", "size": 24}]
    lab = docker_host(**{"default-address-pools": pools})
    sh(lab, "docker network create n1")
    sh(lab, "docker network create n2")
    assert ipam(lab, "bridge")[0] == "175.30.0.0/16"
    assert ipam(lab, "n1")[0] == "175.33.0.0/24"
    assert ipam(lab, "n2")[0] == "175.33.1.0/24"


def test_bip_and_fixed_cidr() -> None:
    lab = docker_host(bip="10.2.2.1/16", **{"fixed-cidr": "10.2.2.0/24"})
    assert "inet 10.2.2.1/16" in sh(lab, "ip addr show docker0")
    run(lab, "c1")
    run(lab, "c2")
    assert (addr(lab, "c1"), addr(lab, "c2")) == ("10.2.2.0", "10.2.2.2")  # .1 is the bridge's
    assert ipam(lab, "bridge") == ["10.2.0.0/16", "10.2.2.1", "10.2.2.0/24"]
    sh(lab, "docker network create n1")
    assert ipam(lab, "n1")[0] == "172.17.0.0/16"  # the first default pool is free


def test_subnet_gateway_ip_range_and_ip() -> None:
    lab = docker_host()
    sh(lab, "docker network create --subnet 10.10.0.0/24 --ip-range 10.10.0.128/25 "
            "--gateway 10.10.0.254 n2")
    assert ipam(lab, "n2") == ["10.10.0.0/24", "10.10.0.254", "10.10.0.128/25"]
    run(lab, "ca", "--network n2")
    run(lab, "cb", "--network n2 --ip 10.10.0.7")
    assert (addr(lab, "ca", "n2"), addr(lab, "cb", "n2")) == ("10.10.0.128", "10.10.0.7")
    assert "default via 10.10.0.254 dev eth0" in sh(lab, "ip route", where="ca")
    sh(lab, "docker network create --subnet 10.20.0.0/24 n3")
    run(lab, "cc", "--network n3")
    assert addr(lab, "cc", "n3") == "10.20.0.2"
    assert ipam(lab, "n3") == ["10.20.0.0/24", "10.20.0.1"]


def test_ip_on_the_default_bridge_is_refused() -> None:
    lab = docker_host()
    r = lab.run("host-A", "docker run -d --name cc --ip 172.17.0.9 busybox sleep 1000")
    assert r.exit_code == 125
    assert "user specified IP address is supported on user defined networks only" in r.stderr


def test_overlapping_subnet_is_refused() -> None:
    lab = docker_host()
    sh(lab, "docker network create --subnet 10.10.0.0/24 n1")
    for subnet in ("10.10.0.0/24", "10.10.0.0/16", "10.10.0.128/25"):
        r = lab.run("host-A", f"docker network create --subnet {subnet} n2")
        assert r.exit_code == 1
        assert r.stderr == ("Error response from daemon: invalid pool request: "
                            "Pool overlaps with other one on this address space\n")


def test_addresses_are_reused_after_rm() -> None:
    lab = docker_host()
    sh(lab, "docker network create n1")
    for name in ("c1", "c2", "c3"):
        run(lab, name, "--network n1")
    sh(lab, "docker rm -f c1")
    run(lab, "c4", "--network n1")
    assert addr(lab, "c4", "n1") == "172.18.0.2"
    sh(lab, "docker rm -f c2 c3")
    run(lab, "c5", "--network n1")
    assert addr(lab, "c5", "n1") == "172.18.0.3"


def test_mac_is_02_42_and_the_ipv4_address() -> None:
    lab = docker_host()
    run(lab, "c1")
    sh(lab, "docker network create --subnet 10.0.0.0/24 my_bridge")
    run(lab, "c3", "--network my_bridge --ip 10.0.0.254")
    assert "link/ether 02:42:ac:11:00:02 " in sh(lab, "ip link show eth0", where="c1")
    assert "link/ether 02:42:0a:00:00:fe " in sh(lab, "ip link show eth0", where="c3")
    assert sh(lab, "docker inspect -f '{{.NetworkSettings.MacAddress}}' c1").strip() == "02:42:ac:11:00:02"


def test_bridge_mac_does_not_follow_its_ports() -> None:
    lab = docker_host()
    before = sh(lab, "ip link show docker0").split("link/ether ")[1].split()[0]
    run(lab, "c1")
    assert sh(lab, "ip link show docker0").split("link/ether ")[1].split()[0] == before


# ---------------------------------------------------------------- embedded DNS (§3)
def pets_lab() -> Lab:
    """pets: web (nginx, alias www) and tool; other: lone; secret (internal): itool."""
    lab = docker_host(internet=True)
    for line in ("docker network create pets", "docker network create other",
                 "docker network create --internal secret"):
        sh(lab, line)
    sh(lab, "docker run -d --name web --network pets --network-alias www nginx")
    run(lab, "tool", "--network pets", image=TOOLS)
    run(lab, "lone", "--network other")
    run(lab, "itool", "--network secret", image=TOOLS)
    return lab


def test_names_aliases_short_id_and_network_suffix() -> None:
    lab = pets_lab()
    out = dig(lab, "tool", "web")
    assert re.search(r"^web\.\s+600\s+IN\s+A\s+172\.18\.0\.2$", out, re.M), out
    assert "SERVER: 127.0.0.11#53(127.0.0.11)" in out
    short_id = sh(lab, "docker inspect -f '{{.Id}}' web").strip()[:12]
    for name in ("www", short_id, "web.pets", "WEB"):
        assert short(lab, "tool", name) == ["172.18.0.2"], name
    assert short(lab, "tool", "-x 172.18.0.2") == ["web.pets."]
    ptr = dig(lab, "tool", "-x 172.18.0.2")
    assert re.search(r"^2\.0\.18\.172\.in-addr\.arpa\.\s+600\s+IN\s+PTR\s+web\.pets\.$", ptr, re.M), ptr


def test_names_are_scoped_to_shared_networks() -> None:
    lab = pets_lab()
    assert short(lab, "tool", "lone") == []
    assert status(lab, "tool", "lone") == "NXDOMAIN"  # not local: forwarded, the upstream says no
    assert short(lab, "tool", "lone.other") == []
    sh(lab, "docker network connect other tool")
    assert short(lab, "tool", "lone") == ["172.19.0.2"]
    assert short(lab, "tool", "web") == ["172.18.0.2"]


def test_unknown_names_are_forwarded_upstream() -> None:
    lab = pets_lab()
    assert short(lab, "tool", "example.com") == ["198.51.100.10"]
    r = lab.run("tool", "dig example.com")
    fwd = r.trace.filter("dns:forward", verdict="send")
    assert fwd and "forwards the query to 198.51.100.53" in fwd[0].reason
    got = [e.summary for e in r.trace.filter("udp:rcv", host="resolver")]
    assert got and got[0].startswith("IP 192.168.0.2.") and "A? example.com." in got[0]  # masqueraded
    assert "Example Domain" in sh(lab, "curl -s http://example.com/", where="tool")


def test_internal_only_container_gets_servfail_for_external_names() -> None:
    lab = pets_lab()
    assert status(lab, "itool", "example.com") == "SERVFAIL"
    assert short(lab, "itool", "itool") == ["172.20.0.2"]  # its own network's names still work


def test_user_network_resolv_conf_points_at_127_0_0_11() -> None:
    lab = pets_lab()
    rc = sh(lab, "cat /etc/resolv.conf", where="tool")
    assert re.findall(r"^nameserver (\S+)", rc, re.M) == ["127.0.0.11"]
    assert "options ndots:0" in rc


def test_default_bridge_has_no_embedded_dns() -> None:
    lab = docker_host(internet=True)
    sh(lab, "docker run -d --name web nginx")
    run(lab, "cli", image=TOOLS)
    rc = sh(lab, "cat /etc/resolv.conf", where="cli")
    assert re.findall(r"^nameserver (\S+)", rc, re.M) == ["198.51.100.53"]  # the host's
    r = lab.run("cli", "ping -c 1 -W 1 web")
    assert r.exit_code != 0 and "web" in r.stderr
    assert short(lab, "cli", "web") == []


def test_default_bridge_falls_back_to_google_dns() -> None:
    lab = docker_host()
    lab["host-A"].files["/etc/resolv.conf"] = "nameserver 127.0.0.53\noptions edns0\n"
    run(lab, "c1")
    rc = sh(lab, "cat /etc/resolv.conf", where="c1")
    assert re.findall(r"^nameserver (\S+)", rc, re.M) == ["8.8.8.8", "8.8.4.4"]


def test_link_adds_hosts_entries() -> None:
    lab = docker_host()
    web_id = sh(lab, "docker run -d --name web nginx").strip()
    run(lab, "cli", "--link web:w1", image=TOOLS)
    hosts = sh(lab, "cat /etc/hosts", where="cli")
    assert f"172.17.0.2\tw1 {web_id[:12]} web\n" in hosts
    for name in ("w1", "web"):
        r = lab.run("cli", f"ping -c 1 {name}")
        assert r.exit_code == 0 and "(172.17.0.2)" in r.stdout, name
