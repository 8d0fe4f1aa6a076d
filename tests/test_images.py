"""The image models without the engine: namespaces on a bridge, Places for them, apps started
through Image.start, and curl from a neighbour — the packets are the simulated kernel's."""

from __future__ import annotations

import json
import re

import pytest
from scapy.layers.dns import DNS, DNSQR

from cnmsim.apps.dnsd import serve_dns
from cnmsim.apps.httpd import NGINX_INDEX
from cnmsim.engine.images import (
    IMAGES,
    RUN_EXIT,
    AppContext,
    Image,
    familiar,
    lookup,
    parse_ref,
    pull_error,
    register,
    run_error,
)
from cnmsim.lab import Lab
from cnmsim.place import Place
from tests.conftest import bridge_with_namespaces

SUBNET = "172.18.0"
GW = f"{SUBNET}.1"


def make_lab(*names: str) -> Lab:
    """Namespaces on bridge br0 of host h (172.18.0.2, .3 ...), each a Place with its own files;
    the host runs a DNS server on the gateway (as Docker's embedded DNS would) for their names."""
    lab = Lab(seed=0)
    h = lab.add_host("h", docker=False)
    bridge_with_namespaces(lab, "h", names, subnet=SUBNET)
    zone = {}
    for i, n in enumerate(names, 2):
        zone[n] = f"{SUBNET}.{i}"
        files = {"/etc/hostname": f"{n}\n", "/etc/hosts": f"127.0.0.1\tlocalhost\n{SUBNET}.{i}\t{n}\n",
                 "/etc/resolv.conf": f"nameserver {GW}\n"}
        lab.register_place(Place(n, h, h.kernel.netns(n), files, flavour="busybox"))
    serve_dns(h.place, zone)
    return lab


class Box:
    """One started container: its context and the log lines `docker logs` would show."""

    def __init__(self, lab: Lab, where: str, ref: str, env: dict[str, str] | None = None,
                 cmd: list[str] | None = None, tty: bool = False) -> None:
        image = lookup(ref)
        assert image is not None
        place = lab.places[where]
        for path, text in image.files.items():  # what the engine copies from the image
            place.files.setdefault(path, text)
        self.logs: list[tuple[str, str]] = []
        self.exit_code: int | None = None
        self.ctx = AppContext(place, image.env_dict() | (env or {}), cmd or list(image.cmd),
                              lambda stream, line: self.logs.append((stream, line)), tty=tty,
                              on_exit=self.exited)
        self.app = image.start(self.ctx)

    def exited(self, code: int) -> None:
        self.exit_code = code

    def out(self) -> list[str]:
        return [line for stream, line in self.logs if stream == "stdout"]

    def err(self) -> list[str]:
        return [line for stream, line in self.logs if stream == "stderr"]


# ---------------------------------------------------------------- nginx
def test_nginx_serves_the_welcome_page_and_logs_the_client() -> None:
    lab = make_lab("web", "client")
    web = Box(lab, "web", "nginx")
    out = web.out()
    assert out[0] == "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration"
    assert "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf" in out
    assert out[-1] == "/docker-entrypoint.sh: Configuration complete; ready for start up"
    err = web.err()
    assert err[0] == '1970/01/01 00:00:00 [notice] 1#1: using the "epoll" event method'
    assert err[1] == "1970/01/01 00:00:00 [notice] 1#1: nginx/1.27.3"
    assert err[-1] == "1970/01/01 00:00:00 [notice] 1#1: start worker process 30"

    r = lab.run("client", "curl -s http://web/")
    assert (r.exit_code, r.stdout) == (0, NGINX_INDEX)
    lab.run("client", "curl -s -A probe/1.0 http://172.18.0.2/missing")
    access = web.out()[len(out):]
    assert re.fullmatch(r'172\.18\.0\.3 - - \[01/Jan/1970:00:00:0\d \+0000\] "GET / HTTP/1\.1" 200 615 '
                        r'"-" "curl/7\.88\.1" "-"', access[0]), access
    assert re.fullmatch(r'172\.18\.0\.3 - - \[.*\] "GET /missing HTTP/1\.1" 404 \d+ "-" "probe/1\.0" "-"',
                        access[1])

    web.ctx.place.files["/usr/share/nginx/html/index.html"] = "hello from web\n"  # docker exec ... >
    assert lab.run("client", "curl -s 172.18.0.2").stdout == "hello from web\n"

    web.ctx.stop()  # docker stop: SIGQUIT, the image's StopSignal
    assert web.err()[-1] == "1970/01/01 00:00:00 [notice] 1#1: exit"
    assert "[notice] 1#1: signal 3 (SIGQUIT) received, shutting down" in web.err()[-12]
    assert lab.run("client", "curl -s 172.18.0.2").exit_code == 7

    again = Box(lab, "web", "nginx")  # docker start: default.conf already has the IPv6 listen
    assert "10-listen-on-ipv6-by-default.sh: info: IPv6 listen already enabled" in again.out()
    assert not any("Getting the checksum" in line for line in again.out())


def test_nginx_with_another_command_or_quiet_entrypoint() -> None:
    lab = make_lab("web")
    assert Box(lab, "web", "nginx", cmd=["sh"]).app is None  # docker run nginx sh: no server
    version = Box(lab, "web", "nginx", cmd=["nginx", "-v"])
    assert version.app is not None  # the image's program ran (it is not a command for the engine)
    lab.wait(0)
    assert version.err() == ["nginx version: nginx/1.27.3"] and version.exit_code == 0
    quiet = Box(lab, "web", "nginx", env={"NGINX_ENTRYPOINT_QUIET_LOGS": "1"})
    assert quiet.out() == [] and quiet.err()
    busy = Box(lab, "web", "nginx")  # port 80 already taken in this namespace
    lab.wait(3)
    assert busy.err()[0].endswith("[emerg] 1#1: bind() to 0.0.0.0:80 failed (98: Address already in use)")
    assert busy.err()[-1] == "nginx: [emerg] still could not bind()" and busy.exit_code == 1


# ---------------------------------------------------------------- consul
def test_consul_kv_over_http() -> None:
    lab = make_lab("db", "client")
    db = Box(lab, "db", "consul")
    assert db.out()[0] == "==> Starting Consul agent..."
    assert "          Client Addr: [0.0.0.0] (HTTP: 8500, HTTPS: -1, gRPC: 8502, gRPC-TLS: 8503, DNS: 8600)" in db.out()
    url = "http://db:8500/v1"
    r = lab.run("client", f"curl -s -X PUT -d early {url}/kv/x")
    assert r.stdout == "No cluster leader"  # the dev server has not elected itself yet
    lab.wait(1)
    assert any(line.endswith("agent.server: cluster leadership acquired") for line in db.out())
    assert lab.run("client", f"curl -s {url}/status/leader").stdout == '"127.0.0.1:8300"\n'
    assert lab.run("client", f"curl -s -X PUT -d hello {url}/kv/greeting").stdout == "true\n"
    got = json.loads(lab.run("client", f"curl -s {url}/kv/greeting").stdout)
    assert got == [{"LockIndex": 0, "Key": "greeting", "Flags": 0, "Value": "aGVsbG8=",
                    "CreateIndex": 14, "ModifyIndex": 14}]
    assert lab.run("client", f"curl -s {url}/kv/greeting").stdout.startswith('[\n    {\n        "LockIndex": 0,')
    assert lab.run("client", f"curl -s '{url}/kv/greeting?raw'").stdout == "hello"
    r = lab.run("client", f"curl -si {url}/kv/greeting")
    assert "X-Consul-Index: 14\n" in r.stdout and "Content-Type: application/json\n" in r.stdout
    assert lab.run("client", f"curl -s -X DELETE {url}/kv/greeting").stdout == "true\n"
    r = lab.run("client", f"curl -s -o /dev/null -w '%{{http_code}}' {url}/kv/greeting")
    assert r.stdout == "404"
    nodes = json.loads(lab.run("client", f"curl -s {url}/catalog/nodes").stdout)
    assert nodes[0]["Node"] == "db" and nodes[0]["Address"] == "127.0.0.1"
    assert any(re.search(r"\[DEBUG\] agent\.http: Request finished: method=GET url=/v1/catalog/nodes "
                         r"from=172\.18\.0\.3:\d+", line) for line in db.out())
    # the cluster ports listen on 127.0.0.1 only (-dev), HTTP on every address (-client 0.0.0.0)
    assert lab.run("client", "nc -z db 8300").exit_code == 1
    assert lab.run("db", "nc -z 127.0.0.1 8300").exit_code == 0
    assert dns_8600(lab, "client", "db.node.consul") == "127.0.0.1"


def dns_8600(lab: Lab, where: str, name: str) -> str | None:
    """One A query to consul's DNS interface (UDP 8600 of 172.18.0.2)."""
    sock = lab.places[where].ns.sockets.udp_socket()

    def ask():  # noqa: ANN202
        sock.sendto(bytes(DNS(id=7, rd=1, qd=DNSQR(qname=name))), (f"{SUBNET}.2", 8600))
        got = yield from sock.recvfrom(2.0)
        return DNS(got[0]).an[0].rdata if isinstance(got, tuple) else None
    proc = lab.env.process(ask())
    lab.env.run(until=proc)
    sock.close()
    return proc.value


def test_consul_bind_interface() -> None:
    lab = make_lab("db")
    db = Box(lab, "db", "consul", env={"CONSUL_BIND_INTERFACE": "eth0"})
    assert db.out()[0] == "==> Found address '172.18.0.2' for interface 'eth0', setting bind option..."
    lab.wait(1)
    assert lab.run("db", "curl -s localhost:8500/v1/status/leader").stdout == '"172.18.0.2:8300"\n'
    bad = Box(lab, "db", "consul", env={"CONSUL_BIND_INTERFACE": "eth9"})
    assert bad.out() == ["Could not find IP for interface 'eth9', exiting"] and bad.exit_code == 1


def test_consul_without_client_flag_listens_on_loopback() -> None:
    lab = make_lab("db", "client")
    db = Box(lab, "db", "consul", cmd=["agent", "-dev"])  # the common mistake: no -client 0.0.0.0
    lab.wait(1)
    assert "          Client Addr: [127.0.0.1] (HTTP: 8500, HTTPS: -1, gRPC: 8502, gRPC-TLS: 8503, DNS: 8600)" in db.out()
    assert lab.run("client", "curl -s db:8500/v1/status/leader").exit_code == 7
    assert lab.run("db", "curl -s 127.0.0.1:8500/v1/status/leader").stdout == '"127.0.0.1:8300"\n'
    db.ctx.stop()
    assert lab.run("db", "curl -s 127.0.0.1:8500/v1/status/leader").exit_code == 7
    assert Box(lab, "db", "consul", cmd=["version"]).app is None


# ---------------------------------------------------------------- docker-pets
def test_pets_counts_hits_in_consul() -> None:
    lab = make_lab("db", "web", "client")
    Box(lab, "db", "consul")
    web = Box(lab, "web", "chrch/docker-pets:1.0", env={"DB": "db"})
    assert web.err() == []
    assert lab.run("client", "curl -s web:5000").exit_code == 7  # app.py sleeps 5 s first
    lab.wait(6)
    assert web.err() == [" * Running on http://0.0.0.0:7000/ (Press CTRL+C to quit)",  # admin.py
                         " * Running on http://0.0.0.0:5000/ (Press CTRL+C to quit)"]  # after consul
    assert lab.run("client", "curl -s db:8500/v1/kv/Cats?raw").stdout == "0"  # app.py zeroed them

    r = lab.run("client", "curl -si web:5000/")  # no vote cookie yet: off to the voting page
    assert r.stdout.startswith("HTTP/1.0 302 FOUND\n") and "Location: http://web:5000/vote\n" in r.stdout
    r = lab.run("client", "curl -si web:5000/vote")
    assert "Set-Cookie: vote=Cats; Path=/\n" in r.stdout and "Processed by container ID <b>web</b>" in r.stdout

    for n in (1, 2):
        r = lab.run("client", "curl -s -H 'Cookie: vote=Cats' web:5000/")
        assert f"<p><b>{n} Pets Served</b></p>" in r.stdout and "<p><b>web</b></p>" in r.stdout
        assert re.search(r'<img src="\./static/option_a/anigif_enhanced-buzz-[\d-]+\.gif"', r.stdout)
        assert r.stdout.endswith("</body>\n</html>") and "Vote Again" in r.stdout
        # the app resolved "db" through the container's resolver, then asked consul
        sums = [e.summary for e in r.trace]
        assert any(re.search(r"IP 172\.18\.0\.3\.\d+ > 172\.18\.0\.1\.53: \d+\+ A\? db\. ", s) for s in sums)
        syns = [s for s in sums if re.search(r"172\.18\.0\.3\.\d+ > 172\.18\.0\.2\.8500: Flags \[S\],", s)]
        assert len(set(syns)) == 2  # one connection for the GET, one for the PUT
    assert lab.run("client", "curl -s db:8500/v1/kv/hits?raw").stdout == "2"
    assert re.fullmatch(r'172\.18\.0\.4 - - \[01/Jan/1970 00:00:0\d\] "GET / HTTP/1\.1" 200 -', web.err()[-1])

    r = lab.run("client", "curl -s -d 'name=ann&vote=b' web:5000/vote")
    assert lab.run("client", "curl -s db:8500/v1/kv/Dogs?raw").stdout == "1"
    assert "['Dogs', 1]," in lab.run("client", "curl -s web:7000/admin").stdout


def test_pets_without_db_and_health() -> None:
    lab = make_lab("web", "client")
    web = Box(lab, "web", "chrch/docker-pets:1.0", tty=True)
    lab.wait(0.01)
    assert web.out() == ["Starting web container web", "No DB given"]
    r = lab.run("client", "curl -s web:5000/")
    assert "option_b/" in r.stdout and "<p><b></b></p>" in r.stdout and "Vote Again" not in r.stdout
    assert lab.run("client", "curl -s web:5000/health").stdout == "OK"
    lab.run("client", "curl -s -X PUT -H 'Content-Type: application/json' -d '{\"healthy\": \"False\"}' web:5000/health")
    r = lab.run("client", "curl -s -w ' %{http_code}' web:5000/health")
    assert r.stdout == "NOT OK 500"
    assert "../static/error.png" in lab.run("client", "curl -s web:5000/").stdout


def test_pets_when_consul_cannot_be_reached() -> None:
    lab = make_lab("web", "client")
    web = Box(lab, "web", "chrch/docker-pets:1.0", env={"DB": "nosuch"})
    lab.wait(20)
    err = web.err()
    assert err[0] == " * Running on http://0.0.0.0:7000/ (Press CTRL+C to quit)"  # admin.py
    assert err[1:4] == ["Traceback (most recent call last):", '  File "app.py", line 44, in <module>',
                        "    if c.kv.get('hits')[1] == None:"]
    assert err[4].startswith("requests.exceptions.ConnectionError: HTTPConnectionPool(host='nosuch', "
                                   "port=8500): Max retries exceeded with url: /v1/kv/hits")
    assert "[Errno -2] Name does not resolve" in err[4]
    assert lab.run("client", "curl -s web:5000/").exit_code == 7  # app.py died
    r = lab.run("client", "curl -s -w '%{http_code}' web:7000/admin")  # admin.py lives on
    assert r.stdout.endswith("500") and "Internal Server Error" in r.stdout


# ---------------------------------------------------------------- registry
def test_lookup_parses_references() -> None:
    nginx = IMAGES["nginx"]
    for ref in ("nginx", "nginx:latest", "nginx:1.27", "library/nginx", "docker.io/library/nginx:1.27.3",
                "docker.io/nginx", f"nginx@sha256:{nginx.id}"):
        assert lookup(ref) is nginx, ref
    assert lookup("nginx:0.1") is None and lookup("nope") is None and lookup("quay.io/nginx") is None
    assert lookup("hashicorp/consul") is IMAGES["consul"]
    assert parse_ref("localhost:5000/app") == ("localhost:5000/app", "latest", "")
    assert familiar("docker.io/library/nope") == "nope:latest"
    assert re.fullmatch(r"[0-9a-f]{64}", nginx.id) and nginx.short_id == nginx.id[:12]
    assert nginx.exposed_ports == ["80/tcp"] and nginx.env_dict()["NGINX_VERSION"] == "1.27.3"
    assert IMAGES["consul"].exposed_ports == ["8300/tcp", "8301/tcp", "8301/udp", "8302/tcp", "8302/udp",
                                              "8500/tcp", "8600/tcp", "8600/udp"]
    assert lookup("busybox").flavour == "busybox" and lookup("nicolaka/netshoot").cmd == ["zsh"]


def test_unknown_image_error_text() -> None:
    assert RUN_EXIT == 125
    assert run_error("nope") == (
        "Unable to find image 'nope:latest' locally\n"
        "docker: Error response from daemon: pull access denied for nope, repository does not exist "
        "or may require 'docker login': denied: requested access to the resource is denied.\n"
        "See 'docker run --help'.\n")
    assert run_error("nginx:0.1").splitlines()[1] == (
        "docker: Error response from daemon: manifest for nginx:0.1 not found: manifest unknown: manifest unknown.")
    assert pull_error("someone/nope") == (
        "Using default tag: latest\n",
        "Error response from daemon: pull access denied for someone/nope, repository does not exist "
        "or may require 'docker login': denied: requested access to the resource is denied\n")


def test_register_a_third_party_image() -> None:
    started: list[str] = []
    image = register(Image("example/echo", tags=["2"], cmd=["echo"], app=lambda ctx: started.append("x")))
    try:
        assert lookup("example/echo:2") is image and lookup("example/echo") is None
    finally:
        del IMAGES["example/echo"]


@pytest.mark.parametrize("ref", ["alpine", "ubuntu:24.04", "debian:bookworm"])
def test_tool_images_start_nothing(ref: str) -> None:
    lab = make_lab("box")
    assert Box(lab, "box", ref).app is None
