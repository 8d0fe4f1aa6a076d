"""Docker's embedded DNS: the name model, the per-sandbox server on 127.0.0.11, and resolv.conf.

- `names`: which networks know which names (libnetwork's ResolveName/ResolveIP), pure functions;
- `server`: `EmbeddedDns`, the UDP server in a container's namespace, and its NAT rules;
- `resolvconf`: the /etc/resolv.conf the engine writes, and the upstream servers it implies.
"""

from cnmsim.engine.dns.names import DnsNetwork, lookup_name, resolve_ip, resolve_name
from cnmsim.engine.dns.resolvconf import (
    ContainerResolvConf,
    ResolvConf,
    Upstream,
    host_resolv_conf,
    internal_resolv_conf,
    legacy_resolv_conf,
)
from cnmsim.engine.dns.server import EmbeddedDns, dns_nat_rules

__all__ = [
    "ContainerResolvConf", "DnsNetwork", "EmbeddedDns", "ResolvConf", "Upstream", "dns_nat_rules",
    "host_resolv_conf", "internal_resolv_conf", "legacy_resolv_conf", "lookup_name", "resolve_ip",
    "resolve_name",
]
