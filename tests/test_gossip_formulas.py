"""memberlist's formulas, configs, queue, suspicion timer and message sizes against its own
unit tests (util_test.go, suspicion_test.go, queue_test.go) and the derived tables of
facts/gossip.md §1.1, §1.3 and §1.7."""

from __future__ import annotations

import pytest

from cnmsim.swarm.gossip.api import Message
from cnmsim.swarm.gossip.config import lan, local, wan
from cnmsim.swarm.gossip.formulas import (
    push_pull_scale,
    remaining_suspicion_time,
    retransmit_limit,
    suspicion_bounds,
    suspicion_k,
    suspicion_timeout,
)
from cnmsim.swarm.gossip.messages import Sizes, render
from cnmsim.swarm.gossip.queue import TransmitLimitedQueue
from cnmsim.swarm.gossip.suspicion import Suspicion

# -- util_test.go ------------------------------------------------------------------------------


@pytest.mark.parametrize("n, ms", [(5, 1000), (10, 1000), (50, 1698), (100, 2000), (500, 2698),
                                   (1000, 3000)])
def test_suspicion_timeout_vectors(n: int, ms: int) -> None:
    """TestSuspicionTimeout: suspicionTimeout(3, n, 1s) / 3 (integer nanoseconds)."""
    assert round(suspicion_timeout(3, n, 1.0) * 1e9) // 3 == ms * 1_000_000


def test_retransmit_limit_vectors() -> None:
    assert [retransmit_limit(3, n) for n in (0, 1, 99)] == [0, 3, 6]


def test_push_pull_scale_vectors() -> None:
    assert all(push_pull_scale(1.0, n) == 1.0 for n in range(0, 33))
    assert all(push_pull_scale(1.0, n) == 2.0 for n in range(33, 65))
    assert all(push_pull_scale(1.0, n) == 3.0 for n in range(65, 129))


# -- suspicion_test.go -------------------------------------------------------------------------


@pytest.mark.parametrize("n, elapsed, expected", [(0, 0, 30.0), (1, 2, 14.0), (2, 3, 4.810),
                                                  (3, 4, -2.0), (4, 5, -3.0), (5, 10, -8.0)])
def test_remaining_suspicion_time_vectors(n: int, elapsed: float, expected: float) -> None:
    assert remaining_suspicion_time(n, 3, elapsed, 2.0, 30.0) == pytest.approx(expected, abs=1e-9)


def test_suspicion_timer_confirmations() -> None:
    """TestSuspicion_Timer (k=3, min 500 ms, max 2 s): the accuser and repeats don't count."""
    s = Suspicion("foo", 3, 0.5, 2.0, now=0.0)
    assert s.timeout() == 2.0
    assert not s.confirm("foo", 0.0)  # the original accuser is excluded
    assert s.confirm("bar", 0.0) and s.timeout() == pytest.approx(1.25)
    assert not s.confirm("bar", 0.0) and s.n == 1
    s.confirm("baz", 0.0)
    s.confirm("zoo", 0.0)
    assert s.timeout() == pytest.approx(0.5) and not s.confirm("buzz", 0.0)  # k reached
    assert Suspicion("foo", 0, 0.5, 2.0, now=3.0).deadline == 3.5  # k < 1: min from the start


# -- derived tables ----------------------------------------------------------------------------


# facts §1.3, LAN: n -> (min, max, after 1 confirmation, after >= 2), seconds from the start
LAN_SUSPICION = {5: (4.000, 24.000, 11.381), 10: (4.000, 24.000, 11.381),
                 20: (5.204, 31.224, 14.807), 50: (6.792, 40.752, 19.325),
                 100: (8.000, 48.000, 22.762), 500: (10.792, 64.752, 30.707),
                 1000: (12.000, 72.000, 34.144), 10000: (16.000, 96.000, 45.525)}


@pytest.mark.parametrize("n", sorted(LAN_SUSPICION))
def test_lan_suspicion_table(n: int) -> None:
    cfg = lan()
    lo, hi, one = LAN_SUSPICION[n]
    mn, mx = suspicion_bounds(cfg.suspicion_mult, cfg.suspicion_max_timeout_mult, n, 1.0)
    assert (mn, mx) == pytest.approx((lo, hi), abs=5e-4)
    k = suspicion_k(cfg.suspicion_mult, n)
    assert k == 2
    s = Suspicion(0, k, mn, mx, now=100.0)
    assert s.timeout() == pytest.approx(hi)
    s.confirm(1, 100.0)
    assert s.timeout() == pytest.approx(one, abs=5e-4)
    s.confirm(2, 100.0)
    assert s.timeout() == pytest.approx(lo, abs=5e-4)


def test_small_clusters_expect_no_confirmations() -> None:
    assert [suspicion_k(4, n) for n in (2, 3, 4)] == [0, 0, 2]
    assert Suspicion(0, suspicion_k(4, 3), 4.0, 24.0, now=0.0).timeout() == 4.0


@pytest.mark.parametrize("cfg, n, lo, hi", [(wan(), 10, 30, 180), (wan(), 100, 60, 360),
                                            (wan(), 1000, 90, 540), (local(), 10, 3, 18),
                                            (local(), 100, 6, 36)])
def test_wan_and_local_suspicion(cfg, n: int, lo: float, hi: float) -> None:
    b = suspicion_bounds(cfg.suspicion_mult, cfg.suspicion_max_timeout_mult, n, cfg.probe_interval)
    assert b == pytest.approx((lo, hi))


def test_retransmit_table() -> None:
    """facts §1.7."""
    for mult, limits in ((4, (4, 8, 12, 16, 20)), (2, (2, 4, 6, 8, 10))):
        for (a, b), lim in zip(((1, 9), (10, 99), (100, 999), (1000, 9999), (10000, 99999)),
                               limits, strict=True):
            assert retransmit_limit(mult, a) == retransmit_limit(mult, b) == lim
    assert retransmit_limit(lan().retransmit_mult, 30) == 8


def test_push_pull_table() -> None:
    assert [push_pull_scale(30.0, n) for n in (32, 33, 64, 65, 128, 129, 256, 1000, 10000)] == [
        30, 60, 60, 90, 90, 120, 120, 180, 300]


def test_config_presets() -> None:
    """facts §1.1."""
    keys = ("tcp_timeout", "indirect_checks", "retransmit_mult", "suspicion_mult",
            "suspicion_max_timeout_mult", "push_pull_interval", "probe_timeout", "probe_interval",
            "awareness_max_multiplier", "gossip_nodes", "gossip_interval",
            "gossip_to_the_dead_time", "udp_buffer_size")
    table = {"lan": (10, 3, 4, 4, 6, 30, 0.5, 1, 8, 3, 0.2, 30, 1400),
             "wan": (30, 3, 4, 6, 6, 60, 3, 5, 8, 4, 0.5, 60, 1400),
             "local": (1, 1, 2, 3, 6, 15, 0.2, 1, 8, 3, 0.1, 15, 1400)}
    for name, make in (("lan", lan), ("wan", wan), ("local", local)):
        cfg = make()
        assert tuple(getattr(cfg, k) for k in keys) == table[name], name
        assert cfg.bind_port == 7946 and not cfg.disable_tcp_pings and cfg.lifeguard
    cfg = lan()
    cfg.probe_interval = 2.0  # settable, and a fresh copy each time
    assert lan().probe_interval == 1.0


# -- queue_test.go -----------------------------------------------------------------------------


def _q(n: int = 10, mult: int = 1) -> tuple[TransmitLimitedQueue, list[int]]:
    nodes = [n]
    return TransmitLimitedQueue(mult, lambda: nodes[0]), nodes


def test_queue_order_fewest_transmits_then_largest_then_newest() -> None:
    q, _ = _q(n=10, mult=3)  # limit 6
    q.queue_broadcast("a", 10)
    q.queue_broadcast("b", 30)
    q.queue_broadcast("c", 30, transmits=1)
    q.queue_broadcast("d", 10)
    assert [m for m, _ in q.messages()] == ["b", "d", "a", "c"]
    assert q.get_broadcasts(0, 40) == ["b", "d"]  # b (30) then the largest that still fits
    # tier 0: a; tier 1: the 30-byte ones newest first (c was queued after b), then d
    assert [m for m, _ in q.messages()] == ["a", "c", "b", "d"]


def test_queue_named_broadcast_invalidates() -> None:
    q, _ = _q()
    done: list[str] = []
    q.queue_broadcast("alive-3", 68, name=3, finished=lambda: done.append("alive-3"))
    q.queue_broadcast("other", 68, name=4)
    q.queue_broadcast("suspect-3", 51, name=3)
    assert [m for m, _ in q.messages()] == ["other", "suspect-3"] and done == ["alive-3"]
    assert q.num_queued() == 2


def test_queue_transmit_limit_recomputed_per_get() -> None:
    """Each message goes out exactly retransmit_limit times (limit from NumNodes at each get)."""
    q, nodes = _q(n=9, mult=2)  # limit 2
    q.queue_broadcast("x", 10)
    assert q.get_broadcasts(2, 1400) == ["x"] and q.get_broadcasts(2, 1400) == ["x"]
    assert q.get_broadcasts(2, 1400) == [] and q.num_queued() == 0
    q.queue_broadcast("y", 10)
    q.get_broadcasts(2, 1400)
    nodes[0] = 99  # the cluster grew: limit 4
    sent = 1
    while q.get_broadcasts(2, 1400):
        sent += 1
    assert sent == 4


def test_queue_respects_byte_limit_and_overhead() -> None:
    q, _ = _q()
    for i in range(20):
        q.queue_broadcast(i, 100)
    out = q.get_broadcasts(2, 1400 - 2)  # what gossip() asks for
    assert len(out) == 13 and q.used == 13 * 102 <= 1398


# -- message sizes -----------------------------------------------------------------------------


def test_message_sizes_are_their_encoding() -> None:
    s = Sizes.of(lan())
    assert (s.ping, s.indirect_ping, s.ack, s.nack, s.suspect, s.alive, s.dead) == (
        83, 109, 20, 11, 51, 68, 51)
    body = {"seq": 300, "node": 5}
    for kind, size, b in (("ping", s.ping, body), ("ack", s.ack, {"seq": 300}),
                          ("nack", s.nack, {"seq": 300}),
                          ("indirect-ping", s.indirect_ping, {**body, "nack": True}),
                          ("suspect", s.suspect, {"inc": 1, "node": 5, "from": 2}),
                          ("alive", s.alive, {"inc": 1, "node": 5})):
        assert len(render(Message(kind, 2, 5, size, b))) == size, kind
    parts = [Message("ping", 2, 5, s.ping, body), Message("alive", 7, -1, s.alive,
                                                          {"inc": 1, "node": 7})]
    comp = Message("compound", 2, 5, 2 + 2 * 2 + s.ping + s.alive, {"crc": True}, parts)
    assert len(render(comp)) == comp.size + 5  # + CRC header
    enc = lan()
    enc.encryption = True
    assert len(render(parts[0], enc)) == s.ping + 29
