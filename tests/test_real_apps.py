"""Real mode's processes: the image apps (appserver), the embedded DNS and docker-proxy, on
namespaces of this machine's kernel, compared with what the simulation shows.

Topology (built here, names prefixed and always deleted): namespace `h` (the lab host) has
bridge br0 10.77.0.1/24; web .2, client .3, db .4 and pets .5 hang off it by veths.  The engine
is stood in for by FakeLab (`post` queue drained by the test, a trace bus) and AppContexts built
as runtime.py builds them.
"""

from __future__ import annotations

import errno
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from scapy.layers.dns import DNS, DNSQR

from cnmsim.engine.dns.names import DnsNetwork
from cnmsim.engine.dns.resolvconf import Upstream
from cnmsim.engine.images import AppContext, lookup
from cnmsim.kernel.real.apps import start_real_app
from cnmsim.kernel.real.dns import RealEmbeddedDns
from cnmsim.kernel.real.exec import drop_etc
from cnmsim.kernel.real.nsenter import in_netns, socket_in
from cnmsim.kernel.real.proxy import RealDockerProxy
from cnmsim.place import Place
from cnmsim.trace.bus import TraceBus
from tests._realnet import RealNet

pytestmark = pytest.mark.real
NET = "10.77.0"
HOSTS = {"web": 2, "client": 3, "db": 4, "pets": 5}


class FakeLab:
    """What the real-mode code uses of the Lab: post() (drained by the test) and the bus."""

    def __init__(self) -> None:
        self.posted: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.bus = TraceBus(time.time)
        self.events: list[Any] = []
        self.bus.subscribe(self.events.append)

    def post(self, fn: Callable[[], None]) -> None:
        self.posted.put(fn)

    def drain(self) -> None:
        while True:
            try:
                fn = self.posted.get_nowait()
            except queue.Empty:
                return
            fn()

    def until(self, cond: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Drain until cond() holds (posted work arrives from threads)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.drain()
            if cond():
                return True
            time.sleep(0.05)
        return False


class Net(RealNet):
    def __init__(self) -> None:
        super().__init__()
        self.prefix = f"cnmRA{os.getpid() % 100000}"
        self.lab = FakeLab()
        self.host: Any = None

    def place(self, short: str, files: dict[str, str] | None = None) -> Place:
        full = self.prefix + short
        files = files or {"/etc/hostname": f"{short}\n",
                          "/etc/hosts": f"127.0.0.1\tlocalhost\n{NET}.{HOSTS[short]}\t{short}\n",
                          "/etc/resolv.conf": "nameserver 127.0.0.11\noptions ndots:0\n"}
        ns = SimpleNamespace(real_name=full, name=short, path=f"/var/run/netns/{full}")
        return Place(short, self.host, ns, files, flavour="busybox")  # type: ignore[arg-type]

    def close(self) -> None:
        for n in self.made:
            drop_etc(n)
        super().close()


@pytest.fixture(scope="module")
def net() -> Iterator[Net]:
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("curl") is None:
        pytest.skip("needs root, iproute2 and curl to build namespaces on the real kernel")
    n = Net()
    try:
        try:
            h = n.ns("h")
        except (subprocess.CalledProcessError, OSError):
            pytest.skip("network namespaces are not available here")
        n.host = SimpleNamespace(name="h", lab=n.lab, root=SimpleNamespace(real_name=h, name=""))
        n.sh(f"ip -n {h} link set lo up\nip -n {h} link add br0 type bridge\n"
             f"ip -n {h} addr add {NET}.1/24 dev br0\nip -n {h} link set br0 up")
        for short, i in HOSTS.items():
            full = n.ns(short)
            n.sh(f"""ip -n {h} link add v{short} type veth peer name eth0 netns {full}
                     ip -n {h} link set v{short} master br0 up
                     ip -n {full} addr add {NET}.{i}/24 dev eth0
                     ip -n {full} link set eth0 up
                     ip -n {full} link set lo up
                     ip -n {full} route add default via {NET}.1""")
        yield n
    finally:
        n.close()


class Box:
    """One container's app started as runtime.py starts it, with its `docker logs`."""

    def __init__(self, net: Net, place: Place, ref: str, env: dict[str, str] | None = None,
                 cmd: list[str] | None = None, startup_sleep: float | None = None) -> None:
        image = lookup(ref)
        assert image is not None
        for path, text in image.files.items():  # what the engine copies from the image
            place.files.setdefault(path, text)
        self.lab = net.lab
        self.logs: list[tuple[str, str]] = []
        self.exit_code: int | None = None
        self.ctx = AppContext(place, image.env_dict() | (env or {}), cmd or list(image.cmd),
                              lambda stream, line: self.logs.append((stream, line)), on_exit=self.exited)
        self.app = start_real_app(self.ctx, image, startup_sleep)

    def exited(self, code: int) -> None:
        self.exit_code = code

    def lines(self, stream: str) -> list[str]:
        self.lab.drain()
        return [line for s, line in self.logs if s == stream]

    def stop(self, graceful: bool = True) -> None:
        self.ctx.stop(graceful)


def curl(net: Net, args: str) -> str:
    r = subprocess.run(f"ip netns exec {net.prefix}client curl -s -m 10 {args}", shell=True,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout


def wait_port(net: Net, ip: str, port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = socket_in(net.prefix + "client")
        try:
            s.settimeout(1)
            s.connect((ip, port))
            return
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    raise AssertionError(f"nothing listens on {ip}:{port}")


def split_response(text: str) -> tuple[str, list[tuple[str, str]], str]:
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    status, *lines = head.split("\n")
    headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines)]
    return status, headers, body


def sim_curl(paths: list[str]) -> list[str]:
    """The same requests to `docker run -d nginx` in a simulated lab."""
    from cnmsim import Lab

    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24")
    assert lab.run("host-A", "docker run -d --name web nginx").exit_code == 0
    return [lab.run("host-A", f"curl -s -i http://172.17.0.2{p}").stdout for p in paths]


# ---------------------------------------------------------------- nginx
def test_nginx_process_answers_as_the_simulated_one(net: Net) -> None:
    web = Box(net, net.place("web"), "nginx")
    assert web.app is not None
    wait_port(net, f"{NET}.2", 80)
    real = [curl(net, f"-i http://{NET}.2{p}") for p in ("/", "/missing")]
    for got, want in zip(real, sim_curl(["/", "/missing"]), strict=True):
        (rs, rh, rb), (ss, sh, sb) = split_response(got), split_response(want)
        assert rs == ss and rb == sb
        assert [k for k, _ in rh] == [k for k, _ in sh]  # same headers in the same order
        assert [h for h in rh if h[0] != "Date"] == [h for h in sh if h[0] != "Date"]
    assert split_response(real[0])[0] == "HTTP/1.1 200 OK"

    assert net.lab.until(lambda: len(web.lines("stdout")) >= 11)
    out = web.lines("stdout")
    assert out[0].startswith("/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty")
    assert out[8] == "/docker-entrypoint.sh: Configuration complete; ready for start up"
    assert re.fullmatch(rf'{NET}\.3 - - \[\d\d/\w{{3}}/\d{{4}}:[\d:]{{8}} \+0000\] "GET / HTTP/1\.1" 200 615 '
                        r'"-" "curl/[\d.]+" "-"', out[9]), out[9]
    assert '"GET /missing HTTP/1.1" 404 153' in out[10]
    assert re.fullmatch(r"\d{4}/\d\d/\d\d [\d:]{8} \[notice\] 1#1: using the \"epoll\" event method",
                        web.lines("stderr")[0])

    web.stop()  # docker stop: SIGQUIT, nginx's shutdown notices are in the logs at once
    err = web.lines("stderr")
    assert err[-1].endswith("[notice] 1#1: exit") and "signal 3 (SIGQUIT) received" in err[-12]
    assert web.exit_code is None  # stopped by the engine: no exit of its own reported

    again = Box(net, web.ctx.place, "nginx")  # docker start: the entrypoint's edit was kept
    assert net.lab.until(lambda: any("ready for start up" in line for line in again.lines("stdout")))
    assert "10-listen-on-ipv6-by-default.sh: info: IPv6 listen already enabled" in again.lines("stdout")
    again.stop(graceful=False)
    assert not any("SIGQUIT" in line for line in again.lines("stderr"))


def test_nginx_replaced_command_and_exit_of_its_own(net: Net) -> None:
    assert Box(net, net.place("web"), "nginx", cmd=["sh"]).app is None  # the engine runs `sh`
    version = Box(net, net.place("web"), "nginx", cmd=["nginx", "-v"])
    assert version.app is not None
    assert net.lab.until(lambda: version.exit_code is not None)
    assert version.exit_code == 0 and version.lines("stderr") == ["nginx version: nginx/1.27.3"]


# ---------------------------------------------------------------- consul + pets through the real DNS
def test_pets_counts_hits_in_consul_found_through_the_embedded_dns(net: Net) -> None:
    if shutil.which("iptables-restore") is None:
        pytest.skip("needs iptables-restore for the DNS NAT rules")
    pets_place = net.place("pets")
    view = [DnsNetwork("petsnet", {"db": [f"{NET}.4"], "pets": [f"{NET}.5"]}, {f"{NET}.4": "db"})]
    dns = RealEmbeddedDns(pets_place, lambda: view).start()
    boxes: list[Box] = []
    try:
        db = Box(net, net.place("db"), "consul", env={"CONSUL_BIND_INTERFACE": "eth0"})
        boxes.append(db)
        subprocess.run(["ip", "netns", "exec", net.prefix + "pets", "iptables-restore", "--noflush"],
                       input=dns.nat_rules(), text=True, check=True, capture_output=True)
        pets = Box(net, pets_place, "chrch/docker-pets", env={"DB": "db"}, startup_sleep=0.3)
        boxes.append(pets)
        wait_port(net, f"{NET}.5", 5000)
        page = curl(net, f"-H 'Cookie: vote=Cats' http://{NET}.5:5000/")
        assert "1 Pets Served" in page and "pets" in page
        assert "2 Pets Served" in curl(net, f"-H 'Cookie: vote=Cats' http://{NET}.5:5000/")
        assert curl(net, f"'http://{NET}.4:8500/v1/kv/hits?raw'") == "2"
        head = curl(net, f"-i http://{NET}.5:5000/")
        assert head.startswith("HTTP/1.0 302 FOUND\n") and "Server: Werkzeug/0.11.15 Python/2.7.12" in head
        assert dns.queries >= 1
        assert net.lab.until(lambda: any(e.stage == "dns:answer" for e in net.lab.events))
        ev = next(e for e in net.lab.events if e.stage == "dns:answer")
        assert (ev.host, ev.ns, ev.dev, ev.verdict) == ("h", "pets", "lo", "answer")
        assert ev.reason == f"embedded DNS 127.0.0.11 answered db → {NET}.4 (network petsnet)"
        err = pets.lines("stderr")
        assert " * Running on http://0.0.0.0:5000/ (Press CTRL+C to quit)" in err
        assert any(re.fullmatch(rf'{NET}\.3 - - \[.+\] "GET / HTTP/1\.1" 200 -', line) for line in err), err
        assert curl(net, f"http://{NET}.4:8500/v1/status/leader") == f'"{NET}.4:8300"\n'
        assert db.lines("stdout")[:2] == [f"==> Found address '{NET}.4' for interface 'eth0', setting bind option...",
                                          "==> Starting Consul agent..."]
        assert any("agent.server: cluster leadership acquired" in line for line in db.lines("stdout"))
    finally:
        dns.stop()
        for b in boxes:
            b.stop(graceful=False)


# ---------------------------------------------------------------- the embedded DNS alone
def ask(net: Net, where: str, port: int, name: str, qtype: str = "A", tcp: bool = False) -> DNS:
    q = bytes(DNS(id=0x4242, rd=1, qd=DNSQR(qname=name, qtype=qtype)))
    s = socket_in(net.prefix + where, socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    with s:
        s.settimeout(10)
        s.connect(("127.0.0.11", port))
        if tcp:
            s.sendall(len(q).to_bytes(2, "big") + q)
            n = int.from_bytes(s.recv(2), "big")
            data = b""
            while len(data) < n:
                data += s.recv(n - len(data))
        else:
            s.send(q)
            data = s.recv(4096)
    return DNS(data)


def test_embedded_dns_answers_forwards_and_fails_like_the_simulated_one(net: Net) -> None:
    from cnmsim.kernel.real.appserver import ProcessNs, RealZoneDns

    web = net.place("web")
    view = [DnsNetwork("net", {"web": [f"{NET}.2"]}, {f"{NET}.2": "web"})]
    dns = RealEmbeddedDns(web, lambda: view).start()
    upstream = in_netns(net.prefix + "client", RealZoneDns, SimpleNamespace(ns=ProcessNs()),
                        {"example.test": "192.0.2.7"})  # a DNS server at client:53
    try:
        assert dns.port and dns.tcp_port and dns.nat_rules().count("DNAT --to-destination") == 2
        a = ask(net, "web", dns.port, "web")
        assert (a.rcode, a.ancount, a.an[0].rdata, a.an[0].ttl, a.id) == (0, 1, f"{NET}.2", 600, 0x4242)
        assert ask(net, "web", dns.tcp_port, "web", tcp=True).an[0].rdata == f"{NET}.2"
        assert (ask(net, "web", dns.port, "web", "AAAA").rcode, ask(net, "web", dns.port, "web", "AAAA").ancount) == (0, 0)
        assert ask(net, "web", dns.port, f"2.0.{NET.split('.')[1]}.10.in-addr.arpa", "PTR").an[0].rdata == b"web.net."
        assert ask(net, "web", dns.port, "example.test").rcode == 2  # no upstream: SERVFAIL

        dns.set_upstreams([Upstream(f"{NET}.1"), Upstream(f"{NET}.3")])  # .1: refused at once
        got = ask(net, "web", dns.port, "example.test")
        assert (got.rcode, got.an[0].rdata, got.id) == (0, "192.0.2.7", 0x4242)
        assert ask(net, "web", dns.port, "nope.test").rcode == 3  # NXDOMAIN relayed unchanged
        dns.set_upstreams([Upstream(f"{NET}.3", host_ns=True)])  # asked from the host's namespace
        assert ask(net, "web", dns.port, "example.test").an[0].rdata == "192.0.2.7"
        dns.proxy_dns = False  # internal networks only: host-namespace upstreams are skipped
        assert ask(net, "web", dns.port, "example.test").rcode == 2

        net.lab.drain()
        reasons = [e.reason for e in net.lab.events if e.ns == "web"]
        me = "embedded DNS 127.0.0.11"
        assert f"{me} answered web → {NET}.2 (network net)" in reasons
        assert f"{me}: {NET}.1 is unreachable (ECONNREFUSED), trying the next server" in reasons
        assert (f"{me} does not know example.test (A): it forwards the query to {NET}.3 from the "
                "container's namespace") in reasons
        assert any(r.startswith(f"{me} skips upstream {NET}.3: it is reached from the host's") for r in reasons)
        assert f"{me} got no usable answer for example.test from any upstream server: SERVFAIL" in reasons
    finally:
        dns.stop()
        upstream.stop()
    assert dns.udp is not None and dns.udp.fileno() == -1  # closed by stop()


# ---------------------------------------------------------------- docker-proxy
def echo_server(net: Net, where: str, kind: int, port: int) -> socket.socket:
    """A server in `where` answering b"pong <client ip> <data>" (TCP: once per connection)."""
    srv = socket_in(net.prefix + where, socket.AF_INET, kind)
    srv.bind(("0.0.0.0", port))

    def tcp() -> None:
        srv.listen(8)
        while True:
            try:
                c, peer = srv.accept()
            except OSError:
                return
            with c:
                c.sendall(b"pong " + peer[0].encode() + b" " + c.recv(100))

    def udp() -> None:
        while True:
            try:
                data, peer = srv.recvfrom(100)
                srv.sendto(b"pong " + peer[0].encode() + b" " + data, peer)
            except OSError:
                return
    threading.Thread(target=tcp if kind == socket.SOCK_STREAM else udp, daemon=True).start()
    return srv


def test_docker_proxy_relays_from_the_host_namespace(net: Net) -> None:
    h = net.prefix + "h"
    root = SimpleNamespace(real_name=h)
    servers = [echo_server(net, "web", socket.SOCK_STREAM, 7777), echo_server(net, "web", socket.SOCK_DGRAM, 7778)]
    proxy = RealDockerProxy(root, "tcp", "0.0.0.0", 18080, f"{NET}.2", 7777).start()
    uproxy = RealDockerProxy(root, "udp", "0.0.0.0", 18081, f"{NET}.2", 7778).start()
    try:
        c = socket_in(h)
        with c:
            c.settimeout(5)
            c.connect(("127.0.0.1", 18080))  # what DNAT does not catch: the host's own loopback
            c.sendall(b"ping")
            assert c.recv(100) == f"pong {NET}.1 ping".encode()  # the proxy's address, not 127.0.0.1
        u = socket_in(net.prefix + "client", socket.AF_INET, socket.SOCK_DGRAM)
        with u:
            u.settimeout(5)
            u.sendto(b"hi", (f"{NET}.1", 18081))
            assert u.recv(100) == f"pong {NET}.1 hi".encode()
        with pytest.raises(OSError) as busy:
            RealDockerProxy(root, "tcp", "0.0.0.0", 18080, f"{NET}.2", 7777).start()
        assert busy.value.errno == errno.EADDRINUSE
        refused = RealDockerProxy(root, "tcp", "127.0.0.1", 18082, f"{NET}.2", 9).start()
        c = socket_in(h)
        with c:
            c.settimeout(5)
            c.connect(("127.0.0.1", 18082))
            assert c.recv(100) == b""  # the backend refused: the client's connection is closed
        refused.stop()
    finally:
        proxy.stop()
        uproxy.stop()
        for s in servers:
            s.close()
    RealDockerProxy(root, "tcp", "0.0.0.0", 18080, f"{NET}.2", 7777).start().stop()  # port free again
