"""Smaller swarm-facing behaviours: pcap-filter `ip proto`, per-task `service logs --tail`, and
`network inspect` listing the endpoints the engine adds on docker_gwbridge."""

from __future__ import annotations

import json

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP
from scapy.layers.l2 import Ether

from cnmsim import Lab
from cnmsim.apps.bpf import FilterError, compile_filter


def test_ip_proto_filter_by_number_and_name() -> None:
    esp = Ether() / IP(src="192.168.0.2", dst="192.168.0.3", proto=50) / ESP(spi=0x1234, seq=1)
    vx = Ether() / IP(src="192.168.0.2", dst="192.168.0.3") / UDP(sport=40000, dport=4789)
    for text in ("ip proto 50", "ip proto esp", "proto 50", "ip proto \\esp"):
        f = compile_filter(text)
        assert f(esp) and not f(vx), text
    assert compile_filter("ip proto udp")(vx)
    with pytest.raises(FilterError):
        compile_filter("ip proto nosuch")


def _swarm() -> Lab:
    lab = Lab(seed=0)
    for i, h in enumerate(("host-A", "host-B")):
        lab.add_host(h, address=f"192.168.0.{i + 2}/24")
    lab.run("host-A", "docker swarm init --advertise-addr 192.168.0.2")
    tok = lab.run("host-A", "docker swarm join-token -q worker").stdout.strip()
    assert lab.run("host-B", f"docker swarm join --token {tok} 192.168.0.2:2377").ok
    lab.wait(3)
    return lab


def test_service_logs_tail_is_per_task() -> None:
    lab = _swarm()
    lab.run("host-A", "docker network create -d overlay appnet")
    lab.run("host-A", "docker service create -d --name web --replicas 2 --network appnet nginx")
    lab.wait(2)
    lines = lab.run("host-A", "docker service logs --tail 1 web").stderr.splitlines()  # nginx: stderr
    assert sorted(line.split("@")[0].rsplit(".", 1)[0] for line in lines) == ["web.1", "web.2"]


def test_network_inspect_lists_gwbridge_endpoints() -> None:
    lab = _swarm()
    lab.run("host-A", "docker network create -d overlay --attachable ovnet")
    assert lab.run("host-A", "docker run -itd --network ovnet --name c1 busybox sh").ok
    out = lab.run("host-A", "docker network inspect -f '{{json .Containers}}' docker_gwbridge").stdout
    names = {v["Name"] for v in json.loads(out).values()}
    assert "c1" in names


def test_task_without_networks_runs_on_the_default_bridge() -> None:
    """The seed's host-mode example has no --network: the task is on docker0 and its host port is
    published on its node."""
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24")
    lab.add_host("laptop", address="192.168.0.50/24", docker=False)
    lab.run("host-A", "docker swarm init")
    lab.run("host-A", "docker service create -d --name web --publish mode=host,target=80,published=8080 nginx")
    lab.wait(3)
    assert lab.run("host-A", "docker ps --format '{{.Ports}}'").stdout == "0.0.0.0:8080->80/tcp\n"
    assert lab.run("laptop", "curl -s -o /dev/null -w '%{http_code}' http://192.168.0.2:8080/").stdout == "200"
