"""The net_device every simulated driver derives from.

A device has two directions, as in Linux:
- `xmit(frame)`: the stack (or a master bridge) hands it a frame to send (ndo_start_xmit);
- `receive(frame)`: a frame arrives from the device's wire (netif_receive_skb). A master or
  upper device's rx handler (bridge port, macvlan, vlan) sees it first; otherwise it goes up
  the namespace's IP stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cnmsim.packet.frame import Frame

if TYPE_CHECKING:
    from cnmsim.kernel.sim.netns import SimNetns

RxHandler = Callable[["NetDevice", Frame], bool]
Tap = Callable[["NetDevice", Frame, str], None]  # (device, frame, "in"|"out")


class NetDevice:
    """Base net_device: name, ifindex, MAC, MTU, flags, counters, capture taps."""

    kind = "ether"
    arp = True  # IFF_NOARP is the exception (loopback, some tunnels)
    default_mtu = 1500
    cost = 2e-6  # simulated seconds a frame spends in this driver

    def __init__(self, ns: SimNetns, name: str, mac: str | None = None,
                 mtu: int | None = None) -> None:
        self.ns = ns
        self.name = name
        self.ifindex = 0  # assigned when the namespace registers the device (SimNetns.attach)
        self.mac = mac or ns.kernel.ctx.random_mac()
        self.mac_set = mac is not None  # addr_assign_type NET_ADDR_SET (bridges keep it)
        self.mtu = mtu or self.default_mtu
        self.admin_up = False
        self.carrier = True
        self.promisc = False
        self.master: NetDevice | None = None  # the bridge this device is a port of
        self.rx_handler: RxHandler | None = None
        self.vlan_rx: RxHandler | None = None  # 802.1Q demux to sub-interfaces, before rx_handler
        self.taps: list[Tap] = []
        self.rx_packets = self.rx_bytes = self.tx_packets = self.tx_bytes = 0
        self.rx_dropped = self.tx_dropped = 0
        self.hairpin = False  # bridge port flag
        self.uppers: list[NetDevice] = []  # macvlan/vlan children stacked on this device

    # ------------------------------------------------------------ state
    @property
    def lower_up(self) -> bool:
        """IFF_LOWER_UP: carrier present (and, for stacked devices, the lower device up)."""
        return self.admin_up and self.carrier

    @property
    def running(self) -> bool:
        return self.admin_up and self.lower_up

    def set_up(self, up: bool) -> None:
        """`ip link set DEV up|down`: the stack adds/removes connected routes."""
        if up == self.admin_up:
            return
        self.admin_up = up
        self.ns.on_link_change(self)

    def link_desc(self) -> tuple[str | None, int | None, bool]:
        """(name after '@', its ifindex, whether it lives in another namespace)."""
        return None, None, False

    def details(self) -> dict[str, object]:
        return {}

    # ------------------------------------------------------------ data path
    def trace(self, stage: str, verdict: str, reason: str, frame: Frame | None) -> None:
        bus = self.ns.kernel.ctx.bus
        if bus.on:
            bus.emit(self.ns.kernel.hostname, self.ns.name, self.name, stage, verdict, reason, frame)

    def drop(self, frame: Frame, stage: str, reason: str, tx: bool = True) -> None:
        if tx:
            self.tx_dropped += 1
        else:
            self.rx_dropped += 1
        self.trace(stage, "drop", reason, frame)

    def xmit(self, frame: Frame) -> None:
        """Send a frame out of this device (from the stack or a master)."""
        if not self.running:
            self.drop(frame, "dev:xmit", f"{self.name} is down")
            return
        self.tx_packets += 1
        self.tx_bytes += self.frame_len(frame)
        frame.cost += self.cost
        if self.taps:
            for tap in self.taps:
                tap(self, frame, "out")
        self.transmit(frame)

    def transmit(self, frame: Frame) -> None:
        """Driver-specific: put the frame on the wire / to the peer."""
        raise NotImplementedError

    def receive(self, frame: Frame) -> None:
        """A frame arrives from this device's wire."""
        if not self.running:
            self.drop(frame, "dev:rx", f"{self.name} is down", tx=False)
            return
        self.rx_packets += 1
        self.rx_bytes += self.frame_len(frame)
        frame.iif = self.name
        if self.taps:
            for tap in self.taps:
                tap(self, frame, "in")
        if self.vlan_rx is not None and self.vlan_rx(self, frame):
            return
        handler = self.rx_handler
        if handler is not None and handler(self, frame):
            return
        self.ns.stack.netif_receive(self, frame)

    @staticmethod
    def frame_len(frame: Frame) -> int:
        from cnmsim.packet.sizes import wire_len

        return wire_len(frame.pkt)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ns.kernel.hostname}:{self.ns.name or '/'}:{self.name}>"
