"""The memberlist cluster against the oracles of facts/gossip.md §3-§6: convergence, crash
detection within Lifeguard's suspicion bounds, SWIM's e/(e-1) first-detection time,
dissemination against the logistic epidemic, Lifeguard's false-positive reduction,
refutation, leave, restart, the TCP fallback, anti-entropy and determinism."""

from __future__ import annotations

import dataclasses
import math
import random
import statistics

import pytest

from cnmsim.swarm.gossip.api import ALIVE, DEAD, LEFT, SUSPECT, Event
from cnmsim.swarm.gossip.cluster import Cluster
from cnmsim.swarm.gossip.config import lan
from cnmsim.swarm.gossip.formulas import suspicion_bounds
from cnmsim.swarm.gossip.metrics import Metrics
from cnmsim.swarm.gossip.transport import FastTransport


def member_events(c: Cluster) -> list[Event]:
    evs: list[Event] = []
    c.subscribe(evs.append, kinds=["member"])
    return evs


def firsts(evs: list[Event], subject: int, state: int) -> dict[int, float]:
    """observer -> first time it set subject to state."""
    out: dict[int, float] = {}
    for e in evs:
        if e.subject == subject and e.data["state"] == state:
            out.setdefault(e.observer, e.t)
    return out


def test_seed_join_converges() -> None:
    n = 40
    c = Cluster(n, lan(), seed=3)
    m = Metrics(n, join="seed").attach(c)
    c.start(join="seed")
    c.run(until=20.0)
    assert (c.state == ALIVE).all() and c.known == [n] * n
    assert m.converged_at is not None and m.converged_at < 10.0


def test_anti_entropy_alone_converges() -> None:
    """No gossip and no piggybacked broadcasts: push/pull's full state sync still converges."""
    cfg = dataclasses.replace(lan(), gossip_nodes=0, retransmit_mult=0, push_pull_interval=1.0)
    c = Cluster(20, cfg, seed=1)
    c.start(join="seed")
    c.run(until=30.0)
    assert (c.state == ALIVE).all()
    assert c.stats()["msgs.push-pull"] > 0 and "msgs.alive" not in c.stats()


def test_crash_is_suspected_then_dead_everywhere_within_bounds() -> None:
    n, crash_at = 100, 10.0
    c = Cluster(n, lan(), seed=7)
    evs = member_events(c)
    c.start()
    c.run(until=crash_at)
    c.crash(42)
    c.run(until=80.0)
    sus, dead = firsts(evs, 42, SUSPECT), firsts(evs, 42, DEAD)
    observers = set(range(n)) - {42}
    assert set(sus) == set(dead) == observers
    lo, hi = suspicion_bounds(4, 6, n, 1.0)  # 8 s and 48 s at n = 100
    assert min(dead.values()) - min(sus.values()) >= lo - 1e-9  # the first timer ran >= min
    assert all(dead[o] - sus[o] <= hi + 1e-9 for o in observers)  # nobody's ran past max
    assert all(sus[o] < dead[o] for o in observers)
    # facts §6.6: first probe (~1.6 periods) + probe round + min (confirmations come fast)
    assert max(dead.values()) - crash_at < lo + 6.0
    assert all(c.view(o, 42)[0] == DEAD for o in observers)


def test_mean_time_to_first_detection_is_e_over_e_minus_1_periods() -> None:
    """SWIM §3.1 / facts §6.5: with the crash at a random time, count the probe periods from
    the crash up to and including the one in which some member first probes the crashed
    node: N = floor((t_first_probe - t_crash) / T) + 1.  E[N] = 1/(1 - e^-1) = e/(e-1)."""
    n, runs = 64, 300
    periods = []
    for seed in range(runs):
        pick = random.Random(seed)
        x, t_crash = pick.randrange(n), 3.0 + pick.random()
        c = Cluster(n, lan(), seed=seed)
        starts: list[float] = []
        c.subscribe(lambda e, x=x, s=starts: s.append(e.data["started"]) if e.subject == x
                    else None, kinds=["probe"])
        c.start()
        c.run(until=t_crash)
        c.crash(x)
        while not any(s >= t_crash for s in starts):
            c.run(until=c.env.now + 1.0)
        first = min(s for s in starts if s >= t_crash)
        periods.append(math.floor(first - t_crash) + 1)
    mean = statistics.mean(periods)
    assert mean == pytest.approx(math.e / (math.e - 1), rel=0.10)


def logistic_time(n: int, p: float, c: float, interval: float) -> float:
    """Seconds until the fraction p is informed in conv(x) = 1/(1 + (n+1) e^(-c x))."""
    return math.log((n + 1) * p / (1 - p)) / c * interval


def test_dissemination_tracks_the_logistic_epidemic() -> None:
    """facts §5, §6.3: memberlist's staggered gossip tickers make dissemination continuous-time
    push, i.e. Bailey's logistic with contact rate b = GossipNodes per GossipInterval (Serf's
    simulator formula without its 1/2 factor).  p50 and the last node must be within one
    gossip round of it (the O(1) term of §6.2); Serf's published curve, with the 1/2, is a
    conservative bound: p99 never later than its p99."""
    cfg = lan()
    f, gi = cfg.gossip_nodes, cfg.gossip_interval
    p50s = {}
    for n in (16, 64, 256, 1024):
        seeds = 4 if n < 1024 else 2
        med, last, p99 = [], [], []
        for seed in range(seeds):
            c = Cluster(n, cfg, seed=seed)
            learned: dict[int, float] = {}
            c.subscribe(lambda e, d=learned: d.setdefault(e.observer, e.t), kinds=["broadcast"])
            c.start()
            c.run(until=1.0)
            c.broadcast(random.Random(seed).randrange(n))
            c.run(until=4.0)
            delays = sorted(t - 1.0 for t in learned.values())
            assert len(delays) == n
            med.append(delays[n // 2 - 1])
            p99.append(delays[math.ceil(0.99 * n) - 1])
            last.append(delays[-1])
        p50s[n] = statistics.mean(med)
        assert p50s[n] == pytest.approx(logistic_time(n, 0.5, f, gi), abs=gi)
        assert statistics.mean(last) == pytest.approx(logistic_time(n, 1 - 0.5 / n, f, gi),
                                                      abs=gi)
        assert max(p99) <= logistic_time(n, 0.99, 0.5 * f, gi)
    # logarithmic growth: 16 -> 1024 adds ln(1025/17)/b rounds
    growth = logistic_time(1024, 0.5, f, gi) - logistic_time(16, 0.5, f, gi)
    assert p50s[1024] - p50s[16] == pytest.approx(growth, abs=gi)


def test_lifeguard_cuts_false_positives_of_a_slow_host() -> None:
    """A member that processes what it receives 5 s late accuses healthy members; without
    Lifeguard its fixed 4.8 s suspicion timer runs out before their refutations reach it."""
    n, duration = 16, 60.0
    fps = {}
    for lifeguard in (True, False):
        total = 0
        for seed in range(2):
            c = Cluster(n, dataclasses.replace(lan(), lifeguard=lifeguard), seed=seed)
            m = Metrics(n).attach(c)
            m.mark_slow(0)
            c.transport.set_slow(0, 5.0)
            c.start()
            c.run(until=duration)
            total += m.false_positives
        fps[lifeguard] = total
    assert fps[False] >= 20
    assert fps[True] * 10 <= fps[False]


def run_faulty(seed: int) -> list[tuple]:
    c = Cluster(30, lan(), seed=seed, transport=FastTransport(loss=0.05, jitter=0.002))
    evs: list[Event] = []
    c.subscribe(evs.append)
    c.start()
    c.run(until=3.0)
    c.crash(4)
    c.broadcast(9)
    c.run(until=25.0)
    c.restart(4)
    c.leave(11)
    c.run(until=40.0)
    return [(e.t, e.kind, e.observer, e.subject, sorted(e.data.items())) for e in evs]


def test_same_seed_same_events() -> None:
    a = run_faulty(5)
    assert len(a) > 3_000 and a == run_faulty(5)
    assert a != run_faulty(6)


def test_refutation_after_a_transient_partition() -> None:
    """Cut node 3 off for 2.5 s: the others suspect it; after the heal the buddy system's
    ping+suspect reaches it and it refutes with a higher incarnation before any timer ends."""
    n = 20
    c = Cluster(n, lan(), seed=2)
    evs = member_events(c)
    c.start()
    c.run(until=5.0)
    c.partition([[3], [i for i in range(n) if i != 3]])
    c.run(until=7.5)
    c.heal()
    c.run(until=40.0)
    assert firsts(evs, 3, SUSPECT) and not firsts(evs, 3, DEAD)
    for o in range(n):
        state, inc = c.view(o, 3)
        assert state == ALIVE and inc >= 2
    assert (c.state == ALIVE).all()  # node 3's own accusations were refuted too
    assert c.awareness.score[3] >= 0


def test_leave_marks_left_not_dead() -> None:
    n = 25
    c = Cluster(n, lan(), seed=4)
    m = Metrics(n).attach(c)
    c.start()
    c.run(until=5.0)
    c.leave(8)
    c.run(until=30.0)
    assert not c.alive(8)
    assert all(c.view(o, 8)[0] == LEFT for o in range(n) if o != 8)
    assert m.false_positives == 0 and m.summary(30.0)["detect_first"] is None


def test_restart_rejoins_with_a_new_incarnation() -> None:
    n = 25
    c = Cluster(n, lan(), seed=8)
    c.start()
    c.run(until=2.0)
    c.crash(6)
    c.run(until=40.0)
    assert all(c.view(o, 6)[0] == DEAD for o in range(n) if o != 6)
    c.restart(6)
    c.run(until=55.0)
    assert (c.state == ALIVE).all()
    assert all(c.view(o, 6)[1] >= 2 for o in range(n))


def test_tcp_fallback_keeps_a_udp_blocked_member_alive() -> None:
    n, x = 12, 5
    c = Cluster(n, lan(), seed=1)
    results: list[str] = []
    c.subscribe(lambda e: results.append(e.data["result"]) if e.subject == x else None,
                kinds=["probe"])
    c.start()
    for o in range(n):
        if o != x:
            c.transport.set_link(o, x, loss=0.999)
            c.transport.set_link(x, o, loss=0.999)
    c.run(until=30.0)
    assert "tcp-ack" in results and "failed" not in results
    assert all(c.view(o, x)[0] == ALIVE for o in range(n))


def test_an_isolated_member_loses_health_and_slows_its_probes() -> None:
    n, x = 12, 2
    c = Cluster(n, lan(), seed=1)
    c.start()
    c.run(until=1.0)
    c.partition([[x], [i for i in range(n) if i != x]])
    c.run(until=20.0)
    assert c.awareness.score[x] == lan().awareness_max_multiplier - 1
    assert max(c.awareness.score[i] for i in range(n) if i != x) <= 1


def test_sends_are_counted_and_reported() -> None:
    c = Cluster(10, lan(), seed=0)
    sends: list[Event] = []
    c.subscribe(sends.append, kinds=["send"])
    c.start()
    c.run(until=5.0)
    s = c.stats()
    assert len(sends) == s["msgs"] == sum(c.sent_per_node()) > 0
    assert sum(e.data["size"] for e in sends) == s["bytes"]
    assert s["msgs"] == sum(v for k, v in s.items() if k.startswith("msgs."))
