"""Frames: scapy packets (the wire truth) plus simulator-only sidecar metadata."""

from cnmsim.packet.frame import Frame

__all__ = ["Frame"]
