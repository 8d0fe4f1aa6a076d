"""The overlay driver: a namespace per network with br0 and vxlan0, peers through NetworkDB
gossip, docker_gwbridge for the containers' way out."""

from cnmsim.engine.drivers.overlay.driver import OverlayDriver

__all__ = ["OverlayDriver"]
