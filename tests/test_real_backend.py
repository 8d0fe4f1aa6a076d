"""The real backend (cnmsim.kernel.real) against the simulated kernel: same verbs, same records.

Each scenario runs the same api calls on a SimKernel and on a RealKernel (namespaces under a
fresh `cnmXXXXX-` prefix, always deleted), then every namespace's links, addresses, routes
(main and local), neighbours and FDB must be equal once what legitimately differs is
normalised (NORMALISED below says what and why: random MACs, counters, timers, hash order, and
the real kernel's own IGMP traffic).  Refusals must carry the same message.  Skips when not root
or when network namespaces cannot be made here.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import simpy

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.kernel.sim import SimContext, SimKernel
from cnmsim.trace.bus import TraceBus

pytestmark = pytest.mark.real

NORMALISED = {
    "mac": "MACs the kernel draws at random (any not set by a scenario, 02:00:00:*) -> <random>",
    "counters": "rx/tx counters: the real bridge sends two IGMPv3 reports (224.0.0.22) when it comes "
                "up (joining 224.0.0.106 for mcast router discovery); the sim sends nothing",
    "lo NOARP": "the sim's lo record has flags ('NOARP',); Linux's lo has no IFF_NOARP (the tools "
                "print <LOOPBACK,UP,LOWER_UP> either way)",
    "timers": "the real bridge's gc_timer runs; the sim reports no timers",
    "igmp neighbour": "that IGMP report leaves `224.0.0.22 dev br0 lladdr 01:00:5e:00:00:16 NOARP`",
    "hash order": "neighbours and a vxlan device's FDB dump in hash order on the real kernel",
}


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    from cnmsim.kernel.real import RealKernel, new_prefix

    try:
        RealKernel(new_prefix(), "probe").close()
    except (OSError, KernelError) as e:
        return f"network namespaces are not available here: {e}"
    return None


@pytest.fixture(scope="module")
def features() -> Any:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    from cnmsim.kernel.real import probe

    return probe()


@pytest.fixture
def real(features: Any) -> Iterator[Any]:
    from cnmsim.kernel.real import RealKernel, new_prefix

    k = RealKernel(new_prefix(), "host-A")
    try:
        yield k
    finally:
        k.close()
        assert not [n for n in os.listdir("/var/run/netns") if n.startswith(k.prefix)]


def sim_kernel() -> SimKernel:
    env = simpy.Environment()
    return SimKernel(SimContext(env, random.Random(0), TraceBus(lambda: env.now)), "host-A")


# ---------------------------------------------------------------- normalisation

MAC = re.compile(r"\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b")


def _mac(v: object) -> object:
    if not isinstance(v, str) or not MAC.fullmatch(v):
        return v
    fixed = v.startswith(("02:00:00:", "02:42:", "00:00:00:00:00:00", "33:33:", "01:00:5e:"))
    return v if fixed else "<random>"


def _norm_link(li: api.LinkInfo) -> dict:
    d = dataclasses.asdict(li)
    d["mac"] = _mac(d["mac"])
    for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_dropped", "tx_dropped"):
        d[k] = 0
    if li.kind == "loopback":
        d["flags"] = tuple(f for f in li.flags if f != "NOARP")
    d["details"] = {k: _mac(v) for k, v in li.details.items() if not k.endswith("_timer")}
    return d


def snapshot(k: Any) -> dict[str, dict[str, list]]:
    """Every namespace's records, normalised (see NORMALISED)."""
    out = {}
    for ns in k.all_namespaces():
        links = ns.links()
        vx = {li.name for li in links if li.kind == "vxlan"}
        fdbs = [dataclasses.replace(f, mac=_mac(f.mac), age=None) for f in ns.fdbs()]
        fdbs = [f for f in fdbs if f.dev not in vx] + sorted((f for f in fdbs if f.dev in vx), key=repr)
        out[ns.name] = {
            "links": [_norm_link(li) for li in links], "addrs": ns.addrs(), "routes": ns.routes(),
            "local": ns.routes("local"), "fdbs": fdbs,
            "neighs": sorted((n for n in ns.neighs() if not (n.state == "NOARP" and n.ip.startswith("224."))),
                             key=repr)}
    return out


def assert_same(sim: Any, real: Any, settle: float = 1.5) -> None:
    """Equal snapshots; the real one is read again for a moment (linkwatch updates operstate
    asynchronously, up to a second later for a device without urgent events)."""
    want = snapshot(sim)
    deadline = time.monotonic() + settle
    while (got := snapshot(real)) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    for ns in sorted(set(want) | set(got)):
        for table in ("links", "addrs", "routes", "local", "neighs", "fdbs"):
            w, g = want.get(ns, {}).get(table), got.get(ns, {}).get(table)
            assert g == w, f"namespace {ns!r}, {table}:\n  sim : {w}\n  real: {g}"


# ---------------------------------------------------------------- scenarios (k: an api.Kernel)


def veth_pair(k: Any) -> None:
    a, b = k.netns_add("ns1"), k.netns_add("ns2")
    a.link_add(api.Veth("v1", peer="v2", peer_netns="ns2"))
    a.addr_add("v1", "10.0.0.1/24")
    b.addr_add("v2", "10.0.0.2/24")
    a.link_set("v1", up=True)
    b.link_set("v2", up=True)
    a.link_set("lo", up=True)


def bridge_ports(k: Any) -> None:
    r = k.root
    r.link_add(api.Bridge("br0"))
    r.addr_add("br0", "10.1.0.1/24", broadcast="+")
    r.link_set("br0", up=True)
    for n in ("c1", "c2", "c3"):
        ns = k.netns_add(n)
        r.link_add(api.Veth(f"veth-{n}", peer="eth0", peer_netns=n))
        r.link_set(f"veth-{n}", master="br0", up=True)
        ns.link_set("eth0", up=True)
    r.link_set("veth-c3", nomaster=True)  # (the last one: see test_bridge_port_numbers)
    r.link_set("veth-c2", hairpin=True)
    r.fdb_add(api.Fdb("02:00:00:00:00:99", "veth-c1", master="br0", state="static"))
    r.fdb_add(api.Fdb("02:00:00:00:00:98", "veth-c1", master="br0"))


def link_changes(k: Any) -> None:
    r, c = k.root, k.netns_add("c")
    r.link_add(api.Veth("va", peer="vb"))
    r.link_set("va", address="02:00:00:00:03:01", mtu=1400, promisc=True, up=True)
    r.link_set("va", rename="va2")
    r.link_add(api.Veth("vc", peer="vd"))
    r.link_set("vd", netns="c", up=True)  # keeps its ifindex in c (free there)
    r.link_set("vc", up=True)
    c.link_set("vd", rename="eth1", mtu=9000)


def vxlan_fdb(k: Any) -> None:
    r = k.root
    r.link_add(api.Veth("u0", peer="u1"))
    r.addr_add("u0", "192.168.0.2/24")
    r.link_set("u0", up=True)
    r.link_set("u1", up=True)
    r.link_add(api.Vxlan("vx0", vni=42, local="192.168.0.2", dev="u0", learning=False, proxy=True))
    r.link_set("vx0", address="02:00:00:00:04:01", up=True)
    r.fdb_add(api.Fdb("00:00:00:00:00:00", "vx0", dst="192.168.0.3"))
    r.fdb_add(api.Fdb("00:00:00:00:00:00", "vx0", dst="192.168.0.4"), append=True)
    r.fdb_add(api.Fdb("02:42:0a:00:00:03", "vx0", dst="192.168.0.3"))
    r.neigh_add(api.Neigh("10.0.0.3", "vx0", "02:42:0a:00:00:03"))
    k.netns_add("ov", listed=False)
    r.link_add(api.Vxlan("vx1", vni=43))
    r.link_set("vx1", netns="ov")  # Docker's overlay: created in the root, moved in


def macvlan_bridge(k: Any) -> None:
    r, c = k.root, k.netns_add("c")
    r.link_add(api.Veth("p0", peer="p1"))
    r.link_set("p0", address="02:00:00:00:00:10", up=True)
    r.link_set("p1", up=True)  # the parent has carrier (see test_macvlan_elsewhere_without_carrier)
    r.link_add(api.Macvlan("mv0", parent="p0"))
    r.link_add(api.Macvlan("mv1", parent="p0"))
    r.link_set("mv0", address="02:00:00:00:00:11", netns="c")
    c.link_set("mv0", up=True)
    c.addr_add("mv0", "10.9.0.2/24")


def routes(k: Any) -> tuple:
    r, c = k.root, k.netns_add("c")
    r.link_add(api.Veth("ve", peer="eth0", peer_netns="c"))
    r.addr_add("ve", "172.20.0.1/16")
    r.link_set("ve", up=True)
    c.addr_add("eth0", "172.20.0.2/16")
    c.addr_add("eth0", "172.20.0.3/16")  # a secondary
    c.link_set("eth0", up=True)
    c.link_set("lo", up=True)
    c.route_add(api.Route(dst="default", via="172.20.0.1"))
    c.route_add(api.Route(dst="10.1.0.0/16", via="172.20.0.1", metric=100))
    c.route_add(api.Route(dst="10.2.0.0/16", dev="eth0", src="172.20.0.2", mtu=1400))
    c.route_add(api.Route(dst="10.3.0.0/16", type="blackhole"))
    c.route_add(api.Route(dst="10.5.0.0/16", via="172.20.0.1", proto="static"))
    c.route_add(api.Route(dst="10.6.0.0/16", via="172.20.0.1"))
    c.route_add(api.Route(dst="10.6.0.0/16", dev="eth0"), replace=True)
    c.route_del(api.Route(dst="10.1.0.0/16"))
    got = c.route_get("10.1.2.3"), c.route_get("8.8.8.8")
    return tuple(dataclasses.replace(x, table="main") for x in got)


def neighbours(k: Any) -> None:
    r = k.root
    r.link_add(api.Bridge("br0"))
    r.link_set("br0", address="02:00:00:00:00:01", up=True)
    r.addr_add("br0", "172.31.0.1/16")
    r.neigh_add(api.Neigh("172.31.0.50", "br0", "02:00:00:00:00:50"))
    r.neigh_add(api.Neigh("172.31.0.51", "br0", "02:00:00:00:00:51", state="NOARP"))
    r.neigh_add(api.Neigh("172.31.0.52", "br0", "02:00:00:00:00:52"), replace=True)
    r.neigh_del("172.31.0.52", "br0")


def veth_del(k: Any) -> tuple:
    a = k.netns_add("a")
    k.root.link_add(api.Veth("x0", peer="eth0", peer_netns="a"))
    k.root.link_add(api.Veth("y0", peer="y1"))
    k.root.link_del("x0")  # the peer in `a` goes with it
    k.root.link_del("y1")
    return [li.name for li in a.links()], [li.name for li in k.root.links()]


def netns_gone(k: Any) -> list[str]:
    k.netns_add("gone")
    k.root.link_add(api.Veth("vg", peer="eth0", peer_netns="gone"))
    k.netns_add("hidden", listed=False)
    k.netns_add("kept")
    k.netns_del("gone")  # its devices go first: vg disappears from the root too
    return k.netns_list()


SCENARIOS: list[Callable[[Any], object]] = [veth_pair, bridge_ports, link_changes, vxlan_fdb,
                                            macvlan_bridge, routes, neighbours, veth_del, netns_gone]
NEEDS = {vxlan_fdb: ["vxlan"], macvlan_bridge: ["macvlan"]}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[f.__name__ for f in SCENARIOS])
def test_same_records(real: Any, features: Any, scenario: Callable[[Any], object]) -> None:
    if msg := features.message(NEEDS.get(scenario, [])):
        pytest.skip(msg)
    sim = sim_kernel()
    assert scenario(real) == scenario(sim)
    assert_same(sim, real)


def test_route_get_table_of_a_local_route(real: Any) -> None:
    """Finding: the kernel answers `ip route get` for a local address from table main (254: the
    local table is merged into main while there are no policy rules); the sim says local."""
    sim = sim_kernel()
    for k in (sim, real):
        k.root.link_add(api.Veth("a", peer="b"))
        k.root.addr_add("a", "10.7.0.1/24")
        k.root.link_set("a", up=True)
    want, got = sim.root.route_get("10.7.0.1"), real.root.route_get("10.7.0.1")
    assert (want.type, want.dev, want.src, want.table) == ("local", "lo", "10.7.0.1", "local")
    assert (got.type, got.dev, got.src, got.table) == ("local", "lo", "10.7.0.1", "main")


def test_bridge_port_numbers(real: Any) -> None:
    """Finding: the kernel gives a port the lowest free port number for good (find_portno());
    the sim numbers ports by their position, so a port after one that left is renumbered."""
    sim = sim_kernel()
    for k in (sim, real):
        k.root.link_add(api.Bridge("br0"))
        for i in range(3):
            k.root.link_add(api.Veth(f"p{i}", peer=f"q{i}"))
            k.root.link_set(f"p{i}", master="br0")
        k.root.link_set("p1", nomaster=True)
    assert sim.root.link_get("p2").details["port_no"] == 2
    assert real.root.link_get("p2").details["port_no"] == 3


def test_macvlan_elsewhere_without_carrier(real: Any, features: Any) -> None:
    """Finding: a macvlan moved to another namespace, whose parent has no carrier, is
    LOWERLAYERDOWN on the kernel (`mv0@if3: <NO-CARRIER,...,UP> ... state LOWERLAYERDOWN`);
    the sim says DOWN (it looks the parent's index up in the macvlan's own namespace)."""
    if not features.macvlan:
        pytest.skip(features.message(["macvlan"]))
    sim = sim_kernel()
    for k in (sim, real):
        k.netns_add("c")
        k.root.link_add(api.Veth("p0", peer="p1"))
        k.root.link_set("p0", up=True)
        k.root.link_add(api.Macvlan("mv0", parent="p0"))
        k.root.link_set("mv0", netns="c")
        k.netns("c").link_set("mv0", up=True)
    assert sim.netns("c").link_get("mv0").operstate == "DOWN"
    deadline = time.monotonic() + 1.5
    while real.netns("c").link_get("mv0").operstate != "LOWERLAYERDOWN" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert real.netns("c").link_get("mv0").operstate == "LOWERLAYERDOWN"


def test_missing_link_kinds_refused_as_ip_does(real: Any, features: Any) -> None:
    for kind, spec in (("dummy", api.Dummy("d0")), ("vlan", api.Vlan("u.10", parent="u", vid=10))):
        real.root.link_add(api.Veth("u", peer="w")) if kind == "vlan" else None
        if features.has(kind):
            real.root.link_add(spec)
            continue
        with pytest.raises(KernelError) as e:
            real.root.link_add(spec)
        assert (str(e.value), e.value.errno_name) == ("Error: Unknown device type.", "EOPNOTSUPP")
        assert kind in features.message([kind])


# ---------------------------------------------------------------- errors

def _setup_errors(k: Any) -> None:
    r, c = k.root, k.netns_add("c")
    r.link_add(api.Bridge("br0"))
    r.addr_add("br0", "172.31.0.1/16")
    r.link_set("br0", up=True)
    r.link_add(api.Veth("veth1", peer="eth0", peer_netns="c"))
    r.link_set("veth1", master="br0", up=True)
    c.addr_add("eth0", "172.31.0.2/16")
    c.link_set("eth0", up=True)
    c.route_add(api.Route(dst="default", via="172.31.0.1"))
    r.link_add(api.Veth("va", peer="vb"))


ERRORS: list[tuple[str, str, tuple, dict]] = [
    ("", "link_add", (api.Bridge("br0"),), {}),  # duplicate link
    ("", "link_add", (api.Veth("x", peer="veth1"),), {}),
    ("", "link_add", (api.Veth("veth9", peer="eth0", peer_netns="c"),), {}),
    ("", "link_add", (api.Veth("veth9", peer="e", peer_netns="nope"),), {}),
    ("", "link_set", ("eth9",), {"up": True}),  # missing device
    ("", "link_set", ("veth1",), {"master": "nope"}),
    ("", "link_set", ("va",), {"master": "vb"}),
    ("", "link_set", ("veth1",), {"mtu": 70000}),
    ("", "link_set", ("veth1",), {"mtu": 60}),
    ("", "link_set", ("veth1",), {"address": "01:00:00:00:00:01"}),
    ("", "link_set", ("va",), {"rename": "veth1"}),
    ("", "link_set", ("va",), {"netns": "nope"}),
    ("", "link_del", ("lo",), {}),
    ("", "link_del", ("eth9",), {}),
    ("c", "addr_add", ("eth0", "172.31.0.2/16"), {}),  # duplicate address
    ("c", "addr_add", ("eth9", "1.2.3.4/24"), {}),
    ("c", "addr_add", ("eth0", "bogus"), {}),
    ("c", "addr_del", ("eth0", "1.2.3.4/24"), {}),
    ("c", "route_add", (api.Route(dst="default", via="172.31.0.1"),), {}),  # duplicate route
    ("c", "route_add", (api.Route(dst="10.8.0.0/16", via="1.2.3.4"),), {}),
    ("c", "route_add", (api.Route(dst="10.8.0.0/16", dev="nope"),), {}),
    ("c", "route_add", (api.Route(dst="10.8.0.1/16", dev="eth0"),), {}),
    ("c", "route_del", (api.Route(dst="10.9.0.0/16"),), {}),
    ("c", "route_get", ("bogus",), {}),
    ("", "neigh_add", (api.Neigh("172.31.0.61", "br0"),), {}),
    ("", "neigh_del", ("172.31.0.99", "br0"), {}),
    ("", "fdb_del", (api.Fdb("02:00:00:00:00:55", "veth1", master="br0"),), {}),
    ("", "fdb_add", (api.Fdb("02:00:00:00:00:55", "va", master="br0"),), {}),
    ("", "sysctl_get", ("net.ipv4.foo",), {}),
    ("", "sysctl_set", ("net.ipv4.foo", "1"), {}),
    ("", "iptables_restore", ("*filter\n:FOO - [0:0]\n-A FOO -j BAR\nCOMMIT\n",), {}),
    ("", "iptables_restore", ("*filter\n-A INPUT -j ACCEPT\n",), {}),
]
# Findings: where the kernel's answer is not the sim's (the real one is what `ip` prints)
DIFFERENT = [
    ("", "link_set", ("va",), {"hairpin": True},  # hairpin on a device that is no bridge port
     "Error: Device is not a bridge port.", "RTNETLINK answers: Operation not supported"),
    ("c", "route_add", (api.Route(dst="10.8.0.0/16"),), {},  # neither dev nor via
     "Error: Device for nexthop is not up.", "RTNETLINK answers: No such device"),
]


def _refusal(k: Any, ns: str, verb: str, args: tuple, kw: dict) -> tuple[str, str]:
    with pytest.raises(KernelError) as e:
        getattr(k.netns(ns), verb)(*args, **kw)
    return str(e.value), e.value.errno_name


def test_same_refusals(real: Any) -> None:
    sim = sim_kernel()
    _setup_errors(sim)
    _setup_errors(real)
    for ns, verb, args, kw in ERRORS:
        assert _refusal(real, ns, verb, args, kw) == _refusal(sim, ns, verb, args, kw), (verb, args, kw)
    for ns, verb, args, kw, sim_says, real_says in DIFFERENT:
        assert _refusal(sim, ns, verb, args, kw)[0] == sim_says
        assert _refusal(real, ns, verb, args, kw)[0] == real_says


# ---------------------------------------------------------------- sysctls, netfilter

def test_sysctl_set_get(real: Any) -> None:
    sim = sim_kernel()
    for k in (sim, real):
        k.root.link_add(api.Veth("v.10", peer="v.11"))
        k.root.sysctl_set("net.ipv4.ip_forward", "1")
        k.root.sysctl_set("net/ipv4/conf/v.10/proxy_arp", "1")
    for key in ("net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding", "net.ipv4.conf.v/10.forwarding",
                "net.ipv4.conf.v.10.proxy_arp", "net/ipv4/conf/v.11/proxy_arp", "net.ipv4.ip_default_ttl",
                "net.ipv4.ip_local_port_range", "net.bridge.bridge-nf-call-iptables"):
        assert real.root.sysctl_get(key) == sim.root.sysctl_get(key), key
    assert "net/ipv4/conf/v.10/proxy_arp" in real.root.sysctl_keys()
    # finding: a non-initial namespace has no net.ipv4.neigh.default.* keys (the sim has them)
    with pytest.raises(KernelError, match="cannot stat /proc/sys/net/ipv4/neigh/default/gc_stale_time"):
        real.root.sysctl_get("net.ipv4.neigh.default.gc_stale_time")


RULES = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -j DOCKER-USER
-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.0.0.0/24 ! -o v1 -j MASQUERADE
COMMIT
"""


def _no_comments(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))


def test_iptables_round_trip(real: Any, features: Any) -> None:
    if features.iptables is None:
        pytest.skip("iptables is not installed")
    sim = sim_kernel()
    for k in (sim, real):
        k.root.iptables_restore(RULES)
        k.root.iptables_restore("*filter\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n", noflush=True)
    for table, counters in ((None, False), ("nat", True), ("filter", False), ("mangle", False)):
        got = real.root.iptables_save(table, counters=counters)
        assert _no_comments(got) == _no_comments(sim.root.iptables_save(table, counters=counters)), table
    assert real.root.iptables_save().startswith("# Generated by iptables-save v1.8")


def test_iptables_restore_commits_table_by_table(real: Any, features: Any) -> None:
    """Finding: iptables-nft-restore commits each table at its COMMIT, so a failing later table
    leaves the earlier ones loaded; the sim's restore is all or nothing."""
    if features.iptables != "nft":
        pytest.skip("iptables-nft's behaviour")
    text = "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n-A NOPE -j ACCEPT\nCOMMIT\n"
    sim = sim_kernel()
    for k in (sim, real):
        with pytest.raises(KernelError, match="line 5 failed: No chain/target/match by that name"):
            k.root.iptables_restore(text)
    assert sim.root.iptables_save() == ""
    assert "-A INPUT -j ACCEPT" in real.root.iptables_save()


def test_conntrack_entries_parsed(real: Any, features: Any) -> None:
    if not (features.conntrack and shutil.which("ping")):
        pytest.skip("needs conntrack and ping")
    a, b = real.netns_add("a"), real.netns_add("b")
    a.link_add(api.Veth("v1", peer="v2", peer_netns="b"))
    a.addr_add("v1", "10.0.0.1/24")
    b.addr_add("v2", "10.0.0.2/24")
    a.link_set("v1", up=True)
    b.link_set("v2", up=True)
    b.iptables_restore(RULES)  # -m conntrack: conntrack is on in b
    assert a.run(["ping", "-c", "1", "-W", "2", "10.0.0.2"]).returncode == 0
    (e,) = b.conntrack_list()
    assert (e.proto, e.protonum, e.state, e.status) == ("icmp", 1, None, ("SEEN_REPLY", "CONFIRMED"))
    assert (e.orig.src, e.orig.dst, e.orig.type, e.reply.src, e.reply.type) == ("10.0.0.1", "10.0.0.2", 8, "10.0.0.2", 0)
    assert 0 < e.timeout <= 30
    assert b.conntrack_flush() == 1
    assert b.conntrack_list() == []


def test_ipvs_missing(real: Any, features: Any) -> None:
    if features.ipvs:
        pytest.skip("this kernel has IPVS")
    with pytest.raises(KernelError, match="Can't initialize ipvs: Protocol not available") as e:
        real.root.ipvs_service_add(api.IpvsService(addr="10.0.0.1", port=80))
    assert e.value.errno_name == "ENOPROTOOPT"
    assert features.missing(["ipvs", "veth"]) == ["ipvs"]


# ---------------------------------------------------------------- life cycle

def test_names_and_listing(real: Any) -> None:
    ns = real.netns_add("ns1")
    real.netns_add("sbx", listed=False)
    assert (real.root.name, real.root.real_name) == ("", f"{real.prefix}host-A")
    assert (ns.name, ns.real_name, ns.path) == ("ns1", f"{real.prefix}host-A.ns1", f"/var/run/netns/{real.prefix}host-A.ns1")
    assert real.netns_list() == ["ns1"] and real.netns("") is real.root and real.netns(None) is real.root
    assert [li.up for li in real.root.links()] == [True] and [li.up for li in ns.links()] == [False]
    with pytest.raises(KernelError, match='Cannot open network namespace "nope"'):
        real.netns("nope")
    with pytest.raises(KernelError, match="File exists"):
        real.netns_add("ns1")


def test_close_leaves_nothing(features: Any) -> None:
    from cnmsim.kernel.real import RealKernel, new_prefix

    k = RealKernel(new_prefix(), "host-B")
    k.netns_add("a")
    k.netns_add("b", listed=False)
    # a process still inside a namespace is killed
    p = subprocess.Popen(["ip", "netns", "exec", k.netns("a").real_name, "sleep", "60"])
    time.sleep(0.2)
    k.close()
    assert p.wait(timeout=5) == -9
    assert not [n for n in os.listdir("/var/run/netns") if n.startswith(k.prefix)]


def test_clean_removes_crash_leftovers(features: Any) -> None:
    from cnmsim.kernel.real import clean, leftovers, new_prefix

    prefix = new_prefix()
    crash = ("import os, sys; from cnmsim.kernel.real import RealKernel; k = RealKernel(sys.argv[1], 'h'); "
             "k.netns_add('x'); os._exit(0)")
    subprocess.run([sys.executable, "-c", crash, prefix], check=True, timeout=30)
    left = [n for n in leftovers() if n.startswith(prefix)]
    assert left == [f"{prefix}h", f"{prefix}h.x"]
    assert clean(prefix) == left
    assert not [n for n in leftovers() if n.startswith(prefix)]


def test_new_prefix_and_root_required(monkeypatch: pytest.MonkeyPatch, features: Any) -> None:
    from cnmsim.kernel.real import clean, new_prefix, require_root

    assert re.fullmatch(r"cnm[0-9a-f]{5}-", new_prefix())
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PermissionError, match="needs root"):
        require_root()
    with pytest.raises(PermissionError):
        clean("cnm00000-")


def test_bring_up_speed(real: Any) -> None:
    """10 namespaces with a veth each on a bridge, an address and a default route."""
    t = time.perf_counter()
    r = real.root
    r.link_add(api.Bridge("br0"))
    r.addr_add("br0", "10.5.0.1/24")
    r.link_set("br0", up=True)
    for i in range(10):
        ns = real.netns_add(f"c{i}", listed=False)
        r.link_add(api.Veth(f"veth{i}", peer="eth0", peer_netns=f"c{i}"))
        r.link_set(f"veth{i}", master="br0", up=True)
        ns.addr_add("eth0", f"10.5.0.{i + 2}/24")
        ns.link_set("eth0", up=True)
        ns.route_add(api.Route(dst="default", via="10.5.0.1"))
    took = time.perf_counter() - t
    print(f"\n10 namespaces + veth + address + route: {took * 1000:.0f} ms")
    assert took < 1.0
    assert len(r.links()) == 12
