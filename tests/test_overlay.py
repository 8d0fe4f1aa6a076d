"""The overlay driver (facts/engine.md §4): the per-network namespace with br0 and vxlan0, the
container's eth0 (MTU 1450, MAC 02:42 + IPv4) and eth1 on docker_gwbridge, peers programmed
only from NetworkDB gossip, the namespace created lazily and deleted after the last endpoint.

The swarm is built by hand here (SwarmState, nodes, one SwarmNetwork, gossip among the hosts)
and each host's controller adopts the network, as the swarm agent does before a task starts.
"""

from __future__ import annotations

import sys
import types
from ipaddress import IPv4Interface, IPv4Network
from typing import Any

import pytest

from cnmsim.engine.ipam.netconfig import IpamConf, IpamInfo
from cnmsim.engine.network import Network
from cnmsim.kernel import api
from cnmsim.lab import Lab
from cnmsim.swarm.gossip.lab import start_lab_gossip
from cnmsim.swarm.gossip.networkdb_config import OVERLAY_PEER_TABLE
from cnmsim.swarm.model import Node, SwarmNetwork, SwarmState

NID = "qz8r0cg1o2jq4mlbd7n6v3xya"  # a swarmkit network id (25 alphanumerics)
KEY = "1-" + NID[:10]  # the overlay namespace on every host
VNI_OPT = "com.docker.network.driver.overlay.vxlanid_list"


def swarm_lab(n: int = 2, seed: int = 0, encrypted: bool = False, internal: bool = False,
              attachable: bool = True) -> Lab:
    """n Docker hosts on one LAN, a swarm with gossip among them and one overlay (10.0.1.0/24,
    VNI 4097); memberlist has converged when it returns."""
    lab = Lab(seed=seed)
    names = [f"host-{'ABC'[i]}" for i in range(n)]
    for i, h in enumerate(names):
        lab.add_host(h, address=f"192.168.0.{i + 2}/24")
    sw = SwarmState(id="swarm0", created=0.0)
    lab.swarm = sw  # type: ignore[attr-defined]
    sw.gossip = start_lab_gossip(lab, names)
    for h in names:
        sw.nodes[h] = Node(id=h, hostname=h, addr=lab[h].address or "", index=sw.gossip.node(h))
    opts = {VNI_OPT: "4097"} | ({"encrypted": ""} if encrypted else {})
    sw.networks[NID] = SwarmNetwork(NID, "ov1", subnet=IPv4Network("10.0.1.0/24"), gateway="10.0.1.1",
                                    vni=4097, attachable=attachable, internal=internal,
                                    encrypted=encrypted, options=opts)
    lab.wait(2)
    return lab


def local_network(lab: Lab) -> Network:
    """The engine-side Network a swarm agent hands to Controller.adopt_network."""
    sn = lab.swarm.networks[NID]  # type: ignore[attr-defined]
    info = IpamInfo("swarm", sn.subnet, IPv4Interface(f"{sn.gateway}/24"))
    return Network(NID, sn.name, "overlay", scope="swarm", internal=sn.internal, attachable=sn.attachable,
                   ipam_infos=[info], ipam_confs=[IpamConf(str(sn.subnet), gateway=sn.gateway)],
                   options=dict(sn.options), user_subnet=True)


def adopt(lab: Lab, *hosts: str) -> None:
    for h in hosts:
        lab[h].engine.controller.adopt_network(local_network(lab))


def run(lab: Lab, host: str, name: str, ip: str) -> None:
    r = lab.run(host, f"docker run -d --name {name} --net ov1 --ip {ip} busybox sleep 1000")
    assert r.exit_code == 0, r.stderr


def ovns(lab: Lab, host: str) -> Any:
    return lab[host].kernel.netns(KEY)


def has_ns(lab: Lab, host: str) -> bool:
    return KEY in lab[host].kernel.namespaces


def peer_neigh(lab: Lab, host: str, ip: str) -> api.Neigh | None:
    return next((n for n in ovns(lab, host).neighs() if n.ip == ip and n.dev == "vxlan0"), None)


# ---------------------------------------------------------------- the namespace and the container
def test_overlay_namespace_and_container_interfaces() -> None:
    lab = swarm_lab(3)
    adopt(lab, "host-A", "host-B", "host-C")
    assert not has_ns(lab, "host-A"), "nothing is built before a local endpoint joins"
    run(lab, "host-A", "c1", "10.0.1.2")
    ns = ovns(lab, "host-A")
    links = {link.name: link for link in ns.links()}
    assert set(links) == {"lo", "br0", "vxlan0", "veth0"}
    vx = links["vxlan0"]
    assert vx.kind == "vxlan" and vx.master == "br0" and vx.mtu == 1450 and vx.up
    assert (vx.details["id"], vx.details["dstport"]) == (4097, 4789)
    assert vx.details["learning"] and vx.details["proxy"] and vx.details["l2miss"] and vx.details["l3miss"]
    assert links["br0"].mtu == 1450 and links["veth0"].master == "br0" and links["veth0"].mtu == 1450
    assert [a.address for a in ns.addrs() if a.dev == "br0"] == ["10.0.1.1/24"]
    # not in `ip netns` (it lives in /var/run/docker/netns), but reachable by its key
    assert KEY not in lab.run("host-A", "ip netns").stdout
    out = lab.run("host-A", f"ip netns exec {KEY} ip -d link show vxlan0").stdout
    assert "mtu 1450" in out and "vxlan id 4097" in out and "dstport 4789" in out
    assert "proxy l2miss l3miss" in out
    # the temporary host-side names are gone: nothing left in the root namespace
    assert not [x for x in lab["host-A"].root.links() if x.name.startswith(("ov-", "vx-"))]
    # lazy: only hosts with a local endpoint have the namespace
    assert not has_ns(lab, "host-B") and not has_ns(lab, "host-C")

    eth0 = lab.run("c1", "ip addr show eth0").stdout
    assert "mtu 1450" in eth0 and "link/ether 02:42:0a:00:01:02" in eth0 and "inet 10.0.1.2/24" in eth0
    eth1 = lab.run("c1", "ip addr show eth1").stdout
    assert "inet 172.18.0.2/16" in eth1 and "mtu 1500" in eth1
    routes = lab.run("c1", "ip route").stdout
    assert routes.startswith("default via 172.18.0.1 dev eth1")
    assert "10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.2" in routes
    hosts = lab.run("c1", "cat /etc/hosts").stdout
    assert "10.0.1.2\t" in hosts and "172.18.0.2" not in hosts


# ---------------------------------------------------------------- peers through gossip
def test_remote_peer_arrives_through_networkdb_then_ping_crosses_vxlan() -> None:
    lab = swarm_lab(2, seed=3)
    adopt(lab, "host-A", "host-B")
    run(lab, "host-A", "c1", "10.0.1.2")
    lab.wait(3)
    t0 = lab.now
    run(lab, "host-B", "c2", "10.0.1.3")
    eid = lab["host-B"].engine.container("c2").endpoints[NID].id
    db = lab.swarm.gossip.networkdb  # type: ignore[attr-defined]
    conv = db.convergence(OVERLAY_PEER_TABLE, NID, eid)
    assert conv is not None and conv.t0 == pytest.approx(t0)
    assert peer_neigh(lab, "host-A", "10.0.1.3") is None, "not reachable before gossip delivers it"
    early = lab.run("c1", "ping -c 1 -W 1 10.0.1.3")
    assert early.exit_code != 0
    w = lab.wait(5)
    adds = w.trace.filter("overlay:peer", "add", host="host-A")
    adds = adds or early.trace.filter("overlay:peer", "add", host="host-A")
    assert len(adds) == 1 and "10.0.1.3" in adds[0].reason and "networkdb gossip" in adds[0].reason
    delay = adds[0].t - t0
    node_a = lab.swarm.nodes["host-A"].index  # type: ignore[attr-defined]
    assert delay > 0 and delay == pytest.approx(conv.learned[node_a])
    assert peer_neigh(lab, "host-A", "10.0.1.3") == api.Neigh("10.0.1.3", "vxlan0", "02:42:0a:00:01:03", "PERMANENT")
    fdb = [f for f in ovns(lab, "host-A").fdbs() if f.self_ and f.mac == "02:42:0a:00:01:03"]
    assert [(f.dst, f.self_, f.state) for f in fdb] == [("192.168.0.3", True, "permanent")]
    # host-B learned c1 through the bulk sync of its join
    assert peer_neigh(lab, "host-B", "10.0.1.2") is not None

    r = lab.run("c1", "ping -c 2 10.0.1.3")
    assert r.exit_code == 0 and "2 packets received" in r.stdout, r.stdout
    enc = r.trace.filter("vxlan:encap", "encap", host="host-A")
    assert enc and "VNI 4097" in enc[0].reason and "192.168.0.3:4789" in enc[0].reason
    assert r.trace.filter("vxlan:decap", "decap", host="host-B")
    arp = [t.filter("vxlan:arp", "reply", host="host-A") for t in (early.trace, w.trace, r.trace)]
    assert any(arp), "c1's ARP request was answered from the neighbour table (proxy), once programmed"


def test_blocked_gossip_port_means_the_peer_never_arrives() -> None:
    lab = swarm_lab(2, seed=3)
    adopt(lab, "host-A", "host-B")
    run(lab, "host-A", "c1", "10.0.1.2")
    for proto in ("udp", "tcp"):
        assert lab.run("host-B", f"iptables -A INPUT -p {proto} --dport 7946 -j DROP").exit_code == 0
    run(lab, "host-B", "c2", "10.0.1.3")
    w = lab.wait(60)
    assert not w.trace.filter("overlay:peer", "add", host="host-A")
    assert peer_neigh(lab, "host-A", "10.0.1.3") is None
    r = lab.run("c1", "ping -c 2 -W 1 10.0.1.3")
    assert r.exit_code != 0 and "0 packets received" in r.stdout
    assert r.trace.filter("vxlan:arp", "drop", host="host-A"), "no neighbour entry: proxy ARP has no answer"


def test_peer_removed_and_namespace_deleted_after_last_endpoint() -> None:
    lab = swarm_lab(2, seed=3)
    adopt(lab, "host-A", "host-B")
    run(lab, "host-A", "c1", "10.0.1.2")
    run(lab, "host-A", "c3", "10.0.1.4")
    run(lab, "host-B", "c2", "10.0.1.3")
    lab.wait(5)
    assert peer_neigh(lab, "host-B", "10.0.1.2") and peer_neigh(lab, "host-B", "10.0.1.4")
    assert lab.run("host-A", "docker rm -f c1").exit_code == 0
    assert has_ns(lab, "host-A"), "c3 still uses it"
    assert {x.name for x in ovns(lab, "host-A").links()} == {"lo", "br0", "vxlan0", "veth1"}
    w = lab.wait(5)
    dels = w.trace.filter("overlay:peer", "del", host="host-B")
    assert len(dels) == 1 and "10.0.1.2" in dels[0].reason
    assert peer_neigh(lab, "host-B", "10.0.1.2") is None and peer_neigh(lab, "host-B", "10.0.1.4")
    assert lab.run("host-A", "docker rm -f c3").exit_code == 0
    assert not has_ns(lab, "host-A")
    assert not [x for x in lab["host-A"].root.links() if x.kind == "vxlan"]
    ctl = lab["host-A"].engine.controller
    gw = ctl.network("docker_gwbridge")
    assert gw.endpoints == {} and ctl.network("ov1").endpoints == {}
    lab.wait(5)
    assert peer_neigh(lab, "host-B", "10.0.1.4") is None
    # a new container on host-A builds the namespace again and learns c2 again
    run(lab, "host-A", "c4", "10.0.1.5")
    lab.wait(5)
    assert peer_neigh(lab, "host-A", "10.0.1.3") is not None
    assert lab.run("c4", "ping -c 1 10.0.1.3").exit_code == 0


# ---------------------------------------------------------------- docker_gwbridge
def test_gwbridge_rules_and_way_out_to_the_lan() -> None:
    lab = swarm_lab(2)
    lab.add_host("laptop", address="192.168.0.50/24", docker=False)
    adopt(lab, "host-A")
    run(lab, "host-A", "c1", "10.0.1.2")
    f = lab.run("host-A", "iptables -S").stdout.splitlines()
    for rule in ("-A FORWARD -i docker_gwbridge -o docker_gwbridge -j DROP",  # ICC off
                 "-A FORWARD -i docker_gwbridge ! -o docker_gwbridge -j ACCEPT",
                 "-A FORWARD -o docker_gwbridge -j DOCKER",
                 "-A DOCKER-ISOLATION-STAGE-1 -i docker_gwbridge ! -o docker_gwbridge -j DOCKER-ISOLATION-STAGE-2",
                 "-A DOCKER-ISOLATION-STAGE-2 -o docker_gwbridge -j DROP"):
        assert rule in f, rule
    assert "-A FORWARD -i docker_gwbridge -o docker_gwbridge -j ACCEPT" not in f
    nat = lab.run("host-A", "iptables -t nat -S").stdout.splitlines()
    assert "-A POSTROUTING -s 172.18.0.0/16 ! -o docker_gwbridge -j MASQUERADE" in nat
    assert lab["host-A"].root.sysctl_get("net.bridge.bridge-nf-call-iptables") == "1"
    insp = lab.run("host-A", "docker network inspect -f '{{json .Options}}' docker_gwbridge").stdout
    for kv in ('"com.docker.network.bridge.enable_icc":"false"',
               '"com.docker.network.bridge.enable_ip_masquerade":"true"',
               '"com.docker.network.bridge.name":"docker_gwbridge"'):
        assert kv in insp
    assert lab.run("host-A", "docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "
                             "docker_gwbridge").stdout.strip() == "172.18.0.0/16"
    ep = next(iter(lab["host-A"].engine.controller.network("docker_gwbridge").endpoints.values()))
    assert ep.name.startswith("gateway_") and ep.ip == "172.18.0.2"

    r = lab.run("c1", "ping -c 1 192.168.0.50")
    assert r.exit_code == 0, r.stdout
    snat = r.trace.filter("nat:snat", "rewrite", host="host-A")
    assert snat and "192.168.0.2" in snat[0].reason
    assert not any("172.18." in e.summary for e in r.trace.filter(host="laptop")), "masqueraded"


def test_internal_overlay_gets_no_gwbridge() -> None:
    lab = swarm_lab(2, internal=True)
    adopt(lab, "host-A")
    run(lab, "host-A", "c1", "10.0.1.2")
    links = lab.run("c1", "ip -o link").stdout
    assert " eth0@" in links and " eth1@" not in links
    assert lab.run("c1", "ip route").stdout.strip() == "10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.2"
    assert "docker_gwbridge" not in lab.run("host-A", "docker network ls").stdout


def test_bridge_endpoint_with_gateway_replaces_gwbridge() -> None:
    lab = swarm_lab(2)
    adopt(lab, "host-A")
    run(lab, "host-A", "c1", "10.0.1.2")
    assert lab.run("host-A", "docker network connect bridge c1").exit_code == 0
    gw = lab["host-A"].engine.controller.network("docker_gwbridge")
    assert gw.endpoints == {}, "an endpoint with a gateway: docker_gwbridge is cleared"
    assert lab.run("c1", "ip route").stdout.startswith("default via 172.17.0.1 dev eth2")
    assert lab.run("host-A", "docker network disconnect bridge c1").exit_code == 0
    assert len(gw.endpoints) == 1
    assert lab.run("c1", "ip route").stdout.startswith("default via 172.18.0.1")


# ---------------------------------------------------------------- encryption hooks, MTU
def test_encrypted_network_mtu_and_encryption_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []
    fake = types.ModuleType("cnmsim.swarm.encryption")
    fake.on_local = lambda host, net, joined: calls.append(("local", host.name, net.id, joined))  # type: ignore[attr-defined]
    fake.on_peer = lambda host, net, vtep, added: calls.append(("peer", host.name, vtep, added))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cnmsim.swarm.encryption", fake)
    lab = swarm_lab(2, seed=3, encrypted=True)
    adopt(lab, "host-A", "host-B")
    run(lab, "host-A", "c1", "10.0.1.2")
    run(lab, "host-B", "c2", "10.0.1.3")
    assert ovns(lab, "host-A").link_get("vxlan0").mtu == 1424
    assert "mtu 1424" in lab.run("c1", "ip link show eth0").stdout
    lab.wait(5)
    assert ("local", "host-A", NID, True) in calls and ("local", "host-B", NID, True) in calls
    assert ("peer", "host-A", "192.168.0.3", True) in calls and ("peer", "host-B", "192.168.0.2", True) in calls
    calls.clear()
    lab.run("host-B", "docker rm -f c2")
    lab.wait(5)
    assert ("peer", "host-B", "192.168.0.2", False) in calls and ("local", "host-B", NID, False) in calls
    assert ("peer", "host-A", "192.168.0.3", False) in calls


# ---------------------------------------------------------------- driver and controller details
def test_peers_known_before_the_namespace_are_programmed_when_it_is_built() -> None:
    from cnmsim.engine.drivers.overlay.peerdb import Peer

    lab = swarm_lab(2)
    adopt(lab, "host-A")
    drv = lab["host-A"].engine.controller.driver("overlay")
    drv.peers.add(NID, Peer("e" * 64, IPv4Interface("10.0.1.9/24"), "02:42:0a:00:01:09", "192.168.0.3"))
    assert not has_ns(lab, "host-A")
    run(lab, "host-A", "c1", "10.0.1.2")
    assert peer_neigh(lab, "host-A", "10.0.1.9") is not None


def test_two_subnets_get_two_bridges_and_a_route_via_the_gateway() -> None:
    lab = swarm_lab(2)
    net = local_network(lab)
    net.ipam_infos.append(IpamInfo("swarm", IPv4Network("10.0.2.0/24"), IPv4Interface("10.0.2.1/24")))
    net.options[VNI_OPT] = "4097,4098"
    lab["host-A"].engine.controller.adopt_network(net)
    run(lab, "host-A", "c1", "10.0.1.2")
    ns = ovns(lab, "host-A")
    assert {x.name for x in ns.links()} >= {"br0", "br1", "vxlan0", "vxlan1"}
    assert ns.link_get("vxlan1").details["id"] == 4098
    assert "10.0.2.0/24 via 10.0.1.1 dev eth0" in lab.run("c1", "ip route").stdout


def test_adopted_network_uses_the_managers_addresses_not_local_ipam() -> None:
    lab = swarm_lab(2)
    ctl = lab["host-A"].engine.controller
    net = ctl.adopt_network(local_network(lab))
    assert ctl.adopt_network(local_network(lab)) is net, "adopting twice keeps the first"
    ep = ctl.new_endpoint(net, "t1", ip="10.0.1.7")
    assert str(ep.address) == "10.0.1.7/24" and ep.mac == "02:42:0a:00:01:07"
    with pytest.raises(Exception, match="no configured subnet"):
        ctl.new_endpoint(net, "t2", ip="10.9.9.9")
    with pytest.raises(Exception, match="create endpoint was not passed interface IP address"):
        ctl.new_endpoint(net, "t3")
    ctl.delete_endpoint(ep)
    ctl.delete_network(net)
    assert "ov1" not in lab.run("host-A", "docker network ls").stdout
    # local IPAM untouched: the next local network still gets 172.18.0.0/16
    assert lab.run("host-A", "docker network create n1").exit_code == 0
    assert ctl.network("n1").subnet == "172.18.0.0/16"


def test_missing_vni_is_refused() -> None:
    lab = swarm_lab(1)
    net = local_network(lab)
    net.options.pop(VNI_OPT)
    lab.swarm.networks[NID].vni = 0  # type: ignore[attr-defined]
    with pytest.raises(Exception, match=r"insufficient vnis\(0\) passed to overlay"):
        lab["host-A"].engine.controller.adopt_network(net)
    assert NID not in lab["host-A"].engine.controller.networks


# ---------------------------------------------------------------- docker run --net <attachable overlay>
def test_docker_run_on_attachable_overlay_goes_through_the_swarm_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = swarm_lab(2, seed=3)
    log: list[tuple] = []

    def ensure_network(daemon: Any, ref: str) -> Network | None:
        log.append(("ensure", daemon.host.name, ref))
        if ref != "ov1":
            return None
        return daemon.controller.adopt_network(local_network(lab))

    def attachment_address(daemon: Any, net: Network, name: str, ip: str | None = None) -> str:
        log.append(("alloc", daemon.host.name, name))
        return ip or "10.0.1.20"

    def release_address(daemon: Any, net: Network, ip: str) -> None:
        log.append(("release", daemon.host.name, ip))

    agent = types.ModuleType("cnmsim.swarm.manager.agent")
    agent.ensure_network = ensure_network  # type: ignore[attr-defined]
    agent.attachment_address = attachment_address  # type: ignore[attr-defined]
    agent.release_address = release_address  # type: ignore[attr-defined]
    pkg = types.ModuleType("cnmsim.swarm.manager")
    pkg.agent = agent  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cnmsim.swarm.manager", pkg)
    monkeypatch.setitem(sys.modules, "cnmsim.swarm.manager.agent", agent)

    r = lab.run("host-B", "docker run -d --name att --net ov1 busybox sleep 1000")
    assert r.exit_code == 0, r.stderr
    assert ("ensure", "host-B", "ov1") in log and ("alloc", "host-B", "att") in log
    assert "inet 10.0.1.20/24" in lab.run("att", "ip addr show eth0").stdout
    assert has_ns(lab, "host-B")
    bad = lab.run("host-B", "docker run -d --net nosuch busybox")
    assert bad.exit_code != 0 and "network nosuch not found" in bad.stderr
    assert lab.run("host-B", "docker rm -f att").exit_code == 0
    assert ("release", "host-B", "10.0.1.20") in log
    assert not has_ns(lab, "host-B")
    # --ip: the manager is asked for that address; a task container brings its own
    assert lab.run("host-B", "docker run -d --name fixed --net ov1 --ip 10.0.1.40 busybox sleep 9").exit_code == 0
    assert ("alloc", "host-B", "fixed") in log and "10.0.1.40/24" in lab.run("fixed", "ip addr").stdout
    r = lab.run("host-B", "docker run -d --name task1 --label com.docker.swarm.task.id=t1 --net ov1 "
                          "--ip 10.0.1.41 busybox sleep 9")
    assert r.exit_code == 0 and ("alloc", "host-B", "task1") not in log
    lab.run("host-B", "docker rm -f task1")
    assert ("release", "host-B", "10.0.1.41") not in log
