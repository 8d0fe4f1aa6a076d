"""The iproute2-family tools against the real kernel: one topology, built twice.

The same command lines run in the simulator (`ip netns exec NS ...` on a lab host) and on this
machine's kernel (in two namespaces with a unique `cnmtA<pid>` prefix, IPv6 disabled in them as
cnmsim is IPv4-only); then `ip link/addr/route/neigh`, `bridge`, `brctl` and `sysctl` must print
the same thing, once MACs the tools drew at random, counters, timers and the CPU-dependent
queue counts are normalised.  Nothing is created in the root namespace, and the namespaces are
always deleted.  Skips when not root, or when the kernel cannot build the topology.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from cnmsim import Lab

pytestmark = pytest.mark.real

PREFIX = f"cnmtA{os.getpid() % 100000}"
H, C = PREFIX + "h", PREFIX + "c"  # a "host" namespace with a bridge, a "container" behind it

SETUP: list[tuple[str, str]] = [
    (H, "ip link add br0 type bridge"),
    (H, f"ip link add veth1 type veth peer name eth0 netns {C}"),
    (H, "ip link set veth1 address 02:00:00:00:01:01"),
    (C, "ip link set eth0 address 02:00:00:00:02:01"),
    (H, "ip link set veth1 master br0"),
    (H, "ip link set br0 up"),
    (H, "ip link set veth1 up"),
    (H, "ip link set lo up"),
    (H, "ip addr add 172.31.0.1/16 brd + dev br0"),
    (C, "ip link set lo up"),
    (C, "ip addr add 172.31.0.2/16 dev eth0"),
    (C, "ip link set eth0 up"),
    (C, "ip route add default via 172.31.0.1"),
    (C, "ip addr add 10.10.0.1/24 brd + dev eth0"),
    (C, "ip addr add 10.10.0.77/24 dev eth0"),
    (C, "ip addr add 172.31.0.3/16 dev eth0"),
    (C, "ip addr add 10.9.9.9/32 dev eth0"),
    (C, "ip link add mv0 link eth0 type macvlan mode bridge"),
    (C, "ip link set mv0 address 02:00:00:00:02:02"),
    (C, "ip link set mv0 up"),
    (C, "ip addr add 10.11.0.1/24 brd 10.11.0.200 dev mv0"),
    (C, "ip route add 10.1.0.0/16 via 172.31.0.1 metric 100"),
    (C, "ip route add 10.2.0.0/16 dev eth0 src 172.31.0.2 mtu 1400"),
    (C, "ip route add blackhole 10.3.0.0/16"),
    (C, "ip route add unreachable 10.4.0.0/16"),
    (C, "ip route add prohibit 10.7.0.0/16"),
    (C, "ip route add 10.5.0.0/16 via 172.31.0.1 proto static"),
    (C, "ip route add 10.6.0.5 dev eth0 scope link proto 4"),
    (C, "ip route add 10.0.0.0/8 via 172.31.0.1"),
    (C, "ip route add 10.0.0.0/24 via 172.31.0.1"),
    (C, "ip route add 10.0.0.0/16 via 172.31.0.1 metric 5"),
    (C, "ip route add 10.0.0.0/16 via 172.31.0.1"),
    (C, "ip route add 10.0.0.0/16 via 172.31.0.1 metric 1"),
    (C, "ip route del 10.0.0.0/16"),
    (H, "ip link add va type veth peer name vb"),
    (H, "ip link set va address 02:00:00:00:03:01"),
    (H, "ip link set vb address 02:00:00:00:03:02"),
    (H, "ip link set va up"),
    (H, "ip link add vx0 type vxlan id 42 local 172.31.0.1 dev br0 dstport 4789 nolearning proxy"),
    (H, "ip link set vx0 address 02:00:00:00:04:01"),
    (H, "ip link set vx0 up"),
    (H, "bridge fdb add 00:00:00:00:00:00 dev vx0 dst 10.0.0.2"),
    (H, "bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.0.0.3"),
    (H, "bridge fdb add 02:00:00:00:00:99 dev veth1 master static"),
    (H, "bridge fdb add 02:00:00:00:00:98 dev veth1 master"),
    (H, "bridge fdb add 02:00:00:00:00:97 dev veth1"),
    (H, "ip neigh add 172.31.0.50 lladdr 02:00:00:00:00:50 dev br0"),
    (H, "ip neigh add 172.31.0.51 lladdr 02:00:00:00:00:51 dev br0 nud noarp"),
    (H, "ip neigh add 172.31.0.52 lladdr 02:00:00:00:00:52 dev br0 nud reachable"),
    (H, "ip neigh add 172.31.0.53 lladdr 02:00:00:00:00:53 dev br0 nud stale"),
    (H, "ip link add v.10 type veth peer name v.11"),
    (H, "sysctl -qw net.ipv4.conf.v/10.proxy_arp=1"),
    (C, "ping -c 1 -W 1 172.31.0.1"),
]

CHECKS: list[tuple[str, str]] = [
    (H, "ip link"), (C, "ip link"), (H, "ip -br link"), (C, "ip -br link"), (H, "ip -o link"),
    (H, "ip -d link"), (C, "ip -d link"), (H, "ip -s link show veth1"), (C, "ip -s -s link show eth0"),
    (H, "ip link show type veth"), (H, "ip link show master br0"), (H, "ip link show up"),
    (H, "ip link show dev nope"), (H, "ip link set nope up"), (H, "ip link add br0 type bridge"),
    (H, "ip link add x type bogus"), (H, "ip link set veth1 mtu 70000"), (H, "ip link frob"),
    (H, "ip link set veth1 master nope"), (H, "ip link set veth1 netns nope"), (H, "ip link del lo"),
    (H, "ip link set veth1 address zz"), (H, "ip link add"), (H, "ip link set veth1 bogus"),
    (H, "ip link set veth1 address 01:00:00:00:00:01"), (H, "ip link set veth1 promisc bogus"),
    (H, "ip addr"), (C, "ip addr"), (C, "ip a"), (C, "ip -4 addr"), (C, "ip -o addr"),
    (C, "ip -br addr"), (C, "ip -br -4 addr"), (C, "ip addr show dev eth0"), (C, "ip -s addr show lo"),
    (C, "ip addr add 172.31.0.2/16 dev eth0"), (C, "ip addr del 1.2.3.4/24 dev eth0"),
    (C, "ip addr add 1.2.3.4/24 dev nope"), (C, "ip addr add bogus dev eth0"),
    (C, "ip addr add 1.2.3.4/24"), (C, "ip addr show nope"), (C, "ip addr flush"),
    (C, "ip route"), (C, "ip route show table local"), (C, "ip route show table all"),
    (C, "ip route show dev eth0"), (C, "ip route show 10.1.0.0/16"), (C, "ip route show proto kernel"),
    (C, "ip route get 172.31.0.1"), (C, "ip route get 8.8.8.8"), (C, "ip route get 172.31.0.2"),
    (C, "ip route get 127.0.0.5"), (C, "ip route get 10.10.0.255"), (C, "ip route get 10.2.0.1"),
    (C, "ip route get 10.3.0.1"), (C, "ip route get 10.4.0.1"), (C, "ip route get 10.7.0.1"),
    (C, "ip route add default via 172.31.0.1"), (C, "ip route add 10.8.0.0/16 via 1.2.3.4"),
    (C, "ip route add 10.8.0.0/16 dev nope"), (C, "ip route del 10.9.0.0/16"),
    (C, "ip route add 10.8.0.1/16 dev eth0"), (C, "ip route add bogus dev eth0"),
    (C, "ip route get bogus"), (C, "ip route show table nope"), (C, "ip route flush"),
    (C, "ip route change 10.0.0.0/12 via 172.31.0.1"),
    (H, "ip neigh"), (C, "ip neigh"), (H, "ip neigh show dev br0"), (H, "ip -br neigh"),
    (H, "ip neigh show nud permanent"), (H, "ip neigh add 172.31.0.50 lladdr 02:00:00:00:00:50 dev br0"),
    (H, "ip neigh del 172.31.0.99 dev br0"), (H, "ip neigh add 172.31.0.60 lladdr zz dev br0"),
    (H, "ip neigh add 172.31.0.61 dev br0"), (H, "ip neigh add 172.31.0.62 lladdr 02:00:00:00:00:01"),
    (H, "ip neigh add 172.31.0.63 lladdr 02:00:00:00:00:63 dev br0 nud bogus"), (H, "ip neigh flush"),
    (H, "bridge fdb show"), (C, "bridge fdb show"), (H, "bridge fdb show br br0"),
    (H, "bridge fdb show dev veth1"), (H, "bridge fdb show dev vx0"), (H, "bridge fdb show dev nope"),
    (H, "bridge fdb show br nope"), (H, "bridge fdb add 02:00:00:00:00:99 dev veth1 master static"),
    (H, "bridge fdb del 02:00:00:00:00:55 dev veth1 master"), (H, "bridge fdb add zz dev veth1 master"),
    (H, "bridge fdb add 02:00:00:00:00:01"), (H, "bridge link"), (H, "bridge -d link show"),
    (H, "bridge link show dev nope"), (H, "bridge frob"),
    (H, "brctl show"), (H, "brctl show br0"), (H, "brctl show nope"), (H, "brctl showmacs br0"),
    (H, "brctl showmacs nope"), (H, "brctl addbr br0"), (H, "brctl delbr nope"), (H, "brctl delbr br0"),
    (H, "brctl addif nope va"), (H, "brctl addif br0 nope"), (H, "brctl addif br0 veth1"),
    (H, "brctl delif br0 va"), (H, "brctl addbr"), (H, "brctl frob"), (H, "brctl"),
    (H, "sysctl net.ipv4.ip_forward"), (H, "sysctl -n net.ipv4.ip_default_ttl"),
    (H, "sysctl net.ipv4.foo"), (H, "sysctl -w net.ipv4.foo=1"), (H, "sysctl net/ipv4/ip_forward"),
    (H, "sysctl net.ipv4.conf.v/10.proxy_arp"), (H, "sysctl net/ipv4/conf/v.10/proxy_arp"),
    (H, "sysctl net.ipv4.conf.v.10.proxy_arp"), (H, "sysctl -w net.ipv4.ip_forward"), (H, "sysctl -w"),
    (H, "sysctl net.ipv4.ip_local_port_range"), (H, "sysctl -e net.ipv4.foo"),
    (H, "sysctl -w net.ipv4.ip_forward=1 net.ipv4.foo=1"), (H, "sysctl net.ipv4.ip_forward"),
]
# then: links go down, move, get renamed; addresses, routes and bridges are taken away
SETUP2: list[tuple[str, str]] = [
    (C, "ip route replace 10.0.0.0/16 dev eth0"),
    (C, "ip route change 10.0.0.0/16 via 172.31.0.1 metric 1"),
    (C, "ip route del 10.0.0.0/24"),
    (C, "ip addr del 10.10.0.1/24 dev eth0"),
    (C, "ip addr del 10.9.9.9 dev eth0"),
    (C, "ip addr flush dev mv0"),
    (H, "ip link set va mtu 1400"),
    (H, "ip link set va promisc on"),
    (H, "ip link set va name va2"),
    (H, f"ip link set v.11 netns {C}"),
    (H, "brctl addbr br1"),
    (H, "brctl addif br1 va2"),
    (H, "bridge link set dev va2 hairpin on"),
    (H, "ip link del v.10"),
    (H, "ip link add x14 type veth peer x15"),
    (H, "ip link add type veth"),
    (H, "bridge fdb del 02:00:00:00:00:98 dev veth1 master"),
    (H, "bridge fdb replace 02:00:00:00:00:99 dev veth1 master"),
    (C, "ip neigh flush dev eth0"),
    (C, "ip link set eth0 down"),
]
CHECKS2: list[tuple[str, str]] = [
    (H, "ip link"), (C, "ip link"), (H, "ip -br link"), (C, "ip -br link"), (H, "ip -d link show va2"),
    (C, "ip addr"), (C, "ip route"), (C, "ip route show table local"), (C, "ip neigh"),
    (H, "bridge fdb show"), (C, "bridge fdb show"), (H, "bridge link"), (H, "brctl show"),
    (H, "brctl delbr br1"), (H, "brctl delif br1 va2"), (H, "sysctl net.ipv4.conf.va2.forwarding"),
    (C, "sysctl net.ipv4.conf.v/11.proxy_arp"), (C, "ip -s link show eth0"),
]
# MACs the script sets or the kernel fixes; any other one was drawn at random
KNOWN_MACS = {m for _, cmd in SETUP + SETUP2 for m in re.findall(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}", cmd)} | {
    "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "33:33:00:00:00:01", "33:33:00:00:00:6a",
    "01:00:5e:00:00:01", "01:00:5e:00:00:6a"}
# Lines whose content is the kernel's hash order, not something a tool decides.
UNORDERED = ("ip neigh", "ip -br neigh", "ip neigh show dev br0")


def normalise(cmd: str, text: str, phase: int = 1) -> str:
    """Hide what legitimately differs: random MACs, counters, timers, CPU-sized queue counts."""
    text = re.sub(r"\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b",
                  lambda m: m.group() if m.group() in KNOWN_MACS else "<mac>", text)
    text = re.sub(r"numtxqueues \d+ numrxqueues \d+", "numtxqueues N numrxqueues N", text)
    text = re.sub(r"(\w+_timer) +\d+\.\d\d", r"\1 T", text)  # running bridge timers
    text = re.sub(r"^\s+[\d ]+$", "    <counters>", text, flags=re.M)  # -s value rows
    text = re.sub(r"\t +\d+\.\d\d$", "\tT", text, flags=re.M)  # brctl showmacs ageing timer
    lines = text.splitlines()
    if cmd.startswith("bridge fdb show") or cmd.startswith("brctl showmacs"):
        # background traffic could teach the real bridge random source MACs; and when a port
        # loses its carrier the kernel flushes what it learnt there, the simulator ages it out
        lines = [ln for ln in lines if "<mac>" not in ln
                 and not (phase == 2 and ln.endswith(" master br0 "))]
    if cmd in UNORDERED:
        # the host learnt the container from its ARP request: the kernel makes that entry STALE
        # (then DELAY, PROBE, REACHABLE); the simulator's neighbour table makes it REACHABLE
        lines = [re.sub(r"(02:00:00:00:02:01) \w+ $", r"\1 <learnt> ", ln) for ln in lines]
        lines.sort()
    return "\n".join(lines)


def _script(setup: list[tuple[str, str]], run) -> list[str]:  # noqa: ANN001
    """Run setup lines; return the ones that failed, with why."""
    failed = []
    for ns, cmd in setup:
        rc, _, err = run(ns, cmd)
        if rc != 0:
            failed.append(f"{cmd}: {err.strip()}")
    return failed


def _phases(run, fail, settle=lambda: None) -> dict[tuple[int, str, str], tuple[int, str, str]]:  # noqa: ANN001
    """Set up, check, change, check again; results keyed by (phase, namespace, command)."""
    out = {}
    for phase, (setup, checks) in enumerate(((SETUP, CHECKS), (SETUP2, CHECKS2)), 1):
        failed = _script(setup, run)
        if failed:
            fail(failed)
        settle()
        out.update({(phase, ns, cmd): run(ns, cmd) for ns, cmd in checks})
    return out


@pytest.fixture(scope="module")
def real() -> Iterator[dict[tuple[int, str, str], tuple[int, str, str]]]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to build namespaces on the real kernel")
    for tool in ("bridge", "brctl", "sysctl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make system-deps)")
    made: list[str] = []

    def run(ns: str, cmd: str) -> tuple[int, str, str]:
        r = subprocess.run(["ip", "netns", "exec", ns, *shlex.split(cmd)], capture_output=True,
                           text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr

    try:
        for ns in (H, C):
            r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
            if r.returncode != 0:
                pytest.skip(f"ip netns add failed: {r.stderr.strip()}")
            made.append(ns)
            run(ns, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")
        # linkwatch applies a lost carrier to operstate up to a second later: let it
        yield _phases(run, lambda failed: pytest.skip(
            "the real kernel cannot build the topology: " + "; ".join(failed)),
            lambda: time.sleep(1.5))
    finally:
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture(scope="module")
def sim() -> dict[tuple[int, str, str], tuple[int, str, str]]:
    lab = Lab(seed=0)
    lab.add_host("host-A", docker=False)
    for ns in (H, C):
        assert lab.run("host-A", f"ip netns add {ns}").exit_code == 0

    def run(ns: str, cmd: str) -> tuple[int, str, str]:
        r = lab.run("host-A", f"ip netns exec {ns} {cmd}")
        return r.exit_code, r.stdout, r.stderr

    def fail(failed: list[str]) -> None:
        raise AssertionError(failed)

    return _phases(run, fail)


CASES = [(1, n, c) for n, c in CHECKS] + [(2, n, c) for n, c in CHECKS2]


@pytest.mark.parametrize(("phase", "ns", "cmd"), CASES, ids=[f"{p}{n[-1]}: {c}" for p, n, c in CASES])
def test_same_as_the_kernel(real, sim, phase: int, ns: str, cmd: str) -> None:  # noqa: ANN001
    want_rc, want_out, want_err = real[(phase, ns, cmd)]
    got_rc, got_out, got_err = sim[(phase, ns, cmd)]
    assert normalise(cmd, got_out, phase) == normalise(cmd, want_out, phase)
    assert got_err == want_err
    assert got_rc == want_rc
