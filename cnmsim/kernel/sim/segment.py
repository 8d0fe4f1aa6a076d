"""The underlay: an L2 segment (a learning switch) whose ports are cables with latency,
bandwidth and loss.  Hosts share one segment by default; routers join segments.

Each port models one cable between a NIC and the switch: a frame leaving a NIC waits for the
cable (serialisation at `bandwidth` bits/s, queued behind earlier frames), crosses it after
`latency` seconds, may be lost with probability `loss`, and the switch then forwards it to the
port that learned the destination MAC, or floods it.  Each crossing is one simpy event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmsim.packet.frame import Frame
from cnmsim.packet.sizes import l2_payload_len, wire_len

if TYPE_CHECKING:
    from cnmsim.kernel.sim.context import SimContext
    from cnmsim.kernel.sim.devices.nic import Nic


class Port:
    """A switch port and the cable to one NIC."""

    def __init__(self, segment: Segment, nic: Nic, latency: float, bandwidth: float | None,
                 loss: float, mtu: int | None) -> None:
        self.segment = segment
        self.nic = nic
        self.latency = latency
        self.bandwidth = bandwidth  # bits per second; None = unlimited
        self.loss = loss
        self.mtu = mtu
        self.up = True
        self.busy_until = 0.0  # when the cable finishes sending what is queued (NIC -> switch)
        self.busy_out = 0.0  # switch -> NIC direction

    def _delay(self, frame: Frame, inbound: bool) -> float:
        now = self.segment.ctx.env.now
        ser = 0.0
        if self.bandwidth:
            ser = wire_len(frame.pkt) * 8 / self.bandwidth
        start = max(now, self.busy_until if inbound else self.busy_out)
        if inbound:
            self.busy_until = start + ser
        else:
            self.busy_out = start + ser
        return start + ser + self.latency - now

    def send(self, frame: Frame) -> None:
        """The NIC puts a frame on the cable toward the switch."""
        seg = self.segment
        if not self.up:
            self.nic.drop(frame, "wire:tx", f"cable of {self.nic.name} is unplugged")
            return
        if self.loss and seg.ctx.rng.random() < self.loss:
            seg.trace(self, frame, "wire:loss", "drop", f"lost on the cable of {self.nic.name} (loss {self.loss:.0%})")
            return
        delay = self._delay(frame, inbound=True) + frame.cost
        frame.cost = 0.0
        seg.ctx.later(delay, seg.switch, self, frame)

    def deliver(self, frame: Frame) -> None:
        """The switch sends a frame down the cable to this port's NIC."""
        seg = self.segment
        if not self.up:
            return
        if self.loss and seg.ctx.rng.random() < self.loss:
            seg.trace(self, frame, "wire:loss", "drop", f"lost on the cable to {self.nic.name} (loss {self.loss:.0%})")
            return
        frame.scrub(xnet=True)  # a frame off the wire: no conntrack, mark or bridge state of the sender's
        seg.ctx.later(self._delay(frame, inbound=False), self.nic.receive, frame)


class Segment:
    """A named L2 broadcast domain: a learning switch with one port per attached NIC."""

    def __init__(self, ctx: SimContext, name: str, mtu: int = 1500) -> None:
        self.ctx = ctx
        self.name = name
        self.mtu = mtu
        self.ports: list[Port] = []
        self.mac_table: dict[str, Port] = {}

    def attach(self, nic: Nic, latency: float = 50e-6, bandwidth: float | None = 1e9,
               loss: float = 0.0, mtu: int | None = None) -> Port:
        port = Port(self, nic, latency, bandwidth, loss, mtu)
        self.ports.append(port)
        nic.port = port
        nic.ns.on_link_change(nic)
        return port

    def detach(self, nic: Nic) -> None:
        self.ports = [p for p in self.ports if p.nic is not nic]
        self.mac_table = {m: p for m, p in self.mac_table.items() if p.nic is not nic}
        nic.port = None

    def trace(self, port: Port, frame: Frame, stage: str, verdict: str, reason: str) -> None:
        bus = self.ctx.bus
        if bus.on:
            bus.emit(f"<{self.name}>", "", port.nic.ns.kernel.hostname, stage, verdict, reason, frame)

    def switch(self, inport: Port, frame: Frame) -> None:
        """Learn the source, then forward to the learned port or flood."""
        eth = frame.pkt
        limit = min(m for m in (self.mtu, inport.mtu) if m)
        size = l2_payload_len(eth)  # 802.1Q tags do not count against the MTU
        if size > limit:
            self.trace(inport, frame, "wire:mtu", "drop", f"{size}-byte frame exceeds the segment MTU {limit}")
            return
        src, dst = eth.src, eth.dst
        if not int(src[:2], 16) & 1:
            self.mac_table[src] = inport
        out = None if int(dst[:2], 16) & 1 else self.mac_table.get(dst)
        if out is not None:
            if out is not inport:
                if self.ctx.bus.on:
                    self.trace(out, frame, "wire:switch", "forward",
                               f"{dst} was learned on the port of {out.nic.ns.kernel.hostname} {out.nic.name}")
                out.deliver(frame)
            return
        outs = [p for p in self.ports if p is not inport and p.up]
        if self.ctx.bus.on:
            self.trace(inport, frame, "wire:switch", "flood",
                       f"{dst} flooded to {len(outs)} port(s)")
        for i, p in enumerate(outs):
            p.deliver(frame if i == len(outs) - 1 else frame.clone(frame.id))
