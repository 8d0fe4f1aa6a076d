"""IPv4 fragmentation (ip_fragment) and reassembly (ip_defrag) -- placeholder until MTU work."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmsim.packet.frame import Frame

if TYPE_CHECKING:
    from cnmsim.kernel.sim.netns import SimNetns


def fragment(ns: SimNetns, frame: Frame, ip, mtu: int) -> list[Frame]:  # noqa: ANN001
    ns.trace("", "ip:fragment", "drop", f"fragmentation to MTU {mtu} is not modelled yet", frame)
    return []
