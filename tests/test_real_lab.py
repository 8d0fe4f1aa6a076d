"""The same lab on both backends: kernel behaviours the simulator must share with Linux.

Each test builds one topology with the same code on `Lab(backend="sim")` and `Lab(backend="real")`
(namespaces on this machine's kernel, programmed through the same `cnmsim.kernel.api` verbs), runs
the same transcript lines on both, and compares what Linux decides: exit codes, ICMP errors,
neighbour entries, rule counters.  Skipped unless root with network namespaces.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from cnmsim.kernel import api
from cnmsim.lab import Lab
from cnmsim.result import Result
from cnmsim.scenario import Scenario

pytestmark = pytest.mark.real
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _real_ok() -> str | None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "needs root and iproute2 to build namespaces on the real kernel"
    r = subprocess.run(["ip", "netns", "add", "cnmprobe-x"], capture_output=True)
    subprocess.run(["ip", "netns", "del", "cnmprobe-x"], capture_output=True)
    return None if r.returncode == 0 else "network namespaces are not available here"


@pytest.fixture(scope="module", autouse=True)
def _need_real() -> None:
    why = _real_ok()
    if why:
        pytest.skip(why)


@contextmanager
def both(build: Callable[[Lab], None], seed: int = 0) -> Iterator[tuple[Lab, Lab]]:
    """(sim, real) labs built by the same function; the real one is always removed."""
    sim = Lab(seed=seed)
    build(sim)
    real = Lab(seed=seed, backend="real")
    try:
        build(real)
        yield sim, real
    finally:
        real.close()


def run_both(labs: tuple[Lab, Lab], where: str, line: str) -> tuple[Result, Result]:
    return labs[0].run(where, line), labs[1].run(where, line)


def two_hosts(lab: Lab) -> None:
    lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    lab.add_host("host-B", address="192.168.0.3/24", docker=False)


def test_real_lab_is_prefixed_and_removed() -> None:
    lab = Lab(backend="real")
    try:
        two_hosts(lab)
        names = lab.real.describe()["namespaces"]
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert names and all(n.startswith(lab.real.prefix) for n in names)
        assert all(n in listed for n in names)
        # nothing of the lab in the machine's own namespace
        root_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert lab.real.prefix not in root_links and "seg-lan" not in root_links
    finally:
        lab.close()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert lab.real.prefix not in listed


def test_arp_resolution_and_neighbour_entry() -> None:
    with both(two_hosts) as labs:
        sim, real = run_both(labs, "host-A", "ping -c 1 -W 1 192.168.0.3")
        assert sim.exit_code == real.exit_code == 0
        sim, real = run_both(labs, "host-A", "ip neigh show dev eth0")
        # the same seed gives host-B the same MAC on both backends; the kernel resolved it by ARP
        assert sim.stdout == real.stdout
        assert re.match(r"^192\.168\.0\.3 lladdr ([0-9a-f]{2}:){5}[0-9a-f]{2} REACHABLE\s*$", real.stdout)
        sim, real = run_both(labs, "host-A", "ping -c 1 -W 1 192.168.0.9")  # nobody answers ARP
        assert sim.exit_code == real.exit_code == 1


def macvlan(lab: Lab) -> None:
    two_hosts(lab)
    a = lab["host-A"]
    for i, name in enumerate(("c1", "c2")):
        ns = a.kernel.netns_add(name)
        a.root.link_add(api.Macvlan(f"mv{i}", parent="eth0"))
        a.root.link_set(f"mv{i}", netns=name)
        ns.link_set(f"mv{i}", up=True)
        ns.addr_add(f"mv{i}", f"192.168.0.{11 + i}/24")


def test_macvlan_parent_isolation() -> None:
    cases = ["ip netns exec c1 ping -c 1 -W 1 192.168.0.12", "ip netns exec c1 ping -c 1 -W 1 192.168.0.3",
             "ping -c 1 -W 1 192.168.0.11", "ip netns exec c1 ping -c 1 -W 1 192.168.0.2"]
    with both(macvlan) as labs:
        got = [tuple(r.exit_code for r in run_both(labs, "host-A", line)) for line in cases]
    assert got == [(0, 0), (0, 0), (1, 1), (1, 1)]  # siblings and the LAN yes; parent <-> child no


def vxlan(lab: Lab) -> None:
    two_hosts(lab)
    for me, peer, ip in (("host-A", "192.168.0.3", "10.9.0.1/24"), ("host-B", "192.168.0.2", "10.9.0.2/24")):
        root = lab[me].root
        root.link_add(api.Vxlan("vx0", vni=42, dev="eth0", dstport=4789))
        root.fdb_add(api.Fdb("00:00:00:00:00:00", "vx0", dst=peer, self_=True), append=True)
        root.addr_add("vx0", ip)
        root.link_set("vx0", up=True)


def test_vxlan_between_two_host_namespaces() -> None:
    with both(vxlan) as labs:
        sim, real = run_both(labs, "host-A", "ping -c 1 -W 1 10.9.0.2")
        assert sim.exit_code == real.exit_code == 0
        # 1450 = 1500 - 50: the largest DF ping is 1422 bytes of payload
        sim, real = run_both(labs, "host-A", "ping -c 1 -W 1 -M do -s 1422 10.9.0.2")
        assert sim.exit_code == real.exit_code == 0
        sim, real = run_both(labs, "host-A", "ping -c 1 -W 1 -M do -s 1423 10.9.0.2")
        assert sim.exit_code == real.exit_code != 0
        assert "mtu=1450" in sim.stdout + sim.stderr and "mtu=1450" in real.stdout + real.stderr
        sim, real = run_both(labs, "host-A", "ip -d link show vx0")
        assert "vxlan id 42" in sim.stdout and "vxlan id 42" in real.stdout
        assert "mtu 1450" in sim.stdout and "mtu 1450" in real.stdout


def routed(lab: Lab) -> None:
    lab.segment("wan", mtu=1400)
    lab.add_router("r1", {"lan": "192.168.0.1/24", "wan": "10.0.0.1/24"})
    lab.add_host("host-A", address="192.168.0.2/24", gateway="192.168.0.1", docker=False)
    lab.add_host("far", address="10.0.0.2/24", segment="wan", gateway="10.0.0.1", docker=False)


def test_mtu_drop_with_icmp_frag_needed() -> None:
    with both(routed) as labs:
        sim, real = run_both(labs, "host-A", "ping -c 1 -W 1 10.0.0.2")
        assert sim.exit_code == real.exit_code == 0
        sim, real = run_both(labs, "host-A", "ping -c 1 -W 1 -M do -s 1400 10.0.0.2")
        assert sim.exit_code == real.exit_code == 1
        for r in (sim, real):  # the router's ICMP error names the next hop's MTU
            assert "Frag needed and DF set (mtu = 1400)" in r.stdout
        sim, real = run_both(labs, "host-A", "ip route get 10.0.0.2")
        for r in (sim, real):  # the learned path MTU, a route cache exception for 600 s
            assert re.search(r"cache expires 59\dsec mtu 1400", r.stdout), r.stdout


def test_netfilter_ruleset_evaluated_on_both() -> None:
    rules = ["iptables -A INPUT -p icmp --icmp-type echo-request -s 192.168.0.2 -j DROP",
             "iptables -A INPUT -p tcp --dport 80 -j REJECT --reject-with tcp-reset",
             "iptables -A INPUT -p udp -j ACCEPT"]
    with both(two_hosts) as labs:
        for line in rules:
            sim, real = run_both(labs, "host-B", line)
            assert sim.exit_code == real.exit_code == 0, real.stderr
        sim, real = run_both(labs, "host-A", "ping -c 2 -W 1 192.168.0.3")
        assert sim.exit_code == real.exit_code == 1
        sim, real = run_both(labs, "host-A", "nc -z -w 1 192.168.0.3 80")
        assert sim.exit_code == real.exit_code == 1
        sim, real = run_both(labs, "host-B", "iptables -S INPUT")
        assert sim.stdout == real.stdout
        sim, real = run_both(labs, "host-B", "iptables -L INPUT -n -v -x")
        counts = [[line.split()[0] for line in r.stdout.splitlines()[2:]] for r in (sim, real)]
        assert counts[0] == counts[1] == ["2", "1", "0"]  # two echo requests, one SYN, no UDP


def test_docker_pets_scenario_passes_on_the_real_kernel() -> None:
    sc = Scenario.load(os.path.join(ROOT, "scenarios", "docker-pets-bridge.yaml"))
    lab = sc.build(backend="real")
    with lab:
        failures = [(o.step.text, o.failures) for o in sc.play(lab) if o.failures]
    assert failures == []


def test_missing_kernel_features_refuse_the_scenario_up_front() -> None:
    from cnmsim.kernel.real.features import probe
    from cnmsim.kernel.real.requirements import needed
    from cnmsim.scenario import ScenarioError

    sc = Scenario.load(os.path.join(ROOT, "scenarios", "macvlan-vlan-trunking.yaml"))
    assert needed(s.line for s in sc.steps) == ["vlan"]
    if probe().vlan:
        pytest.skip("this kernel has 802.1q: nothing to refuse")
    before = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    with pytest.raises(ScenarioError, match=r"no 802\.1q \(vlan\) support"):
        sc.build(backend="real")
    after = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert after == before  # nothing of the refused lab is left behind
    # the kernel's own refusal, when a line asks for it anyway
    with Lab(backend="real") as lab:
        lab.add_host("host-A", address="192.168.0.2/24", docker=False)
        r = lab.run("host-A", "ip link add link eth0 name eth0.10 type vlan id 10")
        assert (r.exit_code, r.stderr) == (2, "Error: Unknown device type.\n")


def _lab_namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if re.match(r"cnm[0-9a-f]{5}-", line)}


def test_ctrl_c_removes_everything() -> None:
    import signal
    import sys
    import time

    before = _lab_namespaces()
    exe = os.path.join(os.path.dirname(sys.executable), "cnmsim")
    p = subprocess.Popen([exe, "run", "--backend", "real",
                          os.path.join(ROOT, "scenarios", "docker-pets-bridge.yaml")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 30
    while not (_lab_namespaces() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2.0)  # inside the scenario's `wait 6s`: containers and their servers are up
    made = _lab_namespaces() - before
    assert len(made) >= 5, made  # underlay, host-A, laptop and the two sandboxes
    servers = subprocess.run(["pgrep", "-f", "cnmsim.kernel.real.appserver"], capture_output=True,
                             text=True).stdout.split()
    assert servers
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=30)
    assert p.returncode != 0
    assert not (_lab_namespaces() & made)
    assert not any(os.path.exists(f"/etc/netns/{n}") for n in made)
    for pid in servers:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
