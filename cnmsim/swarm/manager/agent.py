"""A node's agent: how a node realises the tasks the dispatcher gives it (swarmkit agent +
moby daemon/cluster/executor/container), and what the engine asks of swarm mode.

For each task assigned to a node, the node's Daemon creates and starts a container named
`<service>.<slot>.<task id>` (global: `<service>.<node id>.<task id>`) from the service's image,
with its env and args, attached to the task's networks in order — `ingress` first when the
service publishes in ingress mode — each with the address the manager allocated.  A swarm
network exists on a node only while something there uses it (the engine registers it through
`Controller.adopt_network`), except `ingress`, which every node has while it is in the swarm.
The task's container is removed when the task shuts down.

Task states over simulated time: assigned (at scheduling), preparing (+DISPATCH), starting and
running (+PREPARE, once the container started), or rejected with the engine's error.

Observers (`swarm.extra["observers"]`, see swarm.observe) are called `fn(event, **kw)` with:
  node_joined(node), node_left(node),
  task_started(node, task, container), task_stopping(node, task), task_stopped(node, task[, reason]),
  service_created/service_updated/service_removed(service), network_created/network_removed(network),
  network_leaving(node, network, local)  — the node is about to remove its local copy,
  swarm_removed().

For the engine (docker run --network on an attachable overlay, load-balancer endpoints):
`ensure_network(daemon, ref)`, `attachment_address(daemon, net, name)`,
`release_address(daemon, net, ip)`, `gc_network(daemon, net)`.
"""

from __future__ import annotations

from collections.abc import Generator
from ipaddress import IPv4Interface
from typing import TYPE_CHECKING, Any

from cnmsim.engine.errors import EngineError
from cnmsim.swarm.manager import networks
from cnmsim.swarm.manager.errors import NOT_ATTACHABLE

if TYPE_CHECKING:
    from cnmsim.engine.container import Container
    from cnmsim.engine.daemon import Daemon
    from cnmsim.engine.network import Network
    from cnmsim.lab import Lab
    from cnmsim.swarm.model import Node, SwarmNetwork, SwarmState, Task

DISPATCH = 0.05  # the dispatcher's assignment reaches the node's agent
PREPARE = 0.05  # the executor prepares the container (image present: no pull)
INGRESS_SBOX = "ingress-sbox"
GOSSIP_CONVERGE_DELAY = 2.0  # seconds (moby daemon/cluster/executor/container/controller.go)


def _notify(swarm: SwarmState, event: str, **kw: Any) -> None:
    from cnmsim.swarm.manager.swarm import notify

    notify(swarm, event, **kw)


def _engine(lab: Lab, node: Node) -> Daemon:
    return lab[node.hostname].engine


# ---------------------------------------------------------------- swarm networks on a node
def engine_network(swarm: SwarmState, snet: SwarmNetwork) -> Network:
    """The engine's view of a swarm network (what the node registers): same id and name, driver
    overlay, scope swarm, the cluster's IPAM result; the SwarmNetwork is at extra["swarm"]."""
    from cnmsim.engine.ipam.netconfig import IpamConf, IpamInfo
    from cnmsim.engine.network import Network

    assert snet.subnet is not None
    gw = IPv4Interface(f"{snet.gateway}/{snet.subnet.prefixlen}") if snet.gateway else None
    info = IpamInfo(f"GlobalDefault/{snet.subnet}", snet.subnet, gateway=gw)
    net = Network(snet.id, snet.name, snet.driver, scope="swarm", internal=snet.internal,
                  attachable=snet.attachable, ingress=snet.ingress, created=snet.created,
                  ipam_options=dict(snet.ipam_options),
                  ipam_confs=[IpamConf(subnet=str(snet.subnet), gateway=snet.gateway or None)],
                  ipam_infos=[info], options=dict(snet.options), labels=dict(snet.labels),
                  user_subnet=snet.id in networks.ipam_of(swarm).user_subnets)
    net.extra["swarm"] = snet
    return net


def ensure_local(lab: Lab, swarm: SwarmState, node: Node, snet: SwarmNetwork) -> Network:
    """The node's local copy of the swarm network, registered with its engine if new."""
    d = _engine(lab, node)
    ctl = d.controller
    local = ctl.networks.get(snet.id)
    if local is not None:
        return local
    net = engine_network(swarm, snet)
    adopt = getattr(ctl, "adopt_network", None)
    if callable(adopt):
        got = adopt(net)
        return got if got is not None else ctl.networks[net.id]
    ctl.networks[net.id] = net  # no overlay driver in this engine: listed, not wired
    return net


def _only_lb(net: Network) -> bool:
    """Nothing but the node's load-balancer endpoint (`<net>-endpoint`) is left on it."""
    return all(ep.name == f"{net.name}-endpoint" for ep in net.endpoints.values())


def drop_local(lab: Lab, swarm: SwarmState, node: Node, net: Network) -> None:
    """Remove the node's copy (after telling observers, so the LB endpoint goes first)."""
    d = _engine(lab, node)
    snet = swarm.networks.get(net.id) or net.extra.get("swarm")
    _notify(swarm, "network_leaving", node=node, network=snet, local=net)
    if net.endpoints:
        return
    ctl = d.controller
    if net.id not in ctl.networks:
        return
    if callable(getattr(ctl, "adopt_network", None)):
        ctl.delete_network(net, force=True)
    else:
        del ctl.networks[net.id]
    if snet is not None and snet.id in swarm.networks:
        ipam = networks.ipam_of(swarm)
        for ip, owner in list(snet.allocated.items()):
            if owner.startswith(f"{node.id}/"):
                ipam.release_address(snet, ip)


def gc_network(d: Daemon, net: Network) -> None:
    """Remove the local copy of a swarm network nothing on this node uses any more (never
    `ingress` while the node is in the swarm)."""
    from cnmsim.swarm.manager.swarm import get

    swarm = get(d.lab)
    node = swarm.node_by_host(d.host.name) if swarm is not None else None
    if node is None or net.scope != "swarm" or net.ingress or net.id not in d.controller.networks:
        return
    if _only_lb(net) and not _wanted(swarm, node, net.id):
        drop_local(d.lab, swarm, node, net)


def _wanted(swarm: SwarmState, node: Node, nid: str) -> bool:
    """A live task of the node still needs the network."""
    return any(t.node == node.id and t.desired == "running" and nid in t.addresses for t in swarm.tasks.values())


# ---------------------------------------------------------------- for the engine
def ensure_network(d: Daemon, ref: str) -> Network | None:
    """`docker run --network REF` on a swarm node: the local Network for a swarm network (created
    on this node if needed); None if REF names no swarm network; Docker's refusal if the overlay
    is not attachable."""
    from cnmsim.swarm.manager.swarm import get

    swarm = get(d.lab)
    node = swarm.node_by_host(d.host.name) if swarm is not None else None
    snet = networks.lookup(swarm, ref) if node is not None else None
    if snet is None or node is None:
        return None
    if not snet.attachable:
        raise EngineError(NOT_ATTACHABLE.format(name=ref), 403)
    return ensure_local(d.lab, swarm, node, snet)


def _swarm_net(d: Daemon, net: Network) -> tuple[Any, Any, Any]:
    from cnmsim.swarm.manager.swarm import get

    swarm = get(d.lab)
    node = swarm.node_by_host(d.host.name) if swarm is not None else None
    snet = swarm.networks.get(net.id) if swarm is not None else None
    if node is None or snet is None:
        raise EngineError(f"network {net.name} is not a swarm network of this node")
    return swarm, node, snet


def attachment_address(d: Daemon, net: Network, name: str, ip: str | None = None) -> str:
    """An address the manager allocates for something of this node on the network (a
    container on an attachable overlay, the node's load balancer `lb-<net>`, `ingress-sbox`);
    the same one again for the same name; `ip` asks for that address (--ip)."""
    swarm, node, snet = _swarm_net(d, net)
    ipam = networks.ipam_of(swarm)
    owner = f"{node.id}/{name}"
    have = ipam.owned(snet, owner)
    if have is not None and (ip is None or have == ip):
        return have
    if have is not None:
        ipam.release_address(snet, have)
    return str(ipam.request_address(snet, owner, ip).ip)


def release_address(d: Daemon, net: Network, ip: str) -> None:
    from cnmsim.swarm.manager.swarm import get

    swarm = get(d.lab)
    snet = swarm.networks.get(net.id) if swarm is not None else None
    if snet is not None:
        networks.ipam_of(swarm).release_address(snet, ip)


# ---------------------------------------------------------------- membership
def node_joined(lab: Lab, swarm: SwarmState, node: Node) -> None:
    """Every node has `ingress` (and its ingress-sbox address) while it is in the swarm."""
    ingress = next((n for n in swarm.networks.values() if n.ingress), None)
    if ingress is not None:
        local = ensure_local(lab, swarm, node, ingress)
        attachment_address(_engine(lab, node), local, INGRESS_SBOX)
    _notify(swarm, "node_joined", node=node)


def node_leaving(lab: Lab, swarm: SwarmState, node: Node) -> None:
    """`docker swarm leave`: the node's task containers and swarm networks go."""
    from cnmsim.swarm.manager import orchestrator

    for t in [t for t in swarm.tasks.values() if t.node == node.id]:
        if t.container:
            _remove_container(lab, swarm, node, t)
        if t.desired == "running":
            t.desired = "shutdown"
        if t.state not in orchestrator.TERMINAL:
            orchestrator.set_state(lab, t, "shutdown")
        orchestrator.release(swarm, t)
    d = _engine(lab, node)
    for net in [n for n in d.controller.networks.values() if n.scope == "swarm"]:
        drop_local(lab, swarm, node, net)
    _notify(swarm, "node_left", node=node)


# ---------------------------------------------------------------- tasks
def assign(lab: Lab, swarm: SwarmState, t: Task) -> None:
    lab.env.process(_run(lab, swarm, t))


def stop(lab: Lab, swarm: SwarmState, t: Task) -> None:
    lab.env.process(_stop(lab, swarm, t))


def _reachable(swarm: SwarmState, t: Task) -> Node | None:
    node = swarm.nodes.get(t.node)
    return node if node is not None and not node.left and node.status != "down" else None


def _run(lab: Lab, swarm: SwarmState, t: Task) -> Generator[Any, Any, None]:
    from cnmsim.swarm.manager import orchestrator

    env = lab.env
    yield env.timeout(DISPATCH)
    if t.desired != "running" or _reachable(swarm, t) is None or t.state != "assigned":
        return
    orchestrator.set_state(lab, t, "preparing")
    yield env.timeout(PREPARE)
    node = _reachable(swarm, t)
    svc = swarm.services.get(t.service)
    if t.desired != "running" or node is None or svc is None:
        if t.desired != "running" and t.state not in orchestrator.TERMINAL:
            orchestrator.set_state(lab, t, "shutdown")
            orchestrator.release(swarm, t)
        return
    orchestrator.set_state(lab, t, "starting")
    try:
        c = start_container(lab, swarm, node, t)
    except EngineError as e:
        orchestrator.set_state(lab, t, "rejected", str(e))
        orchestrator.task_ended(lab, swarm, t)
        return
    t.container = c.id
    orchestrator.set_state(lab, t, "running")
    _notify(swarm, "task_started", node=node, task=t, container=c)
    if c.proc is not None:  # a command that may end by itself: watch it
        env.process(_watch(lab, swarm, node, t, c))


def container_name(swarm: SwarmState, t: Task) -> str:
    svc = swarm.services[t.service]
    return f"{svc.name}.{t.slot or t.node}.{t.id}"


def start_container(lab: Lab, swarm: SwarmState, node: Node, t: Task) -> Container:
    """The executor's create + start, with the manager's addresses (no local IPAM)."""
    from cnmsim.engine import lifecycle
    from cnmsim.engine.container import Container, ContainerConfig, NetRequest
    from cnmsim.engine.driverapi import PortBinding
    from cnmsim.engine.images import familiar, lookup
    from cnmsim.swarm.manager import orchestrator

    svc = swarm.services[t.service]
    d = _engine(lab, node)
    ref = t.extra.get("image", svc.image)
    image = lookup(ref)
    if image is None:
        raise EngineError(f"No such image: {familiar(ref)}")
    reqs = []
    for nid in orchestrator.task_networks(swarm, svc):
        local = ensure_local(lab, swarm, node, swarm.networks[nid])
        addr = t.addresses.get(nid)
        reqs.append(NetRequest(local.name, str(addr.ip) if addr else None, []))
    env = list(image.env)
    for e in svc.env:
        k = e.partition("=")[0]
        env = [x for x in env if x.partition("=")[0] != k] + [e]
    name = container_name(swarm, t)
    cfg = ContainerConfig(
        image=familiar(ref.split("@")[0]), cmd=list(svc.args), env=env, hostname=svc.extra.get("hostname", ""),
        network_mode=reqs[0].network if reqs else "default", networks=reqs,
        ports=[PortBinding(p.protocol, p.target, "", p.published) for p in svc.ports if p.mode == "host"],
        exposed=list(image.exposed_ports),
        labels={"com.docker.swarm.node.id": node.id, "com.docker.swarm.service.id": svc.id,
                "com.docker.swarm.service.name": svc.name, "com.docker.swarm.task": "",
                "com.docker.swarm.task.id": t.id, "com.docker.swarm.task.name": name})
    c = Container(d.controller.new_id(), name, cfg, image, created=lab.now)
    # a task without networks runs on the node's default bridge (the executor's NetworkMode "default")
    c.net_requests = [NetRequest(r.network, r.ip, []) for r in reqs] or [NetRequest("bridge", None, [])]
    d.containers[c.id] = c
    try:
        lifecycle.start(d, c)
    except Exception:
        d.containers.pop(c.id, None)
        _gc_task_networks(lab, swarm, node, t)
        raise
    return c


def _watch(lab: Lab, swarm: SwarmState, node: Node, t: Task, c: Container) -> Generator[Any, Any, None]:
    """The container's main process ended by itself: the task completed or failed."""
    from cnmsim.swarm.manager import orchestrator

    proc = c.proc
    if proc is not None and proc.is_alive:
        yield proc
    if t.desired != "running" or c.running or t.container != c.id:
        return
    code = c.exit_code
    _remove_container(lab, swarm, node, t)
    if code == 0:
        orchestrator.set_state(lab, t, "complete")
    else:
        orchestrator.set_state(lab, t, "failed", f"task: non-zero exit ({code})")
    orchestrator.task_ended(lab, swarm, t)


def _remove_container(lab: Lab, swarm: SwarmState, node: Node, t: Task, stopping: bool = True) -> None:
    from cnmsim.engine import lifecycle

    d = _engine(lab, node)
    c = d.containers.get(t.container)
    if stopping:
        _notify(swarm, "task_stopping", node=node, task=t)
    if c is not None:
        lifecycle.remove(d, c, force=True)
    t.container = ""
    _notify(swarm, "task_stopped", node=node, task=t)
    _gc_task_networks(lab, swarm, node, t)


def _gc_task_networks(lab: Lab, swarm: SwarmState, node: Node, t: Task) -> None:
    d = _engine(lab, node)
    for nid in t.addresses:
        net = d.controller.networks.get(nid)
        if net is not None:
            gc_network(d, net)


def _stop(lab: Lab, swarm: SwarmState, t: Task) -> Generator[Any, Any, None]:
    """Shut a task down on its node: the LB hears first (task_stopping), then the container goes."""
    from cnmsim.swarm.manager import orchestrator

    yield lab.env.timeout(0)
    node = swarm.nodes.get(t.node)
    if node is None:
        return
    if t.container:
        # executor/container/controller.go Shutdown: deactivate the service binding (weight 0 on
        # every node, through networkdb), wait defaultGossipConvergeDelay, then stop the container
        _notify(swarm, "task_stopping", node=node, task=t)
        yield lab.env.timeout(GOSSIP_CONVERGE_DELAY)
        if t.container:
            _remove_container(lab, swarm, node, t, stopping=False)
    if t.state not in orchestrator.TERMINAL:
        orchestrator.set_state(lab, t, "shutdown")
    orchestrator.task_gone(lab, swarm, t)
