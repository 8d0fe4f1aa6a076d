"""Docker's embedded DNS (127.0.0.11) without the engine: the server in a namespace, its NAT rules,
dig/nslookup against it, the name model (libnetwork's ResolveName) and the generated resolv.conf."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRROPT

from cnmsim import Lab
from cnmsim.apps.dnsd import serve_dns
from cnmsim.engine.dns import (
    DnsNetwork,
    EmbeddedDns,
    Upstream,
    dns_nat_rules,
    internal_resolv_conf,
    legacy_resolv_conf,
    lookup_name,
    resolve_ip,
    resolve_name,
)
from cnmsim.engine.dns.names import candidates
from cnmsim.engine.dns.resolvconf import ResolvConf, origin
from cnmsim.engine.dns.server import reply_to, truncate
from cnmsim.place import Place
from tests.conftest import bridge_with_namespaces

RESOLVER = "198.51.100.53"  # cnmsim.internet's DNS server, authoritative for example.com


@dataclass
class Rig:
    lab: Lab
    dns: EmbeddedDns
    nets: list[DnsNetwork]


def pets() -> list[DnsNetwork]:
    return [DnsNetwork("petsBridge",
                       {"web": ["10.0.0.3"], "www": ["10.0.0.3"], "db": ["10.0.0.4", "10.0.0.5", "10.0.0.6"]},
                       {"10.0.0.3": "web"})]


def rig(seed: int = 0, upstreams: list[Upstream] | None = None, internal: bool = False,
        ndots_set: bool = False) -> Rig:
    """host-A on the LAN (the internet behind 192.168.0.1), ns1 (10.0.0.2) and ns2 (10.0.0.3) on br0;
    the container "c1" (Debian tools) and "bb" (busybox tools) both live in ns1."""
    lab = Lab(seed=seed)
    lab.add_host("host-A", address="192.168.0.2/24", gateway="192.168.0.1", docker=False)
    lab.add_internet()
    bridge_with_namespaces(lab)
    host = lab["host-A"]
    files = {"/etc/resolv.conf": "nameserver 127.0.0.11\noptions ndots:0\n"}
    c1 = Place("c1", host, host.ns("ns1"), files)
    lab.register_place(c1)
    lab.register_place(Place("bb", host, host.ns("ns1"), files, flavour="busybox"))
    nets = pets()
    for n in nets:
        n.internal = internal
    ups = [Upstream(RESOLVER, host_ns=True)] if upstreams is None else upstreams
    dns = EmbeddedDns(c1, lambda: nets, ups, ndots_set=ndots_set).start()
    c1.ns.iptables_restore(dns_nat_rules(dns.port, dns.tcp_port), noflush=True)
    return Rig(lab, dns, nets)


def silence_ns2(r: Rig) -> None:
    """ns2 (10.0.0.3) drops DNS queries: an upstream that never answers."""
    r.lab["host-A"].ns("ns2").iptables_restore("*filter\n-A INPUT -p udp --dport 53 -j DROP\nCOMMIT\n",
                                               noflush=True)


def masked(out: str) -> str:
    return re.sub(r"id: \d+", "id: N", out)


# ---------------------------------------------------------------- the name model
def test_resolve_name_as_in_user_defined_network_connectivity() -> None:
    """integration-cli TestUserDefinedNetworkConnectivity: network br.net1, containers c1.net1, c2.net1."""
    nets = [DnsNetwork("br.net1", {"c1.net1": ["172.18.0.2"], "c2.net1": ["172.18.0.3"]},
                       {"172.18.0.2": "c1.net1", "172.18.0.3": "c2.net1"})]
    assert resolve_name(nets, "c1.net1") == ["172.18.0.2"]
    assert resolve_name(nets, "c1.net1.br.net1") == ["172.18.0.2"]
    assert resolve_name(nets, "c1.net1.br.net1.") == ["172.18.0.2"]
    assert resolve_name(nets, "c1.net1.br.net1.google.com") is None
    assert candidates("a.b.c") == [("a.b.c", ""), ("a.b", "c"), ("a", "b.c")]


def test_resolve_name_order_case_and_reverse() -> None:
    front = DnsNetwork("front", {"web": ["172.18.0.3"], "cache": ["172.18.0.9"]}, {"172.18.0.3": "web"})
    back = DnsNetwork("back", {"web": ["172.19.0.3"], "db": ["172.19.0.2", "172.19.0.2"]},
                      {"172.19.0.3": "web", "172.19.0.2": "db"}, internal=True)
    nets = [front, back]
    assert resolve_name(nets, "web") == ["172.18.0.3"]  # the sandbox's first network wins
    assert resolve_name([back, front], "web") == ["172.19.0.3"]
    assert resolve_name(nets, "web.back") == ["172.19.0.3"]  # network-qualified
    assert resolve_name(nets, "WEB.back") == ["172.19.0.3"]  # names are matched case-insensitively
    assert resolve_name(nets, "web.BACK") is None  # the network part is compared as written
    assert resolve_name(nets, "cache.back") is None
    assert resolve_name(nets, "db") == ["172.19.0.2"]  # duplicates removed
    assert resolve_name(nets, "nosuch") is None
    hit = lookup_name(nets, "Db.back.")
    assert hit is not None and (hit.network.name, hit.record) == ("back", "db")
    assert resolve_ip(nets, "172.19.0.3") == "web.back"
    assert resolve_ip(nets, "10.9.9.9") is None


# ---------------------------------------------------------------- server and NAT
def test_nat_rules_as_iptables_save_shows_them() -> None:
    r = rig()
    dns, ns = r.dns, r.lab["host-A"].ns("ns1")
    lo, hi = (int(x) for x in ns.sysctl_get("net.ipv4.ip_local_port_range").split())
    assert lo <= dns.port <= hi and lo <= dns.tcp_port <= hi and dns.port != dns.tcp_port
    assert ns.sockets.udp[("127.0.0.11", dns.port)] is dns.sock
    save = ns.iptables_save("nat")
    assert (":DOCKER_OUTPUT - [0:0]\n:DOCKER_POSTROUTING - [0:0]\n"
            "-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT\n"
            "-A POSTROUTING -d 127.0.0.11/32 -j DOCKER_POSTROUTING\n"
            f"-A DOCKER_OUTPUT -d 127.0.0.11/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination 127.0.0.11:{dns.tcp_port}\n"
            f"-A DOCKER_OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:{dns.port}\n"
            f"-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p tcp -m tcp --sport {dns.tcp_port} -j SNAT --to-source :53\n"
            f"-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p udp -m udp --sport {dns.port} -j SNAT --to-source :53\n"
            "COMMIT\n") in save
    assert rig().dns.port == dns.port  # the port comes from the lab's RNG: same seed, same port
    assert dns_nat_rules(41000).count("127.0.0.11:41000") == 2


def test_dig_container_name() -> None:
    r = rig()
    res = r.lab.run("c1", "dig web")
    assert res.exit_code == 0, res.output
    assert masked(res.stdout) == (
        "\n; <<>> DiG 9.18.33-1~deb12u2-Debian <<>> web\n"
        ";; global options: +cmd\n"
        ";; Got answer:\n"
        ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: N\n"
        ";; flags: qr rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 0\n\n"
        ";; QUESTION SECTION:\n;web.\t\t\t\tIN\tA\n\n"
        ";; ANSWER SECTION:\nweb.\t\t\t600\tIN\tA\t10.0.0.3\n\n"
        ";; Query time: 0 msec\n"
        ";; SERVER: 127.0.0.11#53(127.0.0.11) (UDP)\n"
        ";; WHEN: Thu Jan 01 00:00:00 UTC 1970\n"
        ";; MSG SIZE  rcvd: 40\n\n")
    # the query went to 127.0.0.11:53, was DNATed to the server's port, and was answered there
    assert res.trace.filter("nat:dnat", "rewrite")
    ans = res.trace.filter("dns:answer", "answer")
    assert [e.reason for e in ans] == ["embedded DNS 127.0.0.11 answered web → 10.0.0.3 (network petsBridge)"]
    assert ans[0].pkt and ans[0].summary.endswith(f"> 127.0.0.11.{r.dns.port}: UDP, length 44")  # the query
    assert ("the embedded DNS 127.0.0.11 answered web → 10.0.0.3 (network petsBridge)"
            in res.trace.explain())
    assert not res.trace.filter("dns:forward")


def test_alias_and_network_qualified_names() -> None:
    r = rig()
    for name in ("www", "web.petsBridge", "WEB.petsBridge", "web.petsBridge."):
        res = r.lab.run("c1", f"dig +short {name}")
        assert (res.exit_code, res.stdout) == (0, "10.0.0.3\n"), name
    # libnetwork compares the network suffix as written: this one is not Docker's, so it is forwarded
    res = r.lab.run("c1", "dig web.petsbridge")
    assert "status: NXDOMAIN" in res.stdout and res.trace.filter("dns:forward", "relay")


def test_reverse_lookup() -> None:
    r = rig()
    res = r.lab.run("c1", "dig -x 10.0.0.3")
    assert ";3.0.0.10.in-addr.arpa.\t\tIN\tPTR\n" in res.stdout
    assert "3.0.0.10.in-addr.arpa.\t600\tIN\tPTR\tweb.petsBridge.\n" in res.stdout
    assert r.lab.run("c1", "dig -x 10.0.0.3 +short").stdout == "web.petsBridge.\n"
    res = r.lab.run("c1", "nslookup 10.0.0.3")
    assert (res.exit_code, res.stdout) == (0, "3.0.0.10.in-addr.arpa\tname = web.petsBridge.\n\n"
                                              "Authoritative answers can be found from:\n\n")
    res = r.lab.run("bb", "nslookup 10.0.0.3")
    assert res.stdout == ("Server:\t\t127.0.0.11\nAddress:\t127.0.0.11:53\n\nNon-authoritative answer:\n"
                          "3.0.0.10.in-addr.arpa\tname = web.petsBridge\n\n")
    # an address Docker does not know is forwarded; the upstream's NXDOMAIN comes back
    assert "status: NXDOMAIN" in r.lab.run("c1", "dig -x 10.0.0.99").stdout


def test_nslookup_outputs() -> None:
    r = rig()
    res = r.lab.run("c1", "nslookup web")
    assert (res.exit_code, res.stdout) == (0, "Server:\t\t127.0.0.11\nAddress:\t127.0.0.11#53\n\n"
                                              "Non-authoritative answer:\nName:\tweb\nAddress: 10.0.0.3\n\n")
    res = r.lab.run("bb", "nslookup web")  # the empty AAAA answer still prints its header in busybox
    assert (res.exit_code, res.stdout) == (0, "Server:\t\t127.0.0.11\nAddress:\t127.0.0.11:53\n\n"
                                              "Non-authoritative answer:\nName:\tweb\nAddress: 10.0.0.3\n\n"
                                              "Non-authoritative answer:\n\n")
    res = r.lab.run("bb", "nslookup web 127.0.0.11")
    assert res.stdout.startswith("Server:\t\t127.0.0.11\nAddress:\t127.0.0.11:53\n")


def test_ttl_600_and_shuffle_deterministic_per_seed() -> None:
    def orders(seed: int) -> list[str]:
        r = rig(seed)
        out = [r.lab.run("c1", "dig +short db").stdout for _ in range(8)]
        assert all(sorted(o.split()) == ["10.0.0.4", "10.0.0.5", "10.0.0.6"] for o in out)
        return out

    first = orders(1)
    assert len(set(first)) > 1  # shuffled on every query
    assert orders(1) == first  # but the same for the same seed
    r = rig()
    res = r.lab.run("c1", "dig db")
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("db.")]
    assert len(lines) == 3 and all(ln.split("\t")[3] == "600" for ln in lines)


def test_known_name_aaaa_and_mx_are_empty_and_not_forwarded() -> None:
    r = rig()
    for qtype in ("AAAA", "MX"):
        res = r.lab.run("c1", f"dig web {qtype}")
        assert "status: NOERROR" in res.stdout and "ANSWER: 0," in res.stdout, qtype
        assert res.trace.filter("dns:answer", "nodata") and not res.trace.filter("dns:forward")
    assert r.lab.run("c1", "dig web AAAA").trace.filter("dns:")[0].reason == (
        "embedded DNS 127.0.0.11 knows web (network petsBridge) but has no IPv6 address for it: "
        "empty answer (NOERROR), not forwarded")


def test_view_reflects_current_endpoints() -> None:
    r = rig()
    r.nets[0].records["api"] = ["10.0.0.7"]
    assert r.lab.run("c1", "dig +short api").stdout == "10.0.0.7\n"
    del r.nets[0].records["web"]
    assert "status: NXDOMAIN" in r.lab.run("c1", "dig web").stdout  # now unknown: forwarded


# ---------------------------------------------------------------- forwarding
def test_unknown_name_forwarded_from_host_namespace_nxdomain_passed_through() -> None:
    r = rig()
    assert r.lab.run("c1", "dig +short example.com").stdout == "198.51.100.10\n"
    res = r.lab.run("c1", "dig nosuch.example")
    assert res.exit_code == 0 and "status: NXDOMAIN" in res.stdout and "flags: qr rd ra;" in res.stdout
    fwd = res.trace.filter("dns:forward")
    assert [e.verdict for e in fwd] == ["send", "relay"]
    assert "to 198.51.100.53 from the host's namespace" in fwd[0].reason
    assert "unchanged: NXDOMAIN" in fwd[1].reason
    # the forwarded query leaves the host from its own address (the host's namespace)
    assert any(re.search(r"IP 192\.168\.0\.2\.\d+ > 198\.51\.100\.53\.53: \d+\+ A\? nosuch\.example\.", e.summary)
               for e in res.trace.filter("route:lookup", host="gateway"))
    res = r.lab.run("c1", "nslookup nosuch.example")
    assert (res.exit_code, res.stdout) == (1, "Server:\t\t127.0.0.11\nAddress:\t127.0.0.11#53\n\n"
                                              "** server can't find nosuch.example: NXDOMAIN\n\n")
    res = r.lab.run("bb", "nslookup nosuch.example")
    assert (res.exit_code, res.stdout) == (1, "Server:\t\t127.0.0.11\nAddress:\t127.0.0.11:53\n\n"
                                              "** server can't find nosuch.example: NXDOMAIN\n\n"
                                              "** server can't find nosuch.example: NXDOMAIN\n\n")


def test_silent_upstream_costs_4s_then_the_next_one_answers() -> None:
    r = rig(upstreams=[Upstream("10.0.0.3"), Upstream(RESOLVER, host_ns=True)])
    silence_ns2(r)
    t0 = r.lab.now
    res = r.lab.run("c1", "dig example.com")
    assert "status: NOERROR" in res.stdout and "198.51.100.10" in res.stdout
    assert re.search(r";; Query time: 40\d\d msec", res.stdout)
    fails = res.trace.filter("dns:forward", "fail")
    assert len(fails) == 1 and fails[0].t - t0 == pytest.approx(4.0, abs=1e-3)
    assert "no answer from 10.0.0.3 within 4 s, trying the next server" in fails[0].reason


def test_servfail_when_no_upstream_answers() -> None:
    r = rig(upstreams=[Upstream("10.0.0.3")] * 3)
    silence_ns2(r)
    t0 = r.lab.now
    res = r.lab.run("c1", "dig example.com +timeout=15")
    assert masked(res.stdout).split(";; Query time")[0].endswith(
        ";; ->>HEADER<<- opcode: QUERY, status: SERVFAIL, id: N\n"
        ";; flags: qr rd; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0\n"
        ";; WARNING: recursion requested but not available\n\n"
        ";; QUESTION SECTION:\n;example.com.\t\t\tIN\tA\n\n")
    assert ";; Query time: 12000 msec\n" in res.stdout
    assert [round(e.t - t0, 3) for e in res.trace.filter("dns:forward", "fail")] == [4.0, 8.0, 12.0]
    assert "no server left" in res.trace.filter("dns:forward", "fail")[-1].reason
    assert res.trace.filter("dns:servfail")
    # dig's own 5 s x 3 tries end before the 12 s SERVFAIL comes back
    res = r.lab.run("c1", "dig example.com")
    assert res.exit_code == 9
    assert res.stdout.startswith(";; communications error to 127.0.0.11#53: timed out\n" * 3)
    assert res.stdout.endswith(";; global options: +cmd\n;; no servers could be reached\n")
    res = r.lab.run("bb", "nslookup example.com")  # busybox waits 5 s in all
    assert (res.exit_code, res.stdout) == (1, ";; connection timed out; no servers could be reached\n\n")


def test_internal_network_skips_host_namespace_upstreams() -> None:
    r = rig(internal=True)
    res = r.lab.run("c1", "dig example.com")
    assert "status: SERVFAIL" in res.stdout and ";; Query time: 0 msec" in res.stdout
    assert "only on internal networks" in res.trace.filter("dns:forward", "skip")[0].reason
    assert r.lab.run("c1", "dig +short web").stdout == "10.0.0.3\n"  # Docker's names still work
    res = r.lab.run("bb", "nslookup example.com")
    assert (res.exit_code, res.stdout) == (1, "Server:\t\t127.0.0.11\nAddress:\t127.0.0.11:53\n\n"
                                              "** server can't find example.com: SERVFAIL\n\n"
                                              "** server can't find example.com: SERVFAIL\n\n")
    # a --dns server is asked from the container's namespace, so it still works on internal networks
    host = r.lab["host-A"]
    serve_dns(Place("ns2", host, host.ns("ns2")), {"intra.example": "10.0.0.3"})
    r.dns.set_upstreams([Upstream(RESOLVER, host_ns=True), Upstream("10.0.0.3")])
    assert r.lab.run("c1", "dig +short intra.example").stdout == "10.0.0.3\n"
    r.nets.append(DnsNetwork("outside"))  # connecting an external network turns forwarding back on
    assert r.lab.run("c1", "dig +short example.com").stdout == "198.51.100.10\n"


def test_ndots_set_single_label_names_are_not_forwarded() -> None:
    r = rig(ndots_set=True)
    res = r.lab.run("c1", "dig nosuch")
    assert "status: NOERROR" in res.stdout and "ANSWER: 0," in res.stdout
    assert not res.trace.filter("dns:forward")
    assert "status: NXDOMAIN" in r.lab.run("c1", "dig nosuch.example").stdout


def test_upstream_list_filtering_stop_and_garbage() -> None:
    r = rig()
    r.dns.set_upstreams([Upstream("127.0.0.11"), Upstream("127.0.0.11", host_ns=True), Upstream("1.1.1.1"),
                         Upstream("8.8.8.8"), Upstream("9.9.9.9")])
    assert r.dns.upstreams == [Upstream("127.0.0.11", True), Upstream("1.1.1.1"), Upstream("8.8.8.8")]
    ns = r.lab["host-A"].ns("ns1")
    sock = ns.sockets.udp_socket()
    sock.sendto(b"InvalidQuery\n", ("127.0.0.11", 53))  # TestEmbeddedDNSInvalidInput
    r.lab.wait(1)
    assert r.lab.run("c1", "dig +short web").stdout == "10.0.0.3\n"
    port = r.dns.port
    r.dns.stop()
    assert ("127.0.0.11", port) not in ns.sockets.udp


def test_truncation_to_512_bytes_without_edns() -> None:
    q = DNS(id=7, rd=1, qd=DNSQR(qname="db.", qtype="A"))
    many = [DNSRR(rrname="db.", type="A", ttl=600, rdata=f"10.1.0.{i}") for i in range(40)]
    raw = truncate(reply_to(q, an=many), q)
    ans = DNS(raw)
    assert len(raw) <= 512 and ans.tc == 1 and ans.ancount == 30
    q.ar = DNSRROPT(rclass=1232, z=0)
    ans = DNS(truncate(reply_to(q, an=many), q))
    assert ans.tc == 0 and ans.ancount == 40


# ---------------------------------------------------------------- resolv.conf
HEAD = ("# Generated by Docker Engine.\n"
        "# This file can be edited; Docker Engine will not make further changes once it\n"
        "# has been modified.\n\n")


def test_resolv_conf_default_bridge_drops_loopback_and_falls_back_to_google() -> None:
    conf = legacy_resolv_conf("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n")
    assert conf.text == (HEAD + "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\noptions edns0 trust-ad\n\n"
                         "# Based on host file: '/etc/resolv.conf' (legacy)\n"
                         "# Used default nameservers.\n# Overrides: []\n")
    assert conf.upstreams == []
    conf = legacy_resolv_conf("nameserver 127.0.0.53\nnameserver 192.168.0.1\n")
    assert "nameserver 192.168.0.1\n\n" in conf.text and "8.8.8.8" not in conf.text
    conf = legacy_resolv_conf("nameserver 127.0.0.53\n", dns=["1.1.1.1"])
    assert conf.text.endswith("nameserver 1.1.1.1\n\n# Based on host file: '/etc/resolv.conf' (legacy)\n"
                              "# Overrides: [nameservers]\n")


def test_resolv_conf_user_defined_network() -> None:
    conf = internal_resolv_conf("nameserver 127.0.0.53\nsearch lan\n")
    assert conf.text == (HEAD + "nameserver 127.0.0.11\nsearch lan\noptions ndots:0\n\n"
                         "# Based on host file: '/etc/resolv.conf' (internal resolver)\n"
                         "# ExtServers: [host(127.0.0.53)]\n# Overrides: []\n# Option ndots from: internal\n")
    assert conf.upstreams == [Upstream("127.0.0.53", host_ns=True)] and not conf.ndots_set
    # a routable host server is asked from the container's namespace; --dns ones always are
    assert internal_resolv_conf("nameserver 192.168.0.1\n").upstreams == [Upstream("192.168.0.1")]
    conf = internal_resolv_conf("nameserver 127.0.0.53\n", dns=["127.0.0.1"], dns_options=["ndots:2"])
    assert conf.upstreams == [Upstream("127.0.0.1")] and conf.ndots_set
    assert "options ndots:2\n" in conf.text and "# Overrides: [nameservers options]\n# Option ndots from: override\n" in conf.text
    conf = internal_resolv_conf("")
    assert "# Used default nameservers.\n# ExtServers: [8.8.8.8 8.8.4.4]\n" in conf.text
    assert [u.addr for u in conf.upstreams] == ["8.8.8.8", "8.8.4.4"]


def test_resolv_conf_origin_follows_systemd_resolved() -> None:
    files = {"/etc/resolv.conf": "nameserver 127.0.0.53\noptions edns0 trust-ad\n",
             "/run/systemd/resolve/resolv.conf": "nameserver 192.168.0.1\nsearch lan\n"}
    path, text = origin(files)
    assert path == "/run/systemd/resolve/resolv.conf"
    conf = internal_resolv_conf(text, source=path)
    assert "# Based on host file: '/run/systemd/resolve/resolv.conf' (internal resolver)\n" in conf.text
    assert origin({"/etc/resolv.conf": "nameserver 10.0.0.1\n"}) == ("/etc/resolv.conf", "nameserver 10.0.0.1\n")
    assert ResolvConf.parse("nameserver bogus\n").invalid == ["bogus"]
