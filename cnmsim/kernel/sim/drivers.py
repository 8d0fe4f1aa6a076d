"""Builders for the built-in link kinds: veth, bridge, dummy (vxlan, macvlan, vlan in their modules)."""

from __future__ import annotations

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.kernel.sim.devices import macvlan, vlan, vxlan  # noqa: F401  (register their kinds)
from cnmsim.kernel.sim.devices.bridge import BridgeDevice
from cnmsim.kernel.sim.devices.dummy import DummyDevice
from cnmsim.kernel.sim.devices.veth import VethDevice
from cnmsim.kernel.sim.links import factory
from cnmsim.kernel.sim.netns import EXISTS, SimNetns


@factory(api.Veth)
def _veth(ns: SimNetns, spec: api.Veth) -> None:
    target = ns.kernel.netns(spec.peer_netns) if spec.peer_netns else ns
    if spec.peer in target.devices or spec.peer == spec.name and target is ns:
        raise KernelError(EXISTS, "EEXIST")
    # the peer is registered first (veth_newlink), so it takes the lower ifindex
    peer = VethDevice(target, spec.peer)
    target.attach(peer)
    dev = VethDevice(ns, spec.name)
    ns.attach(dev)
    dev.peer, peer.peer = peer, dev


@factory(api.Bridge)
def _bridge(ns: SimNetns, spec: api.Bridge) -> None:
    ns.attach(BridgeDevice(ns, spec.name, ageing_time=spec.ageing_time))


@factory(api.Dummy)
def _dummy(ns: SimNetns, spec: api.Dummy) -> None:
    ns.attach(DummyDevice(ns, spec.name))
