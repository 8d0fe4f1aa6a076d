"""Every refusal prints the engine's message, exits non-zero and leaves the host as it was.

State compared before/after: `iptables-save`, `ip -d link`, `docker network ls`, `docker ps -a`.
The docker CLI prints a daemon refusal as `Error response from daemon: MSG` (exit 1); `docker
run`/`create` print `docker: Error response from daemon: MSG.` plus `See 'docker run --help'.`
and exit 125.  Messages: facts/engine.md §0 (predefined networks, single host/null network),
§2.2 (overlap), §2.4 (--ip); the brief (name conflict, port already allocated: the failed
container stays Created, as the real engine leaves it).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cnmsim import Lab

STATE = ("iptables-save", "ip -d link", "docker network ls", "docker ps -a")
RUN_HELP = "See 'docker run --help'.\n"


# ---------------------------------------------------------------- helpers
def sh(lab: Lab, line: str, where: str = "host-A") -> str:
    r = lab.run(where, line)
    assert r.exit_code == 0, f"{where}$ {line} failed ({r.exit_code}): {r.stdout}{r.stderr}"
    return r.stdout


def state(lab: Lab) -> dict[str, str]:
    return {line: sh(lab, line) for line in STATE}


def busy_host() -> Lab:
    """host-A with web (nginx, 8000->80 on docker0), net1 with c1, and an empty net2."""
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24")
    for line in ("docker run -d --name web -p 8000:80 nginx",
                 "docker network create net1",
                 "docker run -d --name c1 --network net1 busybox sleep 1000",
                 "docker network create net2"):
        sh(lab, line)
    return lab


def web_id(lab: Lab) -> str:
    return sh(lab, "docker inspect -f '{{.Id}}' web").strip()


@dataclass
class Refusal:
    line: str
    message: str  # the engine's words; "{web}" is the full id of container web, "{net1}" the id of net1
    exit_code: int = 1

    def expected(self, lab: Lab) -> str:
        net1 = sh(lab, "docker network inspect -f '{{.Id}}' net1").strip()
        return self.message.format(web=web_id(lab), net1=net1)


REFUSALS = {
    "duplicate-name": Refusal(
        "docker run -d --name web nginx",
        ('Conflict. The container name "/web" is already in use by container "{web}". '
         "You have to remove (or rename) that container to be able to reuse that name"),
        125),
    "rm-network-with-endpoints": Refusal(
        "docker network rm net1",
        "error while removing network: network net1 id {net1} has active endpoints"),
    "create-bridge": Refusal("docker network create -d bridge bridge",
                             "operation is not permitted on predefined bridge network "),
    "create-host": Refusal("docker network create host",
                           "operation is not permitted on predefined host network "),
    "create-none": Refusal("docker network create none",
                           "operation is not permitted on predefined none network "),
    "second-host-network": Refusal("docker network create -d host host2",
                                   'only one instance of "host" network is allowed'),
    "second-null-network": Refusal("docker network create -d null none2",
                                   'only one instance of "null" network is allowed'),
    "rm-bridge": Refusal("docker network rm bridge", "bridge is a pre-defined network and cannot be removed"),
    "rm-host": Refusal("docker network rm host", "host is a pre-defined network and cannot be removed"),
    "rm-none": Refusal("docker network rm none", "none is a pre-defined network and cannot be removed"),
    "duplicate-network": Refusal("docker network create net1", "network with name net1 already exists"),
    "unknown-network-run": Refusal("docker run -d --name c9 --network nosuch busybox",
                                   "network nosuch not found", 125),
    "unknown-network-connect": Refusal("docker network connect nosuch web", "network nosuch not found"),
    "unknown-network-rm": Refusal("docker network rm nosuch", "network nosuch not found"),
    "unknown-container-rm": Refusal("docker rm nosuch", "No such container: nosuch"),
    "unknown-container-stop": Refusal("docker stop nosuch", "No such container: nosuch"),
    "unknown-container-connect": Refusal("docker network connect net2 nosuch",
                                         "No such container: nosuch"),
    "unknown-image": Refusal(
        "docker run -d --name c9 nosuchimage",
        ("pull access denied for nosuchimage, repository does not exist or may require "
         "'docker login': denied: requested access to the resource is denied"),
        125),
    "unknown-driver": Refusal("docker network create -d nosuchdrv x1", 'plugin "nosuchdrv" not found'),
    "ip-on-default-bridge": Refusal(
        "docker run -d --name c9 --ip 172.17.0.9 busybox sleep 1000",
        "user specified IP address is supported on user defined networks only", 125),
    "subnet-overlap": Refusal(
        "docker network create --subnet 172.18.0.0/16 net3",
        "invalid pool request: Pool overlaps with other one on this address space"),
    "running-container-rm": Refusal(
        "docker rm web",
        ('cannot remove container "/web": container is running: stop the container before '
         "removing or force remove")),
}


# ---------------------------------------------------------------- refusals leave no trace
@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
def test_refusal_message_exit_code_and_unchanged_state(case: str) -> None:
    lab = busy_host()
    refusal = REFUSALS[case]
    expected = refusal.expected(lab)
    before = state(lab)
    r = lab.run("host-A", refusal.line)
    assert (r.exit_code, r.stdout) == (refusal.exit_code, "")
    assert "Error response from daemon: " in r.stderr and expected in r.stderr, r.stderr
    if refusal.exit_code == 125:  # docker run: "docker: Error response ...", then the help hint
        assert "docker: Error response from daemon: " in r.stderr and r.stderr.endswith(RUN_HELP)
    else:
        assert r.stderr == f"Error response from daemon: {expected}\n"
    assert state(lab) == before


def test_unknown_image_is_pulled_first() -> None:
    lab = busy_host()
    r = lab.run("host-A", "docker run -d --name c9 nosuchimage")
    assert r.exit_code == 125
    assert r.stderr.startswith("Unable to find image 'nosuchimage:latest' locally\n")


def test_duplicate_name_message_names_the_holder() -> None:
    lab = busy_host()
    r = lab.run("host-A", "docker run -d --name web nginx")
    assert r.exit_code == 125
    assert (f'Conflict. The container name "/web" is already in use by container "{web_id(lab)}". You have to '
            "remove (or rename) that container to be able to reuse that name.") in r.stderr


# ---------------------------------------------------------------- a port that is taken
def test_port_already_allocated_leaves_a_created_container() -> None:
    lab = busy_host()
    before = state(lab)
    r = lab.run("host-A", "docker run -d --name web2 -p 8000:80 nginx")
    assert r.exit_code == 125 and r.stdout == ""
    assert "Bind for 0.0.0.0:8000 failed: port is already allocated" in r.stderr
    assert r.stderr.startswith("docker: Error response from daemon: ") and r.stderr.endswith(RUN_HELP)
    after = state(lab)
    for line in ("iptables-save", "ip -d link", "docker network ls"):
        assert after[line] == before[line], line
    assert sh(lab, "docker ps -a -f name=web2 --format '{{.Names}} {{.Status}}'") == "web2 Created\n"
    assert sh(lab, "docker ps --format '{{.Names}}'").split() == ["c1", "web"]
    sh(lab, "docker rm web2")
    assert state(lab) == before


def test_port_taken_on_a_user_network_too() -> None:
    lab = busy_host()
    before = state(lab)
    r = lab.run("host-A", "docker run -d --name web2 --network net1 -p 8000:80 nginx")
    assert r.exit_code == 125 and "Bind for 0.0.0.0:8000 failed: port is already allocated" in r.stderr
    sh(lab, "docker rm web2")
    assert state(lab) == before
    # the port is still web's: a LAN client gets nginx through it
    lab.add_host("lan", address="192.168.0.3/24", docker=False)
    assert "Welcome to nginx!" in sh(lab, "curl -s -m 2 http://192.168.0.2:8000/", where="lan")


@pytest.mark.parametrize("seed", range(4))
def test_refused_run_on_an_empty_bridge_leaves_links_unchanged(seed: int) -> None:
    """The refused container's veth joined docker0 for a moment: docker0 keeps its own random MAC
    (libnetwork setupDevice sets it explicitly, facts §2.3), so `ip -d link` is unchanged."""
    lab = Lab(seed=seed)
    lab.add_host("host-A", address="192.168.0.2/24", gateway="192.168.0.1")
    sh(lab, "docker network create net1")
    sh(lab, "docker run -d --name web --network net1 -p 8000:80 nginx")
    before = state(lab)
    assert lab.run("host-A", "docker run -d --name web2 -p 8000:80 nginx").exit_code == 125
    sh(lab, "docker rm web2")
    assert state(lab) == before


# ---------------------------------------------------------------- a refused connect
def test_refused_connect_keeps_the_container_as_it_was() -> None:
    lab = busy_host()
    sh(lab, "docker network create --subnet 10.9.0.0/24 net3")
    sh(lab, "docker run -d --name c2 --network net3 --ip 10.9.0.5 busybox sleep 1000")
    before = state(lab) | {"c1 ip addr": sh(lab, "ip addr", where="c1"), "c1 ip route": sh(lab, "ip route", where="c1")}
    r = lab.run("host-A", "docker network connect --ip 10.9.0.5 net3 c1")
    assert r.exit_code == 1 and r.stderr.startswith("Error response from daemon: ")
    after = state(lab) | {"c1 ip addr": sh(lab, "ip addr", where="c1"), "c1 ip route": sh(lab, "ip route", where="c1")}
    assert after == before
