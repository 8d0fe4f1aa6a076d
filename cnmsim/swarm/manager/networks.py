"""Swarm networks in the cluster store: create (`docker network create -d overlay` on a manager,
and `ingress` at init), look up, remove (swarmkit controlapi network.go; the allocator gives the
subnet, gateway and VNI at once, as cnmallocator does for a new network).

`docker network inspect` of a swarm network shows the IPAM option
`com.docker.network.ipam.serial=true` (cnmallocator, facts §2.4) and the driver option
`com.docker.network.driver.overlay.vxlanid_list` (ovmanager, facts §4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmsim.engine.errors import Conflict, EngineError, Forbidden, NotFound
from cnmsim.swarm.manager.errors import rpc
from cnmsim.swarm.manager.ids import new_id
from cnmsim.swarm.model import SwarmNetwork

if TYPE_CHECKING:
    from cnmsim.lab import Lab
    from cnmsim.swarm.manager.ipam import GlobalIpam
    from cnmsim.swarm.model import SwarmState

VXLANID_OPT = "com.docker.network.driver.overlay.vxlanid_list"
SERIAL_OPT = "com.docker.network.ipam.serial"
PREDEFINED = ("bridge", "host", "none")


def ipam_of(swarm: SwarmState) -> GlobalIpam:
    """The swarm's allocator (made from the store's pools and networks if the SwarmState was
    built by hand, as tests of other parts do)."""
    from cnmsim.swarm.manager.ipam import GlobalIpam

    ipam = swarm.extra.get("ipam")
    if ipam is None:
        ipam = swarm.extra["ipam"] = GlobalIpam(swarm.default_pool, swarm.mask)
        for n in swarm.networks.values():
            if n.subnet is not None:
                ipam.subnets[n.subnet] = n.id
            if n.vni:
                ipam.vnis.add(n.vni)
    return ipam


def create(lab: Lab, swarm: SwarmState, name: str, *, subnet: str | None = None, gateway: str | None = None,
           attachable: bool = False, internal: bool = False, ingress: bool = False,
           options: dict[str, str] | None = None, labels: dict[str, str] | None = None,
           ipam_options: dict[str, str] | None = None) -> SwarmNetwork:
    """A new swarm network, allocated at once (subnet, gateway .1 or the one given, VNI)."""
    if name in PREDEFINED:
        raise Forbidden(f"{name} is a pre-defined network and cannot be created")
    if any(n.name == name for n in swarm.networks.values()):
        raise Conflict(f"network with name {name} already exists")
    if ingress:
        cur = next((n for n in swarm.networks.values() if n.ingress), None)
        if cur is not None:
            raise Forbidden(rpc("AlreadyExists", f"ingress network ({cur.id}) is already present"))
    opts = dict(options or {})
    enc = opts.get("encrypted")
    net = SwarmNetwork(id=new_id(lab.rng), name=name, attachable=attachable, internal=internal,
                       ingress=ingress, encrypted=enc is not None and enc.lower() not in ("false", "0"),
                       options=opts, labels=dict(labels or {}), created=lab.now)
    ipam = ipam_of(swarm)
    net.subnet = ipam.request_subnet(net.id, subnet)
    try:
        want_vni = int(opts.get(VXLANID_OPT, "0").split(",")[0] or 0)
        net.vni = ipam.request_vni(want_vni)
    except ValueError:
        ipam.release_subnet(net.subnet)
        raise EngineError(f"invalid vxlan id value {opts.get(VXLANID_OPT)!r} passed") from None
    except EngineError:
        ipam.release_subnet(net.subnet)
        raise
    try:
        gw = ipam.request_address(net, "gateway", gateway or None)
    except EngineError:
        ipam.forget_network(net)
        raise
    net.gateway = str(gw.ip)
    net.options[VXLANID_OPT] = str(net.vni)
    net.ipam_options = {SERIAL_OPT: "true", **(ipam_options or {})}
    swarm.networks[net.id] = net
    return net


def find(swarm: SwarmState, ref: str) -> SwarmNetwork:
    """By full id, name, then unique id prefix (as the daemon resolves network references)."""
    nets = list(swarm.networks.values())
    for n in nets:
        if n.id == ref:
            return n
    for n in nets:
        if n.name == ref:
            return n
    pref = [n for n in nets if ref and n.id.startswith(ref)]
    if len(pref) == 1:
        return pref[0]
    if len(pref) > 1:
        raise EngineError(f"network {ref} is ambiguous ({len(pref)} matches found based on ID prefix)")
    raise NotFound(f"network {ref} not found")


def lookup(swarm: SwarmState | None, ref: str) -> SwarmNetwork | None:
    if swarm is None:
        return None
    try:
        return find(swarm, ref)
    except EngineError:
        return None


def check_removable(swarm: SwarmState, net: SwarmNetwork) -> None:
    """controlapi RemoveNetwork: not while a service or a live task uses it."""
    for svc in swarm.services.values():
        if net.id in svc.networks or (net.ingress and svc.vips.get(net.id) is not None):
            if net.ingress:
                raise Forbidden(rpc("FailedPrecondition", f"ingress network cannot be removed because "
                                                          f"service {svc.id} depends on it"))
            raise Forbidden(rpc("FailedPrecondition", f"network {net.id} is in use by service {svc.id}"))
    for t in swarm.tasks.values():
        if net.id in t.addresses and t.desired == "running":
            raise Forbidden(rpc("FailedPrecondition", f"network {net.id} is in use by task {t.id}"))


def forget(swarm: SwarmState, net: SwarmNetwork) -> None:
    ipam_of(swarm).forget_network(net)
    swarm.networks.pop(net.id, None)
