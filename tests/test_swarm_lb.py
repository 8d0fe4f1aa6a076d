"""Service discovery and load balancing in swarm mode: the per-network LB sandboxes (IPVS on
fwmarks, weight 0 before removal), the routing mesh (ingress_sbox, DOCKER-INGRESS, the
source-IP pitfall), host-mode publishing, swarm DNS and nsenter — against
../shared/facts/engine.md §1.9, §3, §4, §5.

The lab: host-A (manager), host-B, host-C (workers) and an outside client on 192.168.0.0/24;
`app` = nginx, 2 replicas on overlay `appnet`, published 8080:80 (ingress) — its tasks land on
host-A and host-B, so host-C has none; `client` = busybox on appnet.
"""

from __future__ import annotations

import re

import pytest

from cnmsim import Lab
from cnmsim.swarm.lb import find_node_lb

HOSTS = ("host-A", "host-B", "host-C")
ADDR = {"host-A": "192.168.0.2", "host-B": "192.168.0.3", "host-C": "192.168.0.4"}


def swarm_lab(seed: int = 0, services: tuple[str, ...] = (
        "--name app --replicas 2 --network appnet -p 8080:80 nginx",
        "--name client --network appnet busybox sleep 1d")) -> Lab:
    lab = Lab(seed=seed)
    for h in HOSTS:
        lab.add_host(h, address=f"{ADDR[h]}/24")
    lab.add_host("outside", address="192.168.0.50/24", docker=False)
    assert lab.run("host-A", "docker swarm init").ok
    for h in HOSTS[1:]:
        r = lab.run(h, f"docker swarm join --token {lab.swarm.tokens['worker']} 192.168.0.2:2377")
        assert r.ok, r.stderr
    lab.wait(3)
    assert lab.run("host-A", "docker network create -d overlay appnet").ok
    for spec in services:
        r = lab.run("host-A", f"docker service create {spec}")
        assert r.ok, r.stderr
    lab.wait(3)
    return lab


@pytest.fixture(scope="module")
def lab() -> Lab:
    return swarm_lab()


def net_id(lab: Lab, name: str) -> str:
    return next(n.id for n in lab.swarm.networks.values() if n.name == name)


def tasks(lab: Lab, service: str) -> list[tuple[str, str, dict[str, str]]]:
    """(container name, hostname, network name -> address) of the service's running tasks."""
    sw = lab.swarm
    out = []
    for t in sorted(sw.tasks.values(), key=lambda t: t.slot):
        svc = sw.services[t.service]
        if svc.name == service and t.desired == "running" and t.state == "running":
            addrs = {sw.networks[n].name: str(a.ip) for n, a in t.addresses.items()}
            out.append((f"{svc.name}.{t.slot}.{t.id}", sw.nodes[t.node].hostname, addrs))
    return out


def vip(lab: Lab, service: str, network: str) -> str:
    svc = next(s for s in lab.swarm.services.values() if s.name == service)
    return str(svc.vips[net_id(lab, network)].ip)


def lb_ip(lab: Lab, host: str, network: str) -> str:
    nlb = find_node_lb(lab, host)
    assert nlb is not None
    return nlb.sandboxes[net_id(lab, network)].ip


def logged(lab: Lab) -> dict[str, list[str]]:
    """nginx access-log clients per app task (read through `docker logs` on its node)."""
    out = {}
    for name, host, _ in tasks(lab, "app"):
        text = lab.run(host, f"docker logs {name}").stdout
        out[name] = re.findall(r"^(\d+\.\d+\.\d+\.\d+) - - \[", text, re.M)
    return out


# ---------------------------------------------------------------- sandboxes and namespaces
def test_every_node_has_ingress_sbox_and_task_nodes_an_lb_sandbox(lab: Lab) -> None:
    nid = net_id(lab, "appnet")
    assert [h for _, h, _ in tasks(lab, "app")] == ["host-A", "host-B"]
    for h in HOSTS:
        keys = set(lab[h].kernel.namespaces)
        assert "ingress_sbox" in keys
        assert f"1-{net_id(lab, 'ingress')[:10]}" in keys
        has_task = h != "host-C" or any(th == h for _, th, _ in tasks(lab, "client"))
        assert (f"lb_{nid[:9]}" in keys) == has_task, (h, keys)
        assert lab.run(h, "ip netns list").stdout == ""  # Docker's namespaces are not in /var/run/netns


def test_ingress_addresses_follow_the_swarm_allocation(lab: Lab) -> None:
    """ingress 10.0.0.0/24: .1 gateway, the nodes' ingress-sbox .2-.4, the VIP, then tasks."""
    assert [lb_ip(lab, h, "ingress") for h in HOSTS] == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert vip(lab, "app", "ingress") == "10.0.0.5"
    assert [a["ingress"] for _, _, a in tasks(lab, "app")] == ["10.0.0.6", "10.0.0.7"]
    out = lab.run("host-A", "nsenter --net=/var/run/docker/netns/ingress_sbox ip -4 -br addr").stdout
    assert out.split("\n")[1:3] == ["eth0@if5         UP             10.0.0.2/24 10.0.0.5/32 ",
                                   "eth1@if9         UP             172.18.0.2/16 "]


def test_lb_sandbox_of_appnet(lab: Lab) -> None:
    """lb_<netid[:9]>: the LB endpoint address plus the service VIP as a /32 alias, IPVS on the
    (service, network) fwmark with the tasks' appnet addresses, the marks and the SNAT rule."""
    nid = net_id(lab, "appnet")
    key = f"lb_{nid[:9]}"
    v, me = vip(lab, "app", "appnet"), lb_ip(lab, "host-A", "appnet")
    backends = sorted(a["appnet"] for _, _, a in tasks(lab, "app"))
    marks = lab.swarm.networks[nid].lb_fwmark
    app = next(s for s in lab.swarm.services.values() if s.name == "app")
    mark = marks[app.id]
    assert mark >= 256 and lab.swarm.networks[net_id(lab, "ingress")].lb_fwmark[app.id] == 256
    addrs = lab.run("host-A", f"ip netns exec {key} ip -4 -o addr show dev eth0").stdout
    assert re.findall(r"inet (\S+)", addrs) == [f"{me}/24", f"{v}/32", f"{vip(lab, 'client', 'appnet')}/32"]
    out = lab.run("host-A", f"nsenter --net=/var/run/docker/netns/{key} ipvsadm -Ln").stdout
    assert out.startswith("IP Virtual Server version 1.2.1 (size=4096)\n"
                          "Prot LocalAddress:Port Scheduler Flags\n"
                          "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
    assert (f"FWM  {mark} rr\n" + "".join(
                       f"  -> {b + ':0':<28} Masq    1      0          0         \n" for b in sorted(
                           backends, key=lambda b: [int(x) for x in b.split(".")]))) in out
    mangle = lab.run("host-A", f"nsenter --net=/var/run/docker/netns/{key} iptables -t mangle -S").stdout
    assert f"-A INPUT -d {v}/32 -j MARK --set-xmark {mark:#x}/0xffffffff\n" in mangle
    assert "PREROUTING -p" not in mangle  # marks on published ports belong to ingress only
    nat = lab.run("host-A", f"nsenter --net=/var/run/docker/netns/{key} iptables -t nat -S POSTROUTING").stdout
    assert nat == f"-P POSTROUTING ACCEPT\n-A POSTROUTING -d 10.0.1.0/24 -m ipvs --ipvs -j SNAT --to-source {me}\n"
    ns = lab["host-A"].kernel.netns(key)
    assert {k: ns.sysctl_get(f"net.ipv4.vs.{k}") for k in (
        "conntrack", "conn_reuse_mode", "expire_nodest_conn", "expire_quiescent_template")} == {
        "conntrack": "1", "conn_reuse_mode": "0", "expire_nodest_conn": "1", "expire_quiescent_template": "1"}


def test_ingress_sbox_rules(lab: Lab) -> None:
    """mangle PREROUTING marks the published port, INPUT the ingress VIP; SNAT to 10.0.0.2."""
    for h in HOSTS:
        me = lb_ip(lab, h, "ingress")
        save = lab.run(h, "ip netns exec ingress_sbox iptables-save").stdout
        rules = [x for x in save.splitlines() if x.startswith("-A")]
        assert rules == ["-A PREROUTING -p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x100/0xffffffff",
                         "-A INPUT -d 10.0.0.5/32 -j MARK --set-xmark 0x100/0xffffffff",
                         f"-A POSTROUTING -d 10.0.0.0/24 -m ipvs --ipvs -j SNAT --to-source {me}"]
        out = lab.run(h, "nsenter --net=/var/run/docker/netns/ingress_sbox ipvsadm -Ln").stdout
        assert "FWM  256 rr\n  -> 10.0.0.6:0                   Masq    1      0          0         \n" \
               "  -> 10.0.0.7:0                   Masq    1      0          0         \n" in out


def test_host_iptables_classic_layout(lab: Lab) -> None:
    """facts §1.9 in the ≤27.x layout: FORWARD jumps DOCKER-USER, DOCKER-INGRESS, then the
    isolation chain and the bridges' rules; nat jumps to DOCKER-INGRESS before DOCKER."""
    for h in HOSTS:
        filt = lab.run(h, "iptables -S").stdout.splitlines()
        fwd = [x for x in filt if x.startswith("-A FORWARD")]
        assert fwd[:3] == ["-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-INGRESS",
                           "-A FORWARD -j DOCKER-ISOLATION-STAGE-1"]
        assert [x for x in filt if "DOCKER-INGRESS" in x and not x.startswith("-A FORWARD")] == [
            "-N DOCKER-INGRESS",
            "-A DOCKER-INGRESS -p tcp -m tcp --dport 8080 -j ACCEPT",
            "-A DOCKER-INGRESS -p tcp -m tcp --sport 8080 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-A DOCKER-INGRESS -j RETURN"]
        assert "-A FORWARD -i docker_gwbridge -o docker_gwbridge -j DROP" in filt
        assert "-A FORWARD -i docker_gwbridge ! -o docker_gwbridge -j ACCEPT" in filt
        nat = lab.run(h, "iptables -t nat -S").stdout
        assert nat == (
            "-P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n-P POSTROUTING ACCEPT\n"
            "-N DOCKER\n-N DOCKER-INGRESS\n"
            "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER-INGRESS\n"
            "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n"
            "-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER-INGRESS\n"
            "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER\n"
            "-A POSTROUTING -o docker_gwbridge -m addrtype --src-type LOCAL -j MASQUERADE\n"
            "-A POSTROUTING -s 172.18.0.0/16 ! -o docker_gwbridge -j MASQUERADE\n"
            "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n"
            "-A DOCKER -i docker_gwbridge -j RETURN\n-A DOCKER -i docker0 -j RETURN\n"
            "-A DOCKER-INGRESS -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:8080\n"
            "-A DOCKER-INGRESS -j RETURN\n")
        assert lab[h].root.sysctl_get("net.ipv4.conf.docker_gwbridge.route_localnet") == "1"


def test_task_redirect_rules_allow_only_the_target_port(lab: Lab) -> None:
    name, _, addrs = tasks(lab, "app")[0]
    ip = addrs["ingress"]
    save = lab.run(name, "iptables-save").stdout
    rules = [x for x in save.splitlines() if x.startswith("-A") and "127.0.0.11" not in x and "DOCKER_" not in x]
    assert rules == [
        f"-A INPUT -d {ip}/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT",
        f"-A INPUT -d {ip}/32 -p sctp -j DROP", f"-A INPUT -d {ip}/32 -p udp -j DROP",
        f"-A INPUT -d {ip}/32 -p tcp -j DROP",
        f"-A OUTPUT -s {ip}/32 -p tcp -m tcp --sport 80 -m conntrack --ctstate ESTABLISHED -j ACCEPT",
        f"-A OUTPUT -s {ip}/32 -p sctp -j DROP", f"-A OUTPUT -s {ip}/32 -p udp -j DROP",
        f"-A OUTPUT -s {ip}/32 -p tcp -j DROP",
        f"-A PREROUTING -d {ip}/32 -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 80"]


# ---------------------------------------------------------------- discovery and the VIP
def test_dns_service_name_tasks_and_container_names(lab: Lab) -> None:
    client = tasks(lab, "client")[0][0]
    r = lab.run(client, "nslookup app")
    assert re.findall(r"Address: (10\.\S+)", r.stdout) == [vip(lab, "app", "appnet")]
    r = lab.run(client, "nslookup tasks.app")
    assert sorted(re.findall(r"Address: (10\.\S+)", r.stdout)) == sorted(a["appnet"] for _, _, a in tasks(lab, "app"))
    for name, _, addrs in tasks(lab, "app"):
        r = lab.run(client, f"nslookup {name}")
        assert re.findall(r"Address: (10\.\S+)", r.stdout) == [addrs["appnet"]]


def test_vip_spreads_connections_round_robin(lab: Lab) -> None:
    client, chost, _ = tasks(lab, "client")[0]
    before = {k: len(v) for k, v in logged(lab).items()}
    order = []
    for _ in range(4):
        r = lab.run(client, "wget -q -O - http://app/")
        assert r.exit_code == 0 and "Welcome to nginx!" in r.stdout, r.stderr
        now = {k: len(v) for k, v in logged(lab).items()}
        order.append(next(k for k in now if now[k] > before.get(k, 0)))
        before = now
    assert order[0] != order[1] and order[:2] == order[2:]
    # the task sees the client's node's LB endpoint address (IPVS NAT + SNAT), not the client
    seen = {ip for ips in logged(lab).values() for ip in ips}
    assert lb_ip(lab, chost, "appnet") in seen


def test_dnsrr_service_resolves_to_task_addresses_and_has_no_ipvs() -> None:
    lab = swarm_lab(services=("--name rr --replicas 2 --endpoint-mode dnsrr --network appnet nginx",
                              "--name client --network appnet busybox sleep 1d"))
    client = tasks(lab, "client")[0][0]
    r = lab.run(client, "nslookup rr")
    assert sorted(re.findall(r"Address: (10\.\S+)", r.stdout)) == sorted(a["appnet"] for _, _, a in tasks(lab, "rr"))
    svc = next(s for s in lab.swarm.services.values() if s.name == "rr")
    assert svc.vips == {}
    rr = {a["appnet"] for _, _, a in tasks(lab, "rr")}
    nid = net_id(lab, "appnet")
    assert svc.id not in lab.swarm.networks[nid].lb_fwmark
    for h in HOSTS:
        nlb = find_node_lb(lab, h)
        lbs = nlb.sandboxes.get(nid) if nlb else None
        assert lbs is None or not any(d.addr in rr for _, ds in lbs.ns.ipvs_services() for d in ds)
    assert lab.run(client, "wget -q -O - http://rr/").exit_code == 0


# ---------------------------------------------------------------- the routing mesh
def test_any_node_publishes_and_the_task_sees_the_ingress_sbox_address(lab: Lab) -> None:
    """host-C runs no replica, yet its port 8080 answers: ingress_sbox's IPVS sends the
    connection over the ingress overlay to a task on host-A or host-B, SNATed to host-C's
    ingress-sbox address — the source-IP pitfall: nginx never sees 192.168.0.50."""
    assert "host-C" not in [h for _, h, _ in tasks(lab, "app")]
    before = logged(lab)
    for h in HOSTS:
        r = lab.run("outside", f"curl -s -m 5 http://{ADDR[h]}:8080/")
        assert r.exit_code == 0 and "Welcome to nginx!" in r.stdout, (h, r.stderr)
    after = logged(lab)
    new = sorted(ip for k in after for ip in after[k][len(before.get(k, [])):])
    assert new == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert "192.168.0.50" not in {ip for ips in after.values() for ip in ips}
    r = lab.run("outside", f"curl -s -m 5 http://{ADDR['host-C']}:8080/")
    hops = {e.place for e in r.trace if e.stage.startswith("ipvs")}
    assert "host-C[ingress-sbox]" in hops


def test_published_port_from_the_node_itself(lab: Lab) -> None:
    """nat OUTPUT jumps to DOCKER-INGRESS without a loopback exclusion; MASQUERADE
    of host-originated traffic into docker_gwbridge."""
    r = lab.run("host-C", f"curl -s -m 5 http://{ADDR['host-C']}:8080/")
    assert r.exit_code == 0 and "Welcome to nginx!" in r.stdout, r.stderr


def test_remote_backends_arrive_by_gossip_and_not_without_it() -> None:
    """host-C learns the tasks only from networkdb's endpoint_table: with the gossip port
    blocked on host-C after the swarm formed, its ingress_sbox gets no backend."""
    lab = swarm_lab(services=())
    for proto in ("udp", "tcp"):
        assert lab.run("host-C", f"iptables -I INPUT -p {proto} --dport 7946 -j DROP").ok
    r = lab.run("host-A", "docker service create -d --name web --replicas 2 -p 8080:80 nginx")
    assert r.ok, r.stderr
    lab.wait(1)
    node_c = find_node_lb(lab, "host-C")
    ing = net_id(lab, "ingress")
    assert node_c is not None and node_c.sandboxes[ing].ns.ipvs_services() == []
    assert [h for _, h, _ in tasks(lab, "web")] == ["host-A", "host-B"]
    for h in ("host-A", "host-B"):
        dests = find_node_lb(lab, h).sandboxes[ing].dests(256)
        assert sorted(dests) == ["10.0.0.6", "10.0.0.7"]
    assert lab.run("outside", "curl -s -m 3 http://192.168.0.4:8080/").exit_code != 0
    assert lab.run("outside", "curl -s -m 3 http://192.168.0.2:8080/").exit_code == 0


# ---------------------------------------------------------------- scale down, removal
def test_scale_down_weights_zero_before_the_backend_goes() -> None:
    """On the task's node the agent disables the binding (weight 0) before the container goes;
    the backend then disappears everywhere."""
    lab = swarm_lab(services=("--name app --replicas 2 --network appnet -p 8080:80 nginx",))
    name, host, gone = tasks(lab, "app")[1]
    r = lab.run("host-A", "docker service scale app=1")
    assert r.ok, r.stderr
    events = [e for e in [*r.trace, *lab.wait(3).trace] if e.stage == "ipvs:dest"]
    for sbox, ip in (("lb-appnet", gone["appnet"]), ("ingress-sbox", gone["ingress"])):
        mine = [e for e in events if e.place == f"{host}[{sbox}]" and f" {ip}:0 " in e.reason + " "]
        assert [e.verdict for e in mine] == ["edit", "del"], (sbox, [e.reason for e in mine])
        assert "weight 1 -> 0" in mine[0].reason
    left = tasks(lab, "app")[0][2]["ingress"]
    for h in HOSTS:
        assert sorted(find_node_lb(lab, h).sandboxes[net_id(lab, "ingress")].dests(256)) == [left]


def test_disabled_entry_reaches_remote_nodes_as_weight_zero() -> None:
    """DisableService is gossiped (endpoint_table update, ServiceDisabled): with the agent's
    gossip-converge delay before the container goes, every node drains the task first."""
    from cnmsim.swarm import observers

    lab = swarm_lab(services=("--name app --replicas 2 --network appnet -p 8080:80 nginx",))
    sw = lab.swarm
    t = next(t for t in sw.tasks.values() if t.slot == 2 and sw.services[t.service].name == "app")
    node = sw.nodes[t.node]
    ip = str(t.addresses[net_id(lab, "ingress")].ip)
    observers.task_stopping(lab, node, t, full=False)
    lab.wait(2)  # defaultGossipConvergeDelay
    for h in HOSTS:
        assert find_node_lb(lab, h).sandboxes[net_id(lab, "ingress")].dests(256)[ip] == 0
    client = lab.run("outside", "curl -s -m 3 http://192.168.0.4:8080/")
    assert client.exit_code == 0
    assert not any(e.stage == "ipvs:schedule" and ip in e.reason for e in client.trace)
    observers.task_stopping(lab, node, t, full=True)
    lab.wait(2)
    for h in HOSTS:
        assert ip not in find_node_lb(lab, h).sandboxes[net_id(lab, "ingress")].dests(256)


def test_service_rm_takes_ipvs_marks_vip_and_host_rules_away() -> None:
    lab = swarm_lab(services=("--name app --replicas 2 --network appnet -p 8080:80 nginx",))
    assert lab.run("host-A", "docker service rm app").ok
    lab.wait(3)
    for h in HOSTS:
        assert lab.run(h, "ip netns exec ingress_sbox ipvsadm -Ln").stdout.count("FWM") == 0
        save = lab.run(h, "ip netns exec ingress_sbox iptables -t mangle -S").stdout
        assert "MARK" not in save
        addrs = lab.run(h, "ip netns exec ingress_sbox ip -4 -o addr").stdout
        assert "10.0.0.5/32" not in addrs
        assert "8080" not in lab.run(h, "iptables -S DOCKER-INGRESS").stdout
        assert "8080" not in lab.run(h, "iptables -t nat -S DOCKER-INGRESS").stdout
    # the overlay left the nodes together with its LB sandbox
    for h in HOSTS:
        assert not any(k.startswith("lb_") for k in lab[h].kernel.namespaces)


def test_a_port_change_makes_a_new_load_balancer() -> None:
    """libnetwork keys a service binding by its ports: new tasks publishing 9090 get a new
    fwmark, the old mark and 8080's rules go with the last old task."""
    lab = swarm_lab(services=("--name app --replicas 2 --network appnet -p 8080:80 nginx",))
    assert lab.run("host-A", "docker service update --publish-rm 80 --publish-add 9090:80 app").ok
    lab.wait(5)
    for h in HOSTS:
        mangle = lab.run(h, "ip netns exec ingress_sbox iptables -t mangle -S").stdout
        assert mangle.endswith("-A PREROUTING -p tcp -m tcp --dport 9090 -j MARK --set-xmark 0x102/0xffffffff\n"
                               "-A INPUT -d 10.0.0.5/32 -j MARK --set-xmark 0x102/0xffffffff\n"), mangle
        assert lab.run(h, "iptables -t nat -S DOCKER-INGRESS").stdout == (
            "-N DOCKER-INGRESS\n-A DOCKER-INGRESS -p tcp -m tcp --dport 9090 -j DNAT --to-destination 172.18.0.2:9090\n"
            "-A DOCKER-INGRESS -j RETURN\n").replace("172.18.0.2", find_node_lb(lab, h).sandboxes[
                net_id(lab, "ingress")].gw_ip)
    assert lab.run("outside", "curl -s -m 3 http://192.168.0.4:9090/").exit_code == 0
    assert lab.run("outside", "curl -s -m 3 http://192.168.0.4:8080/").exit_code != 0


# ---------------------------------------------------------------- host-mode publishing
def test_host_mode_publishes_only_where_a_task_runs_and_collides() -> None:
    lab = swarm_lab(services=())
    r = lab.run("host-A", "docker service create -d --name hm --replicas 4 "
                          "--publish mode=host,target=80,published=8081 --network appnet nginx")
    assert r.ok, r.stderr
    lab.wait(3)
    assert sorted(h for _, h, _ in tasks(lab, "hm")) == list(HOSTS)
    ps = lab.run("host-A", "docker service ps --no-trunc hm").stdout
    assert "no suitable node (host-mode port already in use on 3 nodes)" in ps
    for h in HOSTS:
        nat = lab.run(h, "iptables -t nat -S DOCKER").stdout
        assert re.search(r"-A DOCKER ! -i docker_gwbridge -p tcp -m tcp --dport 8081 -j DNAT "
                         r"--to-destination 172\.18\.0\.\d+:80", nat), nat
        assert "8081" not in lab.run(h, "iptables -t nat -S DOCKER-INGRESS").stdout
        r = lab.run("outside", f"curl -s -m 3 http://{ADDR[h]}:8081/")
        assert r.exit_code == 0, r.stderr
    lab2 = swarm_lab(services=("--name hm --replicas 1 --network appnet "
                               "--publish mode=host,target=80,published=8081 nginx",))
    where = tasks(lab2, "hm")[0][1]
    for h in HOSTS:
        r = lab2.run("outside", f"curl -s -m 3 http://{ADDR[h]}:8081/")
        assert (r.exit_code == 0) == (h == where), (h, where, r.stderr)
    ctr = lab2[where].engine.container(tasks(lab2, "hm")[0][0])
    gw = ctr.sandbox.gateway_ep  # the binding sits on the docker_gwbridge endpoint
    assert gw.network.name == "docker_gwbridge"
    assert [(b.host_ip, b.host_port, b.container_port, b.proto) for b in gw.bindings] == [("0.0.0.0", 8081, 80, "tcp")]


# ---------------------------------------------------------------- nsenter
def test_nsenter_net_file_pid_and_errors(lab: Lab) -> None:
    a = lab.run("host-A", "nsenter --net=/var/run/docker/netns/ingress_sbox ipvsadm -Ln")
    b = lab.run("host-A", "ip netns exec ingress_sbox ipvsadm -Ln")
    assert a.ok and a.stdout == b.stdout
    c = lab.run("host-A", "nsenter -n/var/run/docker/netns/ingress_sbox ip -4 -o addr show dev eth1")
    assert "172.18.0.2/16" in c.stdout
    d = lab.run("host-A", "nsenter --net /var/run/docker/netns/ingress_sbox hostname")
    assert d.stdout == "host-A\n"  # only the network namespace changes
    name = tasks(lab, "app")[0][0]
    ctr = lab["host-A"].engine.container(name)
    e = lab.run("host-A", f"nsenter -t {ctr.pid} -n ip -4 -o addr show dev eth0")
    assert tasks(lab, "app")[0][2]["ingress"] in e.stdout
    f = lab.run("host-A", f"nsenter -t {ctr.pid} -m -n cat /etc/hostname")
    assert f.stdout == lab.run(name, "cat /etc/hostname").stdout
    g = lab.run("host-A", "nsenter --net=/var/run/docker/netns/nope ip addr")
    assert (g.exit_code, g.stderr) == (1, "nsenter: cannot open /var/run/docker/netns/nope: No such file or directory\n")
    h = lab.run("host-A", "nsenter -n ip addr")
    assert h.exit_code == 1 and h.stderr == "nsenter: neither filename nor target pid supplied for ns/net\n"
    i = lab.run("host-A", "nsenter --net=/var/run/docker/netns/ingress_sbox nosuch")
    assert (i.exit_code, i.stderr) == (127, "nsenter: failed to execute nosuch: No such file or directory\n")


def test_a_crashed_nodes_backends_go_with_its_gossip_entries() -> None:
    """host-B crashes: the others drop its task when memberlist declares it dead (networkdb
    removes a dead node's entries), and the rescheduled task on host-C becomes a backend."""
    from cnmsim.swarm.manager import crash_node

    lab = swarm_lab(services=("--name app --replicas 2 --network appnet -p 8080:80 nginx",))
    ing = net_id(lab, "ingress")
    old = tasks(lab, "app")[1][2]["ingress"]
    crash_node(lab, "host-B")
    lab.wait(45)
    live = sorted(a["ingress"] for _, _, a in tasks(lab, "app"))
    assert old not in live and [h for _, h, _ in tasks(lab, "app")] == ["host-A", "host-C"]
    for h in ("host-A", "host-C"):
        assert sorted(find_node_lb(lab, h).sandboxes[ing].dests(256)) == live
    for h in ("host-A", "host-C"):
        assert lab.run("outside", f"curl -s -m 3 http://{ADDR[h]}:8080/").exit_code == 0


def test_service_names_are_network_scoped() -> None:
    """A task on another overlay does not know `app`: the name is forwarded upstream."""
    lab = swarm_lab(services=("--name app --replicas 2 --network appnet nginx",))
    assert lab.run("host-A", "docker network create -d overlay other").ok
    assert lab.run("host-A", "docker service create -d --name probe --network other busybox sleep 1d").ok
    lab.wait(2)
    probe = tasks(lab, "probe")[0][0]
    r = lab.run(probe, "nslookup app")
    assert vip(lab, "app", "appnet") not in r.stdout
    assert not re.findall(r"Address: (10\.0\.1\.\S+)", r.stdout)
    assert "server can't find app: SERVFAIL" in r.stdout  # no upstream reachable in this lab
    assert "server can't find tasks.app: SERVFAIL" in lab.run(probe, "nslookup tasks.app").stdout


def test_plain_containers_on_an_attachable_overlay_resolve_across_nodes() -> None:
    """addServiceInfoToCluster runs for every swarm endpoint: a plain container's name reaches the
    network's other nodes through endpoint_table gossip, and leaves with it."""
    from cnmsim import Lab

    lab = Lab(seed=0)
    for i, h in enumerate(("host-A", "host-B")):
        lab.add_host(h, address=f"192.168.0.{i + 2}/24")
    lab.run("host-A", "docker swarm init --advertise-addr 192.168.0.2")
    tok = lab.run("host-A", "docker swarm join-token -q worker").stdout.strip()
    assert lab.run("host-B", f"docker swarm join --token {tok} 192.168.0.2:2377").ok
    lab.wait(3)
    lab.run("host-A", "docker network create -d overlay --attachable ovnet")
    assert lab.run("host-A", "docker run -itd --network ovnet --name c1 busybox sh").ok
    assert lab.run("host-B", "docker run -itd --network ovnet --name c2 busybox sh").ok
    lab.wait(2)
    for me, other in (("c1", "c2"), ("c2", "c1")):
        r = lab.run(me, f"ping -c 1 {other}")
        assert r.exit_code == 0 and f"PING {other} (10.0.1." in r.stdout
    lab.run("host-B", "docker rm -f c2")
    lab.wait(2)
    r = lab.run("c1", "ping -c 1 c2")
    assert (r.exit_code, r.stderr) == (1, "ping: bad address 'c2'\n")
