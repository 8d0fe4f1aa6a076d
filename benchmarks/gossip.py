"""Gossip speed and memory: memberlist clusters of 1,000 and 10,000 hosts, LAN config.

For each scenario (1,000 hosts x 60 simulated s, 10,000 hosts x 30 s, join "all") prints the
wall time of the run (target <= 10 s and <= 120 s), messages sent per wall second, the peak
resident memory of the process that ran it (target <= 2 GiB for 10,000), and the ratio of the
message rate to a bare simpy rate measured in the same process: a producer/consumer pair moving
the same number of messages through a `simpy.Store` (target ratio >= 0.25).  `--faults` also
crashes one host and sends one user broadcast a third of the way in (dissemination and
detection traffic on top of the probes).  Each scenario runs in its own process, so its peak
memory is its own.

    python benchmarks/gossip.py [--faults] [--only 1000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import simpy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCENARIOS = ((1000, 60.0, 10.0), (10000, 30.0, 120.0))  # hosts, simulated s, wall target


def store_rate(n: int) -> float:
    """Messages per second a bare simpy producer/consumer pair moves through a Store."""
    env = simpy.Environment()
    store = simpy.Store(env)
    got = [0]

    def producer() -> simpy.events.ProcessGenerator:
        for i in range(n):
            yield store.put(i)

    def consumer() -> simpy.events.ProcessGenerator:
        while got[0] < n:
            yield store.get()
            got[0] += 1

    env.process(producer())
    env.process(consumer())
    t = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - t)


def child(n: int, duration: float, faults: bool) -> dict[str, float]:
    """Run one scenario in this process; return its figures."""
    from cnmsim.swarm.gossip.cluster import Cluster
    from cnmsim.swarm.gossip.config import lan

    t0 = time.perf_counter()
    c = Cluster(n, lan(), seed=1)
    c.start(join="all")
    setup = time.perf_counter() - t0
    t1 = time.perf_counter()
    if faults:
        c.run(until=duration / 3)
        c.crash(n // 2)
        c.broadcast(1)
    c.run(until=duration)
    wall = time.perf_counter() - t1
    msgs = c.stats()["msgs"]
    rate = msgs / wall
    base = store_rate(int(msgs))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {"hosts": n, "duration": duration, "setup_s": setup, "wall_s": wall, "msgs": msgs,
            "msgs_per_s": rate, "store_per_s": base, "ratio": rate / base, "peak_rss": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faults", action="store_true", help="crash a host and send a broadcast")
    ap.add_argument("--only", type=int, help="run only the scenario with this many hosts")
    ap.add_argument("--child", nargs=2, type=float, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(int(a.child[0]), a.child[1], a.faults)))
        return
    print(f"gossip benchmark: memberlist LAN config, join 'all'{', with faults' * a.faults}")
    for n, duration, target in SCENARIOS:
        if a.only and n != a.only:
            continue
        cmd = [sys.executable, __file__, "--child", str(n), str(duration)]
        out = subprocess.run(cmd + ["--faults"] * a.faults, capture_output=True, text=True,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ok = "ok" if r["wall_s"] <= target and r["ratio"] >= 0.25 else "MISSED"
        print(f"{n:>6} hosts x {duration:>4.0f} s: wall {r['wall_s']:6.2f} s (target <= "
              f"{target:.0f} s, setup {r['setup_s']:.2f} s), {r['msgs']:>9,.0f} msgs, "
              f"{r['msgs_per_s']:>9,.0f} msgs/s, simpy Store {r['store_per_s']:>9,.0f} msgs/s, "
              f"ratio {r['ratio']:.2f} (target >= 0.25), peak RSS "
              f"{r['peak_rss'] / 2**20:,.0f} MiB  [{ok}]")


if __name__ == "__main__":
    main()
