"""NetworkDB's settings and what its watchers receive.

Defaults are libnetwork's (`networkdb/networkdb.go` DefaultConfig, `cluster.go` constants) and
the memberlist LAN values NetworkDB inherits without override (facts gossip.md §2.2, §2.3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

ENDPOINT_TABLE = "endpoint_table"  # libnetwork agent.go: service discovery / load balancing
OVERLAY_PEER_TABLE = "overlay_peer_table"  # overlay driver: remote endpoint IP, MAC, VTEP
EVENT_KINDS = ("member", "broadcast", "crash", "restart", "leave")


@dataclass(frozen=True)
class NetworkDBConfig:
    """NetworkDB's timing and sizes (networkdb.go DefaultConfig, cluster.go constants, the
    memberlist LAN values it inherits), seconds."""

    gossip_interval: float = 0.2  # memberlist GossipInterval
    gossip_nodes: int = 3  # mRandomNodes(3, …) in gossip()
    retransmit_mult: int = 4  # RetransmitMult of the per-network queues
    packet_buffer_size: int = 1400  # PacketBufferSize (daemon MTU 1500 − 100)
    bulk_sync_interval: float = 30.0  # memberlist PushPullInterval, not scaled
    bulk_sync_candidates: int = 2
    bulk_sync_timeout: float = 30.0  # wait for the peer's reply sync
    push_pull_interval: float = 30.0  # memberlist push/pull (scaled by pushPullScale)
    tcp_timeout: float = 10.0  # memberlist TCPTimeout: a connect to an unreachable peer
    reap_period: float = 5.0
    reap_entry_interval: float = 1800.0
    reap_network_interval: float = 1825.0  # reapEntryInterval + 5·reapPeriod
    retry_interval: float = 1.0  # reconnectNode
    node_reap_interval: float = 86400.0
    node_reap_period: float = 7200.0
    max_queue_len_broadcast_on_sync: int = 500
    encrypted: bool = True  # swarm always sets gossip keys
    compression: float = 1.0  # size factor for memberlist's LZW (1.0: not modelled)
    key_rotation_interval: float = 43200.0  # swarmkit DefaultKeyRotationInterval, 12 h
    keyring_size: int = 3
    # cnmsim: "random" = each daemon started at its own time, so its tickers have their own
    # phase; "aligned" = all started together (Go tickers then stay in lockstep: the
    # synchronous-rounds model of facts §2.8)
    tick_phase: str = "random"

    @classmethod
    def from_memberlist(cls, ml: Any = None, **over: Any) -> NetworkDBConfig:
        """Take GossipInterval, PushPullInterval, TCPTimeout and whether a keyring is set
        (`encryption`) from a memberlist `Config`."""
        names = {f.name for f in fields(cls)}
        kw = {k: getattr(ml, k) for k in ("gossip_interval", "push_pull_interval", "tcp_timeout")
              if ml is not None and hasattr(ml, k)}
        if "push_pull_interval" in kw:
            kw["bulk_sync_interval"] = kw["push_pull_interval"]
        if ml is not None and hasattr(ml, "encryption"):  # one memberlist, one keyring
            kw["encrypted"] = bool(ml.encryption)
        kw.update(over)
        return cls(**{k: v for k, v in kw.items() if k in names})


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A table change seen by `node`: kind is create | update | delete."""

    t: float
    node: int
    table: str
    nid: str
    key: str
    value: Any
    kind: str


Watcher = Callable[[WatchEvent], None]
