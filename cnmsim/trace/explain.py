"""Tell a trace in sentences a student can follow, one numbered step per decision.

Each stage has a sentence template; modules that add stages (netfilter, vxlan, the engine)
register theirs with `register()`.  Fields: {place} host[namespace], {dev}, {reason}, {verdict}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnmsim.trace.events import Trace, TraceEvent

TEMPLATES: dict[tuple[str, str | None], str] = {
    ("route:lookup", "send"): "{place} looks up its routing table and sends it out of {dev}: {reason}.",
    ("route:lookup", "forward"): "{place} is a router here: it forwards the packet out of {dev}, by {reason}.",
    ("route:lookup", "drop"): "{place} has {reason}, so the packet is dropped.",
    ("neigh:resolve", "hit"): "The neighbour (ARP) table of {place} says {reason}, so the frame goes to that MAC.",
    ("neigh:resolve", "queue"): "{place} does not know the MAC address yet ({reason}).",
    ("neigh:resolve", "fail"): "Nobody answered the ARP requests of {place}: {reason}.",
    ("arp:request", "send"): "{place} broadcasts an ARP request on {dev}: {reason}?",
    ("arp:request", "ignore"): "{place} ignores the ARP request on {dev}: {reason}.",
    ("arp:reply", "send"): "{place} answers on {dev}: {reason}.",
    ("arp:reply", "learn"): "{place} learns from the ARP reply that {reason} and sends what was waiting.",
    ("bridge:learn", None): "The Linux bridge {dev} on {place} learns that {reason}.",
    ("bridge:forward", None): "The Linux bridge {dev} on {place} forwards the frame ({reason}).",
    ("bridge:flood", None): "The Linux bridge {dev} on {place} floods the frame: {reason}.",
    ("bridge:local", None): "The frame is for the bridge {dev} itself ({reason}).",
    ("icmp:echo", "reply"): "The kernel of {place} answers the echo request ({reason}).",
    ("icmp:rcv", "deliver"): "{place} hands the reply to the waiting program: {reason}.",
    ("icmp:error", "send"): "{place} sends an error back: {reason}.",
    ("icmp:error", "deliver"): "{place} reports the error to the program: {reason}.",
    ("ip:forward", "drop"): "{place} drops the packet: {reason}.",
    ("ip:mtu", "drop"): "{place} cannot send it: {reason}.",
    ("l2:rx", "drop"): "{place} discards the frame on {dev}: {reason}.",
    ("dev:xmit", "drop"): "{place} cannot send on {dev}: {reason}.",
    ("wire:switch", None): "The underlay switch {place} passes the frame on: {reason}.",
    ("wire:loss", None): "The frame is {reason}.",
    ("wire:mtu", None): "The underlay drops it: {reason}.",
    ("udp:rcv", "deliver"): "{place} delivers the datagram {reason}.",
    ("udp:rcv", "drop"): "{place} has {reason}.",
    ("tcp:rcv", None): "{place}: {reason}.",
}


def register(stage: str, verdict: str | None, template: str) -> None:
    """Add or replace the sentence for a stage (and verdict, or None for any verdict)."""
    TEMPLATES[(stage, verdict)] = template


def sentence(e: TraceEvent) -> str:
    t = TEMPLATES.get((e.stage, e.verdict)) or TEMPLATES.get((e.stage, None))
    fields = {"place": e.place, "dev": e.dev or "-", "reason": e.reason, "verdict": e.verdict,
              "stage": e.stage, "host": e.host}
    if t is None:
        t = "{place}" + (" ({dev})" if e.dev else "") + ", {stage}: {verdict}" + (" - {reason}" if e.reason else "") + "."
    return t.format(**fields)


def explain(trace: Trace) -> str:
    out: list[str] = []
    for pkt in trace.packets():
        evs = trace.path(pkt).events
        out.append(f"Packet #{pkt} ({evs[0].summary}):")
        last = None
        n = 0
        for e in evs:
            s = sentence(e)
            if s == last:
                continue
            n += 1
            out.append(f"  {n}. [t={e.t:.6f}s] {s}")
            last = s
        final = evs[-1]
        if final.verdict == "drop":
            out.append(f"  => dropped at {final.place}: {final.reason}")
    return "\n".join(out)
