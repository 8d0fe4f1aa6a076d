"""Data-plane speed: simulated ping round trips per second, compared with scapy in the same run.

Prints, for a round trip between two namespaces on one Linux bridge and between two hosts
across VXLAN, the round trips per second of wall time and the ratio to scapy's rate of
building and serialising the same Ether/IPv4/ICMP frame (target: ratio >= 0.5, i.e. a
simulated round trip costs at most 2 scapy build+bytes).  Also prints `import cnmsim` time
and the wall time of `cnmsim run` on the two-namespace scenario as a whole process.

    python benchmarks/dataplane.py [--n 2000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnmsim import Lab  # noqa: E402
from cnmsim.kernel import api  # noqa: E402


def scapy_rate(n: int) -> float:
    """Frames per second that scapy builds and serialises (the reference cost)."""
    t = time.perf_counter()
    for i in range(n):
        p = Ether(src="02:42:0a:00:00:02", dst="02:42:0a:00:00:03") / IP(
            src="10.0.0.2", dst="10.0.0.3", ttl=64, id=i) / ICMP(id=1, seq=i) / Raw(b"\x00" * 56)
        bytes(p)
    return n / (time.perf_counter() - t)


def bridge_lab() -> tuple[Lab, object, str]:
    lab = Lab(seed=0, trace=False)
    h = lab.add_host("host-A", address="192.168.0.2/24", docker=False)
    root = h.root
    root.link_add(api.Bridge("br0"))
    root.link_set("br0", up=True)
    for i, n in enumerate(("ns1", "ns2"), 2):
        ns = h.kernel.netns_add(n)
        root.link_add(api.Veth(f"veth{i}", peer="eth0", peer_netns=n))
        root.link_set(f"veth{i}", master="br0", up=True)
        ns.addr_add("eth0", f"10.0.0.{i}/24")
        ns.link_set("eth0", up=True)
    return lab, h.ns("ns1"), "10.0.0.3"


def vxlan_lab() -> tuple[Lab, object, str] | None:
    lab = Lab(seed=0, trace=False)
    try:
        for idx, name in enumerate(("host-A", "host-B")):
            me, peer = f"192.168.0.{2 + idx}", f"192.168.0.{3 - idx}"
            h = lab.add_host(name, address=f"{me}/24", docker=False)
            ns = h.kernel.netns_add("ov")
            ns.link_add(api.Bridge("br0"))
            ns.link_set("br0", up=True)
            h.root.link_add(api.Vxlan("vxlan0", vni=4097, local=me, dev="eth0"))
            h.root.link_set("vxlan0", netns="ov")
            ns.link_set("vxlan0", master="br0", up=True)
            ns.fdb_add(api.Fdb("00:00:00:00:00:00", "vxlan0", dst=peer, self_=True), append=True)
            c = h.kernel.netns_add("c")
            ns.link_add(api.Veth("veth0", peer="eth0", peer_netns="c"))
            ns.link_set("veth0", master="br0", up=True)
            c.addr_add("eth0", f"10.0.0.{2 + idx}/24")
            c.link_set("eth0", mtu=1450, up=True)
    except Exception as e:  # noqa: BLE001
        print(f"  (vxlan topology not available: {e})")
        return None
    return lab, lab["host-A"].ns("c"), "10.0.0.3"


def round_trips(lab: Lab, ns, dst: str, n: int) -> float:  # noqa: ANN001
    """Round trips per wall second: echo request out, reply delivered to the socket."""
    sock = ns.sockets.ping_socket()
    env = lab.env

    def one(seq: int) -> None:
        sock.send(IP(dst=dst) / ICMP(id=sock.ident, seq=seq) / Raw(b"\x00" * 56))
        got = sock.queue.get()
        env.run(until=got)

    for s in range(5):  # warm-up: ARP, FDB learning
        one(s)
    t = time.perf_counter()
    for s in range(n):
        one(s & 0xFFFF)
    return n / (time.perf_counter() - t)


def import_time() -> float:
    code = "import time; t=time.perf_counter(); import cnmsim; print(time.perf_counter()-t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return float(out.stdout)


def run_time() -> float | None:
    scen = ROOT / "scenarios" / "two-namespaces-bridge.yaml"
    exe = Path(sys.executable).parent / "cnmsim"
    if not scen.exists() or not exe.exists():
        return None
    t = time.perf_counter()
    subprocess.run([str(exe), "run", str(scen)], capture_output=True, check=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    ref = scapy_rate(args.n)
    print(f"scapy build+bytes of an Ether/IP/ICMP frame: {ref:,.0f} frames/s")
    for label, built in (("two namespaces on one bridge", bridge_lab()), ("two hosts across VXLAN", vxlan_lab())):
        if built is None:
            continue
        lab, ns, dst = built
        rate = round_trips(lab, ns, dst, args.n)
        print(f"{label}: {rate:,.0f} round trips/s, ratio to scapy {rate / ref:.2f} (target >= 0.5 on the bridge)")
    print(f"import cnmsim: {import_time():.3f} s (target < 0.5 s)")
    rt = run_time()
    if rt is not None:
        print(f"cnmsim run scenarios/two-namespaces-bridge.yaml: {rt:.2f} s as a whole process (target < 1.5 s)")


if __name__ == "__main__":
    main()
