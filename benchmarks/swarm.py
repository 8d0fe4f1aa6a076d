"""Swarm at scale: a 100-host swarm with a 300-replica service on one overlay, and 10,000 HTTP
requests through the routing mesh, compared in the same run with bare simpy.

Prints:
- wall time to bring the swarm up (init, 99 joins, the overlay, `docker service create` of 300
  nginx replicas) and the simulated time until every task is reachable from every host that
  has the network (its overlay namespace holds the task's neighbour entry, programmed from
  networkdb gossip) — target under 30 s of wall time;
- 10,000 `curl` requests from outside clients to published port 8080 of random nodes: requests
  per second of wall time (target >= 300) and how they spread over the replicas;
- the comparison: the same number of simpy events (a timeout per request) on a bare
  simpy.Environment, as a ratio.

    python benchmarks/swarm.py [--hosts 100] [--replicas 300] [--requests 10000]
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import simpy  # noqa: E402

from cnmsim import Lab  # noqa: E402


def build(hosts: int) -> Lab:
    lab = Lab(seed=0, trace=False)
    for i in range(hosts):
        lab.add_host(f"node-{i:03d}", address=f"192.168.{i // 250}.{i % 250 + 2}/16")
    lab.add_host("client", address="192.168.250.2/16", docker=False)
    return lab


def swarm_up(lab: Lab, hosts: int) -> None:
    r = lab.run("node-000", "docker swarm init --advertise-addr 192.168.0.2")
    assert r.ok, r.stderr
    token = lab.run("node-000", "docker swarm join-token -q worker").stdout.strip()
    for i in range(1, hosts):
        r = lab.run(f"node-{i:03d}", f"docker swarm join --token {token} 192.168.0.2:2377")
        assert r.ok, r.stderr


def reachable_everywhere(lab: Lab, net: str) -> bool:
    """Every host with the overlay knows every remote task's MAC (neighbour entry on vxlan0)."""
    swarm = lab.swarm  # type: ignore[attr-defined]
    nid = next(n.id for n in swarm.networks.values() if n.name == net)
    tasks = [t for t in swarm.tasks.values() if t.state == "running" and nid in t.addresses]
    by_node = collections.defaultdict(set)
    for t in tasks:
        by_node[t.node].add(str(t.addresses[nid].ip))
    for node_id in by_node:
        host = lab[swarm.nodes[node_id].hostname]
        try:
            ns = host.kernel.netns(f"1-{nid[:10]}")  # the overlay's namespace on that host
        except Exception:  # noqa: BLE001  (not built there yet)
            return False
        known = {n.ip for n in ns.neighs() if n.dev == "vxlan0" and n.state == "PERMANENT"}
        remote = {ip for other, ips in by_node.items() if other != node_id for ip in ips}
        if not remote <= known:
            return False
    return True


def requests(lab: Lab, hosts: int, n: int) -> tuple[float, collections.Counter[str]]:
    rng = random.Random(1)
    spread: collections.Counter[str] = collections.Counter()
    t = time.perf_counter()
    for _ in range(n):
        node = rng.randrange(hosts)
        r = lab.run("client", f"curl -s -o /dev/null -w '%{{remote_ip}}' 192.168.{node // 250}.{node % 250 + 2}:8080")
        assert r.ok, r.stderr
        spread[r.stdout] += 1
    return time.perf_counter() - t, spread


def simpy_baseline(n: int) -> float:
    env = simpy.Environment()

    def proc(env: simpy.Environment):  # noqa: ANN202
        for _ in range(n):
            yield env.timeout(0.001)

    env.process(proc(env))
    t = time.perf_counter()
    env.run()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--replicas", type=int, default=300)
    ap.add_argument("--requests", type=int, default=10_000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    lab = build(args.hosts)
    swarm_up(lab, args.hosts)
    lab.wait(5)  # the gossip cluster forms
    assert lab.run("node-000", "docker network create -d overlay appnet").ok
    start = lab.now
    r = lab.run("node-000", f"docker service create -d --name app --replicas {args.replicas} "
                            "--network appnet -p 8080:80 nginx")
    assert r.ok, r.stderr
    while not reachable_everywhere(lab, "appnet") and lab.now - start < 120:
        lab.wait(0.1)
    converged = lab.now - start
    wall = time.perf_counter() - t0
    print(f"{args.hosts}-host swarm, {args.replicas} replicas on one overlay:")
    print(f"  bring-up wall time {wall:.1f} s (target < 30 s); every task reachable from every host "
          f"{converged:.2f} s of simulated time after `service create`")

    elapsed, spread = requests(lab, args.hosts, args.requests)
    rps = args.requests / elapsed
    base = simpy_baseline(args.requests)
    counts = sorted(spread.values())
    print(f"{args.requests} requests through the routing mesh: {rps:.0f} req/s of wall time "
          f"(target >= 300); {len(spread)} distinct answering addresses, "
          f"min/median/max per replica {counts[0]}/{counts[len(counts) // 2]}/{counts[-1]}")
    print(f"  bare simpy, one event per request: {args.requests / base:.0f} events/s; "
          f"ratio {rps / (args.requests / base):.4f}")


if __name__ == "__main__":
    main()
