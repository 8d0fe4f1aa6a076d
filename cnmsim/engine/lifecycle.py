"""Containers' networking lifecycle (daemon/container_operations.go): create, start (sandbox,
endpoints, files, embedded DNS, the app), stop, remove, connect and disconnect.

Each step that fails undoes what it did, and the engine's message goes back to the CLI.  As
the real engine does, a container whose start failed stays "Created" (it exists, `docker ps -a`
shows it), while a refused create leaves nothing.

Swarm networks: `docker run --network NAME` with NAME an attachable overlay that this node does
not have yet asks the swarm agent for it (`cnmsim.swarm.manager.agent.ensure_network`), and an
endpoint on it takes the address the manager allocates for the attachment
(`attachment_address`), given back when the endpoint goes (`release_address`).  Without the
swarm package the engine works as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnmsim.engine.container import Container, ContainerConfig, NetRequest
from cnmsim.engine.dns import names as dnsnames
from cnmsim.engine.dns import resolvconf
from cnmsim.engine.driverapi import PortBinding
from cnmsim.engine.errors import Conflict, EngineError, Forbidden, NotFound
from cnmsim.engine.network import Endpoint, Network
from cnmsim.place import Place

if TYPE_CHECKING:
    from cnmsim.engine.daemon import Daemon

HOSTS_HEAD = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
              "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
IP_ONLY_USER = "user specified IP address is supported on user defined networks only"
IP_NEEDS_SUBNET = "user specified IP address is supported only when connecting to networks with user configured subnets"
ALIAS_ONLY_USER = "network-scoped alias is supported only for containers in user defined networks"
TASK_LABEL = "com.docker.swarm.task.id"  # set on swarm task containers: their addresses come with the task


def _valid_name(name: str) -> bool:
    import re

    return re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", name) is not None


def create(d: Daemon, cfg: ContainerConfig, name: str | None, image: Any) -> Container:
    """docker create: name checks, then the container record (no networking yet)."""
    cid = d.controller.new_id()
    if name:
        if not _valid_name(name):
            raise EngineError(f'Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
        for c in d.containers.values():
            if c.name == name:
                raise Conflict(f'Conflict. The container name "/{name}" is already in use by container '
                               f'"{c.id}". You have to remove (or rename) that container to be able to reuse that name.')
    else:
        name = _random_name(d)
    mode = cfg.network_mode
    if mode in ("host", "none") and (cfg.ports or cfg.publish_all):
        cfg.ports, cfg.publish_all = [], False  # the CLI warned: published ports are discarded
    reqs = cfg.networks or [NetRequest("bridge" if mode == "default" else mode)]
    nets = []
    for r in reqs:
        net = find_network(d, r.network)  # raises "network X not found"
        _check_request(net, r)
        nets.append(net)
    c = Container(cid, name, cfg, image, created=d.lab.now)
    c.net_requests = [NetRequest(net.name, r.ip, list(r.aliases)) for net, r in zip(nets, reqs, strict=True)]
    d.containers[cid] = c
    return c


def _swarm_agent() -> Any:
    """S1's per-node swarm agent module, or None when swarm mode is not available."""
    try:
        from cnmsim.swarm.manager import agent
    except ModuleNotFoundError as e:
        if (e.name or "").startswith("cnmsim.swarm.manager"):
            return None
        raise
    except ImportError:  # the package is there, its agent module not (yet)
        return None
    return agent


def find_network(d: Daemon, ref: str) -> Network:
    """A local network by id/name/prefix; else an attachable swarm network, made local here by
    the swarm agent (its own error for a non-attachable one); else "network X not found"."""
    try:
        return d.controller.network(ref)
    except NotFound:
        agent = _swarm_agent()
        ensure = getattr(agent, "ensure_network", None)
        net = ensure(d, ref) if ensure is not None else None
        if net is None:
            raise
        return net


def _is_swarm(net: Network) -> bool:
    from cnmsim.engine.controller import SWARM_IPAM

    return bool(net.extra.get(SWARM_IPAM))


def _check_request(net: Network, r: NetRequest) -> None:
    """validateEndpointSettings (Engine 25+): every problem listed, wrapped twice
    ("invalid config for network N: invalid endpoint settings:\n..."); one problem is
    printed bare, several as "* " lines (moby internal/multierror)."""
    from ipaddress import IPv4Address

    errs = []
    if not net.user_defined:
        if r.ip:
            errs.append(IP_ONLY_USER)
        if r.aliases:
            errs.append(ALIAS_ONLY_USER)
    elif r.ip:
        try:
            addr = IPv4Address(r.ip)
        except ValueError:
            addr = None
            errs.append(f"invalid IPv4 address: {r.ip}")
        if not net.user_subnet:  # only networks created with --subnet take a static address
            errs.append(IP_NEEDS_SUBNET)
        elif addr is not None and not any(addr in i.subnet for i in net.ipam_infos):
            errs.append(f"no configured subnet or ip-range contain the IP address {r.ip}")
    if errs:
        body = errs[0] if len(errs) == 1 else "* " + "\n* ".join(errs)
        raise EngineError(f"invalid config for network {net.name}: invalid endpoint settings:\n{body}")


def _random_name(d: Daemon) -> str:
    from cnmsim.engine.namesgen import random_name

    taken = {c.name for c in d.containers.values()}
    while True:
        n = random_name(d.lab.rng)
        if n not in taken:
            return n


# ---------------------------------------------------------------- start / stop
def start(d: Daemon, c: Container, attached: bool = False) -> None:
    """docker start: the sandbox and its endpoints, /etc files, embedded DNS, then the app."""
    if c.running:
        return
    c.attached = attached  # type: ignore[attr-defined]
    ctl = d.controller
    mode = c.config.network_mode
    sb = ctl.new_sandbox(host_mode=(mode == "host"))
    sb.port_bindings = _bindings(c) if mode not in ("host", "none") else []
    joined: list[Endpoint] = []
    try:
        for r in c.net_requests:
            ep = _attach(d, c, sb, r)
            joined.append(ep)
    except Exception:
        for ep in reversed(joined):
            delete_endpoint(d, ep)
        ctl.delete_sandbox(sb)
        raise
    c.sandbox = sb
    c.endpoints = {ep.network.id: ep for ep in joined}
    if c.files is None:  # the container's filesystem: the image's files, kept across restarts
        c.files = dict(c.image.files)
    c.place = Place(c.name, d.host, sb.ns, c.files, flavour=c.image.flavour, container=c)
    _write_files(d, c)
    d.lab.register_place(c.place, *([c.short_id, c.id] + ([c.name] if c.name not in d.lab.hosts else [])))
    if sb.key:
        d.lab.bus.alias(d.host.name, sb.key, c.name)  # traces say host-A[web], not the sandbox key
    c.state, c.started_at, c.exit_code = "running", d.lab.now, 0
    c.pid = d.lab.next_pid()
    d.start_app(c)


def _bindings(c: Container) -> list[PortBinding]:
    out = list(c.config.ports)
    if c.config.publish_all:
        have = {(b.container_port, b.proto) for b in out}
        for spec in c.config.exposed:
            port, _, proto = spec.partition("/")
            if (int(port), proto or "tcp") not in have:
                out.append(PortBinding(proto or "tcp", int(port)))
    return out


def _attach(d: Daemon, c: Container, sb: Any, r: NetRequest) -> Endpoint:
    ctl = d.controller
    net = find_network(d, r.network)
    ip, attached = _attachment(d, c, net, r)
    try:
        ep = ctl.new_endpoint(net, c.name, ip=ip, aliases=r.aliases, mac=c.config.mac)
    except Exception:
        if attached:
            _release(d, net, str(ip).split("/")[0])
        raise
    if attached:
        net.extra.setdefault("attachments", {})[ep.id] = str(ip).split("/")[0]
    if net.user_defined and net.driver not in ("host", "null"):
        ep.dns_names = [c.name, *r.aliases, c.short_id] + ([c.config.hostname] if c.config.hostname else [])
    try:
        ctl.join(ep, sb)
    except Exception:
        delete_endpoint(d, ep)
        raise
    if attached:  # addServiceInfoToCluster: the name reaches the network's other nodes by gossip
        _swarm_hook("container_attached", d, c, ep)
    return ep


def _swarm_hook(name: str, *args: Any) -> None:
    try:
        from cnmsim.swarm import observers
    except ImportError:
        return
    getattr(observers, name)(*args)


def _attachment(d: Daemon, c: Container, net: Network, r: NetRequest) -> tuple[str | None, bool]:
    """The address of a non-task container on a swarm network: the manager allocates it (the
    --ip one if given).  Task containers (label com.docker.swarm.task.id) bring their own."""
    agent = _swarm_agent() if _is_swarm(net) and TASK_LABEL not in c.config.labels else None
    alloc = getattr(agent, "attachment_address", None)
    if alloc is None:
        return r.ip, False
    if r.ip:
        try:
            return str(alloc(d, net, c.name, ip=r.ip)), True
        except TypeError:  # an agent that cannot take a preferred address
            return r.ip, False
    return str(alloc(d, net, c.name)), True


def _release(d: Daemon, net: Network, ip: str) -> None:
    fn = getattr(_swarm_agent(), "release_address", None)
    if fn is not None:
        fn(d, net, ip)


def delete_endpoint(d: Daemon, ep: Endpoint) -> None:
    """Delete the endpoint; a swarm attachment address goes back to the manager."""
    net = ep.network
    if ep.id in net.extra.get("attachments", {}):
        _swarm_hook("container_detached", d, ep)  # deleteServiceInfoFromCluster
    d.controller.delete_endpoint(ep)
    ip = net.extra.get("attachments", {}).pop(ep.id, None)
    if ip:
        _release(d, net, ip)


def stop(d: Daemon, c: Container, code: int = 137, graceful: bool = True) -> None:
    """docker stop / the main process ended: the app stops, endpoints go, the sandbox goes.
    graceful=False is SIGKILL: the app gets no chance to log its shutdown."""
    if not c.running:
        return
    d.stop_app(c, graceful)
    _teardown(d, c)
    c.state, c.finished_at, c.exit_code = "exited", d.lab.now, code


def _teardown(d: Daemon, c: Container) -> None:
    ctl = d.controller
    if c.sandbox is not None:
        c.sandbox.deleting = True
    for ep in list(c.endpoints.values()):
        delete_endpoint(d, ep)
    c.endpoints = {}
    if c.sandbox is not None:
        if c.sandbox.key:
            d.lab.bus.alias(d.host.name, c.sandbox.key, None)
        ctl.delete_sandbox(c.sandbox)
        c.sandbox = None
    if c.place is not None:
        d.lab.unregister_place(c.place)


def remove(d: Daemon, c: Container, force: bool = False) -> None:
    if c.running and not force:
        raise Conflict(f"cannot remove container \"/{c.name}\": container is running: stop the container "
                       "before removing or force remove")
    stop(d, c)
    d.containers.pop(c.id, None)


# ---------------------------------------------------------------- connect / disconnect
def connect(d: Daemon, c: Container, net: Network, ip: str | None, aliases: list[str]) -> None:
    r = NetRequest(net.name, ip, list(aliases))
    if c.config.network_mode in ("host", "none") or (c.net_requests and c.net_requests[0].network in ("host", "none")):
        raise Forbidden("container cannot be disconnected from host network or connected to host network"
                        if net.name == "host" or c.config.network_mode == "host"
                        else "container cannot be connected to multiple networks with one of the networks in private (none) mode")
    if any(x.network == net.name for x in c.net_requests):
        raise Forbidden(f"endpoint with name {c.name} already exists in network {net.name}")
    _check_request(net, r)
    if c.running:
        ep = _attach(d, c, c.sandbox, r)
        c.endpoints[net.id] = ep
        _write_files(d, c)
    c.net_requests.append(r)


def disconnect(d: Daemon, c: Container, net: Network, force: bool = False) -> None:
    if not any(x.network == net.name for x in c.net_requests):
        raise Forbidden(f"container {c.id} is not connected to network {net.name}")
    ep = c.endpoints.pop(net.id, None)
    if ep is not None:
        delete_endpoint(d, ep)
        _write_files(d, c)
    c.net_requests = [x for x in c.net_requests if x.network != net.name]


# ---------------------------------------------------------------- files and DNS
def _write_files(d: Daemon, c: Container) -> None:
    """/etc/hostname, /etc/hosts, /etc/resolv.conf, and the embedded DNS when it is needed."""
    assert c.place is not None and c.sandbox is not None
    files = c.place.files
    host_files = d.host.files
    dns = list(c.config.dns) or list(d.config["dns"] or [])
    if c.config.network_mode == "host":
        files["/etc/hostname"] = host_files.get("/etc/hostname", d.host.name + "\n")
        files["/etc/hosts"] = host_files.get("/etc/hosts", "")
        src, text = resolvconf.origin(host_files)
        files["/etc/resolv.conf"] = resolvconf.host_resolv_conf(text, dns or None, source=src).text
        return
    files["/etc/hostname"] = c.hostname + "\n"
    lines = [HOSTS_HEAD]
    for alias_line in _link_lines(d, c):
        lines.append(alias_line)
    for ep in c.sandbox.endpoints:  # doUpdateHostsFile: not the ingress or docker_gwbridge address
        if ep.address is not None and not ep.network.ingress and ep.network.name != "docker_gwbridge":
            lines.append(f"{ep.ip}\t{c.hostname}\n")
    files["/etc/hosts"] = "".join(lines)
    src, text = resolvconf.origin(host_files)
    user = [ep for ep in c.sandbox.endpoints if ep.network.user_defined]
    if user:
        rc = resolvconf.internal_resolv_conf(text, dns or None, source=src)
        files["/etc/resolv.conf"] = rc.text
        d.ensure_dns(c, rc.upstreams)
    else:
        rc = resolvconf.legacy_resolv_conf(text, dns or None, source=src)
        files["/etc/resolv.conf"] = rc.text
        d.drop_dns(c)


def _link_lines(d: Daemon, c: Container) -> list[str]:
    """Legacy --link on the default bridge: `IP\talias hostname [name]` lines in /etc/hosts."""
    out = []
    for target, alias in c.config.links:
        try:
            child = d.container(target)
        except EngineError:
            continue
        ep = next((e for e in child.endpoints.values() if e.network.name == "bridge"), None)
        if ep is None:
            continue
        words = [alias, child.hostname] + ([child.name] if alias != child.name else [])
        out.append(f"{ep.ip}\t{' '.join(words)}\n")
    return out


def dns_view(d: Daemon, c: Container) -> list[dnsnames.DnsNetwork]:
    """What the embedded DNS of C can answer: per network it is on, the running containers' names;
    swarm-scoped networks add service VIPs, `tasks.<service>` and remote tasks (cnmsim.swarm.dns)."""
    if c.sandbox is None:
        return []
    from cnmsim.swarm import dns as swarm_dns

    out = []
    for ep in swarm_dns.order(c.sandbox.endpoints):
        if ep.network.user_defined:
            table = swarm_dns.network_table(d, ep.network, _dns_records(ep.network))
            if table is not None:
                out.append(table)
    return out


def _dns_records(net: Network) -> dnsnames.DnsNetwork:
    """The network's name table, rebuilt only when its endpoints changed (net.generation)."""
    cached = net.extra.get("dns")
    if cached is not None and cached[0] == net.generation:
        return cached[1]
    rec: dict[str, list[str]] = {}
    rev: dict[str, str] = {}
    for other in net.endpoints.values():
        if other.sandbox is None or not other.ip:
            continue
        for n in other.dns_names:
            rec.setdefault(n.lower(), []).append(other.ip)
        if other.dns_names:
            rev.setdefault(other.ip, other.dns_names[0])
    # a macvlan network without a parent is internal to the driver (dummy parent, no gateway)
    internal = net.internal or (net.driver == "macvlan" and not net.options.get("parent"))
    table = dnsnames.DnsNetwork(net.name, rec, rev, internal=internal)
    net.extra["dns"] = (net.generation, table)
    return table
