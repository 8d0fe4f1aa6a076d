"""802.1Q VLAN sub-interfaces (net/8021q): `eth0.10` tags on the way out, untags on the way in.

Sending inserts a 4-byte Dot1Q tag after the Ethernet header (vlan_dev_hard_start_xmit) and
hands the frame to the parent.  On the parent's receive path, before any bridge or macvlan rx
handler, a tagged frame goes to the sub-interface with its VID, untagged (vlan_do_receive);
untagged frames stay on the parent.  A tagged frame no sub-interface claims is dropped (unless
a bridge/macvlan on the parent takes it as it is).  The underlay switch is VLAN-unaware, i.e. a
trunk: tagged frames cross it unchanged, which is what Docker's macvlan `parent=eth0.10` needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scapy.layers.l2 import Dot1Q

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.kernel.sim.devices.base import NetDevice
from cnmsim.kernel.sim.devices.stacked import StackedDevice
from cnmsim.kernel.sim.links import factory
from cnmsim.packet.frame import Frame
from cnmsim.trace.explain import register

if TYPE_CHECKING:
    from cnmsim.kernel.sim.netns import SimNetns

TPID = 0x8100


class VlanGroup:
    """The vlan_info of a real device: VID -> sub-interface; `receive` is its vlan_rx hook."""

    def __init__(self, real: NetDevice) -> None:
        self.lower = real
        self.devs: dict[int, VlanDevice] = {}
        real.vlan_rx = self.receive

    def receive(self, real: NetDevice, frame: Frame) -> bool:
        """vlan_do_receive: True when a sub-interface (or the drop) took the frame."""
        eth = frame.pkt
        tag = eth.payload
        if type(tag) is not Dot1Q:
            return False
        vid = tag.vlan
        dev = self.devs.get(vid)
        if dev is None:
            if vid == 0:  # priority-tagged: the parent keeps it, untagged
                untag(frame)
                return False
            if real.rx_handler is not None:
                return False  # a bridge/macvlan on the parent sees the tagged frame as it is
            real.drop(frame, "vlan:untag", f"tagged for VLAN {vid}, but {real.name} has no sub-interface "
                      f"with that id (it has {', '.join(d.name for d in self.devs.values()) or 'none'})", tx=False)
            return True
        untag(frame)
        if dev.ns.bus.on:
            dev.trace("vlan:untag", "untag", f"802.1Q tag {vid} removed on {real.name}: the frame enters {dev.name}", frame)
        dev.receive(frame)
        return True


def untag(frame: Frame) -> None:
    """Remove the outer Dot1Q tag in place (the Ethernet header keeps the inner type)."""
    eth = frame.pkt
    tag = eth.payload
    etype, inner = tag.type, tag.payload
    tag.remove_payload()
    eth.remove_payload()
    eth.add_payload(inner)
    eth.type = etype
    frame.vlan = None


class VlanDevice(StackedDevice):
    kind = "vlan"
    cost = 1e-6

    def __init__(self, ns: SimNetns, name: str, lower: NetDevice, vid: int) -> None:
        super().__init__(ns, name, mac=lower.mac, mtu=lower.mtu)
        self.mac_set = False
        self.lower = lower
        self.vid = vid

    def details(self) -> dict[str, object]:
        return {"protocol": "802.1Q", "id": self.vid}

    def destroy(self) -> None:
        group = getattr(self.lower.vlan_rx, "__self__", None)
        if isinstance(group, VlanGroup) and group.devs.get(self.vid) is self:
            del group.devs[self.vid]
            if not group.devs:
                self.lower.vlan_rx = None
        if self in self.lower.uppers:
            self.lower.uppers.remove(self)

    def transmit(self, frame: Frame) -> None:
        """vlan_dev_hard_start_xmit: insert the tag after the Ethernet header, send on the parent."""
        eth = frame.pkt
        etype = eth.type  # read before the payload goes (scapy overloads it from the payload)
        pl = eth.payload
        eth.remove_payload()
        tag = Dot1Q(vlan=self.vid, type=etype)
        tag.add_payload(pl)
        eth.add_payload(tag)
        eth.type = TPID
        frame.vlan = self.vid
        if self.ns.bus.on:
            self.trace("vlan:tag", "tag", f"802.1Q tag {self.vid} inserted; out of {self.lower.name}", frame)
        frame.cost += self.cost
        self.lower.xmit(frame)


@factory(api.Vlan)
def _vlan(ns: SimNetns, spec: api.Vlan) -> None:
    real = ns.dev(spec.parent)
    if not 0 <= spec.vid < 4095:
        raise KernelError("Error: 8021q: Invalid VLAN id.", "ERANGE")
    if real.kind == "loopback" or not real.arp:
        raise KernelError("Error: 8021q: VLANs not supported on device.", "EOPNOTSUPP")
    group = getattr(real.vlan_rx, "__self__", None)
    if not isinstance(group, VlanGroup):
        group = VlanGroup(real)
    if spec.vid in group.devs:
        raise KernelError("Error: 8021q: VLAN device already exists.", "EEXIST")
    dev = VlanDevice(ns, spec.name, real, spec.vid)
    ns.attach(dev)
    group.devs[spec.vid] = dev
    real.uppers.append(dev)


register("vlan:tag", "tag", "The VLAN sub-interface {dev} of {place} tags the frame: {reason}.")
register("vlan:untag", "untag", "{place} hands the tagged frame to its VLAN sub-interface: {reason}.")
register("vlan:untag", "drop", "{place} drops the tagged frame on {dev}: {reason}.")
