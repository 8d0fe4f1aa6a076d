"""The contract between the gossip parts, so each can be built and tested on its own.

- A *cluster* (`cluster.py`) runs n memberlist nodes (ids 0..n-1) as simpy processes in one
  environment with one seeded RNG.  Nodes exchange `Message`s through a *transport*.
- A *transport* carries a message from one node to another: `FastTransport` models the underlay
  abstractly (latency, jitter, loss, partitions, slow hosts) for studies of 10 to 10,000 hosts;
  `LabTransport` sends real UDP/TCP 7946 datagrams through a cnmsim Lab's simulated kernels, so
  iptables rules, MTU, loss and routes of the lab apply (few hosts; packets are scapy frames).
- Everything that happens is reported as `Event`s to subscribers (metrics, networkdb, plots).
- networkdb (`networkdb.py`) rides on a cluster: it uses membership events and its own
  network-scoped gossip over the same transport (message kind "networkdb").

Times are simulated seconds (floats).  Node ids are ints.  Nothing here draws randomness
except through the cluster's `rng`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# member states, as memberlist's nodeStateType
ALIVE, SUSPECT, DEAD, LEFT = 0, 1, 2, 3
STATE_NAMES = ("alive", "suspect", "dead", "left")


@dataclass(slots=True)
class Message:
    """One packet between two nodes.  `kind` is memberlist's message type name ("ping",
    "indirect-ping", "ack", "nack", "suspect", "alive", "dead", "push-pull", "compound",
    "user") or "networkdb"; `parts` holds the piggybacked broadcasts of a compound packet;
    `size` is its size in bytes on the wire (UDP payload), for byte accounting and the 1400-byte
    budget; `reliable` is True for TCP (push-pull, TCP ping fallback)."""

    kind: str
    src: int
    dst: int
    size: int
    body: dict[str, Any] = field(default_factory=dict)
    parts: list[Message] = field(default_factory=list)
    reliable: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    """Something a node saw or did.  kind is one of:
    "member"    observer's view of subject changed: data = {"state": ALIVE.., "incarnation": int}
    "probe"     observer probed subject: data = {"result": "ack"|"indirect-ack"|"tcp-ack"|"failed"}
    "broadcast" observer learned broadcast data["id"] (its origin is data["origin"])
    "send"      observer sent a message: data = {"kind": str, "size": int, "to": subject}
    "crash" / "restart" / "partition" / "heal"   a fault was injected (observer = subject = node or -1)
    """

    t: float
    kind: str
    observer: int
    subject: int
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


class Transport(Protocol):
    """Moves messages; calls `deliver(msg)` at the receiver's side after the path's delay."""

    def bind(self, deliver: Callable[[Message], None]) -> None: ...
    def send(self, msg: Message) -> None: ...
    def reachable(self, src: int, dst: int) -> bool: ...  # for a TCP connect: refused/partitioned?


class Cluster(Protocol):
    """n memberlist nodes.  Built by `cluster.Cluster(n, config, seed, transport=None)`."""

    n: int
    env: Any  # simpy.Environment
    rng: Any  # random.Random

    def start(self, join: str = "all") -> None: ...  # "all": every node knows every other at t=0
    # ("seed": each node joins through node 0 at a random time in the first ProbeInterval,
    #  the real join path: push-pull with the seed, then gossip)
    def run(self, until: float) -> None: ...
    def subscribe(self, fn: Subscriber) -> None: ...
    def view(self, observer: int, subject: int) -> tuple[int, int]: ...  # (state, incarnation)
    def alive(self, node: int) -> bool: ...  # the process is running (not crashed/left)
    def broadcast(self, node: int, payload: bytes = b"", size: int = 64) -> int: ...  # user broadcast id
    def crash(self, node: int) -> None: ...
    def restart(self, node: int) -> None: ...
    def leave(self, node: int) -> None: ...
    def stats(self) -> dict[str, float]: ...  # msgs/bytes sent in total, per kind
