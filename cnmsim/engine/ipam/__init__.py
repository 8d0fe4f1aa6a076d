"""IP address management: the IPAM driver contract, the built-in "default" driver, and what the
engine does around it when networks are created and endpoints get addresses.

- `api`: the driver protocol (libnetwork ipamapi.Ipam), `IpamError`, the contract's messages.
- `default`: the "default" driver (ipams/defaultipam) with its predefined pools.
- `addrset`: the used addresses of one pool (internal/addrset, bitmap).
- `netconfig`: IpamConf/IpamInfo, network and endpoint allocation (network.go, endpoint.go),
  the `--ip` checks and the default bridge's config from daemon options.
- `create_flags`: `docker network create --subnet/--ip-range/--gateway/--aux-address` as the
  CLI pairs them, and the daemon's ValidateIPAM.
"""

from cnmsim.engine.ipam.api import (
    ALLOC_SERIAL,
    GATEWAY_OPTIONS,
    GLOBAL_ADDRESS_SPACE,
    LOCAL_ADDRESS_SPACE,
    Ipam,
    IpamError,
    PoolGrant,
)
from cnmsim.engine.ipam.create_flags import confs_from_flags, validate_ipam
from cnmsim.engine.ipam.default import GLOBAL_DEFAULT_POOLS, LOCAL_DEFAULT_POOLS, DefaultIpam
from cnmsim.engine.ipam.netconfig import (
    ERR_IP_ON_PREDEFINED_NETWORK,
    ERR_IP_WITHOUT_USER_SUBNET,
    IpamConf,
    IpamInfo,
    allocate_endpoint,
    allocate_network,
    default_bridge_conf,
    is_user_defined,
    release_endpoint,
    release_network,
    validate_endpoint_ip,
)

__all__ = [
    "ALLOC_SERIAL", "ERR_IP_ON_PREDEFINED_NETWORK", "ERR_IP_WITHOUT_USER_SUBNET",
    "GATEWAY_OPTIONS", "GLOBAL_ADDRESS_SPACE", "GLOBAL_DEFAULT_POOLS", "LOCAL_ADDRESS_SPACE",
    "LOCAL_DEFAULT_POOLS", "DefaultIpam", "Ipam", "IpamConf", "IpamError", "IpamInfo",
    "PoolGrant", "allocate_endpoint", "allocate_network", "confs_from_flags",
    "default_bridge_conf", "is_user_defined", "release_endpoint", "release_network",
    "validate_endpoint_ip", "validate_ipam",
]
