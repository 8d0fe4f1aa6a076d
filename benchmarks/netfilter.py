"""Netfilter speed: packets through filter chains, rule evaluations, conntrack lookups.

Drives frames straight through the FORWARD hook of a namespace whose filter FORWARD chain has
10, 100 and 1,000 rules that do not match (`-s 10.I.0.0/16 -p tcp --dport P -j DROP`) and a
final ACCEPT, and prints packets per second and rule evaluations per second (target: at least
500,000 on the 1,000-rule chain).  The baseline, measured in the same run, is a plain-Python
evaluator that reads the scapy fields and tests each rule with the ipaddress module, as a
straightforward interpreter of the model would.  Then conntrack: lookups per second in a table
of 100,000 entries, against a bare dict of the same tuples.

    python benchmarks/netfilter.py [--packets 2000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from scapy.layers.inet import IP, TCP

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnmsim import Lab  # noqa: E402
from cnmsim.kernel import api  # noqa: E402
from cnmsim.kernel.sim.nf.conntrack import ConnTable  # noqa: E402
from cnmsim.netfilter.model import Match, Option, Rule, Ruleset, Target  # noqa: E402
from cnmsim.packet.frame import Frame  # noqa: E402


def ruleset(n: int) -> Ruleset:
    rs = Ruleset()
    rules = rs.tables["filter"].chains["FORWARD"].rules
    for i in range(n):
        rules.append(Rule(src=f"10.{i % 256}.{i // 256}.0/24", proto="tcp",
                          matches=[Match("tcp", [Option("--dport", (str(1000 + i),))])],
                          target=Target("DROP")))
    rules.append(Rule(target=Target("ACCEPT")))
    return rs


def frames(k: int) -> list[Frame]:
    return [Frame(IP(src="192.168.7.9", dst="172.17.0.2", ttl=64) / TCP(sport=40000 + i % 1000, dport=80,
                                                                       flags="A"), i) for i in range(k)]


def engine_pps(n_rules: int, packets: int) -> float:
    lab = Lab(seed=0, trace=False)
    ns = lab.add_host("h", docker=False).root
    for d in ("eth0", "docker0"):
        ns.link_add(api.Dummy(d))
        ns.link_set(d, up=True)
    ns.ruleset = ruleset(n_rules)
    ns.nf_attach()
    indev, outdev = ns.devices["eth0"], ns.devices["docker0"]
    fs = frames(packets)
    hook = ns.nf.hook
    hook("FORWARD", fs[0], indev, outdev)  # compile outside the timing
    t = time.perf_counter()
    for f in fs:
        hook("FORWARD", f, indev, outdev)
    return packets / (time.perf_counter() - t)


def baseline_pps(n_rules: int, packets: int) -> float:
    """The straightforward way: per rule, read the scapy fields and compare with ipaddress."""
    rules = ruleset(n_rules).tables["filter"].chains["FORWARD"].rules
    fs = frames(packets)
    t = time.perf_counter()
    for f in fs:
        ip = f.ip
        for r in rules:
            if r.src is not None and IPv4Address(ip.src) not in IPv4Network(r.src):
                continue
            if r.proto == "tcp" and ip.proto != 6:
                continue
            m = r.matches[0] if r.matches else None
            if m is not None and int(m.options[0].values[0]) != ip.payload.dport:
                continue
            r.packets += 1
            break
    return packets / (time.perf_counter() - t)


def conntrack_rates(entries: int, lookups: int) -> tuple[float, float, float]:
    """(ConnTable.find per second, ConnTable.packet per second, bare dict.get per second)."""
    table = ConnTable(lambda: 0.0)
    keys = []
    for i in range(entries):
        key = (6, 0xC0A80000 | (i & 0xFFFF), 1024 + i % 60000, 0x08080808 + (i >> 16), 80)
        conn, _ = table.packet(key, 0x02)
        table.confirm(conn)
        keys.append(key)
    rng = random.Random(0)
    probe = [keys[rng.randrange(entries)] for _ in range(lookups)]
    t = time.perf_counter()
    for k in probe:
        table.find(k, 0.0)
    find = lookups / (time.perf_counter() - t)
    t = time.perf_counter()
    for k in probe:
        table.packet(k, 0x10)
    track = lookups / (time.perf_counter() - t)
    plain = {k: True for k in keys}
    t = time.perf_counter()
    for k in probe:
        plain.get(k)
    base = lookups / (time.perf_counter() - t)
    return find, track, base


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=2000)
    args = ap.parse_args()
    print("filter FORWARD chain: N non-matching rules + ACCEPT, frames through ns.nf.hook('FORWARD')")
    print(f"{'rules':>6} {'engine pkt/s':>13} {'rule evals/s':>13} {'baseline pkt/s':>15} {'speed-up':>9}")
    for n in (10, 100, 1000):
        k = args.packets if n < 1000 else max(200, args.packets // 4)
        pps = engine_pps(n, k)
        base = baseline_pps(n, max(20, k // (10 if n == 1000 else 4)))
        print(f"{n:>6} {pps:>13,.0f} {pps * (n + 1):>13,.0f} {base:>15,.0f} {pps / base:>8.1f}x")
        if n == 1000:
            verdict = "ok" if pps * (n + 1) >= 500_000 else "BELOW TARGET"
            print(f"       1,000-rule chain: {pps * (n + 1):,.0f} rule evaluations/s (target >= 500,000: {verdict})")
    find, track, base = conntrack_rates(100_000, 200_000)
    print("conntrack, 100,000 entries:")
    print(f"  lookups (ConnTable.find)      {find:>12,.0f} /s")
    print(f"  tracked packets (.packet)     {track:>12,.0f} /s")
    print(f"  baseline: bare dict.get       {base:>12,.0f} /s   (find costs {base / find:.1f}x a dict lookup)")


if __name__ == "__main__":
    main()
