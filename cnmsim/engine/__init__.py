"""The Docker engine of one host: libnetwork's CNM (controller, networks, endpoints, sandboxes),
its drivers and IPAM, the embedded DNS, containers and their images.

The engine programs the host's kernel only through `cnmsim.kernel.api` (and hands firewall rules
to it as iptables-restore text), as libnetwork programs Linux through netlink and iptables.
"""

from cnmsim.engine.errors import EngineError

__all__ = ["EngineError"]
