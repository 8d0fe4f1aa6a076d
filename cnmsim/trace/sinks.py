"""Trace sinks: memory (a list), text (a stream of lines) and pcap (a tap on devices).

A pcap file holds what crossed one or more devices, timestamped in simulated seconds, so the
same seed gives byte-identical files; it opens in Wireshark/tshark (VXLAN decoded on 4789).
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from scapy.utils import PcapWriter

from cnmsim.trace.events import Trace, TraceEvent

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.packet.frame import Frame


class MemorySink:
    """Keeps every event; `sink.trace` is the Trace of what it saw."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []

    def __call__(self, ev: TraceEvent) -> None:
        self.events.append(ev)

    @property
    def trace(self) -> Trace:
        return Trace(self.events)


class TextSink:
    """Writes one stable line per event to a text stream."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, ev: TraceEvent) -> None:
        self.stream.write(ev.line() + "\n")


class PcapTap:
    """Captures frames crossing the given devices into one pcap file (both directions).

    Serialises each frame once, at capture time, as a packet socket would copy it.
    """

    def __init__(self, path: str, devices: list[NetDevice], clock, direction: str = "both") -> None:  # noqa: ANN001
        self.path = path
        self.clock = clock
        self.direction = direction
        self.devices = list(devices)
        self.writer = PcapWriter(path, linktype=1, sync=True)
        self.writer.write_header(None)  # write_packet() alone never writes the file header
        self.count = 0
        for d in self.devices:
            d.taps.append(self.tap)

    def tap(self, dev: NetDevice, frame: Frame, direction: str) -> None:
        if self.direction != "both" and direction != self.direction:
            return
        data = bytes(frame.pkt)
        t = self.clock()
        sec = int(t)
        self.writer.write_packet(data, sec=sec, usec=int(round((t - sec) * 1e6)))
        self.count += 1

    def close(self) -> None:
        for d in self.devices:
            if self.tap in d.taps:
                d.taps.remove(self.tap)
        self.writer.close()
