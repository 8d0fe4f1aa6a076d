"""Swarm membership: `docker swarm init|join|leave|join-token` (moby daemon/cluster swarm.go,
errors.go; swarmkit node, ca), the manager's listener on 2377/tcp, and the hooks the other
swarm parts use.

- `lab.swarm` holds the one SwarmState of the lab from init until the last manager leaves;
  every id comes from `lab.rng` (same seed, same ids).
- A join is a real simulated TCP connection from the joining host to HOST:2377, where the
  manager listens: an iptables DROP on 2377 makes it time out after swarmConnectTimeout (20 s)
  with the daemon's message; a refused connection is retried until then, as the node runner does.
- Observers: `observe(swarm, fn)` adds `fn(event, **kw)` to `swarm.extra["observers"]`; events
  are listed in agent.py.  At init, each module of PLUGINS that exists and defines
  `on_swarm_init(lab, swarm)` is called, so load balancing, DNS and encryption attach without
  this package importing them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Generator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import TYPE_CHECKING, Any

from cnmsim.engine.errors import EngineError
from cnmsim.swarm.manager import control, ids, networks
from cnmsim.swarm.manager.errors import (
    BAD_TOKEN,
    JOIN_TIMEOUT,
    LEAVE_LAST_MANAGER,
    MALFORMED_TOKEN,
    NO_MANAGER,
    NO_SWARM,
    NOT_MANAGER,
    SWARM_EXISTS,
    SwarmError,
)
from cnmsim.swarm.manager.ipam import GlobalIpam
from cnmsim.swarm.model import DEFAULT_MASK, DEFAULT_POOL, VXLAN_PORT, Node, SwarmState

if TYPE_CHECKING:
    from cnmsim.lab import Lab

CONTROL_PORT = 2377
CONNECT_TIMEOUT = 20.0  # daemon/cluster swarmConnectTimeout
PLUGINS = ("cnmsim.swarm.lb", "cnmsim.swarm.mesh", "cnmsim.swarm.dns", "cnmsim.swarm.encryption")


# ---------------------------------------------------------------- lookups and hooks
def get(lab: Lab) -> SwarmState | None:
    return getattr(lab, "swarm", None)


def member(lab: Lab, hostname: str) -> Node | None:
    swarm = get(lab)
    return swarm.node_by_host(hostname) if swarm is not None else None


def require_manager(lab: Lab, hostname: str) -> tuple[SwarmState, Node]:
    """The swarm and this host's node, if it is a manager; else the daemon's refusal."""
    node = member(lab, hostname)
    if node is None:
        raise SwarmError(NO_MANAGER)
    if node.role != "manager":
        raise SwarmError(NOT_MANAGER)
    return get(lab), node  # type: ignore[return-value]


def observe(swarm: SwarmState, fn: Callable[..., Any]) -> None:
    swarm.extra.setdefault("observers", []).append(fn)


def notify(swarm: SwarmState, event: str, **kw: Any) -> None:
    for fn in list(swarm.extra.get("observers", [])):
        fn(event, **kw)


def bump(swarm: SwarmState) -> int:
    """The store's next version index (raft index in swarmkit)."""
    swarm.extra["index"] = swarm.extra.get("index", 10) + 1
    return swarm.extra["index"]


# ---------------------------------------------------------------- init
def validate_pools(pools: list[str], mask: int) -> list[IPv4Network]:
    """daemon/cluster validateDefaultAddrPool."""
    if not pools:
        if mask != DEFAULT_MASK and mask:
            pass  # a mask alone applies to the default pool
        return [IPv4Network(DEFAULT_POOL)]
    if mask > 29:
        raise EngineError(f"subnet size is out of range: {mask}")
    out = []
    for p in pools:
        p = p.strip()
        try:
            net = IPv4Network(p, strict=False)
        except ValueError:
            raise EngineError(f"invalid base pool {p}: invalid CIDR address: {p}") from None
        if mask < net.prefixlen:
            raise EngineError(f'invalid CIDR: "{p}". Subnet size is too small for pool: {mask}')
        out.append(net)
    return out


def data_path_port(port: int) -> int:
    """daemon/cluster getDataPathPort."""
    if port == 0:
        return VXLAN_PORT
    if port < 1024 or port > 49151:
        raise EngineError(f"Datapath port number is not in valid range (1024-49151) : {port}")
    return port


def advertise_ip(lab: Lab, hostname: str, given: str | None) -> tuple[str, int]:
    """resolveAdvertiseAddr: an IP, IP:PORT or an interface name; without one, the host's only
    address (several on different interfaces is an error)."""
    host = lab[hostname]
    addrs = [(a.dev, a.address.split("/")[0]) for a in host.root.addrs()
             if a.dev in host.nic_names and ":" not in a.address]
    if given:
        text, _, port = given.partition(":")
        mine = [ip for dev, ip in addrs if dev == text]
        if mine:
            if len(mine) > 1:
                raise EngineError(f"interface {text} has more than one IPv4 address ({mine[0]} and {mine[1]})")
            return mine[0], int(port or CONTROL_PORT)
        try:
            IPv4Address(text)
        except ValueError:
            raise EngineError("must specify a valid IP address or interface name") from None
        return text, int(port or CONTROL_PORT)
    devs = {}
    for dev, ip in addrs:
        devs.setdefault(dev, ip)
    if not devs:
        raise EngineError("could not find the system's IP address - specify one with --advertise-addr")
    if len(devs) > 1:
        (d1, ip1), (d2, ip2) = list(devs.items())[:2]
        raise EngineError(f"could not choose an IP address to advertise since this system has multiple "
                          f"addresses on different interfaces ({ip1} on {d1} and {ip2} on {d2}) - specify "
                          "one with --advertise-addr")
    return next(iter(devs.values())), CONTROL_PORT


def init(lab: Lab, hostname: str, *, advertise_addr: str | None = None, pools: list[str] | None = None,
         mask: int = DEFAULT_MASK, data_port: int = 0, availability: str = "active") -> Node:
    """`docker swarm init`: the cluster, this node as its leader, the tokens, `ingress`, gossip."""
    from cnmsim.swarm.manager import agent, services

    if lab.real is not None:
        raise EngineError("cnmsim: swarm mode runs on the simulated backend only")
    if member(lab, hostname) is not None:
        raise SwarmError(SWARM_EXISTS)
    if get(lab) is not None:
        raise EngineError("cnmsim: this lab already has a swarm; join it with `docker swarm join`")
    if getattr(lab, "gossip", None) is not None:
        raise EngineError("cnmsim: this lab already runs a gossip cluster (a scenario's gossip:); "
                          "swarm mode starts its own")
    pool_nets = validate_pools(list(pools or []), mask or DEFAULT_MASK)
    port = data_path_port(data_port)
    ip, cport = advertise_ip(lab, hostname, advertise_addr)
    rng = lab.rng
    swarm = SwarmState(id=ids.new_id(rng), created=lab.now, default_pool=pool_nets, mask=mask or DEFAULT_MASK,
                       data_path_port=port)
    digest = ids.ca_digest(rng)
    swarm.tokens = {"worker": ids.join_token(digest, rng), "manager": ids.join_token(digest, rng)}
    swarm.extra.update(ipam=GlobalIpam(pool_nets, swarm.mask), observers=[], digest=digest, listeners={},
                       control_port={}, ndb_names={})
    node = Node(id=ids.new_id(rng), hostname=hostname, addr=ip, role="manager", availability=availability,
                leader=True, joined_at=lab.now)
    swarm.extra["control_port"][node.id] = cport
    swarm.nodes[node.id] = node
    networks.create(lab, swarm, "ingress", ingress=True)
    lab.swarm = swarm  # type: ignore[attr-defined]
    swarm.gossip = control.start_gossip(lab, hostname)
    node.index = swarm.gossip.node(hostname)
    swarm.extra["ndb_names"][node.id] = ids.networkdb_name(hostname, rng)
    control.FailureWatcher(lab, swarm, lambda n: services.node_down(lab, swarm, n),
                           lambda n: services.node_up(lab, swarm, n))
    _listen(lab, swarm, node)
    for mod in PLUGINS:
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        hook = getattr(m, "on_swarm_init", None)
        if callable(hook):
            hook(lab, swarm)
    agent.node_joined(lab, swarm, node)
    return node


# ---------------------------------------------------------------- the control port
def _listen(lab: Lab, swarm: SwarmState, node: Node) -> None:
    """A manager listens on 2377/tcp (swarmkit's gRPC server); connections are accepted and closed."""
    ns = lab[node.hostname].root
    sock = ns.sockets.tcp.socket()
    sock.reuseaddr = True
    sock.bind("0.0.0.0", swarm.extra["control_port"].get(node.id, CONTROL_PORT))
    sock.listen(128)

    def serve() -> Generator[Any, Any, None]:
        import simpy

        try:
            while True:
                conn = yield from sock.accept()
                if conn is not None:
                    conn.close()
        except (simpy.Interrupt, Exception):  # noqa: BLE001 (the listener closed)
            return

    swarm.extra["listeners"][node.id] = (sock, lab.env.process(serve()))


def _unlisten(lab: Lab, swarm: SwarmState, node: Node) -> None:
    got = swarm.extra["listeners"].pop(node.id, None)
    if got is not None:
        sock, proc = got
        sock.close()
        if proc.is_alive:
            proc.interrupt("closed")


def _connect(lab: Lab, hostname: str, ip: str, port: int) -> Generator[Any, Any, bool]:
    """A TCP connection to ip:port within swarmConnectTimeout, retrying once a second."""
    from cnmsim.kernel.sim.ipv4 import OutputError

    env = lab.env
    deadline = env.now + CONNECT_TIMEOUT
    ns = lab[hostname].root
    while env.now < deadline:
        sock = ns.sockets.tcp.socket()
        try:
            yield from sock.connect(ip, port, timeout=deadline - env.now)
            sock.close()
            return True
        except OutputError:
            sock.close()
        if env.now < deadline:
            yield env.timeout(min(1.0, deadline - env.now))
    return False


# ---------------------------------------------------------------- join
def split_remote(remote: str) -> tuple[str, int]:
    host, _, port = remote.rpartition(":") if ":" in remote else (remote, "", "")
    return host, int(port) if port.isdigit() else CONTROL_PORT


def join(lab: Lab, hostname: str, token: str, remote: str, *, advertise_addr: str | None = None,
         availability: str = "active") -> Generator[Any, Any, Node]:
    """`docker swarm join --token T HOST:PORT` (a generator: the connection takes simulated time)."""
    from cnmsim.swarm.manager import agent, services

    if member(lab, hostname) is not None:
        raise SwarmError(SWARM_EXISTS)
    if not ids.well_formed(token):
        raise EngineError(MALFORMED_TOKEN)
    ip, port = split_remote(remote)
    if not (yield from _connect(lab, hostname, ip, port)):
        raise SwarmError(JOIN_TIMEOUT)
    swarm = get(lab)
    manager = None if swarm is None else next(
        (n for n in swarm.nodes.values() if n.role == "manager" and not n.left and n.addr == ip
         and swarm.extra["control_port"].get(n.id, CONTROL_PORT) == port), None)
    if swarm is None or manager is None:
        raise SwarmError(JOIN_TIMEOUT)
    role = next((r for r, t in swarm.tokens.items() if t == token), None)
    if role is None:
        raise EngineError(BAD_TOKEN)
    if member(lab, hostname) is not None:  # joined meanwhile
        raise SwarmError(SWARM_EXISTS)
    g = swarm.gossip
    if hostname not in g.hosts:
        raise EngineError(f"cnmsim: {hostname} was added to the lab after `docker swarm init`; the swarm's "
                          "gossip cluster covers the Docker hosts that existed then")
    addr, cport = advertise_ip(lab, hostname, advertise_addr) if advertise_addr else (
        lab[hostname].address or "", CONTROL_PORT)
    node = Node(id=ids.new_id(lab.rng), hostname=hostname, addr=addr, role=role, availability=availability,
                joined_at=lab.now, index=g.node(hostname))
    swarm.extra["control_port"][node.id] = cport
    swarm.extra["ndb_names"][node.id] = ids.networkdb_name(hostname, lab.rng)
    swarm.nodes[node.id] = node
    bump(swarm)
    g.cluster.boot(node.index, manager.index)
    if role == "manager":
        _listen(lab, swarm, node)
    agent.node_joined(lab, swarm, node)
    services.nodes_changed(lab, swarm)
    return node


# ---------------------------------------------------------------- leave
def leave_refusal(swarm: SwarmState, node: Node) -> str | None:
    """Cluster.Leave's refusal for a manager without --force (raft quorum arithmetic)."""
    if node.role != "manager":
        return None
    managers = [m for m in swarm.nodes.values() if m.role == "manager" and not m.left]
    reachable = sum(1 for m in managers if m.status != "down")
    unreachable = len(managers) - reachable
    msg = "You are attempting to leave the swarm on a node that is participating as a manager. "
    if reachable - 2 <= unreachable:
        if reachable == 1 and unreachable == 0:
            return LEAVE_LAST_MANAGER
        msg += (f"Removing this node leaves {reachable - 1} managers out of {reachable + unreachable}. "
                "Without a Raft quorum your swarm will be inaccessible. ")
    return msg + ("The only way to restore a swarm that has lost consensus is to reinitialize it with "
                  "`--force-new-cluster`. Use `--force` to suppress this message.")


def leave(lab: Lab, hostname: str, force: bool = False) -> None:
    """`docker swarm leave [--force]`."""
    node = member(lab, hostname)
    swarm = get(lab)
    if node is None or swarm is None:
        raise SwarmError(NO_SWARM)
    if not force:
        refusal = leave_refusal(swarm, node)
        if refusal:
            raise SwarmError(refusal)
    remove_member(lab, swarm, node)


def remove_member(lab: Lab, swarm: SwarmState, node: Node, *, crashed: bool = False) -> None:
    """The node is no longer a member: its tasks go elsewhere, its local swarm state goes, its
    memberlist leaves; the last manager leaving ends the swarm."""
    from cnmsim.swarm.manager import agent, services

    node.left, node.status = True, "down"
    if node.role == "manager":
        _unlisten(lab, swarm, node)
    if node.leader:
        node.leader = False
        nxt = next((m for m in swarm.nodes.values() if m.role == "manager" and not m.left), None)
        if nxt is not None:
            nxt.leader = True
    bump(swarm)
    if not crashed:
        agent.node_leaving(lab, swarm, node)
        swarm.gossip.cluster.leave(node.index)
    if not any(m.role == "manager" and not m.left for m in swarm.nodes.values()):
        dissolve(lab, swarm)
        return
    services.node_down(lab, swarm, node)


def dissolve(lab: Lab, swarm: SwarmState) -> None:
    """No manager is left: the cluster store is gone (cnmsim ends the whole swarm: every node's
    tasks and swarm networks go, gossip stops)."""
    from cnmsim.swarm.manager import agent

    for n in list(swarm.nodes.values()):
        if not n.left:
            n.left, n.status = True, "down"
            agent.node_leaving(lab, swarm, n)
    control.stop_gossip(lab, swarm.gossip)
    for nid in list(swarm.extra["listeners"]):
        _unlisten(lab, swarm, swarm.nodes[nid])
    notify(swarm, "swarm_removed")
    lab.swarm = None  # type: ignore[attr-defined]


# ---------------------------------------------------------------- tokens
def rotate_token(lab: Lab, swarm: SwarmState, role: str) -> str:
    swarm.tokens[role] = ids.join_token(swarm.extra["digest"], lab.rng)
    bump(swarm)
    return swarm.tokens[role]


def manager_addr(swarm: SwarmState, node: Node) -> str:
    return f"{node.addr}:{swarm.extra['control_port'].get(node.id, CONTROL_PORT)}"


def node_interface(lab: Lab, node: Node) -> IPv4Interface | None:
    host = lab[node.hostname]
    for a in host.root.addrs():
        if a.address.split("/")[0] == node.addr:
            return IPv4Interface(a.address)
    return None


__all__ = ["CONTROL_PORT", "NOT_MANAGER", "get", "init", "join", "leave", "member", "notify", "observe",
           "require_manager", "rotate_token"]
