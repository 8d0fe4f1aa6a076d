"""The bridge driver: a Linux bridge per network, a veth pair per endpoint, iptables for the rest."""

from cnmsim.engine.drivers.bridge.driver import BridgeDriver

__all__ = ["BridgeDriver"]
