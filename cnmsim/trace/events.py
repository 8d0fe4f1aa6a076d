"""Trace events and the Trace collection that Result.trace and sinks hand out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One decision about one packet: when, where (host/netns/device), what stage, why."""

    t: float  # simulated seconds
    seq: int  # global emission order, the tie-breaker for equal times
    host: str
    ns: str  # namespace name as `ip netns` would show it ("" for the host's root namespace)
    dev: str  # device the decision happened at ("" when not device-bound)
    stage: str  # e.g. "bridge:forward", "route:lookup", "neigh:resolve", "vxlan:encap"
    verdict: str  # "pass", "drop", "deliver", "forward", "flood", "reply", "send", ...
    reason: str  # the route, FDB entry, rule ... in words
    pkt: int = 0  # frame id (0 when the event is about no single packet)
    summary: str = ""  # packet summary at that point, e.g. "172.17.0.2 > 172.17.0.3 ICMP echo-request"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def place(self) -> str:
        return self.host + (f"[{self.ns}]" if self.ns else "")

    def line(self) -> str:
        """The stable one-line text form (golden files are made of these)."""
        where = self.place + (f" {self.dev}" if self.dev else "")
        s = f"{self.t:.6f} #{self.pkt} {where} {self.stage} {self.verdict}"
        if self.reason:
            s += f": {self.reason}"
        return s

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Trace:
    """An ordered list of trace events with views a student or a test can read."""

    def __init__(self, events: Iterable[TraceEvent] = ()) -> None:
        self.events: list[TraceEvent] = list(events)

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, i: int) -> TraceEvent:
        return self.events[i]

    def __bool__(self) -> bool:
        return bool(self.events)

    def packets(self) -> list[int]:
        """Frame ids in order of first appearance."""
        seen: dict[int, None] = {}
        for e in self.events:
            if e.pkt and e.pkt not in seen:
                seen[e.pkt] = None
        return list(seen)

    def path(self, pkt: int) -> Trace:
        """The events of one packet, as its numbered path."""
        return Trace(e for e in self.events if e.pkt == pkt)

    def filter(self, stage: str | None = None, verdict: str | None = None,
               host: str | None = None) -> Trace:
        """Events whose stage starts with `stage` (and matching verdict/host when given)."""
        return Trace(
            e for e in self.events
            if (stage is None or e.stage.startswith(stage))
            and (verdict is None or e.verdict == verdict)
            and (host is None or e.host == host)
        )

    def drops(self) -> Trace:
        return self.filter(verdict="drop")

    def stages(self) -> list[str]:
        return [e.stage for e in self.events]

    def text(self) -> str:
        """Numbered lines per packet: the path as a list of hops and decisions."""
        out: list[str] = []
        for pkt in self.packets():
            evs = self.path(pkt).events
            out.append(f"packet #{pkt}: {evs[0].summary}")
            out.extend(f"  {i:>3}. {e.line()}" for i, e in enumerate(evs, 1))
        return "\n".join(out)

    def explain(self) -> str:
        """The same path told in sentences (see cnmsim.trace.explain)."""
        from cnmsim.trace.explain import explain

        return explain(self)

    def records(self) -> list[dict[str, Any]]:
        """Plain dicts, ready for pandas.DataFrame(trace.records())."""
        return [e.as_dict() for e in self.events]

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<Trace {len(self.events)} events, {len(self.packets())} packets>"
