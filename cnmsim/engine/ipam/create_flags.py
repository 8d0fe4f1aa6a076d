"""The IPAM part of `docker network create`: how the CLI pairs `--subnet --ip-range --gateway
--aux-address`, and how the daemon checks the result before libnetwork sees it.

CLI: docker/cli `cli/command/network/create.go` createIPAMConfig, with the flag parsing of
spf13/pflag (`ip_slice.go`, `ipnet_slice.go`; a bad value reads `invalid argument "V" for
"--flag" flag: ...`).  Daemon: moby `api/types/network/ipam.go` ValidateIPAM, joined with
`internal/multierror` ("* " before each problem).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, ip_address, ip_interface

from cnmsim.engine.ipam.api import INVALID_PARAMETER, IpamError
from cnmsim.engine.ipam.default import parse_prefix
from cnmsim.engine.ipam.netconfig import IpamConf


def _split(values: list[str]) -> list[str]:
    """pflag slice flags also take comma-separated values (`--subnet a,b`)."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _go_parse_cidr(text: str) -> IPv4Network | None:
    """Go's net.ParseCIDR, network part (masked): needs "/", any family; IPv4 modelled only."""
    if "/" not in text:
        return None
    try:
        net = ip_interface(text).network
    except ValueError:
        return None
    return net if isinstance(net, IPv4Network) else None


def _subnet_matches(subnet: str, data: str) -> bool:
    """create.go subnetMatches: does the subnet contain data's (first) address?"""
    net = _go_parse_cidr(subnet)
    if net is None:
        raise IpamError(f"invalid subnet: invalid CIDR address: {subnet}", INVALID_PARAMETER)
    try:
        addr = ip_interface(data).ip if "/" in data else ip_address(data)
    except ValueError:
        return False
    return addr in net


def confs_from_flags(subnets: list[str] | None = None, ip_ranges: list[str] | None = None,
                     gateways: list[str] | None = None,
                     aux_addresses: list[str] | dict[str, str] | None = None) -> list[IpamConf]:
    """IPAM configs from the flags, one per --subnet, in the order given (the CLI builds them in
    a Go map, so its order varies).  Each --ip-range/--gateway/--aux-address goes to the
    subnet containing it.  Raises IpamError with the CLI's message."""
    subnets = _split(subnets or [])
    ranges: list[IPv4Network] = []
    for value in _split(ip_ranges or []):
        net = _go_parse_cidr(value)
        if net is None:
            raise IpamError(f'invalid argument "{value}" for "--ip-range" flag: invalid string '
                            f"being converted to CIDR: {value}", INVALID_PARAMETER)
        ranges.append(net)
    gws: list[str] = []
    for value in _split(gateways or []):
        try:
            gws.append(str(ip_address(value)))
        except ValueError:
            raise IpamError(f'invalid argument "{value}" for "--gateway" flag: invalid string '
                            f"being converted to IP address: {value}", INVALID_PARAMETER) from None
    if isinstance(aux_addresses, dict):
        aux = dict(aux_addresses)
    else:  # opts.MapOpts: "key=value", a bare "key" means an empty value
        aux = dict(item.partition("=")[::2] for item in (aux_addresses or []))

    if len(subnets) < len(ranges) or len(subnets) < len(gws):
        raise IpamError("every ip-range or gateway must have a corresponding subnet", INVALID_PARAMETER)
    data: dict[str, IpamConf] = {}
    for s in subnets:
        for k in data:
            inside, outside = _subnet_matches(s, k), _subnet_matches(k, s)  # both, as Go does
            if inside or outside:
                raise IpamError("multiple overlapping subnet configuration is not supported",
                                INVALID_PARAMETER)
        if parse_prefix(s) is None:  # parsePrefixOrAddr: a bare address means a /32
            try:
                s_conf = f"{IPv4Address(s)}/32"
            except ValueError:
                raise IpamError(f'invalid address: ParseAddr("{s}"): unable to parse IP',
                                INVALID_PARAMETER) from None
        else:
            s_conf = s
        data[s] = IpamConf(subnet=s_conf)
    for r in ranges:
        match = False
        for s in subnets:
            if not _subnet_matches(s, str(r)):
                continue
            if data[s].ip_range:
                raise IpamError(f"cannot configure multiple ranges ({r}, {data[s].ip_range}) on "
                                f"the same subnet ({s})", INVALID_PARAMETER)
            data[s].ip_range, match = str(r), True
        if not match:
            raise IpamError(f"no matching subnet for range {r}", INVALID_PARAMETER)
    for g in gws:
        match = False
        for s in subnets:
            if not _subnet_matches(s, g):
                continue
            if data[s].gateway:
                raise IpamError(f"cannot configure multiple gateways ({g}, {data[s].gateway}) for "
                                f"the same subnet ({s})", INVALID_PARAMETER)
            data[s].gateway, match = g, True
        if not match:
            raise IpamError(f"no matching subnet for gateway {g}", INVALID_PARAMETER)
    for key, value in aux.items():
        try:
            addr = str(ip_address(value))
        except ValueError:
            raise IpamError(f'ParseAddr("{value}"): unable to parse IP', INVALID_PARAMETER) from None
        match = False
        for s in subnets:
            if _subnet_matches(s, addr):
                data[s].aux_addresses[key], match = addr, True
        if not match:
            raise IpamError(f"no matching subnet for aux-address {value}", INVALID_PARAMETER)
    return list(data.values())


def validate_ipam(confs: list[IpamConf]) -> None:
    """The daemon's check of a create request (api/types/network/ipam.go ValidateIPAM).
    IPv6 entries are skipped (as for a network without --ipv6)."""
    errs: list[str] = []
    for conf in confs:
        text = conf.subnet or ""
        subnet = parse_prefix(text)
        if subnet is None:
            if ":" in text and "/" in text:
                continue  # an IPv6 subnet: not checked when IPv6 is off
            errs.append(f"invalid subnet {text}: invalid CIDR block notation")
            continue
        if text.partition("/")[0] != str(subnet.network_address):
            errs.append(f"invalid subnet {text}: it should be {subnet}")
        errs += _check_range(conf.ip_range, subnet)
        if err := _check_address(conf.gateway, subnet):
            errs.append(f"invalid gateway {conf.gateway}: {err}")
        for name, aux in conf.aux_addresses.items():
            if err := _check_address(aux, subnet):
                errs.append(f"invalid auxiliary address {name}: {err}")
    if errs:
        raise IpamError("invalid network config:\n* " + "\n* ".join(errs), INVALID_PARAMETER)


def _check_range(ip_range: str | None, subnet: IPv4Network) -> list[str]:
    if not ip_range:
        return []
    prefix = parse_prefix(ip_range)
    if prefix is None:
        if ":" in ip_range:
            return [f"invalid ip-range {ip_range}: parent subnet is an IPv4 block"]
        return [f"invalid ip-range {ip_range}: invalid CIDR block notation"]
    errs = []
    if prefix.prefixlen < subnet.prefixlen:
        errs.append(f"invalid ip-range {ip_range}: CIDR block is bigger than its parent subnet {subnet}")
    if ip_range.partition("/")[0] != str(prefix.network_address):
        errs.append(f"invalid ip-range {ip_range}: it should be {prefix}")
    if not subnet.overlaps(prefix):
        errs.append(f"invalid ip-range {ip_range}: parent subnet {subnet} doesn't contain ip-range")
    return errs


def _check_address(address: str | None, subnet: IPv4Network) -> str | None:
    if not address:
        return None
    try:
        addr = ip_address(address)
    except ValueError:
        return "invalid address"
    if not isinstance(addr, IPv4Address):
        return "parent subnet is an IPv4 block"
    if addr not in subnet:
        return f"parent subnet {subnet} doesn't contain this address"
    return None
