"""The data-plane keys of a swarm (swarmkit's keymanager, subsystem `networking:ipsec`) and how
they reach each node's overlay driver.

- At swarm init the leader's keymanager allocates a keyring of 3 AES-128 keys per subsystem,
  gossip first (Lamport times 1-3) then IPsec (4-6) (`keymanager.go`, `allocateKey`).
- Every 12 hours (`DefaultKeyRotationInterval`) it drops the oldest key of each subsystem and
  allocates a new one (rotateKey; the Lamport clock advances once per subsystem: gossip, then
  IPsec here, in Go's random map order there), on a 12-hour timer from `SwarmState.created`
  (the leader's keymanager starts at swarm init, as the gossip cluster whose NetworkDB rotates
  its own keyring on the same period).
- The keys do not travel by gossip: the new keyring is a raft write, then every node's
  dispatcher session pushes it to the agent, whose daemon hands it to libnetwork
  (`SetNetworkBootstrapKeys` → `handleKeyChange`), which tells the overlay driver the new key,
  the primary and the pruned one (`updateKeys`).  That path's delay is modelled per node: the
  raft commit, the session push (the manager's dispatch delay) and up to `JITTER` of
  scheduling; `rotations` logs when each node applied each rotation.  A node that is down
  misses the push (limitation: it is not re-synchronised when it returns).

The primary key is the second-oldest (`getPrimaryKeyTag`: time-sorted, index 1), so a new key is
installed everywhere (as an inbound SA) one rotation before anyone sends with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from cnmsim.swarm.model import KEY_ROTATION, KEYRING

KEY_LEN = 16  # AES-128
COMMIT = 0.002  # raft commit of the cluster object (one manager: an fsync)
PUSH = 0.05  # dispatcher session message to an agent (the manager's agent.DISPATCH delay)
JITTER = 0.01  # agent/daemon scheduling until libnetwork applies it


@dataclass
class Rotation:
    """One rotation: when the leader made it and when each node's driver applied it."""

    time: float
    new: int  # Lamport tag of the key added
    primary: int
    pruned: int | None
    delivered: dict[str, float] = field(default_factory=dict)  # host -> time applied

    def delay(self, host: str) -> float | None:
        t = self.delivered.get(host)
        return None if t is None else t - self.time


@dataclass
class KeyService:
    """The IPsec keyring of one swarm and its distribution (kept in `SwarmState.extra`)."""

    lab: Any
    clock: int = 0  # the keymanager's Lamport clock
    rotations: list[Rotation] = field(default_factory=list)
    started: bool = False
    listeners: list[Callable[[Any, str, list[tuple[int, bytes]], Rotation], None]] = field(
        default_factory=list)  # fn(lab, host, keys, rotation) when a node applies a rotation

    @property
    def swarm(self) -> Any:
        return self.lab.swarm

    def keys(self) -> list[tuple[int, bytes]]:
        """The swarm's keys, primary first (libnetwork `getKeys` order); created when missing."""
        sw = self.swarm
        if not sw.keys:
            self.clock = max(self.clock, KEYRING)  # gossip keys took 1..3
            for _ in range(KEYRING):
                self.clock += 1
                sw.keys.append((self.clock, self._new_key()))
            sw.keys[:] = ordered(sw.keys)
        self.clock = max([self.clock] + [t for t, _ in sw.keys])
        return ordered(sw.keys)  # whatever order the manager stored them in

    def _new_key(self) -> bytes:
        return bytes(self.lab.rng.getrandbits(8) for _ in range(KEY_LEN))

    # ------------------------------------------------------------ rotation (the leader)
    def start(self) -> None:
        """Run the keymanager's rotation (once per swarm)."""
        if self.started:
            return
        self.started = True
        self.keys()
        created = float(getattr(self.swarm, "created", 0.0) or 0.0)
        for _ in range(int((self.lab.env.now - created) // KEY_ROTATION)):
            self._next_keyring()  # rotations before any node had an encrypted network
        self.lab.env.process(self._timer())

    def _timer(self) -> Generator[Any, Any, None]:
        env, created = self.lab.env, float(getattr(self.swarm, "created", 0.0) or 0.0)
        while True:
            n = max(1, math.floor((env.now - created) / KEY_ROTATION + 1e-9) + 1)
            yield env.timeout(created + n * KEY_ROTATION - env.now)
            if getattr(self.lab, "swarm", None) is not self.swarm:
                return  # the swarm was left
            self.rotate()

    def rotate(self) -> Rotation | None:
        """rotateKey: drop the oldest IPsec key, allocate one; push it to every node."""
        sw = self.swarm
        if sw.nodes and not any(n.leader for n in sw.nodes.values()):
            return None  # no leader, no keymanager
        keys, pruned = self._next_keyring()
        rot = Rotation(self.lab.env.now, self.clock, primary_tag(keys), pruned)
        self.rotations.append(rot)
        bus = self.lab.bus
        if bus.on:
            leader = next((n.hostname for n in sw.nodes.values() if n.leader), "")
            bus.emit(leader, "", "", "swarm:keys", "rotate",
                     f"the leader's keymanager rotated the networking:ipsec keys: new key tag {rot.new}, "
                     f"primary {rot.primary}, pruned {pruned}; pushed to every node through the dispatcher")
        for host in self.hosts():
            delay = COMMIT + PUSH + self.lab.ctx.rng.random() * JITTER
            self.lab.env.process(self._deliver(host, list(sw.keys), rot, delay))
        return rot

    def _next_keyring(self) -> tuple[list[tuple[int, bytes]], int | None]:
        keys = sorted(self.keys())
        pruned = keys.pop(0)[0] if len(keys) >= KEYRING else None
        self.clock += 2  # the gossip subsystem's new key takes one tick
        keys.append((self.clock, self._new_key()))
        self.swarm.keys[:] = ordered(keys)
        return keys, pruned

    def hosts(self) -> list[str]:
        sw = self.swarm
        names = [n.hostname for n in sw.nodes.values() if n.status != "down"]
        return sorted(names) if names else sorted(self.lab.hosts)

    def _deliver(self, host: str, keys: list[tuple[int, bytes]], rot: Rotation,
                 delay: float) -> Generator[Any, Any, None]:
        yield self.lab.env.timeout(delay)
        rot.delivered[host] = self.lab.env.now
        for fn in list(self.listeners):
            fn(self.lab, host, keys, rot)


def ordered(keys: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """libnetwork `getKeys`: sorted by Lamport time, then the first two swapped (primary first)."""
    out = sorted(keys)
    if len(out) > 1:
        out[0], out[1] = out[1], out[0]
    return out


def primary_tag(keys: list[tuple[int, bytes]]) -> int:
    """getPrimaryKeyTag: the second-oldest key (the only one when there is one)."""
    s = sorted(keys)
    return s[1][0] if len(s) > 1 else s[0][0]


def service(lab: Any) -> KeyService:
    """The swarm's key service (created on first use)."""
    ks = lab.swarm.extra.get("ipsec_keys")
    if ks is None or ks.lab is not lab:
        ks = lab.swarm.extra["ipsec_keys"] = KeyService(lab)
    return ks
