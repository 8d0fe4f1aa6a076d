"""Gossip study interface: metrics on hand-made events, faults, the study, sweeps, CLI, plots."""

from __future__ import annotations

import json
import math

import pytest

from cnmsim.swarm.gossip.api import ALIVE, DEAD, SUSPECT, Event
from cnmsim.swarm.gossip.faults import Crash, Partition, Restart, Schedule, SlowHost
from cnmsim.swarm.gossip.metrics import Metrics, quantile


def member(t: float, o: int, s: int, state: int, inc: int = 0) -> Event:
    return Event(t, "member", o, s, {"state": state, "incarnation": inc})


def feed(m: Metrics, events: list[Event]) -> Metrics:
    for ev in events:
        m(ev)
    return m


# -- metrics on hand-made event sequences ------------------------------------------------------


def test_quantile_is_nearest_rank() -> None:
    assert quantile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0
    assert quantile([3.0, 1.0, 2.0, 4.0], 0.99) == 4.0
    assert quantile([1.0, math.inf], 0.5) == 1.0
    assert quantile([1.0, math.inf], 1.0) is None
    assert quantile([], 0.5) is None


def test_crash_detection_and_false_positives() -> None:
    m = feed(Metrics(4), [
        member(5.0, 0, 1, DEAD),             # healthy node 1 declared dead: a false positive
        member(6.0, 2, 1, SUSPECT),          # and suspected: a false suspicion
        member(7.0, 2, 1, ALIVE, 1),
        Event(10.0, "crash", 3, 3),
        member(11.0, 0, 3, SUSPECT),
        member(11.5, 1, 3, SUSPECT),
        member(12.0, 2, 3, SUSPECT),
        member(15.0, 1, 3, DEAD),
        member(16.0, 0, 3, DEAD),
        member(17.0, 2, 3, DEAD),
        member(18.0, 2, 3, DEAD),           # a repeat changes nothing
    ])
    s = m.summary(duration=20.0)
    assert s["converged_at"] == 0.0
    assert (s["detect_first"], s["detect_all"]) == (5.0, 7.0)
    assert (s["suspect_first"], s["suspect_all"]) == (1.0, 2.0)
    assert (s["false_positives"], s["false_positive_nodes"], s["false_suspicions"]) == (1, 1, 1)
    assert m.detection_delays() == [5.0, 6.0, 7.0]


def test_detection_incomplete_and_without_crash() -> None:
    m = feed(Metrics(4), [Event(10.0, "crash", 3, 3), member(14.0, 1, 3, DEAD)])
    s = m.summary(duration=20.0)
    assert s["detect_first"] == 4.0 and s["detect_all"] is None
    s = Metrics(4).summary(duration=20.0)
    assert s["detect_first"] is None and s["detect_all"] is None


def test_two_crashes_first_is_earliest_all_is_latest() -> None:
    ev = [Event(10.0, "crash", 2, 2), Event(12.0, "crash", 3, 3)]
    ev += [member(t, o, 2, DEAD) for o, t in ((0, 13.0), (1, 14.0))]
    ev += [member(t, o, 3, DEAD) for o, t in ((0, 14.5), (1, 20.0))]
    s = feed(Metrics(4), ev).summary(duration=30.0)
    assert (s["detect_first"], s["detect_all"]) == (2.5, 8.0)


def test_slow_and_restarted_hosts_are_not_false_positives() -> None:
    m = Metrics(3)
    m.mark_slow(2)
    feed(m, [member(3.0, 0, 2, DEAD)])
    assert m.false_positives == 0
    m.mark_slow(2, False)
    feed(m, [Event(4.0, "crash", 1, 1), member(5.0, 0, 1, DEAD), Event(6.0, "restart", 1, 1),
             member(7.0, 2, 1, DEAD)])       # dead after the restart: a healthy node again
    s = m.summary(duration=10.0)
    assert s["false_positives"] == 1 and s["detect_first"] == 1.0


def test_convergence_after_seed_join() -> None:
    m = Metrics(3, join="seed")
    assert m.converged_at is None
    feed(m, [member(0.5, 1, 0, ALIVE), member(0.5, 0, 1, ALIVE), member(0.7, 2, 0, ALIVE),
             member(0.7, 0, 2, ALIVE), member(1.0, 1, 2, ALIVE), member(1.25, 2, 1, SUSPECT)])
    assert m.converged_at is None
    feed(m, [member(1.5, 2, 1, ALIVE, 1), member(3.0, 2, 1, DEAD)])
    assert m.summary(duration=4.0)["converged_at"] == 1.5


def test_convergence_ignores_crashed_nodes() -> None:
    m = feed(Metrics(3, join="seed"), [
        member(0.5, 0, 1, ALIVE), member(0.5, 1, 0, ALIVE), Event(0.75, "crash", 2, 2),
    ])
    assert m.converged_at == 0.75


def test_broadcast_dissemination() -> None:
    m = Metrics(5)
    m(Event(1.0, "broadcast", 0, 0, {"id": 7, "origin": 0}))  # the origin's own event first
    m.track_broadcast(7, 0, 1.0)
    feed(m, [Event(t, "broadcast", o, o, {"id": 7, "origin": 0})
             for o, t in ((1, 1.25), (2, 1.5), (3, 1.75), (2, 1.8))])
    s = m.summary(duration=10.0)
    assert (s["broadcast_p50"], s["broadcast_p99"], s["broadcast_last"]) == (0.5, None, None)
    assert s["broadcast_coverage"] == 0.75
    assert m.infection_curve() == ([0.0, 0.25, 0.5, 0.75], [0.2, 0.4, 0.6, 0.8])
    m(Event(2.0, "broadcast", 4, 4, {"id": 7, "origin": 0}))
    s = m.summary(duration=10.0)
    assert (s["broadcast_p50"], s["broadcast_p99"], s["broadcast_last"]) == (0.5, 1.0, 1.0)


def test_message_rates_from_sends_or_stats() -> None:
    m = feed(Metrics(2), [Event(0.1, "send", 0, 1, {"kind": "ping", "size": 100}),
                          Event(0.2, "send", 1, 0, {"kind": "ack", "size": 50}),
                          Event(0.3, "send", 0, 1, {"kind": "ping", "size": 100})])
    s = m.summary(duration=2.0)
    assert (s["msgs_per_node_per_s"], s["bytes_per_node_per_s"]) == (0.75, 62.5)
    assert m.sent == [2, 1]
    s = m.summary(duration=2.0, stats={"msgs": 8, "bytes": 800})
    assert (s["msgs_per_node_per_s"], s["bytes_per_node_per_s"]) == (2.0, 200.0)


# -- fault schedules ---------------------------------------------------------------------------


def test_schedule_resolves_random_crashes_deterministically() -> None:
    sc = Schedule([Crash(at=5, count=3), Restart(at=9), Crash(at=2, nodes=(1,))], seed=4,
                  protect={0})
    a, b = sc.resolve(10), sc.resolve(10)
    assert a == b and [f.at for f in a] == [2, 5, 9]
    crashed = a[1].nodes
    assert len(crashed) == 3 and 0 not in crashed and 1 not in crashed
    assert a[2].nodes == (1, *crashed)  # Restart() restarts every node still down
    assert sc.crashed(10) == sorted((1, *crashed))


class _FakeTransport:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def partition(self, groups: list[list[int]]) -> None:
        self.calls.append(("partition", groups))

    def heal(self) -> None:
        self.calls.append(("heal",))

    def set_slow(self, node: int, delay: float) -> None:
        self.calls.append(("slow", node, delay))


class _FakeCluster:
    def __init__(self, n: int) -> None:
        import simpy

        self.n, self.env, self.transport = n, simpy.Environment(), _FakeTransport()
        self.up = [True] * n
        self.calls: list[tuple] = []

    def alive(self, node: int) -> bool:
        return self.up[node]

    def crash(self, node: int) -> None:
        self.up[node] = False
        self.calls.append((self.env.now, "crash", node))

    def restart(self, node: int) -> None:
        self.up[node] = True
        self.calls.append((self.env.now, "restart", node))


def test_schedule_applies_at_its_times() -> None:
    c, m = _FakeCluster(4), Metrics(4)
    sc = Schedule([Crash(at=1, nodes=(2,)), Restart(at=3), SlowHost(at=0.5, node=1, delay=0.2,
                   until=2.0), Partition(at=1.5, groups=((0,), (1, 3)), heal_at=2.5)])
    sc.apply(c, m)
    c.env.run(until=1.0)
    assert m.slow == {1}
    c.env.run(until=10)
    assert c.calls == [(1, "crash", 2), (3, "restart", 2)]
    assert c.transport.calls == [("slow", 1, 0.2), ("partition", [[0], [1, 3]]), ("slow", 1, 0.0),
                                 ("heal",)]
    assert m.slow == set() and [x[:2] for x in sc.log][:2] == [(0.5, "slow"), (1, "crash")]


# -- studies through the real cluster ----------------------------------------------------------

def _cli_json(*args: str) -> dict:
    from click.testing import CliRunner

    from cnmsim.cli import main

    res = CliRunner().invoke(main, ["gossip", *args, "--json"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_cli_gossip_json_is_sane_and_repeatable() -> None:
    args = ("--nodes", "32", "--crash", "1", "--duration", "40")
    rec = _cli_json(*args)
    for k in ("nodes", "converged_at", "detect_first", "detect_all", "false_positives",
              "broadcast_p50", "broadcast_p99", "msgs_per_node_per_s", "bytes_per_node_per_s",
              "wall_seconds"):
        assert k in rec, k
    # joining through node 0 within the first ProbeInterval, then gossip: all know all within seconds
    assert rec["nodes"] == 32 and 0.0 < rec["converged_at"] < 10.0 and rec["false_positives"] == 0
    assert _cli_json(*args, "--join", "all")["converged_at"] == 0.0  # everyone known at t=0
    # facts §1.3: LAN suspicion for n=32 lasts min = 4*log10(32) s .. max = 6*min from its start
    lo = 4 * math.log10(32) * 1.0
    assert lo <= rec["detect_first"] <= rec["detect_all"] <= 6 * lo + 5.0
    assert 0 < rec["broadcast_p50"] <= rec["broadcast_p99"] < 2.0
    assert rec["msgs_per_node_per_s"] > 1.0 and rec["bytes_per_node_per_s"] > 50.0
    again = _cli_json(*args)
    rec.pop("wall_seconds"), again.pop("wall_seconds")
    assert rec == again
    other = _cli_json("--nodes", "32", "--crash", "1", "--duration", "40", "--seed", "1")
    assert other["detect_first"] != rec["detect_first"]


def test_cli_gossip_table_and_no_crash() -> None:
    from click.testing import CliRunner

    from cnmsim.cli import main

    res = CliRunner().invoke(main, ["gossip", "--nodes", "8", "--duration", "5",
                                    "--config", "local", "--no-lifeguard"])
    assert res.exit_code == 0, res.output
    assert "detect_first" in res.output and "msgs_per_node_per_s" in res.output
    rec = _cli_json("--nodes", "8", "--duration", "5")
    assert rec["detect_first"] is None and rec["detect_all"] is None
    bad = CliRunner().invoke(main, ["gossip", "--nodes", "4", "--crash", "4"])
    assert bad.exit_code != 0


def test_study_overrides_faults_and_records() -> None:
    from cnmsim.swarm.gossip.faults import Restart
    from cnmsim.swarm.gossip.study import run_study

    r = run_study(16, config="local", crash=1, duration=20, seed=2, probe_interval=2.0,
                  latency=0.002, faults=[Restart(at=15)])
    rec = r.as_record()
    assert rec["probe_interval"] == 2.0 and rec["latency"] == 0.002 and "faults" not in rec
    assert r.origin not in r.crashed and len(r.crashed) == 1
    assert len(r.sent_per_node) == 16 and r.infection[1][-1] == 1.0
    with pytest.raises(TypeError):
        run_study(8, duration=1, no_such_knob=1)


def test_records_to_dataframe() -> None:
    pytest.importorskip("pandas")
    from cnmsim.swarm.gossip.study import records_to_dataframe, run_study

    df = records_to_dataframe([run_study(8, duration=5, seed=s).as_record() for s in (0, 1)])
    assert list(df["seed"]) == [0, 1] and "broadcast_p50" in df.columns


GRID = {"nodes": [8, 16], "loss": [0.0, 0.1]}


def _strip(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in records]


@pytest.fixture(scope="module")
def local_records() -> list[dict]:
    from cnmsim.swarm.gossip.sweep import sweep

    return sweep(GRID, seeds=[0], progress=False, crash=1, duration=15)


def test_sweep_on_processes_and_csv(local_records: list[dict], tmp_path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from cnmsim.swarm.gossip.sweep import sweep, to_csv

    assert [(r["nodes"], r["loss"]) for r in local_records] == [(8, 0.0), (8, 0.1), (16, 0.0),
                                                                 (16, 0.1)]
    with ThreadPoolExecutor(2) as ex:
        threaded = sweep(GRID, seeds=[0], executor=ex, progress=True, crash=1, duration=15)
    assert _strip(threaded) == _strip(local_records)
    path = to_csv(local_records, tmp_path / "sweep.csv")
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("nodes,config,loss")


def test_sweep_through_a_local_dask_cluster(local_records: list[dict]) -> None:
    distributed = pytest.importorskip("distributed")
    from cnmsim.swarm.gossip.sweep import dask_executor, sweep

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as lc:
        ex = dask_executor(lc.scheduler_address)
        try:
            recs = sweep(GRID, seeds=[0], executor=ex, progress=False, crash=1, duration=15)
        finally:
            ex.shutdown()
    assert _strip(recs) == _strip(local_records)


def test_plots_build(tmp_path) -> None:
    from matplotlib.figure import Figure

    from cnmsim.swarm.gossip import plots
    from cnmsim.swarm.gossip.study import run_study

    rs = [run_study(32, crash=1, duration=30, seed=s) for s in (0, 1)]
    for fig in (plots.infection_curve(rs), plots.detection_cdf(rs[0]),
                plots.messages_per_host(rs)):
        assert isinstance(fig, Figure) and fig.axes[0].lines
        fig.savefig(tmp_path / "f.png")
    ts, fr = plots.serf_model(30, t_max=1.4, steps=7)
    assert abs(fr[-1] - 0.99915) < 1e-4  # facts §5: 7 rounds (1.4 s) -> 99.915 %


def test_dead_without_suspicion_counts_as_suspected() -> None:
    m = feed(Metrics(3), [Event(1.0, "crash", 2, 2), member(2.0, 0, 2, SUSPECT),
                          member(3.0, 1, 2, DEAD), member(4.0, 0, 2, DEAD)])
    s = m.summary(duration=5.0)
    assert (s["suspect_first"], s["suspect_all"]) == (1.0, 2.0)
    assert (s["detect_first"], s["detect_all"]) == (2.0, 3.0)
