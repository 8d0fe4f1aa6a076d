"""Trace events: every packet decision says where, what and why."""

from cnmsim.trace.bus import TraceBus
from cnmsim.trace.events import Trace, TraceEvent
from cnmsim.trace.sinks import MemorySink, PcapTap, TextSink

__all__ = ["MemorySink", "PcapTap", "TextSink", "Trace", "TraceBus", "TraceEvent"]
