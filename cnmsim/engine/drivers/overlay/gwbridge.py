"""docker_gwbridge: the way out for containers whose endpoints give no gateway (libnetwork
default_gateway.go, default_gateway_linux.go).

Overlay endpoints set no gateway, so after every join and leave the controller asks
`need_default_gw(sandbox)`: some endpoint that is not on docker_gwbridge, not on a host or null
network, not internal and not marked DisableGatewayService, and no endpoint with a gateway (or a
0.0.0.0/0 static route).  If so, the sandbox gets an endpoint `gateway_<sandbox id[:12]>` on the
bridge network `docker_gwbridge` (created on first need with bridge.name=docker_gwbridge,
enable_icc=false, enable_ip_masquerade=true and the next free local pool, typically
172.18.0.0/16); being last in Endpoint.Less order, it becomes the gateway endpoint only while no
other endpoint has a gateway, so its gateway carries the default route and its published ports.
When no longer needed (e.g. a bridge network joined, or the overlay left) it is removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnmsim.engine.controller import Controller
    from cnmsim.engine.network import Endpoint, Network
    from cnmsim.engine.sandbox import Sandbox

GW_NETWORK = "docker_gwbridge"  # libnGWNetwork
GW_EP_LEN = 12  # gwEPlen
GW_OPTIONS = {
    "com.docker.network.bridge.name": GW_NETWORK,
    "com.docker.network.bridge.enable_icc": "false",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
}


def in_gw_network(ep: Endpoint) -> bool:
    """endpointInGWNetwork: on docker_gwbridge and named gateway_..."""
    return ep.network.name == GW_NETWORK and ep.name.startswith("gateway_")


def need_default_gw(sb: Sandbox) -> bool:
    """Sandbox.needDefaultGW."""
    need = False
    for ep in sb.endpoints:
        net = ep.network
        if in_gw_network(ep) or net.driver in ("null", "host") or net.internal:
            continue
        ji = sb.join_info.get(ep.id)
        if ji is not None and ji.disable_gateway_service:
            continue
        if ep.gateway:
            return False
        if ji is not None and any(r.destination == "0.0.0.0/0" for r in ji.static_routes):
            return False
        need = True
    return need


def gw_endpoint(sb: Sandbox) -> Endpoint | None:
    """Sandbox.getEndpointInGWNetwork."""
    return next((ep for ep in sb.endpoints if in_gw_network(ep)), None)


def gw_network(ctl: Controller) -> Network:
    """The host's docker_gwbridge network, created on first need (createGWNetwork)."""
    for net in ctl.networks.values():
        if net.name == GW_NETWORK:
            return net
    return ctl.new_network(GW_NETWORK, "bridge", options=dict(GW_OPTIONS))


def gw_endpoint_name(sb: Sandbox, container_id: str = "") -> str:
    """"gateway_" + the sandbox's container id when short (`gateway_ingress-sbox`), else the
    sandbox id's first 12 characters."""
    if container_id and len(container_id) <= GW_EP_LEN:
        return "gateway_" + container_id
    return "gateway_" + sb.id[:GW_EP_LEN]


def update(ctl: Controller, sb: Sandbox) -> None:
    """After a join or leave: add the gateway endpoint if needed, remove it if not."""
    if sb.host_mode:
        return
    have = gw_endpoint(sb)
    if need_default_gw(sb):
        if have is None and not sb.deleting:
            setup_default_gw(ctl, sb)
    elif have is not None:
        ctl.delete_endpoint(have)  # clearDefaultGW: leave, then delete the endpoint


def setup_default_gw(ctl: Controller, sb: Sandbox) -> Endpoint:
    """Sandbox.setupDefaultGW: an endpoint on docker_gwbridge joined to the sandbox."""
    net = gw_network(ctl)
    ep = ctl.new_endpoint(net, gw_endpoint_name(sb, getattr(sb, "container_name", "")))
    try:
        ctl.join(ep, sb)
    except Exception:
        ctl.delete_endpoint(ep)
        raise
    return ep
