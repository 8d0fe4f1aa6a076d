"""TCP (placeholder until the transport work): every segment to this namespace is refused with RST."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scapy.layers.inet import IP, TCP

from cnmsim.packet.frame import Frame

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.netns import SimNetns


class TcpLayer:
    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns

    def ports_in_use(self) -> set[int]:
        return set()

    def lookup_sender(self, src: str, sport: int, dst: str, dport: int) -> Any:
        return None

    def rcv(self, dev: NetDevice, frame: Frame, ip: IP, tcp: TCP) -> None:
        if int(tcp.flags) & 0x04:
            return
        ack = tcp.seq + (1 if int(tcp.flags) & 0x02 else 0)
        rst = IP(src=ip.dst, dst=ip.src) / TCP(sport=tcp.dport, dport=tcp.sport, seq=0, ack=ack, flags="RA")
        self.ns.trace(dev.name, "tcp:rcv", "reset", f"no socket listens on TCP port {tcp.dport}", frame)
        self.ns.stack.output(rst)
