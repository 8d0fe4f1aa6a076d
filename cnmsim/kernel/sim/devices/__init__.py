"""Simulated network devices: each models one Linux driver (veth, bridge, vxlan ...)."""

from cnmsim.kernel.sim.devices.base import NetDevice
from cnmsim.kernel.sim.devices.bridge import BridgeDevice
from cnmsim.kernel.sim.devices.loopback import Loopback
from cnmsim.kernel.sim.devices.nic import Nic
from cnmsim.kernel.sim.devices.veth import VethDevice

__all__ = ["BridgeDevice", "Loopback", "NetDevice", "Nic", "VethDevice"]
