"""What the engine does around the IPAM driver for a network and its endpoints.

After moby's libnetwork `network.go` (IpamConf, IpamInfo, ipamAllocateVersion,
ipamReleaseVersion), `endpoint.go` (assignAddressVersion) and the daemon-side checks of
endpoint settings (`daemon/container_operations.go` validateEndpointSettings,
`api/types/network/endpoint.go`), plus the default bridge's configuration from daemon
options (`daemon/daemon_unix.go` getDefaultBridgeIPAMConf).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_address, ip_interface

from cnmsim.engine.ipam.api import (
    ERR_IP_OUT_OF_RANGE,
    ERR_NO_AVAILABLE_IPS,
    FORBIDDEN,
    GATEWAY_ADDRESS_TYPE,
    GATEWAY_OPTIONS,
    INTERNAL,
    INVALID_PARAMETER,
    Ipam,
    IpamError,
)

# runconfig/errors.go ErrUnsupportedNetworkAndIP: raised by daemon/container_operations.go
# validateEndpointSettings when --ip/--ip6 is given for a network that is not user-defined
# (bridge, host, none, container:...).  `docker run --network bridge --ip ...`
ERR_IP_ON_PREDEFINED_NETWORK = "user specified IP address is supported on user defined networks only"
# api/types/network/endpoint.go validateEndpointIPAddress (runconfig/errors.go
# ErrUnsupportedNetworkNoSubnetAndIP before v25): --ip for a network whose IPAM config has no
# user-given subnet (`docker network create n0; docker run --network n0 --ip ...`).
ERR_IP_WITHOUT_USER_SUBNET = ("user specified IP address is supported only when connecting to "
                              "networks with user configured subnets")
DEFAULT_GATEWAY_AUX_KEY = "DefaultGatewayIPv4"  # drivers/bridge DefaultGatewayV4AuxKey
PREDEFINED_NETWORKS = ("default", "bridge", "host", "none")


@dataclass
class IpamConf:
    """One IPAM config entry of a network (libnetwork.IpamConf): the user's wishes, as text."""

    subnet: str | None = None  # PreferredPool; None = a subnet from the default pools
    ip_range: str | None = None  # SubPool: where dynamic addresses come from
    gateway: str | None = None
    aux_addresses: dict[str, str] = field(default_factory=dict)

    def is_static(self) -> bool:
        """The subnet was given by the user (IpamConf.IsStatic)."""
        return bool(self.subnet)

    def contains(self, addr: IPv4Address) -> bool:
        """The configured subnet contains `addr` (IpamConf.Contains; the range is not looked at)."""
        if not self.subnet:
            return False
        try:
            return addr in ip_interface(self.subnet).network
        except ValueError:
            return False


@dataclass
class IpamInfo:
    """What IPAM gave a network for one config entry (libnetwork.IpamInfo)."""

    pool_id: str
    subnet: IPv4Network
    gateway: IPv4Interface | None = None
    aux: dict[str, IPv4Interface] = field(default_factory=dict)  # the reserved aux addresses
    ip_range: IPv4Network | None = None
    meta: dict[str, str] = field(default_factory=dict)


def _ip(text: str) -> IPv4Address | None:
    try:
        addr = ip_address(text)
    except ValueError:
        return None
    return addr if isinstance(addr, IPv4Address) else None


def allocate_network(ipam: Ipam, confs: list[IpamConf], network_name: str, network_id: str,
                     wants_gateway: bool, address_space: str,
                     options: dict[str, str] | None = None) -> list[IpamInfo]:
    """Pools, gateway and aux addresses for a new network (network.go ipamAllocateVersion).

    Per entry: the pool; then the gateway, requested first so that it gets the lowest free
    address (.1), when the user gave one or the driver wants one; then the aux addresses,
    which must lie in the subnet and are reserved.  On any error everything taken so far is
    given back and the error is raised.
    """
    infos: list[IpamInfo] = []
    try:
        for conf in confs or [IpamConf()]:
            if conf.gateway and _ip(conf.gateway) is None:
                raise IpamError(f"invalid gateway address {conf.gateway} in Ipam configuration",
                                INVALID_PARAMETER)
            grant = ipam.request_pool(address_space, conf.subnet, conf.ip_range, dict(options or {}))
            rng = ip_interface(conf.ip_range).network if conf.ip_range else None
            info = IpamInfo(grant.pool_id, grant.subnet, ip_range=rng, meta=dict(grant.data))
            infos.append(info)
            pref_gw = conf.gateway or ""
            if not pref_gw and GATEWAY_ADDRESS_TYPE in info.meta:  # driver-chosen, not requested
                gws = info.meta[GATEWAY_ADDRESS_TYPE]
                try:
                    info.gateway = IPv4Interface(gws)
                except ValueError as e:
                    raise IpamError(f"failed to parse gateway address ({gws}) returned by ipam "
                                    f"driver: {e}", INVALID_PARAMETER) from None
            if info.gateway is None and (pref_gw or wants_gateway):
                try:
                    info.gateway = ipam.request_address(info.pool_id, pref_gw or None,
                                                        dict(GATEWAY_OPTIONS))
                except IpamError as e:
                    raise IpamError(f"failed to allocate gateway ({pref_gw}): {e}", INTERNAL) from None
            for key, value in conf.aux_addresses.items():
                addr = _ip(value)
                if addr is None:
                    raise IpamError(f"non parsable secondary ip address ({key}:{value}) passed for "
                                    f"network {network_name}", INVALID_PARAMETER)
                if addr not in info.subnet:
                    raise IpamError(f"auxiliary address: ({key}:{value}) must belong to the master "
                                    f"pool: {info.subnet}", FORBIDDEN)
                try:
                    info.aux[key] = ipam.request_address(info.pool_id, value, {})
                except IpamError as e:
                    if str(e) != ERR_IP_OUT_OF_RANGE:
                        raise IpamError(f"failed to allocate secondary ip address ({key}:{value}): "
                                        f"{e}", INTERNAL) from None
    except BaseException:
        release_network(ipam, infos)
        raise
    return infos


def release_network(ipam: Ipam, infos: list[IpamInfo]) -> None:
    """Give back gateway, aux addresses and pools (ipamReleaseVersion); failures are ignored
    (the engine only logs them)."""
    for info in infos:
        held = ([info.gateway] if info.gateway is not None else []) + list(info.aux.values())
        for addr in held:
            if addr.ip in info.subnet:
                try:
                    ipam.release_address(info.pool_id, str(addr.ip))
                except IpamError:
                    pass
        try:
            ipam.release_pool(info.pool_id)
        except IpamError:
            pass
    infos.clear()


def allocate_endpoint(ipam: Ipam, infos: list[IpamInfo], preferred: str | None,
                      network_name: str, network_id: str,
                      options: dict[str, str] | None = None,
                      endpoint_name: str = "") -> IPv4Interface:
    """An address for an endpoint (endpoint.go assignAddressVersion): the preferred one (--ip),
    else the next free one, trying the network's pools in order."""
    if not infos:
        raise IpamError(f"no IPv4 information available for endpoint {endpoint_name}", INTERNAL)
    pref = None
    if preferred:
        pref = _ip(preferred)
        if pref is None or pref.is_unspecified:  # api/types/network/endpoint.go Validate
            raise IpamError(f"invalid IPv4 address: {preferred}", INVALID_PARAMETER)
    for info in infos:
        if pref is not None and pref not in info.subnet:
            continue
        try:
            return ipam.request_address(info.pool_id, preferred or None, dict(options or {}))
        except IpamError as e:
            if str(e) != ERR_NO_AVAILABLE_IPS or pref is not None:
                raise
    if pref is not None:
        raise IpamError(f"invalid address {preferred}: It does not belong to any of this "
                        f"network's subnets", INVALID_PARAMETER)
    raise IpamError(f"no available IPv4 addresses on this network's address pools: "
                    f"{network_name} ({network_id})", INTERNAL)


def release_endpoint(ipam: Ipam, infos: list[IpamInfo], address: IPv4Interface | str) -> None:
    """Give an endpoint's address back to the pool it came from (releaseIPAddresses)."""
    addr = ip_interface(str(address)).ip
    for info in infos:
        if addr in info.subnet:
            try:
                ipam.release_address(info.pool_id, str(addr))
            except IpamError:
                pass
            return


def is_user_defined(network: str) -> bool:
    """container.NetworkMode.IsUserDefined: not default/bridge/host/none/container:..."""
    return network not in PREDEFINED_NETWORKS and not network.startswith("container:")


def validate_endpoint_ip(network_name: str, confs: list[IpamConf], ipv4_address: str | None,
                         user_defined: bool | None = None) -> None:
    """The daemon's check of `--ip` before any allocation (validateEndpointSettings with
    EndpointIPAMConfig.Validate and IsInRange); all problems are listed, as the daemon does."""
    if not ipv4_address:
        return
    errs: list[str] = []
    if not (is_user_defined(network_name) if user_defined is None else user_defined):
        errs.append(ERR_IP_ON_PREDEFINED_NETWORK)
    addr = _ip(ipv4_address)
    if addr is None or addr.is_unspecified:
        errs.append(f"invalid IPv4 address: {ipv4_address}")
    static = [c for c in confs if c.is_static()]
    if not static:
        errs.append(ERR_IP_WITHOUT_USER_SUBNET)
    elif addr is None or not any(c.contains(addr) for c in static):
        errs.append(f"no configured subnet or ip-range contain the IP address {ipv4_address}")
    if errs:
        raise IpamError("invalid endpoint settings:\n* " + "\n* ".join(errs), INVALID_PARAMETER)


def default_bridge_conf(bip: str | None, fixed_cidr: str | None,
                        default_gateway: str | None = None) -> IpamConf:
    """docker0's IPAM config from daemon options (daemon_unix.go getDefaultBridgeIPAMConf).

    `--bip` gives the subnet and the gateway (the bridge's own address); `--fixed-cidr`
    becomes the sub-pool, and the subnet too when there is no bip; `--default-gateway`
    becomes an aux address.  No subnet = IPAM picks the first free default pool.  The
    network and broadcast addresses reserved are the subnet's, not the fixed-cidr's, so with
    bip 10.2.2.1/16 and fixed-cidr 10.2.2.0/24 the first container gets 10.2.2.0.
    """
    conf = IpamConf()
    fixed = None
    if fixed_cidr:
        fixed = _parse_cidr(fixed_cidr, "fixed-cidr")
    if bip:
        iface = _parse_cidr(bip, "bip")
        conf.subnet, conf.gateway = str(iface.network), str(iface.ip)
    if fixed is not None:
        conf.ip_range = str(fixed.network)
        if conf.subnet is None:
            conf.subnet = str(fixed.network)
    if default_gateway:
        conf.aux_addresses[DEFAULT_GATEWAY_AUX_KEY] = default_gateway
    return conf


def _parse_cidr(text: str, opt: str) -> IPv4Interface:
    """Go's net.ParseCIDR (address and prefix length required), wrapped as the daemon does."""
    try:
        if "/" not in text:
            raise ValueError(text)
        iface = ip_interface(text)
        if not isinstance(iface, IPv4Interface):
            raise NotImplementedError("cnmsim models IPv4 default bridges only")
        return iface
    except ValueError:
        raise IpamError(f"parse {opt} failed: invalid CIDR address: {text}",
                        INVALID_PARAMETER) from None
