"""The IPAM driver contract, after libnetwork's `ipamapi.Ipam`.

An IPAM driver hands out address pools (subnets) to networks and addresses to endpoints.
The engine talks to it only through this protocol, so a remote/plug-in IPAM registered
under `cnmsim.ipam_drivers` is used exactly like the built-in "default" one.

Messages are the engine's own words: `ipamapi/contract.go` (moby, daemon/libnetwork/ipamapi).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv4Network
from typing import Protocol, runtime_checkable

from cnmsim.engine.errors import EngineError

# Address spaces of the default driver (ipams/defaultipam/allocator.go).
LOCAL_ADDRESS_SPACE = "LocalDefault"
GLOBAL_ADDRESS_SPACE = "GlobalDefault"

# Option keys (ipamapi/contract.go, ipamapi/labels.go, netlabel/labels.go).
REQUEST_ADDRESS_TYPE = "RequestAddressType"
GATEWAY_ADDRESS_TYPE = "com.docker.network.gateway"  # netlabel.Gateway
ALLOC_SERIAL = "com.docker.network.ipam.serial"  # ipamapi.AllocSerialPrefix
GATEWAY_OPTIONS = {REQUEST_ADDRESS_TYPE: GATEWAY_ADDRESS_TYPE}

# Well-known errors, ipamapi/contract.go (the text, and the errdefs class as an HTTP status).
ERR_INVALID_ADDRESS_SPACE = "invalid address space"  # InvalidParameter
ERR_INVALID_POOL = "invalid address pool"  # InvalidParameter
ERR_INVALID_SUBPOOL = "invalid address subpool"  # InvalidParameter
ERR_NO_AVAILABLE_IPS = "no available addresses on this pool"  # Unavailable
ERR_IP_ALREADY_ALLOCATED = "Address already in use"  # Forbidden
ERR_IP_OUT_OF_RANGE = "requested address is out of range"  # InvalidParameter
ERR_POOL_OVERLAP = "Pool overlaps with other one on this address space"  # Forbidden
ERR_BAD_POOL = "address space does not contain specified address pool"  # InvalidParameter
ERR_NO_MORE_SUBNETS = "all predefined address pools have been fully subnetted"  # InvalidParameter

INVALID_PARAMETER, FORBIDDEN, NOT_FOUND, INTERNAL, UNAVAILABLE = 400, 403, 404, 500, 503


class IpamError(EngineError):
    """An IPAM refusal; `str(e)` is the engine's message, `status` its errdefs class as HTTP."""

    def __init__(self, message: str, status: int = INTERNAL) -> None:
        super().__init__(message, status)

    @property
    def message(self) -> str:
        return str(self)


def ipam_error(message: str) -> IpamError:
    """One of the well-known contract errors above, with its errdefs status."""
    status = {
        ERR_NO_AVAILABLE_IPS: UNAVAILABLE,
        ERR_IP_ALREADY_ALLOCATED: FORBIDDEN,
        ERR_POOL_OVERLAP: FORBIDDEN,
    }.get(message, INVALID_PARAMETER)
    return IpamError(message, status)


@dataclass
class PoolGrant:
    """What RequestPool returns (ipamapi.AllocatedPool): an opaque id, the prefix, extra data."""

    pool_id: str
    subnet: IPv4Network
    data: dict[str, str] = field(default_factory=dict)  # Meta, e.g. a driver-chosen gateway


@runtime_checkable
class Ipam(Protocol):
    """What an IPAM driver implements (ipamapi.Ipam). Errors are raised as `IpamError`."""

    def default_address_spaces(self) -> tuple[str, str]:
        """(local, global) address space names."""
        ...

    def request_pool(self, address_space: str, pool: str | None, sub_pool: str | None,
                     options: dict[str, str], v6: bool = False) -> PoolGrant:
        """A pool: `pool` given = static allocation, else the next free predefined subnet."""
        ...

    def release_pool(self, pool_id: str) -> None: ...

    def request_address(self, pool_id: str, preferred: str | None,
                        options: dict[str, str]) -> IPv4Interface:
        """An address of the pool (with the pool's prefix length), `preferred` if given."""
        ...

    def release_address(self, pool_id: str, address: str) -> None: ...
