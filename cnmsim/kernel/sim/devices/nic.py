"""A physical Ethernet NIC (`eth0`), cabled to an underlay segment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmsim.kernel.sim.devices.base import NetDevice
from cnmsim.packet.frame import Frame

if TYPE_CHECKING:
    from cnmsim.kernel.sim.segment import Port


class Nic(NetDevice):
    kind = "ether"
    cost = 2e-6

    def __init__(self, ns, name: str, mac: str | None = None, mtu: int | None = None) -> None:  # noqa: ANN001
        super().__init__(ns, name, mac, mtu)
        self.port: Port | None = None  # the switch port the cable goes to

    @property
    def lower_up(self) -> bool:
        return self.admin_up and self.port is not None and self.port.up

    def transmit(self, frame: Frame) -> None:
        if self.port is None:
            self.drop(frame, "dev:xmit", f"{self.name} has no cable")
            return
        self.port.send(frame)
