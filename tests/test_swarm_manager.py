"""Swarm mode's manager side: docker swarm|node|service, the global IPAM, the scheduler and the
agent, against ../shared/facts/engine.md §2.5, §4, §5 and Docker's CLI output.

Tests marked "overlay" need the overlay driver (cnmsim.engine.drivers.overlay) to wire task
containers; the others only need the cluster store.
"""

from __future__ import annotations

import re

import pytest

from cnmsim import Lab
from cnmsim.swarm.manager import crash_node
from cnmsim.swarm.manager.errors import (
    BAD_TOKEN,
    JOIN_TIMEOUT,
    LEAVE_LAST_MANAGER,
    NO_MANAGER,
    NOT_ATTACHABLE,
    NOT_MANAGER,
    SWARM_EXISTS,
    WORKER_NETWORK,
)

HOSTS = ("host-A", "host-B", "host-C", "host-D")


def lab_of(n: int = 3, seed: int = 0, init: str = "docker swarm init", join: bool = True) -> Lab:
    lab = Lab(seed=seed)
    for i, h in enumerate(HOSTS[:n]):
        lab.add_host(h, address=f"192.168.0.{i + 2}/24")
    r = lab.run("host-A", init)
    assert r.ok, r.stderr
    if join:
        for h in HOSTS[1:n]:
            r = lab.run(h, f"docker swarm join --token {lab.swarm.tokens['worker']} 192.168.0.2:2377")
            assert r.ok, r.stderr
        lab.wait(3)
    return lab


def nodes_of(lab: Lab, service: str) -> list[str]:
    """The hostnames running the service's live tasks, by slot."""
    sw = lab.swarm
    svc = next(s for s in sw.services.values() if s.name == service)
    ts = sorted((t for t in sw.tasks.values() if t.service == svc.id and t.desired == "running"),
                key=lambda t: (t.slot, t.node))
    return [sw.nodes[t.node].hostname for t in ts]


# ---------------------------------------------------------------- init, join, leave
def test_init_prints_the_join_command_and_creates_ingress() -> None:
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24")
    r = lab.run("host-A", "docker swarm init")
    node = lab.swarm.node_by_host("host-A")
    token = lab.swarm.tokens["worker"]
    assert r.stdout == (f"Swarm initialized: current node ({node.id}) is now a manager.\n\n"
                        "To add a worker to this swarm, run the following command:\n\n"
                        f"    docker swarm join --token {token} 192.168.0.2:2377\n\n"
                        "To add a manager to this swarm, run 'docker swarm join-token manager' and follow "
                        "the instructions.\n")
    assert re.fullmatch(r"[0-9a-z]{25}", node.id)
    assert re.fullmatch(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}", token)
    manager = lab.swarm.tokens["manager"]
    assert manager.split("-")[2] == token.split("-")[2] and manager != token
    ingress = next(n for n in lab.swarm.networks.values() if n.ingress)
    assert (str(ingress.subnet), ingress.gateway, ingress.vni) == ("10.0.0.0/24", "10.0.0.1", 4096)
    ls = lab.run("host-A", "docker network ls --filter name=ingress").stdout
    assert re.search(r"\n[0-9a-z]{12}   ingress   overlay   swarm\n", ls)


def test_init_refusals() -> None:
    lab = lab_of(1, join=False)
    assert lab.run("host-A", "docker swarm init").stderr == f"Error response from daemon: {SWARM_EXISTS}\n"
    lab2 = Lab()
    lab2.add_host("host-A", address="192.168.0.2/24")
    r = lab2.run("host-A", "docker swarm init --default-addr-pool nope")
    assert r.exit_code == 125
    assert r.stderr.startswith('invalid argument "nope" for "--default-addr-pool" flag: invalid CIDR address: nope')
    r = lab2.run("host-A", "docker swarm init --default-addr-pool 10.0.0.0/24 --default-addr-pool-mask-length 16")
    assert r.stderr == ('Error response from daemon: invalid CIDR: "10.0.0.0/24". Subnet size is too small for '
                        "pool: 16\n")
    r = lab2.run("host-A", "docker swarm init --default-addr-pool-mask-length 30 --default-addr-pool 10.0.0.0/8")
    assert r.stderr == "Error response from daemon: subnet size is out of range: 30\n"
    r = lab2.run("host-A", "docker swarm init --data-path-port 80")
    assert r.stderr == ("Error response from daemon: Datapath port number is not in valid range (1024-49151) "
                        ": 80\n")
    assert getattr(lab2, "swarm", None) is None


def test_default_addr_pool() -> None:
    """TestServiceWithDefaultAddressPoolInit: ingress 20.20.0.0/24, the first overlay 20.20.1.0/24."""
    lab = lab_of(1, init="docker swarm init --default-addr-pool 20.20.0.0/16", join=False)
    assert lab.run("host-A", "docker network create -d overlay ov1").ok
    fmt = "'{{(index .IPAM.Config 0).Subnet}}'"
    assert lab.run("host-A", f"docker network inspect -f {fmt} ingress").stdout == "20.20.0.0/24\n"
    assert lab.run("host-A", f"docker network inspect -f {fmt} ov1").stdout == "20.20.1.0/24\n"


def test_join_refusals() -> None:
    lab = lab_of(3, join=False)
    r = lab.run("host-B", "docker swarm join --token SWMTKN-1-abc 192.168.0.2:2377")
    assert (r.exit_code, r.stderr) == (1, "Error response from daemon: invalid join token\n")
    wrong = lab.swarm.tokens["worker"][:-4] + "0000"
    r = lab.run("host-B", f"docker swarm join --token {wrong} 192.168.0.2:2377")
    assert r.stderr == f"Error response from daemon: {BAD_TOKEN}\n"
    assert BAD_TOKEN == ("rpc error: code = InvalidArgument desc = A valid join token is necessary to join "
                         "this cluster")
    assert lab.swarm.node_by_host("host-B") is None
    r = lab.run("host-B", f"docker swarm join --token {lab.swarm.tokens['worker']} 192.168.0.2:2377")
    assert r.stdout == "This node joined a swarm as a worker.\n"
    r = lab.run("host-B", f"docker swarm join --token {lab.swarm.tokens['worker']} 192.168.0.2:2377")
    assert r.stderr == f"Error response from daemon: {SWARM_EXISTS}\n"


def test_join_through_a_blocked_control_port_times_out() -> None:
    """A real TCP connection to 2377: dropped SYNs make the join time out after 20 s."""
    lab = lab_of(2, join=False)
    lab.run("host-A", "iptables -I INPUT -p tcp --dport 2377 -j DROP")
    t0 = lab.now
    r = lab.run("host-B", f"docker swarm join --token {lab.swarm.tokens['worker']} 192.168.0.2:2377")
    assert r.stderr == f"Error response from daemon: {JOIN_TIMEOUT}\n"
    assert lab.now - t0 == pytest.approx(20.0)
    lab.run("host-A", "iptables -D INPUT -p tcp --dport 2377 -j DROP")
    r = lab.run("host-B", f"docker swarm join --token {lab.swarm.tokens['manager']} 192.168.0.2:2377")
    assert r.stdout == "This node joined a swarm as a manager.\n"


def test_join_token_command() -> None:
    lab = lab_of(2)
    tok = lab.swarm.tokens["manager"]
    assert lab.run("host-A", "docker swarm join-token manager").stdout == (
        "To add a manager to this swarm, run the following command:\n\n"
        f"    docker swarm join --token {tok} 192.168.0.2:2377\n\n")
    assert lab.run("host-A", "docker swarm join-token -q worker").stdout == lab.swarm.tokens["worker"] + "\n"
    r = lab.run("host-A", "docker swarm join-token --rotate worker")
    assert r.stdout.startswith("Successfully rotated worker join token.\n\n")
    assert lab.swarm.tokens["worker"] in r.stdout
    assert lab.run("host-B", "docker swarm join-token worker").stderr == f"Error response from daemon: {NOT_MANAGER}\n"


def test_leave() -> None:
    lab = lab_of(3)
    r = lab.run("host-A", "docker swarm leave")
    assert r.stderr == f"Error response from daemon: {LEAVE_LAST_MANAGER}\n"
    assert lab.run("host-C", "docker swarm leave").stdout == "Node left the swarm.\n"
    lab.wait(1)
    row = [ln for ln in lab.run("host-A", "docker node ls").stdout.splitlines() if "host-C" in ln][0]
    assert row.split()[2:4] == ["Down", "Active"]
    r = lab.run("host-C", "docker swarm leave")
    assert r.stderr == "Error response from daemon: This node is not part of a swarm\n"
    assert "ingress" not in lab.run("host-C", "docker network ls").stdout
    r = lab.run("host-C", f"docker swarm join --token {lab.swarm.tokens['worker']} 192.168.0.2:2377")
    assert r.ok
    assert lab.run("host-A", "docker swarm leave --force").stdout == "Node left the swarm.\n"
    assert getattr(lab, "swarm", None) is None  # the last manager is gone: so is the swarm
    assert lab.run("host-A", "docker swarm init").ok  # and a new one can start
    r = lab.run("host-B", f"docker swarm join --token {lab.swarm.tokens['worker']} 192.168.0.2:2377")
    assert r.ok, r.stderr


# ---------------------------------------------------------------- nodes
def test_node_ls_table() -> None:
    lab = lab_of(3)
    ids = {h: lab.swarm.node_by_host(h).id for h in HOSTS[:3]}
    assert lab.run("host-A", "docker node ls").stdout == (
        "ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION\n"
        f"{ids['host-A']} *   host-A     Ready     Active         Leader           27.5.1\n"
        f"{ids['host-B']}     host-B     Ready     Active                          27.5.1\n"
        f"{ids['host-C']}     host-C     Ready     Active                          27.5.1\n")
    assert lab.run("host-A", "docker node ls -q").stdout.split() == [ids[h] for h in HOSTS[:3]]
    assert lab.run("host-A", "docker node inspect -f '{{.Status.State}} {{.Spec.Role}}' self").stdout == \
        "ready manager\n"
    pretty = lab.run("host-A", "docker node inspect --pretty host-B").stdout
    assert pretty.startswith(f"ID:\t\t\t{ids['host-B']}\nHostname:              \thost-B\n")
    assert " State:\t\t\tReady\n" in pretty and "Manager Status" not in pretty


def test_worker_and_outsider_cannot_use_node_commands() -> None:
    lab = lab_of(2)
    r = lab.run("host-B", "docker node ls")
    assert (r.exit_code, r.stderr) == (1, f"Error response from daemon: {NOT_MANAGER}\n")
    lone = Lab()
    lone.add_host("host-A", address="192.168.0.2/24")
    r = lone.run("host-A", "docker node ls")
    assert r.stderr == f"Error response from daemon: {NO_MANAGER}\n"
    r = lone.run("host-A", "docker network create -d overlay ov")
    assert r.stderr == f"Error response from daemon: {NO_MANAGER}\n"
    r = lab.run("host-B", "docker network create -d overlay ov")
    assert r.stderr == f"Error response from daemon: {WORKER_NETWORK}\n"


def test_node_rm_needs_down_or_force() -> None:
    lab = lab_of(3)
    nid = lab.swarm.node_by_host("host-B").id
    r = lab.run("host-A", "docker node rm host-B")
    assert r.stderr == (f"Error response from daemon: rpc error: code = FailedPrecondition desc = node {nid} "
                        "is not down and can't be removed\n")
    lab.run("host-B", "docker swarm leave")
    assert lab.run("host-A", "docker node rm host-B").stdout == "host-B\n"
    assert "host-B" not in lab.run("host-A", "docker node ls").stdout


# ---------------------------------------------------------------- global IPAM
def test_overlay_subnets_vnis_and_reuse() -> None:
    lab = lab_of(1, join=False)
    for n in ("ov1", "ov2"):
        assert lab.run("host-A", f"docker network create -d overlay {n}").ok
    fmt = "'{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}} " \
          "{{index .Options \"com.docker.network.driver.overlay.vxlanid_list\"}} {{.Scope}}'"
    assert lab.run("host-A", f"docker network inspect -f {fmt} ov1").stdout == "10.0.1.0/24 10.0.1.1 4097 swarm\n"
    assert lab.run("host-A", f"docker network inspect -f {fmt} ov2").stdout == "10.0.2.0/24 10.0.2.1 4098 swarm\n"
    assert lab.run("host-A", "docker network rm ov1").stdout == "ov1\n"
    lab.run("host-A", "docker network create -d overlay ov3")
    # subnets are reused at once, VNIs are allocated serially
    assert lab.run("host-A", f"docker network inspect -f {fmt} ov3").stdout == "10.0.1.0/24 10.0.1.1 4099 swarm\n"
    r = lab.run("host-A", "docker network create -d overlay --subnet 10.0.2.0/25 ov4")
    assert r.stderr == ("Error response from daemon: invalid pool request: Pool overlaps with other one on this "
                        "address space\n")
    r = lab.run("host-A", "docker network create -d overlay ov2")
    assert r.stderr == "Error response from daemon: network with name ov2 already exists\n"


def test_published_ports_allocated_serially() -> None:
    lab = lab_of(1, join=False)
    lab.run("host-A", "docker service create -d --name a -p 80 nginx")
    lab.run("host-A", "docker service create -d --name b --publish target=80 nginx")
    lab.run("host-A", "docker service create -d --name c -p 8080:80 nginx")
    ports = lab.run("host-A", "docker service ls --format '{{.Name}} {{.Ports}}'").stdout
    assert ports == "a *:30000->80/tcp\nb *:30001->80/tcp\nc *:8080->80/tcp\n"
    r = lab.run("host-A", "docker service create -d --name d -p 8080:81 nginx")
    svc = lab.swarm.services
    cid = next(s.id for s in svc.values() if s.name == "c")
    assert r.stderr == ("Error response from daemon: rpc error: code = InvalidArgument desc = port '8080' is "
                        f"already in use by service 'c' ({cid}) as an ingress port\n")
    r = lab.run("host-A", "docker service create -d --name e --endpoint-mode dnsrr -p 81:80 nginx")
    assert "port published with ingress mode can't be used with dnsrr mode" in r.stderr


def test_vips_ingress_first() -> None:
    lab = lab_of(1, join=False)
    lab.run("host-A", "docker network create -d overlay ov")
    lab.run("host-A", "docker service create -d --name web --network ov -p 8080:80 nginx")
    out = lab.run("host-A", "docker service inspect -f '{{json .Endpoint.VirtualIPs}}' web").stdout
    ingress = next(n for n in lab.swarm.networks.values() if n.ingress)
    ov = next(n for n in lab.swarm.networks.values() if n.name == "ov")
    # ingress: .1 gateway, .2 the node's ingress-sbox, .3 the VIP; ov: .1 gateway, .2 the VIP
    assert out == (f'[{{"NetworkID":"{ingress.id}","Addr":"10.0.0.3/24"}},'
                   f'{{"NetworkID":"{ov.id}","Addr":"10.0.1.2/24"}}]\n')
    task = next(iter(lab.swarm.tasks.values()))
    assert [str(a) for a in task.addresses.values()] == ["10.0.0.4/24", "10.0.1.3/24"]


# ---------------------------------------------------------------- scheduling
def test_spread_six_replicas_over_three_nodes() -> None:
    lab = lab_of(3)
    lab.run("host-A", "docker service create -d --name web --replicas 6 nginx")
    assert nodes_of(lab, "web") == ["host-A", "host-B", "host-C"] * 2


def test_drain_moves_tasks_and_active_takes_new_ones() -> None:
    lab = lab_of(3)
    lab.run("host-A", "docker service create -d --name web --replicas 3 nginx")
    lab.wait(1)
    assert lab.run("host-A", "docker node update --availability drain host-B").stdout == "host-B\n"
    lab.wait(3)  # the old task stops after the 2 s gossip-converge delay (weight 0 first)
    assert "host-B" not in nodes_of(lab, "web") and len(nodes_of(lab, "web")) == 3
    ps = lab.run("host-A", "docker service ps web").stdout.splitlines()
    assert re.search(r"\\_ web\.2 +nginx:latest +host-B +Shutdown +Shutdown", "\n".join(ps))
    assert "Drain" in lab.run("host-A", "docker node ls").stdout
    assert lab.run("host-B", "docker ps -q").stdout == ""
    lab.run("host-A", "docker node update --availability active host-B")
    lab.run("host-A", "docker service scale -d web=4")
    assert sorted(nodes_of(lab, "web")).count("host-B") == 1


def test_global_mode_one_task_per_node() -> None:
    lab = lab_of(3)
    lab.run("host-A", "docker service create -d --name mon --mode global busybox sleep 1000")
    assert sorted(nodes_of(lab, "mon")) == ["host-A", "host-B", "host-C"]
    r = lab.run("host-A", "docker service create -d --mode global --replicas 2 busybox")
    assert r.stderr == "replicas can only be used with replicated mode\n"
    lab.run("host-A", "docker node update --availability drain host-C")
    assert sorted(nodes_of(lab, "mon")) == ["host-A", "host-B"]
    lab.wait(1)
    row = lab.run("host-A", "docker service ls --format '{{.Mode}} {{.Replicas}}'").stdout
    assert row == "global 2/2\n"


def test_global_service_follows_joins() -> None:
    lab = lab_of(3, join=False)
    lab.run("host-B", f"docker swarm join --token {lab.swarm.tokens['worker']} 192.168.0.2:2377")
    lab.run("host-A", "docker service create -d --name mon --mode global busybox sleep 1000")
    assert sorted(nodes_of(lab, "mon")) == ["host-A", "host-B"]
    lab.run("host-C", f"docker swarm join --token {lab.swarm.tokens['worker']} 192.168.0.2:2377")
    assert sorted(nodes_of(lab, "mon")) == ["host-A", "host-B", "host-C"]


def test_host_mode_port_collision_leaves_a_task_pending() -> None:
    lab = lab_of(2)
    lab.run("host-A", "docker service create -d --name web --replicas 3 -p mode=host,target=80,published=8080 nginx")
    lab.wait(1)
    pending = [t for t in lab.swarm.tasks.values() if t.state == "pending"]
    assert len(pending) == 1
    assert pending[0].error == "no suitable node (host-mode port already in use on 2 nodes)"
    ps = lab.run("host-A", "docker service ps web").stdout
    assert '"no suitable node (host-mode p…"' in ps


def test_crash_reschedules_after_the_gossip_detects_it() -> None:
    lab = lab_of(3)
    lab.run("host-A", "docker service create -d --name web --replicas 3 nginx")
    lab.wait(1)
    crash_node(lab, "host-C")
    t0 = lab.now
    while "Down" not in lab.run("host-A", "docker node ls").stdout:
        lab.wait(0.5)
        assert lab.now - t0 < 30
    assert "host-C" in nodes_of(lab, "web")  # down, but not yet past the heartbeat grace
    lab.wait(20)
    assert sorted(nodes_of(lab, "web")) == ["host-A", "host-A", "host-B"] or \
        sorted(nodes_of(lab, "web")) == ["host-A", "host-B", "host-B"]
    assert lab.run("host-A", "docker service ls --format '{{.Replicas}}'").stdout == "3/3\n"


# ---------------------------------------------------------------- services
def test_service_create_prints_progress_until_converged() -> None:
    lab = lab_of(1, join=False)
    r = lab.run("host-A", "docker service create --name web --replicas 2 nginx")
    sid = lab.swarm.services and next(iter(lab.swarm.services)).strip()
    lines = r.stdout.splitlines()
    assert lines[:4] == [sid, "overall progress: 0 out of 2 tasks", "1/2:  ", "2/2:  "]
    assert "overall progress: 2 out of 2 tasks" in lines
    assert "verify: Waiting 5 seconds to verify that tasks are stable..." in lines
    assert lines[-1] == f"verify: Service {sid} converged"
    r = lab.run("host-A", "docker service create -d --name web2 nginx")
    assert re.fullmatch(r"[0-9a-z]{25}\n", r.stdout)


def test_service_ls_ps_scale_update_rm() -> None:
    lab = lab_of(2)
    lab.run("host-A", "docker service create -d --name web --replicas 2 -p 8080:80 nginx")
    lab.wait(1)
    sid = next(iter(lab.swarm.services))
    assert lab.run("host-A", "docker service ls").stdout == (
        "ID             NAME      MODE         REPLICAS   IMAGE          PORTS\n"
        f"{sid[:12]}   web       replicated   2/2        nginx:latest   *:8080->80/tcp\n")
    ps = lab.run("host-A", "docker service ps web").stdout.splitlines()
    assert ps[0].split() == ["ID", "NAME", "IMAGE", "NODE", "DESIRED", "STATE", "CURRENT", "STATE", "ERROR", "PORTS"]
    assert ps[1].split()[1:6] == ["web.1", "nginx:latest", "host-A", "Running", "Running"]
    r = lab.run("host-A", "docker service scale -d web=3")
    assert r.stdout == "web scaled to 3\n"
    r = lab.run("host-A", "docker service update -d --image nginx:1.27 web")
    assert r.stdout == "web\n"
    lab.wait(2)
    st = lab.run("host-A", "docker service inspect -f '{{.UpdateStatus.State}}' web")
    assert st.stdout == "updating\n"  # the updater watches the new tasks for the monitor period
    lab.wait(5)
    st = lab.run("host-A", "docker service inspect -f '{{.UpdateStatus.State}} {{.Spec.TaskTemplate.ContainerSpec.Image}}' web")
    assert st.stdout.startswith("completed nginx:1.27@sha256:")
    assert lab.run("host-A", "docker service ls --format '{{.Image}} {{.Replicas}}'").stdout == "nginx:1.27 3/3\n"
    assert re.search(r" \\_ web\.1 +nginx:latest +host-A +Shutdown", lab.run("host-A", "docker service ps web").stdout)
    assert lab.run("host-A", "docker service rm web").stdout == "web\n"
    lab.wait(3)  # tasks stop after the 2 s gossip-converge delay
    assert lab.run("host-A", "docker service ls -q").stdout == ""
    assert not lab.swarm.tasks
    assert lab.run("host-A", "docker service ps web").stderr == "no such service: web\n"
    r = lab.run("host-A", "docker service inspect web")
    assert (r.stdout, r.stderr) == ("[]\n", "Error: no such service: web\n")


def test_service_refusals() -> None:
    lab = lab_of(1, join=False)
    lab.run("host-A", "docker service create -d --name web nginx")
    r = lab.run("host-A", "docker service create -d --name web nginx")
    assert r.stderr == ("Error response from daemon: rpc error: code = AlreadyExists desc = name conflicts with "
                        "an existing object: service web already exists\n")
    r = lab.run("host-A", "docker service create -d --network bridge nginx")
    assert r.stderr == ("Error response from daemon: The network bridge cannot be used with services. Only "
                        "networks scoped to the swarm can be used, such as those created with the overlay "
                        "driver.\n")
    r = lab.run("host-A", "docker service create -d --network nope nginx")
    assert r.stderr == "Error response from daemon: network nope not found\n"
    r = lab.run("host-A", "docker service create -d -p mode=host,published=80 nginx")
    assert r.exit_code == 125 and 'missing mandatory field "target"' in r.stderr


def test_unknown_image_tasks_are_rejected_and_retried() -> None:
    lab = lab_of(1, join=False)
    r = lab.run("host-A", "docker service create -d --name x nope")
    assert r.stderr.startswith("image nope could not be accessed on a registry to record\nits digest.")
    lab.wait(1)
    ps = lab.run("host-A", "docker service ps x").stdout
    assert "Rejected" in ps and '"No such image: nope:latest"' in ps
    lab.wait(6)
    assert len([t for t in lab.swarm.tasks.values()]) == 2  # replaced after the 5 s restart delay


def test_a_full_subnet_leaves_tasks_pending() -> None:
    """A /28 holds 13 addresses after the gateway: a VIP and 12 tasks; the rest wait."""
    lab = lab_of(1, join=False)
    lab.run("host-A", "docker network create -d overlay --subnet 10.9.0.0/28 small")
    lab.run("host-A", "docker service create -d --name web --replicas 14 --network small busybox sleep 100")
    pending = [t for t in lab.swarm.tasks.values() if t.state == "pending"]
    assert len(pending) == 2
    assert pending[0].error.startswith("no available IPv4 addresses on this network's address pools: small")
    lab.run("host-A", "docker service scale -d web=12")
    lab.wait(1)
    assert sorted(t.state for t in lab.swarm.tasks.values()) == ["running"] * 12


def test_service_logs() -> None:
    lab = lab_of(2)
    lab.run("host-A", "docker service create -d --name web --replicas 2 nginx")
    lab.wait(1)
    t1 = next(t for t in lab.swarm.tasks.values() if t.slot == 1)
    out = lab.run("host-A", "docker service logs web").stdout.splitlines()
    assert out[0] == (f"web.1.{t1.id[:12]}@host-A    | /docker-entrypoint.sh: /docker-entrypoint.d/ is not "
                      "empty, will attempt to perform configuration")
    assert any(line.startswith("web.2.") and "@host-B    | " in line for line in out)
    assert lab.run("host-A", "docker service logs nope").stderr == "no such task or service: nope\n"


def test_same_seed_same_ids() -> None:
    def ids(seed: int) -> list[str]:
        lab = lab_of(3, seed=seed)
        lab.run("host-A", "docker network create -d overlay ov")
        lab.run("host-A", "docker service create -d --name web --network ov --replicas 3 nginx")
        sw = lab.swarm
        return ([sw.id, *sw.tokens.values(), *sw.nodes, *sw.networks, *sw.services]
                + sorted(t.id for t in sw.tasks.values()))

    assert ids(7) == ids(7)
    assert ids(7) != ids(8)


def test_observers_hear_the_lifecycle() -> None:
    from cnmsim.swarm.manager.swarm import observe

    lab = lab_of(2)
    seen: list[str] = []
    observe(lab.swarm, lambda event, **kw: seen.append(event))
    lab.run("host-A", "docker service create -d --name web --replicas 2 nginx")
    lab.wait(1)
    lab.run("host-A", "docker service rm web")
    lab.wait(3)  # tasks stop after the 2 s gossip-converge delay
    assert seen[0] == "service_created"
    assert seen.count("task_started") == 2 and seen.count("task_stopped") == 2
    assert seen.index("task_stopping") < seen.index("task_stopped")
    assert "service_removed" in seen


# ---------------------------------------------------------------- with the overlay driver
def test_task_containers_on_each_node() -> None:
    """[overlay] `docker ps` on a worker shows web.N.<task id>; the task has its addresses."""
    lab = lab_of(2)
    lab.run("host-A", "docker network create -d overlay ov")
    assert " ov " not in lab.run("host-B", "docker network ls").stdout  # no task there yet
    lab.run("host-A", "docker service create --name web --replicas 2 --network ov nginx")
    task = next(t for t in lab.swarm.tasks.values() if lab.swarm.nodes[t.node].hostname == "host-B")
    names = lab.run("host-B", "docker ps --format '{{.Names}}'").stdout
    assert names == f"web.{task.slot}.{task.id}\n"
    assert re.search(r"\n[0-9a-z]{12}   ov                overlay   swarm\n",
                     lab.run("host-B", "docker network ls").stdout)
    ip = lab.run(f"web.{task.slot}.{task.id}", "ip -4 -o addr show eth0").stdout
    assert str(task.addresses[next(iter(task.addresses))].ip) in ip
    lab.run("host-A", "docker service rm web")
    lab.wait(3)  # tasks stop after the 2 s gossip-converge delay
    assert lab.run("host-B", "docker ps -aq").stdout == ""
    assert " ov " not in lab.run("host-B", "docker network ls").stdout  # gone with its last task
    assert "ingress" in lab.run("host-B", "docker network ls").stdout  # ingress stays


def test_attachable_overlay_for_docker_run() -> None:
    """[overlay] `docker run --network` works on an attachable overlay only."""
    lab = lab_of(2)
    lab.run("host-A", "docker network create -d overlay ov")
    lab.run("host-A", "docker network create -d overlay --attachable att")
    r = lab.run("host-B", "docker run -d --name c1 --network att busybox sleep 100")
    assert r.ok, r.stderr
    att = next(n for n in lab.swarm.networks.values() if n.name == "att")
    assert any(o.endswith("/c1") for o in att.allocated.values())
    r = lab.run("host-B", "docker run -d --name c2 --network ov busybox sleep 100")
    assert NOT_ATTACHABLE.format(name="ov") in r.stderr
