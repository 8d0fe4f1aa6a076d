"""What the overlay driver needs from swarm mode, looked up when needed and never required:
the lab's `SwarmState` (`lab.swarm`), this host's node (its gossip node number and advertise
address), the data path port, the NetworkDB of the gossip control plane, the encryption hooks
(`cnmsim.swarm.encryption`, when present) and the lab's trace bus.

Without a swarm (a driver used on its own) the driver still builds its namespaces; peers are
then only what the caller programs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cnmsim.swarm.model import VXLAN_PORT

if TYPE_CHECKING:
    from cnmsim.engine.driverapi import DriverContext


class ClusterLink:
    """The driver's view of the swarm this host belongs to."""

    def __init__(self, ctx: DriverContext) -> None:
        self.ctx = ctx
        self._node: tuple[Any, Any] | None = None  # (swarm, node) of the last lookup

    # ------------------------------------------------------------ swarm state
    @property
    def host(self) -> Any:
        return self.ctx.host

    @property
    def lab(self) -> Any:
        return getattr(self.host, "lab", None)

    def swarm(self) -> Any:
        return getattr(self.lab, "swarm", None)

    def swarm_network(self, nid: str) -> Any:
        sw = self.swarm()
        return sw.networks.get(nid) if sw is not None else None

    def node(self) -> Any:
        """This host's swarm node (cached while the swarm keeps that node record)."""
        sw = self.swarm()
        if sw is None or self.host is None:
            return None
        cached = self._node
        if cached is not None and cached[0] is sw and sw.nodes.get(cached[1].id) is cached[1]:
            return cached[1]
        n = sw.node_by_host(self.host.name)
        self._node = (sw, n) if n is not None else None
        return n

    def node_index(self) -> int | None:
        n = self.node()
        return None if n is None else int(n.index)

    def advertise(self) -> str | None:
        """The VTEP address peers are told to send to: the node's advertise address."""
        n = self.node()
        if n is not None and n.addr:
            return str(n.addr).split(":")[0]
        return getattr(self.host, "address", None)

    def data_port(self) -> int:
        sw = self.swarm()
        return int(getattr(sw, "data_path_port", 0) or VXLAN_PORT)

    def networkdb(self) -> Any:
        sw = self.swarm()
        gossip = getattr(sw, "gossip", None)
        return getattr(gossip, "networkdb", None)

    # ------------------------------------------------------------ encryption (S4's module)
    def encryption_hook(self, name: str) -> Any:
        """`cnmsim.swarm.encryption.<name>` if that module and function exist, else None."""
        try:
            mod = importlib.import_module("cnmsim.swarm.encryption")
        except ImportError:
            return None
        fn = getattr(mod, name, None)
        return fn if callable(fn) else None

    def on_local(self, nid: str, joined: bool) -> None:
        """This node starts/stops having the (encrypted) network."""
        sw_net = self.swarm_network(nid)
        fn = self.encryption_hook("on_local") if sw_net is not None else None
        if fn is not None:
            fn(self.host, sw_net, joined)

    def on_peer(self, nid: str, vtep: str, added: bool) -> None:
        """The first peer behind a remote VTEP appeared, or the last one went."""
        sw_net = self.swarm_network(nid)
        fn = self.encryption_hook("on_peer") if sw_net is not None else None
        if fn is not None:
            fn(self.host, sw_net, vtep, added)

    # ------------------------------------------------------------ traces
    def emit(self, ns: str, dev: str, stage: str, verdict: str, reason: str) -> None:
        bus = getattr(self.lab, "bus", None)
        if bus is not None and bus.on:
            bus.emit(self.host.name, ns, dev, stage, verdict, reason)
