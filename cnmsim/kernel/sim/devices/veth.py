"""veth: a pair of devices; what one end sends, the other receives (possibly in another netns)."""

from __future__ import annotations

from cnmsim.kernel.sim.devices.base import NetDevice
from cnmsim.packet.frame import Frame


class VethDevice(NetDevice):
    kind = "veth"
    cost = 8e-6

    def __init__(self, ns, name: str, mac: str | None = None) -> None:  # noqa: ANN001
        super().__init__(ns, name, mac)
        self.peer: VethDevice | None = None

    @property
    def lower_up(self) -> bool:
        # a veth has carrier only while its peer is up (NO-CARRIER / M-DOWN otherwise)
        return self.admin_up and self.peer is not None and self.peer.admin_up

    def link_desc(self) -> tuple[str | None, int | None, bool]:
        p = self.peer
        if p is None:
            return None, None, False
        return p.name, p.ifindex, p.ns is not self.ns

    def transmit(self, frame: Frame) -> None:
        peer = self.peer
        assert peer is not None
        frame.scrub(xnet=peer.ns is not self.ns)
        peer.receive(frame)
