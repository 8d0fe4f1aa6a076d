"""`lo`: what a namespace sends to itself comes straight back in."""

from __future__ import annotations

from cnmsim.kernel.sim.devices.base import NetDevice
from cnmsim.packet.frame import Frame


class Loopback(NetDevice):
    kind = "loopback"
    arp = False
    default_mtu = 65536
    cost = 1e-6

    def __init__(self, ns) -> None:  # noqa: ANN001
        super().__init__(ns, "lo", mac="00:00:00:00:00:00")
        self.mac_set = True

    def transmit(self, frame: Frame) -> None:
        self.receive(frame)
