"""Make the figures of docs/gossip.md from seeded simulator runs.

    .venv/bin/python docs/img/make_gossip_figures.py          # about 16 s on 2 cores

Writes, next to this file:

- gossip-infection.png   one broadcast among 64 nodes (3 seeds) against Serf's logistic model
                         and the same logistic without Serf's 1/2 factor (plots.infection_curve)
- gossip-detection.png   detection CDF of one crash among 128 nodes, 4 seeds
                         (plots.detection_cdf), with the minimum suspicion time 4*log10(128) s
- gossip-messages.png    messages sent per host, n = 128, no loss and 10 % loss
                         (plots.messages_per_host)
- gossip-scaling.png     a sweep over n = 16 ... 1024, 3 seeds each (sweep on a process pool):
                         detection time, dissemination time and load per node
- gossip-stagger.png     dissemination p50 / p99 against n with memberlist's staggered gossip
                         tickers (the default) and with every node's ticker in one phase

and prints the numbers docs/gossip.md quotes: the tables behind the last two figures, rounds
to full coverage with aligned tickers and no probes against facts/gossip.md §2.8, and the
validation numbers (first-probe periods, Lifeguard against a slow host, loss without the TCP
fallback ping).
Every run is seeded, so the figures and numbers are the same on every run of this script.
"""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from cnmsim.swarm.gossip import plots  # noqa: E402
from cnmsim.swarm.gossip.cluster import Cluster  # noqa: E402
from cnmsim.swarm.gossip.config import lan  # noqa: E402
from cnmsim.swarm.gossip.faults import SlowHost  # noqa: E402
from cnmsim.swarm.gossip.formulas import suspicion_timeout  # noqa: E402
from cnmsim.swarm.gossip.study import records_to_dataframe, run_study  # noqa: E402
from cnmsim.swarm.gossip.sweep import sweep  # noqa: E402

OUT = Path(__file__).resolve().parent
SIZES = [16, 32, 64, 128, 256, 512, 1024]
GI, FANOUT = lan().gossip_interval, lan().gossip_nodes  # 0.2 s, 3 peers


def logistic_time(n: int, p: float, c: float, interval: float = GI) -> float:
    """Seconds until the fraction p knows it in conv(x) = 1 / (1 + (n+1) e^(-c x)), x in
    rounds of `interval` (facts/gossip.md §5: Serf's simulator has c = 0.5 * fanout)."""
    return math.log((n + 1) * p / (1 - p)) / c * interval


def save(fig: Figure, name: str) -> None:
    fig.savefig(OUT / name, dpi=110, bbox_inches="tight")
    print("wrote", OUT / name)


def infection() -> None:
    rs = [run_study(64, join="all", duration=5.0, seed=s, broadcast_at=2.0) for s in range(3)]
    fig = plots.infection_curve(rs)
    ax = fig.axes[0]
    ts = [1.1 * i / 200 for i in range(201)]
    ax.plot(ts, [1 / (1 + 65 * math.exp(-FANOUT * t / GI)) for t in ts], "k:", lw=1.2,
             label="logistic, c = GossipNodes (no 1/2)")
    ax.set_xlim(0, 1.1)
    ax.legend(fontsize="small", loc="lower right")
    save(fig, "gossip-infection.png")


def detection() -> None:
    rs = [run_study(128, crash=1, duration=60.0, seed=s, join="all") for s in range(4)]
    fig = plots.detection_cdf(rs)
    ax = fig.axes[0]
    ax.axvline(suspicion_timeout(4, 128, 1.0), ls=":", lw=1, color="k")
    ax.set_xlim(0, 16)
    ax.set_title("Failure detection, n=128 (dotted: minimum suspicion 4·log10(n) s)")
    for r in rs:
        m = r.metrics
        print(f"  detection n=128 seed {r.params['seed']}: suspect_first {m['suspect_first']:.2f}"
              f" detect_first {m['detect_first']:.2f} detect_all {m['detect_all']:.2f}")
    save(fig, "gossip-detection.png")


def messages() -> None:
    rs = [run_study(128, duration=60.0, seed=0, join="all", loss=loss) for loss in (0.0, 0.1)]
    save(plots.messages_per_host(rs), "gossip-messages.png")


def scaling() -> None:
    recs = sweep({"nodes": SIZES}, seeds=range(3), progress=False, crash=1, duration=60.0,
                 join="all")
    df = records_to_dataframe(recs).groupby("nodes").mean(numeric_only=True)
    cols = ["suspect_first", "detect_first", "detect_all", "false_positives", "broadcast_p50",
            "broadcast_p99", "msgs_per_node_per_s", "bytes_per_node_per_s", "wall_seconds"]
    print(df[cols].round(3).to_string())
    ns = list(df.index)
    fig = Figure(figsize=(12.0, 3.8))
    a, b, c = fig.subplots(1, 3)
    a.plot(ns, df["detect_first"], "o-", label="detect_first")
    a.plot(ns, df["detect_all"], "s-", label="detect_all")
    a.plot(ns, [suspicion_timeout(4, n, 1.0) for n in ns], "k:", label="min suspicion")
    a.set_ylabel("seconds after the crash")
    a.set_title("Crash detection (LAN)")
    b.plot(ns, df["broadcast_p50"], "o-", label="broadcast p50")
    b.plot(ns, df["broadcast_p99"], "s-", label="broadcast p99")
    b.plot(ns, [logistic_time(n, 0.5, 0.5 * FANOUT) for n in ns], "k--", lw=1,
           label="Serf model p50")
    b.plot(ns, [logistic_time(n, 0.99, 0.5 * FANOUT) for n in ns], "k-.", lw=1,
           label="Serf model p99")
    b.set_ylabel("seconds after the broadcast")
    b.set_title("Dissemination of one broadcast")
    c.plot(ns, df["msgs_per_node_per_s"], "o-", label="packets sent")
    c.set_ylabel("packets per node per second")
    c.set_ylim(0, None)
    c.set_title("Load per node")
    for ax in (a, b, c):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("nodes")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    save(fig, "gossip-scaling.png")


def _spread(n: int, seed: int, aligned: bool, probes: bool = True) -> tuple[float, ...]:
    """(p50, p99, gossip rounds until the last node knows it) for one broadcast; `aligned`
    puts every gossip ticker in one phase (the cluster has no public knob for it: this sets
    its per-node phase list directly); `probes=False` stops probing, so nothing piggybacks."""
    cfg = lan() if probes else dataclasses.replace(lan(), probe_interval=0.0)
    c = Cluster(n, cfg, seed=seed)
    learned: dict[int, float] = {}
    c.subscribe(lambda e: learned.setdefault(e.observer, e.t), kinds=["broadcast"])
    c.start()
    if aligned:
        c._gphase[:] = [c._gphase[0]] * n
    c.run(until=2.0)
    origin = random.Random(seed).randrange(n)
    c.broadcast(origin)
    c.run(until=8.0)
    d = sorted(t - 2.0 for i, t in learned.items() if i != origin)
    ph = c._gphase[origin]
    first_tick = ph + math.ceil((2.0 - ph) / GI) * GI
    rounds = math.floor((max(learned.values()) - first_tick) / GI + 1e-9) + 1
    return d[math.ceil(0.5 * len(d)) - 1], d[math.ceil(0.99 * len(d)) - 1], rounds, len(d) + 1


def stagger() -> None:
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for aligned, style, name in ((False, "o-", "staggered tickers (default)"),
                                 (True, "s-", "all tickers in one phase")):
        p50, p99 = [], []
        for n in SIZES:
            rs = [_spread(n, s, aligned) for s in range(8 if n < 1024 else 4)]
            p50.append(statistics.mean(r[0] for r in rs))
            p99.append(statistics.mean(r[1] for r in rs))
            serf = logistic_time(n, 0.5, 0.5 * FANOUT), logistic_time(n, 0.99, 0.5 * FANOUT)
            print(f"  {name:28} n={n:5d} p50 {p50[-1]:.3f} p99 {p99[-1]:.3f} | Serf p50 "
                  f"{serf[0]:.3f} p99 {serf[1]:.3f} | logistic c=3 p50 "
                  f"{logistic_time(n, 0.5, FANOUT):.3f} | Serf/sim p50 {serf[0] / p50[-1]:.2f}"
                  f" p99 {serf[1] / p99[-1]:.2f}")
        line = ax.plot(SIZES, p50, style, label=f"p50, {name}")[0]
        ax.plot(SIZES, p99, style, mfc="none", color=line.get_color(), alpha=0.6,
                label=f"p99, {name}")
    ax.plot(SIZES, [logistic_time(n, 0.5, 0.5 * FANOUT) for n in SIZES], "k--", lw=1,
            label="Serf model p50 (c = 0.5·3)")
    ax.plot(SIZES, [logistic_time(n, 0.99, 0.5 * FANOUT) for n in SIZES], "k-.", lw=1,
            label="Serf model p99")
    ax.plot(SIZES, [logistic_time(n, 0.5, FANOUT) for n in SIZES], "k:", lw=1.2,
            label="logistic p50, c = 3")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("nodes")
    ax.set_ylabel("seconds after the broadcast")
    ax.set_ylim(0, None)
    ax.set_title("Dissemination: staggered vs aligned gossip tickers")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", ncol=2)
    save(fig, "gossip-stagger.png")


def rounds() -> None:
    """Aligned tickers, no probes: synchronous rounds, facts/gossip.md §2.8's Monte Carlo."""
    oracle = {30: 4.25, 50: 5.07, 100: 5.70, 300: 6.97, 1000: 8.18}
    for n, want in oracle.items():
        rs = [_spread(n, s, aligned=True, probes=False) for s in range(20 if n < 1000 else 6)]
        full = sum(r[3] == n for r in rs)
        print(f"  aligned, no probes n={n:5d}: {statistics.mean(r[2] for r in rs):.2f} rounds to"
              f" full (facts §2.8: {want}), all informed in {full}/{len(rs)} runs; p50 "
              f"{statistics.mean(r[0] for r in rs):.3f} s (Serf model "
              f"{logistic_time(n, 0.5, 0.5 * FANOUT):.3f} s)")


def validation() -> None:
    """The numbers behind the page's validation notes (the tests assert them, this prints)."""
    # SWIM's e/(e-1): probe periods from a crash (at a random time) until some member first
    # probes the crashed node (tests/test_gossip_cluster.py, the same 300 runs)
    periods = []
    for seed in range(300):
        pick = random.Random(seed)
        x, t_crash = pick.randrange(64), 3.0 + pick.random()
        c = Cluster(64, lan(), seed=seed)
        starts: list[float] = []
        c.subscribe(lambda e, x=x, s=starts: s.append(e.data["started"]) if e.subject == x
                    else None, kinds=["probe"])
        c.start()
        c.run(until=t_crash)
        c.crash(x)
        while not any(s >= t_crash for s in starts):
            c.run(until=c.env.now + 1.0)
        periods.append(math.floor(min(s for s in starts if s >= t_crash) - t_crash) + 1)
    print(f"  first probe of a crashed node: {statistics.mean(periods):.3f} periods on average"
          f" (e/(e-1) = {math.e / (math.e - 1):.3f})")
    # Lifeguard against a member that handles what it receives 5 s late (n = 16, 60 s, 2 seeds)
    for lifeguard in (True, False):
        fp = fs = 0
        for seed in range(2):
            r = run_study(16, duration=60.0, seed=seed, lifeguard=lifeguard, broadcast_at=None,
                          faults=[SlowHost(at=0, node=0, delay=5.0)])
            fp += r.metrics["false_positives"]
            fs += r.metrics["false_suspicions"]
        print(f"  slow host, lifeguard={lifeguard}: {fp} false positives, {fs} false suspicions")
    # uniform loss with and without the TCP fallback ping (FastTransport never loses TCP)
    for loss in (0.1, 0.3, 0.5):
        for tcp_off in (False, True):
            m = run_study(64, loss=loss, duration=60.0, seed=0, join="all",
                          disable_tcp_pings=tcp_off).metrics
            print(f"  n=64 loss {loss}: disable_tcp_pings={tcp_off}: {m['false_suspicions']} false"
                  f" suspicions, {m['false_positives']} false positives")


def main() -> None:
    infection()
    detection()
    messages()
    scaling()
    stagger()
    rounds()
    validation()


if __name__ == "__main__":
    main()
