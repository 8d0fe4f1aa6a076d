"""traceroute through a forwarding namespace: TTL expiry at the router, port unreachable at the target."""

from __future__ import annotations

import re

from cnmsim.kernel import api
from cnmsim.lab import Lab

HOP = r"  \d+\.\d{3} ms"


def routed(seed: int = 0) -> Lab:
    """a (10.0.0.2) -- r (10.0.0.1 | 10.0.1.1, ip_forward=1) -- b (10.0.1.3), all on host h."""
    lab = Lab(seed=seed)
    k = lab.add_host("h", docker=False).kernel
    a, r, b = (k.netns_add(n) for n in ("a", "r", "b"))
    a.link_add(api.Veth("eth0", peer="eth0", peer_netns="r"))
    b.link_add(api.Veth("eth0", peer="eth1", peer_netns="r"))
    for ns, dev, ip in ((a, "eth0", "10.0.0.2/24"), (r, "eth0", "10.0.0.1/24"),
                        (r, "eth1", "10.0.1.1/24"), (b, "eth0", "10.0.1.3/24")):
        ns.addr_add(dev, ip)
        ns.link_set(dev, up=True)
    for ns in (a, r, b):
        ns.link_set("lo", up=True)
    a.route_add(api.Route(dst="default", via="10.0.0.1"))
    b.route_add(api.Route(dst="default", via="10.0.1.1"))
    r.sysctl_set("net.ipv4.ip_forward", "1")
    return lab


def tr(lab: Lab, args: str):  # noqa: ANN201
    return lab.run("h", f"ip netns exec a traceroute {args}")


def test_router_is_hop_one_and_target_hop_two() -> None:
    lab = routed()
    r = tr(lab, "-n 10.0.1.3")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "traceroute to 10.0.1.3 (10.0.1.3), 30 hops max, 60 byte packets"
    assert re.fullmatch(rf" 1  10\.0\.0\.1{HOP}{HOP}{HOP}", lines[1]), lines[1]
    assert re.fullmatch(rf" 2  10\.0\.1\.3{HOP}{HOP}{HOP}", lines[2]), lines[2]
    assert len(lines) == 3
    # what made the hops: TTL expiry on the router, port unreachable from the target
    assert r.trace.filter("ip:forward", "drop", host="h")
    assert any("time exceeded" in e.reason for e in r.trace.filter("icmp:error", "send"))
    errs = r.trace.filter("udp:rcv", "drop")
    assert errs and all("port unreachable" in e.reason for e in errs)
    probes = [e.summary for e in r.trace.filter("route:lookup", "send") if "> 10.0.1.3.334" in e.summary]
    assert probes and all(s.endswith("UDP, length 32") for s in probes)


def test_names_and_icmp_probes() -> None:
    lab = routed()
    lab["h"].files["/etc/hosts"] += "10.0.0.1\trouter\n10.0.1.3\tserver\n"
    r = tr(lab, "server")
    assert r.stdout.startswith("traceroute to server (10.0.1.3), 30 hops max, 60 byte packets\n")
    assert re.search(rf"^ 1  router \(10\.0\.0\.1\){HOP}", r.stdout, re.M)
    assert re.search(rf"^ 2  server \(10\.0\.1\.3\){HOP}", r.stdout, re.M)
    r = tr(lab, "-I -n -q 1 10.0.1.3")
    assert re.fullmatch(rf"traceroute to .*\n 1  10\.0\.0\.1{HOP}\n 2  10\.0\.1\.3{HOP}\n", r.stdout)
    assert any("ICMP echo request" in e.summary for e in r.trace.filter("route:lookup", "send"))


def test_silent_hops_and_max_ttl() -> None:
    lab = routed()
    # r sends 10.0.9.0/24 to b, which does not forward: it drops silently, no ICMP (ip_error)
    lab["h"].kernel.netns("r").route_add(api.Route(dst="10.0.9.0/24", via="10.0.1.3"))
    t0 = lab.now
    r = tr(lab, "-n -m 4 -q 2 -w 1 10.0.9.9")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "traceroute to 10.0.9.9 (10.0.9.9), 4 hops max, 60 byte packets"
    assert re.fullmatch(rf" 1  10\.0\.0\.1{HOP}{HOP}", lines[1])
    assert lines[2:] == [" 2  * *", " 3  * *", " 4  * *"]
    assert lab.now - t0 < 1.1  # all probes were in flight together, each waited -w 1 second


def test_unreachable_annotation_and_errors() -> None:
    lab = routed()
    r = tr(lab, "-n -q 1 10.0.7.7")  # r has no route: ICMP net unreachable
    assert re.search(rf"^ 1  10\.0\.0\.1{HOP} !N$", r.stdout, re.M)
    assert len(r.stdout.splitlines()) == 2
    r = tr(lab, "nosuch.example")
    assert r.exit_code == 2
    assert r.stderr.startswith("nosuch.example: ")
    assert "Cannot handle \"host\" cmdline arg `nosuch.example' on position 1 (argc 1)" in r.stderr
    assert tr(lab, "").exit_code == 2
