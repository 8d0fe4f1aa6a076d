"""The lab's trace bus: cheap when nobody listens, ordered when somebody does.

Emitters guard with `if bus.on:` so that building the reason text and the packet summary is
skipped entirely when no sink is subscribed (ns-3: nothing is emitted unless a sink is connected).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cnmsim.trace.events import TraceEvent

if TYPE_CHECKING:
    from cnmsim.packet.frame import Frame

Sink = Callable[[TraceEvent], None]


def summarize(frame: Frame) -> str:
    """A tcpdump-like one-line summary of a frame (only computed when traced)."""
    from cnmsim.trace.summary import summary

    return summary(frame.pkt)


class TraceBus:
    """Fan-out of trace events to subscribed sinks, in emission order."""

    __slots__ = ("on", "_sinks", "_seq", "_clock", "aliases")

    def __init__(self, clock: Callable[[], float]) -> None:
        self.on = False  # True while at least one sink is subscribed
        self._sinks: list[Sink] = []
        self._seq = 0
        self._clock = clock
        self.aliases: dict[tuple[str, str], str] = {}  # (host, netns) -> the name traces show

    def alias(self, host: str, ns: str, name: str | None) -> None:
        """Name a namespace in traces by what it is to the reader (a container's name rather
        than its sandbox key); None forgets the alias."""
        if name is None:
            self.aliases.pop((host, ns), None)
        else:
            self.aliases[(host, ns)] = name

    def subscribe(self, sink: Sink) -> Sink:
        self._sinks.append(sink)
        self.on = True
        return sink

    def unsubscribe(self, sink: Sink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)
        self.on = bool(self._sinks)

    def emit(self, host: str, ns: str, dev: str, stage: str, verdict: str, reason: str = "",
             frame: Frame | None = None, **extra: Any) -> None:
        """Record one decision; call only under `if bus.on:`."""
        self._seq += 1
        if ns and self.aliases:
            ns = self.aliases.get((host, ns), ns)
        ev = TraceEvent(
            t=self._clock(), seq=self._seq, host=host, ns=ns, dev=dev, stage=stage,
            verdict=verdict, reason=reason, pkt=frame.id if frame is not None else 0,
            summary=summarize(frame) if frame is not None else "", extra=extra,
        )
        for sink in self._sinks:
            sink(ev)
