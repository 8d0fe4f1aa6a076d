"""dummy: a device that swallows what is sent to it (a place to hang addresses)."""

from __future__ import annotations

from cnmsim.kernel.sim.devices.base import NetDevice
from cnmsim.packet.frame import Frame


class DummyDevice(NetDevice):
    kind = "dummy"
    arp = False

    def transmit(self, frame: Frame) -> None:
        self.trace("dev:xmit", "consume", f"{self.name} is a dummy device: the frame is discarded", frame)
