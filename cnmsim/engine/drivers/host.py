"""The host driver: the container shares the host's network namespace (drivers/host/host.go).

Nothing is created: no interface, no address, no IPAM; the sandbox *is* the host namespace, so
two containers listening on one port collide as two host processes would.
"""

from __future__ import annotations

from cnmsim.engine.drivers.special import SpecialDriver


class HostDriver(SpecialDriver):
    name = "host"
    shares_host_namespace = True
