"""Services in the cluster store: create, update (scale, image, env, published ports), remove
(swarmkit manager/controlapi service.go, the allocator's VIPs and ports; moby daemon/cluster
services.go for image pinning and its warning).

A new service gets its published ports (30000-32767 serially when not given, ingress mode), a
VIP on each of its networks — ingress first when it publishes in ingress mode — unless it is
`--endpoint-mode dnsrr`, then its tasks.  A change to what the tasks run (image, env, args,
ports) is rolled out one task at a time (UpdateConfig: parallelism 1, delay 0, stop-first);
a change of replicas only adds or removes tasks.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cnmsim.engine.errors import Conflict, EngineError, NotFound
from cnmsim.swarm.manager import networks, orchestrator
from cnmsim.swarm.manager.errors import rpc
from cnmsim.swarm.manager.ids import new_id
from cnmsim.swarm.manager.swarm import bump, notify
from cnmsim.swarm.model import PortConfig, Service

if TYPE_CHECKING:
    from cnmsim.lab import Lab
    from cnmsim.swarm.model import Node, SwarmState

DNS_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
NO_INGRESS = rpc("FailedPrecondition", "service needs ingress network, but no ingress network is present")
DNSRR_INGRESS = rpc("InvalidArgument", "EndpointSpec: port published with ingress mode can't be used with "
                                       "dnsrr mode")
DUP_PORTS = rpc("InvalidArgument", "EndpointSpec: duplicate published ports provided")
PREDEFINED_NET = ("The network {0} cannot be used with services. Only networks scoped to the swarm can be "
                  "used, such as those created with the overlay driver.")
UPDATE_POLL = 0.1
UPDATE_TIMEOUT = 60.0
MONITOR = 5.0  # UpdateConfig.Monitor


@dataclass
class Spec:
    """What `docker service create` asks for."""

    image: str
    name: str = ""
    replicas: int = 1
    mode: str = "replicated"
    networks: list[str] = field(default_factory=list)  # references (names or ids)
    ports: list[PortConfig] = field(default_factory=list)
    endpoint_mode: str = "vip"
    env: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    hostname: str = ""


def digest_warning(image: str) -> str:
    """daemon/cluster digestWarning (the daemon's text ends with a newline)."""
    return (f"image {image} could not be accessed on a registry to record\nits digest. Each node will access "
            f"{image} independently,\npossibly leading to different nodes running different\nversions of the "
            "image.\n")


def pin(ref: str) -> tuple[str, list[str]]:
    """The image pinned to its digest as a reachable registry allows, or a warning."""
    from cnmsim.engine.images import lookup, parse_ref

    img = lookup(ref)
    if img is None:
        return ref, [digest_warning(ref)]
    name, tag, digest = parse_ref(ref)
    return (f"{name}@{digest}" if digest else f"{name}:{tag}@sha256:{img.id}"), []


def find(swarm: SwarmState, ref: str) -> Service:
    """daemon/cluster getService: full id, name, then unique id prefix."""
    svcs = list(swarm.services.values())
    for s in svcs:
        if s.id == ref:
            return s
    for s in svcs:
        if s.name == ref:
            return s
    pref = [s for s in svcs if ref and s.id.startswith(ref)]
    if len(pref) == 1:
        return pref[0]
    if len(pref) > 1:
        raise EngineError(f"service {ref} is ambiguous ({len(pref)} matches found)")
    raise NotFound(f"service {ref} not found")


def _networks(lab: Lab, swarm: SwarmState, host: str, refs: list[str]) -> list[str]:
    out = []
    for ref in refs:
        snet = networks.lookup(swarm, ref)
        if snet is None:
            local = None
            try:
                local = lab[host].engine.controller.network(ref)
            except EngineError:
                pass
            if local is not None and local.predefined:
                raise EngineError(PREDEFINED_NET.format(local.name))
            raise NotFound(f"network {ref} not found")
        if snet.ingress:
            raise EngineError(rpc("InvalidArgument", "Service cannot be explicitly attached to the ingress "
                                                     f"network \"{snet.name}\""))
        out.append(snet.id)
    return out


def _check_ports(swarm: SwarmState, ports: list[PortConfig], endpoint_mode: str, me: str = "") -> None:
    """controlapi validateEndpointSpec and checkPortConflicts."""
    if endpoint_mode == "dnsrr" and any(p.mode == "ingress" for p in ports):
        raise EngineError(DNSRR_INGRESS)
    seen = set()
    for p in ports:
        if p.mode == "host" or not p.published:
            continue
        if (p.published, p.protocol) in seen:
            raise EngineError(DUP_PORTS)
        seen.add((p.published, p.protocol))
    ingress = {(p.protocol, p.published) for p in ports if p.mode == "ingress" and p.published}
    host = {(p.protocol, p.published) for p in ports if p.mode == "host" and p.published}
    for other in swarm.services.values():
        if other.id == me:
            continue
        for pc in other.ports:
            key = (pc.protocol, pc.published)
            if not pc.published:
                continue
            if pc.mode == "host" and key in ingress:
                raise EngineError(rpc("InvalidArgument", f"port '{pc.published}' is already in use by service "
                                                         f"'{other.name}' ({other.id}) as a host-published port"))
            if pc.mode == "ingress" and (key in ingress or key in host):
                raise EngineError(rpc("InvalidArgument", f"port '{pc.published}' is already in use by service "
                                                         f"'{other.name}' ({other.id}) as an ingress port"))


def _allocate_ports(swarm: SwarmState, svc: Service) -> None:
    ipam = networks.ipam_of(swarm)
    for p in svc.ports:
        if p.mode == "ingress":
            p.published = ipam.request_port(svc.id, p.protocol, p.published)


def _ingress(swarm: SwarmState) -> Any:
    return next((n for n in swarm.networks.values() if n.ingress), None)


def _allocate_vips(swarm: SwarmState, svc: Service) -> None:
    """One VIP per network of the tasks (vip mode); VIPs no longer needed are released."""
    ipam = networks.ipam_of(swarm)
    want = orchestrator.task_networks(swarm, svc) if svc.endpoint_mode == "vip" else []
    for nid in [n for n in svc.vips if n not in want]:
        net = swarm.networks.get(nid)
        if net is not None:
            ipam.release_address(net, str(svc.vips[nid].ip))
        del svc.vips[nid]
    for nid in want:
        if nid not in svc.vips:
            svc.vips[nid] = ipam.request_address(swarm.networks[nid], f"vip:{svc.id}")
    svc.vips = {nid: svc.vips[nid] for nid in want}  # ingress first, then the service's networks


def create(lab: Lab, swarm: SwarmState, host: str, spec: Spec) -> tuple[Service, list[str]]:
    """CreateService: validate, pin the image, allocate ports and VIPs, then the tasks."""
    from cnmsim.engine.namesgen import random_name

    name = spec.name or random_name(lab.rng)
    if not DNS_NAME.match(name) or len(name) > 63:
        raise EngineError(rpc("InvalidArgument", "name must be valid as a DNS name component"))
    if any(s.name == name for s in swarm.services.values()):
        raise Conflict(rpc("AlreadyExists", f"name conflicts with an existing object: service {name} "
                                            "already exists"))
    nets = _networks(lab, swarm, host, spec.networks)
    ports = [PortConfig(p.target, p.published, p.protocol, p.mode) for p in spec.ports]
    _check_ports(swarm, ports, spec.endpoint_mode)
    if any(p.mode == "ingress" for p in ports) and _ingress(swarm) is None:
        raise EngineError(NO_INGRESS)
    image, warnings = pin(spec.image)
    svc = Service(id=new_id(lab.rng), name=name, image=image, replicas=spec.replicas if spec.mode != "global"
                  else 0, mode=spec.mode, networks=nets, ports=ports, endpoint_mode=spec.endpoint_mode,
                  env=list(spec.env), args=list(spec.args), created=lab.now, updated=lab.now)
    svc.extra.update(constraints=list(spec.constraints), labels=dict(spec.labels), spec_version=1,
                     hostname=spec.hostname, restarting=set())
    _allocate_ports(swarm, svc)
    _allocate_vips(swarm, svc)
    svc.version = bump(swarm)
    swarm.services[svc.id] = svc
    notify(swarm, "service_created", service=svc)
    orchestrator.reconcile(lab, swarm, svc)
    return svc, warnings


def snapshot(svc: Service) -> dict[str, Any]:
    """What PreviousSpec shows after an update."""
    return {"image": svc.image, "replicas": svc.replicas, "env": list(svc.env), "args": list(svc.args),
            "ports": [PortConfig(p.target, p.published, p.protocol, p.mode) for p in svc.ports]}


def update(lab: Lab, swarm: SwarmState, svc: Service, *, replicas: int | None = None, image: str | None = None,
           env: list[str] | None = None, args: list[str] | None = None,
           ports: list[PortConfig] | None = None, force: bool = False) -> list[str]:
    """UpdateService: a new spec version; task changes roll out, replica changes reconcile."""
    warnings: list[str] = []
    before = snapshot(svc)
    rolling = force
    if ports is not None:
        new = [PortConfig(p.target, p.published, p.protocol, p.mode) for p in ports]
        old = {(p.target, p.protocol, p.mode): p.published for p in svc.ports}
        for p in new:  # ports already published keep their number
            if not p.published and p.mode == "ingress":
                p.published = old.get((p.target, p.protocol, p.mode), 0)
        _check_ports(swarm, new, svc.endpoint_mode, me=svc.id)
        if any(p.mode == "ingress" for p in new) and _ingress(swarm) is None:
            raise EngineError(NO_INGRESS)
        if [(p.target, p.published, p.protocol, p.mode) for p in new] != \
                [(p.target, p.published, p.protocol, p.mode) for p in svc.ports]:
            networks.ipam_of(swarm).release_ports(svc.id)
            svc.ports = new
            _allocate_ports(swarm, svc)
            _allocate_vips(swarm, svc)
            rolling = True
    if image is not None:
        pinned, warnings = pin(image)
        rolling = rolling or pinned != svc.image
        svc.image = pinned
    if env is not None and env != svc.env:
        svc.env, rolling = list(env), True
    if args is not None and args != svc.args:
        svc.args, rolling = list(args), True
    if replicas is not None:
        svc.replicas = replicas
    svc.extra["previous"] = before
    svc.version, svc.updated = bump(swarm), lab.now
    notify(swarm, "service_updated", service=svc)
    if rolling:
        svc.extra["spec_version"] = svc.extra.get("spec_version", 1) + 1
        svc.extra["update_status"] = {"State": "updating", "StartedAt": lab.now, "Message": "update in progress"}
        lab.env.process(_roll(lab, swarm, svc, svc.extra["spec_version"]))
    else:
        orchestrator.reconcile(lab, swarm, svc)
    return warnings


def _roll(lab: Lab, swarm: SwarmState, svc: Service, version: int) -> Generator[Any, Any, None]:
    """The updater: stop-first, one task at a time, waiting for each new task to run."""
    env = lab.env
    while svc.id in swarm.services and svc.extra.get("spec_version") == version:
        stale = sorted((t for t in orchestrator.tasks_of(swarm, svc)
                        if t.desired == "running" and t.extra.get("spec") != version),
                       key=lambda t: (t.slot, t.created))
        if not stale:
            break
        old = stale[0]
        orchestrator.shutdown(lab, swarm, old)
        new = orchestrator.new_task(lab, swarm, svc, old.slot, old.node if svc.mode == "global" else "")
        if svc.mode == "global" and not new.extra.get("unallocated"):
            orchestrator.set_state(lab, new, "assigned")
            from cnmsim.swarm.manager import agent

            agent.assign(lab, swarm, new)
        elif svc.mode != "global":
            orchestrator._schedule(lab, swarm, svc, [new])
        deadline = env.now + UPDATE_TIMEOUT
        while new.state not in ("running",) + orchestrator.TERMINAL and env.now < deadline \
                and new.desired == "running":
            yield env.timeout(UPDATE_POLL)
    yield env.timeout(MONITOR)  # the updater watches the last tasks for failures before completing
    if svc.id in swarm.services and svc.extra.get("spec_version") == version:
        st = svc.extra["update_status"]
        svc.extra["update_status"] = {"State": "completed", "StartedAt": st["StartedAt"], "CompletedAt": env.now,
                                      "Message": "update completed"}
        orchestrator.reconcile(lab, swarm, svc)


def remove(lab: Lab, swarm: SwarmState, svc: Service) -> None:
    """RemoveService: its tasks shut down (their containers go), VIPs and ports are released."""
    del swarm.services[svc.id]
    for t in orchestrator.tasks_of(swarm, svc):
        if t.desired == "running":
            orchestrator.shutdown(lab, swarm, t, remove=True)
        if t.state in orchestrator.TERMINAL and not t.container:
            orchestrator.release(swarm, t)
            swarm.tasks.pop(t.id, None)
    ipam = networks.ipam_of(swarm)
    for nid, vip in svc.vips.items():
        net = swarm.networks.get(nid)
        if net is not None:
            ipam.release_address(net, str(vip.ip))
    ipam.release_ports(svc.id)
    bump(swarm)
    notify(swarm, "service_removed", service=svc)


# ---------------------------------------------------------------- node events
def nodes_changed(lab: Lab, swarm: SwarmState) -> None:
    orchestrator.reconcile_all(lab, swarm)


def node_down(lab: Lab, swarm: SwarmState, node: Node) -> None:
    orchestrator.node_down(lab, swarm, node)


def node_up(lab: Lab, swarm: SwarmState, node: Node) -> None:
    orchestrator.node_up(lab, swarm, node)


def status(swarm: SwarmState, svc: Service) -> tuple[int, int]:
    """ServiceStatus (running, desired) as `docker service ls` counts them: tasks on nodes that
    are not down."""
    up = {n.id for n in swarm.nodes.values() if n.status != "down" and not n.left}
    ts = [t for t in orchestrator.tasks_of(swarm, svc) if t.node in up]
    running = sum(1 for t in ts if t.state == "running" and t.desired == "running")
    desired = svc.replicas if svc.mode == "replicated" else sum(1 for t in ts if t.desired == "running")
    return running, desired
