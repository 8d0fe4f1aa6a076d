"""macvlan (drivers/net/macvlan.c): children with their own MAC on one parent (lower) device.

The parent gets an rx handler (`macvlan_handle_frame`) that demultiplexes by destination MAC:
unicast for a child goes to that child only, broadcast/multicast to every child and also up the
parent's own stack, anything else stays with the parent.  In bridge mode a child's frame for a
sibling is delivered directly (through the parent's receive path, `dev_forward_skb`), a child's
broadcast reaches its siblings and leaves through the parent; everything else leaves through
the parent.  What the parent's own stack sends goes only to the wire, and what a child sends
never climbs the parent's stack, so the host and its macvlan children cannot talk to each other
through the parent: the macvlan isolation pitfall (`macvlan:isolate` in traces).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scapy.layers.l2 import ARP

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.kernel.sim.devices.base import NetDevice
from cnmsim.kernel.sim.devices.stacked import StackedDevice
from cnmsim.kernel.sim.links import factory
from cnmsim.packet.frame import Frame
from cnmsim.trace.explain import register

if TYPE_CHECKING:
    from cnmsim.kernel.sim.netns import SimNetns

MODES = ("private", "vepa", "bridge", "passthru", "source")
ISOLATION = ("the macvlan isolation pitfall: a parent and its macvlan children cannot talk directly; "
             "the host cannot reach its macvlan children through {lower} and they cannot reach the host "
             "(give the host a macvlan interface of its own to talk to them)")


def _group(mac: str) -> bool:
    return int(mac[:2], 16) & 1 == 1


class MacvlanPort:
    """macvlan_port: what a parent device carries once it has macvlan children."""

    def __init__(self, lower: NetDevice) -> None:
        self.lower = lower
        self.children: list[MacvlanDevice] = []
        lower.rx_handler = self.handle_frame
        lower.taps.append(self.tap)

    def close(self) -> None:
        if self.lower.rx_handler == self.handle_frame:
            self.lower.rx_handler = None
        if self.tap in self.lower.taps:
            self.lower.taps.remove(self.tap)

    def child(self, mac: str) -> MacvlanDevice | None:
        for c in self.children:
            if c.mac == mac:
                return c
        return None

    def handle_frame(self, lower: NetDevice, frame: Frame) -> bool:
        """macvlan_handle_frame: True when a child took the frame (RX_HANDLER_ANOTHER/CONSUMED)."""
        eth = frame.pkt
        dst = eth.dst
        if _group(dst):
            src = self.child(eth.src)
            if src is not None and src.mode not in ("vepa", "bridge"):
                lower.ns.kernel.ctx.later(0.0, src.receive, frame)  # back to the private child only
                return True
            # macvlan_process_broadcast: external frames to every child; a child's own frame
            # coming back from the wire only to the VEPA children (bridge ones saw it already)
            outs = [c for c in self.children if c is not src and c.running
                    and (src is None or c.mode == "vepa" or (src.mode == "vepa" and c.mode == "bridge"))]
            if outs and lower.ns.bus.on:
                lower.trace("macvlan:rx", "flood", f"{dst} from the wire: a copy to "
                            f"{', '.join(c.name for c in outs)} and one up {lower.name}'s own stack", frame)
            for c in outs:  # queued to a work queue: the parent's stack sees it first
                lower.ns.kernel.ctx.later(0.0, c.receive, frame.clone(frame.id))
            return False  # RX_HANDLER_PASS: the parent's own stack gets the broadcast too
        c = self.child(dst)
        if c is None or c.mode == "source":
            return False
        if not c.admin_up:
            c.drop(frame, "macvlan:rx", f"{c.name} is down", tx=False)
            return True
        if c.ns.bus.on:
            c.trace("macvlan:rx", "deliver", f"{dst} is the MAC of {c.name} on {lower.name}", frame)
        c.receive(frame)
        return True

    def tap(self, dev: NetDevice, frame: Frame, direction: str) -> None:
        """Trace the parent's own transmissions that aim at a child: they never get there."""
        if direction != "out" or not dev.ns.bus.on:
            return
        eth = frame.pkt
        if eth.src != dev.mac:
            return  # a child's frame leaving through the parent
        c = self.child(eth.dst)
        pl = eth.payload
        if c is None and isinstance(pl, ARP) and pl.op == 1:
            c = next((k for k in self.children if k.ns.local_addrs.get(pl.pdst) is k), None)
        if c is not None:
            dev.trace("macvlan:isolate", "isolate", f"{dev.name}'s own frame for {c.name} ({eth.dst}"
                      f"{' who-has ' + pl.pdst if isinstance(pl, ARP) else ''}) only goes out on the wire, "
                      f"never to the child: " + ISOLATION.format(lower=dev.name), frame)


class MacvlanDevice(StackedDevice):
    kind = "macvlan"
    cost = 2e-6

    def __init__(self, ns: SimNetns, name: str, lower: NetDevice, port: MacvlanPort, mode: str) -> None:
        super().__init__(ns, name, mtu=lower.mtu)
        self.lower = lower
        self.port = port
        self.mode = mode

    def details(self) -> dict[str, object]:
        return {"mode": self.mode}

    def destroy(self) -> None:
        if self in self.port.children:
            self.port.children.remove(self)
        if not self.port.children:
            self.port.close()
        if self in self.lower.uppers:
            self.lower.uppers.remove(self)

    def transmit(self, frame: Frame) -> None:
        """macvlan_queue_xmit: siblings directly in bridge mode, everything else to the wire."""
        lower = self.lower
        eth = frame.pkt
        dst = eth.dst
        if self.mode == "bridge":
            if _group(dst):
                sibs = [c for c in self.port.children if c is not self and c.mode == "bridge" and c.running]
                if self.ns.bus.on:
                    self.trace("macvlan:tx", "flood", f"{dst}: a copy to {', '.join(c.name for c in sibs) or 'no sibling'}"
                               f" and out of {lower.name} (not up {lower.name}'s own stack)", frame)
                    self._isolation_note(frame)
                for c in sibs:
                    c.receive(frame.clone(frame.id))  # macvlan_broadcast -> dev_forward_skb
            else:
                dest = self.port.child(dst)
                if dest is not None and dest.mode == "bridge":
                    if self.ns.bus.on:
                        self.trace("macvlan:tx", "bridge", f"{dst} is the sibling {dest.name}: delivered directly", frame)
                    frame.cost += self.cost
                    lower.receive(frame)  # dev_forward_skb(lowerdev): demultiplexed to the sibling
                    return
        if self.ns.bus.on and not _group(dst):
            self._isolation_note(frame)
        frame.cost += self.cost
        lower.xmit(frame)

    def _isolation_note(self, frame: Frame) -> None:
        """Trace a child's frame meant for the parent's own stack (which will never see it)."""
        lower = self.lower
        eth = frame.pkt
        pl = eth.payload
        target = None
        if eth.dst == lower.mac:
            target = f"{lower.name}'s MAC {eth.dst}"
        elif isinstance(pl, ARP) and pl.op == 1 and lower.ns.addr_owner(pl.pdst) is not None \
                and not isinstance(lower.ns.addr_owner(pl.pdst), MacvlanDevice):
            target = f"who-has {pl.pdst}, an address of {lower.ns.label}"
        if target is not None:
            self.trace("macvlan:isolate", "isolate", f"{self.name} sends to {target}, but what a child sends "
                       f"never climbs its parent's stack: " + ISOLATION.format(lower=lower.name), frame)


def port_of(lower: NetDevice) -> MacvlanPort | None:
    h = lower.rx_handler
    port = getattr(h, "__self__", None)
    return port if isinstance(port, MacvlanPort) else None


@factory(api.Macvlan)
def _macvlan(ns: SimNetns, spec: api.Macvlan) -> None:
    if spec.mode not in MODES:
        raise KernelError('Error: argument of "mode" must be "private", "vepa", "bridge", "passthru" '
                          f'or "source", not "{spec.mode}"', "EINVAL")
    if spec.mode in ("passthru", "source"):
        raise KernelError(f'Error: macvlan mode "{spec.mode}" is not modelled by cnmsim.', "EOPNOTSUPP")
    lower = ns.dev(spec.parent)
    if isinstance(lower, MacvlanDevice):
        lower = lower.lower  # a macvlan on a macvlan hangs off the real lower device
    if lower.kind == "loopback":  # macvlan_port_create: only non-Ethernet or loopback lowers are refused
        raise KernelError("RTNETLINK answers: Invalid argument", "EINVAL")
    port = port_of(lower)
    if port is None:
        if lower.rx_handler is not None:  # a bridge port already has the rx handler
            raise KernelError("RTNETLINK answers: Device or resource busy", "EBUSY")
        port = MacvlanPort(lower)
    dev = MacvlanDevice(ns, spec.name, lower, port, spec.mode)
    ns.attach(dev)
    port.children.append(dev)
    lower.uppers.append(dev)


register("macvlan:rx", "deliver", "The macvlan parent demultiplexes by MAC on {place}: {reason}.")
register("macvlan:rx", "flood", "The macvlan parent of {place} copies the broadcast: {reason}.")
register("macvlan:rx", "drop", "The macvlan child {dev} of {place} drops the frame: {reason}.")
register("macvlan:tx", "bridge", "The macvlan child {dev} of {place} short-cuts to a sibling: {reason}.")
register("macvlan:tx", "flood", "The macvlan child {dev} of {place} floods the broadcast: {reason}.")
register("macvlan:isolate", None, "Macvlan isolation on {place} ({dev}): {reason}.")
